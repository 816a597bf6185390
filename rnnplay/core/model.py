"""A character model: a stack of recurrent layers and a softmax head.

::

    x_t (ids) ─► layer 0 ─► [dropout] ─► layer 1 ─► … ─► [dropout] ─► h_t (top layer)
    y_t = h_t@W_hy + b_y          (the seed's y_t = W_hy·h_t + b_y, row-major)
    p_t = softmax(y_t)

Any :class:`~rnnplay.core.cells.Cell` can be stacked. Dropout (inverted, rate p)
is applied to every layer's output sequence — between layers and before the head —
on the non-recurrent connections only, as in char-rnn and Zaremba et al. (2014),
"Recurrent Neural Network Regularization", and only in training. (``torch.nn.LSTM``'s
``dropout=p`` leaves out the top layer; add ``nn.Dropout(p)`` before the head to match.)
A trainer may add the other kinds of :mod:`.dropout` (:attr:`Model.noise`): the same
rate locked over time, DropConnect on W_hh, dropped embedding rows; the masked weights
W⊙m are what a layer runs on, and their gradients are masked the same way.
Parameters are kept in one flat dict with stable names (``layers.0.W_xh``,
``head.W_hy``, …) that optimizers and checkpoints use.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from rnnplay.core import parallel_step, step_memo
from rnnplay.core.cells.base import Cell, State, check_dx, check_grads, checked_params, uniform_init, zero_state
from rnnplay.core.dropout import Dropout, Masks, mask_grads, masked
from rnnplay.core.errors import RnnplayError
from rnnplay.core.loss import cross_entropy, cross_entropy_with_grad
from rnnplay.core.vocab import Vocab, count_ids

EVAL_LOGITS = 1 << 20  # logits in one chunk of Model.evaluate: the batch's streams x time steps x vocabulary

States = list[State]
# (inputs, targets, carried states, dropout RNG or None) -> (mean loss, gradients, carried-out states):
# Model.loss_and_grads by default; a data-parallel run passes its workers' instead (the trainer's ``gradients``).
GradientFn = Callable[[np.ndarray, np.ndarray, States, "np.random.Generator | None"],
                      tuple[float, dict[str, np.ndarray], States]]


class Model:
    def __init__(
        self,
        cell: Cell,
        vocab: Vocab,
        hidden_size: int = 128,
        num_layers: int = 1,
        dropout: float = 0.0,
        *,
        seed: int = 0,
        dtype: Any = np.float32,
        params: dict[str, np.ndarray] | None = None,
    ) -> None:
        if hidden_size < 1 or num_layers < 1:
            raise RnnplayError("hidden size and number of layers must be at least 1")
        if not 0.0 <= dropout < 1.0:
            raise RnnplayError(f"dropout must be in [0, 1) (got {dropout})")
        self.cell = cell
        self.vocab = vocab
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.noise = Dropout(dropout)  # training's dropout; a trainer adds its other kinds
        self.products = "float32"  # precision of a training step's products (rnnplay.core.products); a trainer sets it
        self.dtype = np.dtype(dtype)
        self.params = params if params is not None else self.init_params(np.random.default_rng(seed))
        self.layers = [self._layer_view(i) for i in range(num_layers)]

    # -- parameters ----------------------------------------------------------------
    def init_params(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Fresh parameters: each layer's from its cell, then the softmax head."""
        params: dict[str, np.ndarray] = {}
        V, H = self.vocab.size, self.hidden_size
        for i in range(self.num_layers):
            layer = checked_params(self.cell, self.cell.init_params(V if i == 0 else H, H, rng, self.dtype))
            params.update({f"layers.{i}.{k}": v.astype(self.dtype, copy=False) for k, v in layer.items()})
        params["head.W_hy"] = uniform_init(rng, (H, V), H, self.dtype)
        params["head.b_y"] = np.zeros(V, dtype=self.dtype)
        return params

    def init_output_bias(self, ids: np.ndarray) -> None:
        """Start the head's bias at the text's log character frequencies (add-one smoothed)::

            b_y[c] = log((n_c + 1) / (N + V))

        An untrained network then predicts the unigram distribution, so its loss starts
        at the text's unigram entropy (3.3 nats/char on tiny shakespeare) instead of
        ln V (4.17). It matters most with Adam, which moves each parameter by about lr
        per step: at lr 2e-3, walking b_y to values like log p(' ') - log p('Z') ≈ 8
        takes thousands of steps, and training stalls on that plateau first.
        """
        self.init_output_bias_from_counts(count_ids(np.asarray(ids), self.vocab.size))

    def init_output_bias_from_counts(self, counts: np.ndarray) -> None:
        """:meth:`init_output_bias` from each id's count n_c, for callers that know them without a pass over ids."""
        smoothed = np.asarray(counts, dtype=np.float64) + 1.0
        self.params["head.b_y"][...] = np.log(smoothed / smoothed.sum())

    def _layer_view(self, i: int) -> dict[str, np.ndarray]:
        prefix = f"layers.{i}."
        return {k[len(prefix) :]: v for k, v in self.params.items() if k.startswith(prefix)}

    @property
    def dropout(self) -> float:
        """The output dropout rate (the model's shape's ``dropout``)."""
        return self.noise.output

    def num_params(self) -> int:
        return int(sum(p.size for p in self.params.values()))

    def astype(self, dtype: Any) -> Model:
        """A copy of this model with every parameter cast to ``dtype`` (float64 for gradient checks)."""
        params = {k: v.astype(dtype) for k, v in self.params.items()}
        copy = Model(self.cell, self.vocab, self.hidden_size, self.num_layers, self.dropout, dtype=dtype, params=params)
        copy.noise = self.noise
        return copy

    def initial_state(self, batch_size: int) -> States:
        return [zero_state(self.cell, batch_size, self.hidden_size, self.dtype) for _ in range(self.num_layers)]

    # -- whole sequences (training, scoring) ------------------------------------------
    def forward(
        self, ids: np.ndarray, states: States, rng: np.random.Generator | None = None,
        masks: Masks | None = None,
    ) -> tuple[np.ndarray, States, Any]:  # fmt: skip
        """Logits (T, B, V) for ids (T, B). Dropout is applied only when ``rng`` (or ``masks``) is given.

        ``masks``: the dropout masks already drawn (:meth:`dropout_masks`). Each layer runs
        on its weights with their masks applied (:func:`.dropout.masked`), and its output
        sequence is multiplied by its output mask.
        """
        if masks is None:
            masks = self.dropout_masks(rng, *ids.shape[:2])
        x: np.ndarray = ids
        new_states: States = []
        caches, used = [], []
        for i, layer in enumerate(self.layers):
            weights = step_memo.once("masked", functools.partial(masked, layer, masks.weights[i]),
                                     *layer.values(), *masks.weights[i].values())
            h_seq, state, cache = self.cell.forward(weights, x, states[i])
            new_states.append(state)
            caches.append(cache)
            used.append(weights)
            x = masks.dropped(i, h_seq)
        logits = x @ self.params["head.W_hy"]
        logits += self.params["head.b_y"]
        return logits, new_states, (caches, masks, x, used)

    def dropout_masks(self, rng: np.random.Generator | None, T: int, B: int) -> Masks:
        """One step's dropout masks for T characters of B streams (:meth:`.dropout.Dropout.draw`).

        No masks without ``rng`` or with every rate 0. Drawing them all before the
        forward pass takes the same numbers from ``rng`` as drawing each where it is
        used would, so the split into chunks keeps a seed's masks.
        """
        return self.noise.draw(rng, T, B, self.hidden_size, self.layers, self.dtype)

    def backward(self, dlogits: np.ndarray, cache: Any) -> dict[str, np.ndarray]:
        """Gradients of every parameter given dL/dlogits (T, B, V)."""
        caches, masks, h_top, used = cache
        T, B, V = dlogits.shape
        H = self.hidden_size
        dl2 = dlogits.reshape(T * B, V)
        grads = {
            "head.W_hy": h_top.reshape(T * B, H).T @ dl2,
            "head.b_y": dl2.sum(axis=0),
        }
        dx = (dl2 @ self.params["head.W_hy"].T).reshape(T, B, H)
        for i in range(self.num_layers - 1, -1, -1):
            dx = masks.dropped(i, dx)
            dx, layer_grads, _ = self.cell.backward(used[i], caches[i], dx, None)
            check_grads(used[i], layer_grads)
            if i > 0:  # the first layer's input is the characters' ids: nothing below it takes a gradient
                check_dx(dx, (T, B, H))
            mask_grads(layer_grads, masks.weights[i])
            grads.update({f"layers.{i}.{k}": g for k, g in layer_grads.items()})
        return grads

    def loss_and_grads(
        self,
        inputs: np.ndarray,
        targets: np.ndarray,
        states: States,
        rng: np.random.Generator | None = None,
    ) -> tuple[float, dict[str, np.ndarray], States]:
        """One TBPTT step's mean cross-entropy (nats/char), gradients and carried-out state.

        A float32 model splits the B streams into fixed chunks and runs them on a pool
        of worker threads (:mod:`.parallel_step`): the same result on any number of
        cores and under any load. Other dtypes (float64 gradient checks) run
        :meth:`whole_loss_and_grads`, the reference.
        """
        if parallel_step.chunked(self):
            return parallel_step.loss_and_grads(self, inputs, targets, states, rng)
        return self.whole_loss_and_grads(inputs, targets, states, rng)

    def whole_loss_and_grads(
        self,
        inputs: np.ndarray,
        targets: np.ndarray,
        states: States,
        rng: np.random.Generator | None = None,
    ) -> tuple[float, dict[str, np.ndarray], States]:
        """:meth:`loss_and_grads` for the whole batch at once, on the calling thread (the reference)."""
        logits, new_states, cache = self.forward(inputs, states, rng)
        T, B, V = logits.shape
        loss, dl = cross_entropy_with_grad(logits.reshape(T * B, V), targets.reshape(T * B))
        return loss, self.backward(dl.reshape(T, B, V), cache), new_states

    def evaluate(self, ids: np.ndarray, batch_size: int = 32, seq_length: int = 256,
                 progress: Callable[[int, int], None] | None = None, stop: Callable[[], bool] | None = None) -> float:
        """Mean cross-entropy (nats/char) of predicting ids[1:] from ids[:-1]; ``progress(done, total)`` after each
        chunk, with the characters predicted so far and in all. ``stop()`` True after a chunk ends the reading there:
        the loss of the characters read (the start of each stream; ``progress`` has the count).

        The text is cut into ``batch_size`` contiguous streams whose state is
        carried across chunks, so every character but each stream's first is
        predicted with its full left context within the stream. A chunk holds at most
        EVAL_LOGITS logits (fewer time steps for a large vocabulary): its softmax, in
        float64, makes a few arrays of that size.
        """
        n = len(ids) - 1
        if n < 1:
            raise RnnplayError("need at least two characters to compute a loss")
        B = max(1, min(batch_size, n // 2))
        L = n // B
        seq_length = max(1, min(seq_length, EVAL_LOGITS // (B * self.vocab.size)))
        inputs = ids[: B * L].reshape(B, L).T
        targets = ids[1 : B * L + 1].reshape(B, L).T
        total, count = 0.0, 0
        states = self.initial_state(B)
        for start in range(0, L, seq_length):
            x, y = inputs[start : start + seq_length], targets[start : start + seq_length]
            logits, states, _ = self.forward(x, states)
            total += cross_entropy(logits.reshape(-1, self.vocab.size), y.reshape(-1)) * y.size
            count += y.size
            if progress is not None:
                progress(count, n)
            if stop is not None and stop():
                return total / count
        tail = ids[B * L :]  # the few characters left over when n is not a multiple of B
        if len(tail) > 1:
            logits, _, _ = self.forward(tail[:-1, None], self.initial_state(1))
            total += cross_entropy(logits.reshape(-1, self.vocab.size), tail[1:]) * (len(tail) - 1)
            count += len(tail) - 1
        if progress is not None:
            progress(count, n)
        return total / count

    # -- one step at a time (generation) ---------------------------------------------
    def stepper(self) -> Callable[[np.ndarray, States], tuple[np.ndarray, States]]:
        """A step function ``(ids (B,), states) -> (logits (B, V), states)`` for a loop of steps.

        Cells that have ``prepare_step`` fold their constants in once here (the LSTM
        pre-scales its weights); the others get ``step`` with their parameters.
        """
        steps = []
        for i, layer in enumerate(self.layers):
            prepare = getattr(self.cell, "prepare_step", None)
            steps.append(prepare(layer, i == 0) if prepare is not None else functools.partial(self.cell.step, layer))
        W_hy, b_y = self.params["head.W_hy"].copy(), self.params["head.b_y"].copy()

        def step(ids: np.ndarray, states: States) -> tuple[np.ndarray, States]:
            x: np.ndarray = ids
            new_states: States = []
            for layer_step, state in zip(steps, states, strict=True):
                x, s = layer_step(x, state)
                new_states.append(s)
            logits = x @ W_hy
            logits += b_y  # y = h_top@W_hy + b_y
            return logits, new_states

        return step

    def step(self, ids: np.ndarray, states: States) -> tuple[np.ndarray, States]:
        """Logits (B, V) for the next character after ids (B,), and the new states.

        For many steps in a row, make one :meth:`stepper` and call it instead.
        """
        return self.stepper()(ids, states)
