"""Growing a trained model's vocabulary, so it can be fine-tuned on a text with characters it never saw.

The old model reads V characters; the new text brings K more. They are appended:
the old ids 0..V-1 keep their meaning, the new characters get ids V..V+K-1. Only
two places of a model have a size that follows the vocabulary:

* layer 0's input weights. Which parameters, and which axis, the cell says: a
  fresh layer of input size V+K (``cell.init_params(V+K, H, rng)``) is compared
  with the trained one of input size V, and every axis that differs grows with
  the vocabulary (for the built-in cells, the rows of ``W_xh``: (V, H) for the
  RNN, (V, 4H) for the LSTM). Along such an axis the input block comes first
  (rows 0..V-1 are the characters' rows, as in every built-in cell; any rows a
  cell keeps after them stay after them), and it must grow by exactly one row
  per character: ``W_xh[c]`` is the column ``W·onehot(c)`` selects. So::

      W'[:V]    = W[:V]                     the old characters: unchanged
      W'[V:V+K] = W_fresh[V:V+K]            the new ones: a fresh init's rows
      W'[V+K:]  = W[V:]                     (cells that keep rows after the inputs)

  ``W_fresh`` is what the cell's own ``init_params`` draws from ``rng`` (for both
  built-in cells U(-1/√H, 1/√H)), so a new character starts as a character does in
  a fresh model of this size: small, random, from the run's seed.

* the softmax head, ``y = h·W_hy + b_y`` with ``W_hy`` (H, V) and ``b_y`` (V,)::

      W_hy'[:, :V] = W_hy,      W_hy'[:, V:] = 0
      b_y'[:V]     = b_y,       b_y'[c] = log f_c + Z̄ - log(1 - F)   for c >= V

  where f_c = (n_c + 1) / (N + V + K) is the add-one smoothed frequency of character
  c in the new text's training ids (N of them; what :meth:`Model.init_output_bias`
  gives a fresh model), F = Σ f_c over the new characters, and Z̄ the mean of
  log Σ_a exp(y_a) over the old characters' logits, read on the first
  LIFT_CHARS characters of the new text. A trained model's logits sit far above
  the raw log frequencies (Z̄ is often 5 nats or more), so a bias of log f_c alone
  would give a new character almost no probability; with the lift its share
  e^{b_c} / (e^{Z} + Σ_k e^{b_k}) is about f_c wherever Z is near its mean. The new
  characters' logits are constant (their bias) whatever the state, and every old
  character's logit is exactly what it was: y'[:V] = y. So the old characters keep
  their probabilities relative to each other, p'(a)/p'(b) = p(a)/p(b), at step 0;
  the new ones take about their share of the text.

Old characters that the new text never uses keep their rows: they are still the
model's, and sampling or scoring a text that has them still works.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np

from rnnplay.core.errors import RnnplayError
from rnnplay.core.model import Model
from rnnplay.core.vocab import Vocab, count_ids

LIFT_CHARS = 4096  # characters of the new text read to place the new characters' biases (Z̄ below)
LIFT_CHUNK = 256  # ... read this many at a time, the state carried, so that the reading can show its share done


def grown_vocab(vocab: Vocab, new_chars: Sequence[str]) -> Vocab:
    """``vocab`` with ``new_chars`` appended (the old ids unchanged); one line if any is already there or repeated."""
    new = tuple(new_chars)
    clash = sorted(set(new) & set(vocab.chars)) or sorted(c for c, n in Counter(new).items() if n > 1)  # linear
    if clash:
        raise RnnplayError(f"cannot add {clash[0]!r} to the vocabulary: it is already there or given twice")
    return Vocab(vocab.chars + new)


def input_axes(model: Model, new_size: int, fresh: dict[str, np.ndarray]) -> dict[str, int]:
    """Layer 0's parameters that grow with the vocabulary, and the axis that grows: where ``fresh`` (the cell's
    init at ``new_size`` inputs) and the model's own (at ``model.vocab.size``) differ in shape."""
    old = model.layers[0]
    if set(fresh) != set(old):
        raise RnnplayError(f"the cell {model.cell.name!r} creates different parameters for another input size "
                           f"({', '.join(sorted(set(fresh) ^ set(old))[:3])}); its vocabulary cannot grow")
    added = new_size - model.vocab.size
    axes = {}
    for name, value in old.items():
        before, after = np.shape(value), np.shape(fresh[name])
        differ = [i for i, (a, b) in enumerate(zip(before, after, strict=False)) if a != b]
        if len(before) != len(after) or len(differ) > 1 or (differ and after[differ[0]] - before[differ[0]] != added):
            raise RnnplayError(f"the cell {model.cell.name!r}'s parameter {name} is {before} for "
                               f"{model.vocab.size} characters and {after} for {new_size}: rnnplay can only add "
                               "one row per character, so this model's vocabulary cannot grow")
        if differ:
            axes[name] = differ[0]
    if not axes:
        raise RnnplayError(f"no parameter of the cell {model.cell.name!r} grows with the vocabulary; "
                           "its vocabulary cannot grow")
    return axes


def grow_vocab(model: Model, new_chars: Sequence[str], train_ids: np.ndarray, rng: np.random.Generator,
               progress: Callable[[float], None] | None = None) -> Model:
    """A new model: ``model``'s weights with ``new_chars`` appended to its vocabulary (maths: the module's docstring).

    ``train_ids``: the new text's training split, encoded with the grown vocabulary
    (old characters keep their ids, ``new_chars`` follow in the order given). The
    model's own arrays are never changed; every parameter of the new model is a copy.
    ``progress(fraction)``: the share of the text read for Z̄ so far (it takes seconds on a large model, and may
    raise to stop it).
    """
    vocab = grown_vocab(model.vocab, new_chars)
    V, K, H = model.vocab.size, len(vocab) - model.vocab.size, model.hidden_size
    params = {k: v.copy() for k, v in model.params.items()}
    if K:
        fresh = model.cell.init_params(V + K, H, rng, model.dtype)
        for name, axis in input_axes(model, V + K, fresh).items():
            old = params[f"layers.0.{name}"]
            rows = np.take(np.asarray(fresh[name], dtype=model.dtype), np.arange(V, V + K), axis=axis)
            parts = (np.take(old, np.arange(V), axis=axis), rows,
                     np.take(old, np.arange(V, old.shape[axis]), axis=axis))
            params[f"layers.0.{name}"] = np.ascontiguousarray(np.concatenate(parts, axis=axis))
        params["head.W_hy"] = np.concatenate([params["head.W_hy"], np.zeros((H, K), model.dtype)], axis=1)
        counts = count_ids(np.asarray(train_ids), V + K) + 1.0
        freqs = counts[V:] / counts.sum()
        params["head.b_y"] = np.concatenate([params["head.b_y"], np.zeros(K, model.dtype)])
        grown = Model(model.cell, vocab, H, model.num_layers, model.dropout, dtype=model.dtype, params=params)
        lift = mean_log_normaliser(grown, np.asarray(train_ids)[:LIFT_CHARS], V, progress)
        params["head.b_y"][V:] = np.log(freqs) + lift - np.log1p(-freqs.sum())
    return Model(model.cell, vocab, H, model.num_layers, model.dropout, dtype=model.dtype, params=params)


def mean_log_normaliser(model: Model, ids: np.ndarray, old: int,
                        progress: Callable[[float], None] | None = None) -> float:
    """Z̄: the mean over ``ids`` of log Σ_a exp(y_a), summed over the first ``old`` characters' logits only.

    ``ids`` are read as one stream, LIFT_CHUNK at a time with the state carried from chunk to chunk (the same
    logits as one reading, to float rounding); ``progress(fraction)`` as it begins (0.0: what shows the reading
    says it now, after every check of the run) and after each chunk.
    """
    if len(ids) == 0:
        return 0.0
    if progress is not None:
        progress(0.0)
    state, totals = model.initial_state(1), []
    for start in range(0, len(ids), LIFT_CHUNK):
        logits, state, _ = model.forward(ids[start : start + LIFT_CHUNK, None], state)
        y = logits[:, 0, :old].astype(np.float64)
        top = y.max(axis=1, keepdims=True)
        totals.append(top[:, 0] + np.log(np.exp(y - top).sum(axis=1)))  # log Σ_a exp(y_a), safe from overflow
        if progress is not None:
            progress(min(1.0, (start + LIFT_CHUNK) / len(ids)))
    return float(np.mean(np.concatenate(totals)))
