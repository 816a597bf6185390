"""How surprised the model is by a text: loss, per-character probabilities, alternatives.

Convention (the same as the training loss): the first character is the model's
input, not scored; every later character x_t is scored by the model's prediction
after reading x_1..x_{t-1} from the zero state, with the whole left context::

    p_t  = softmax(y_t)[x_t]                     t = 2..n
    loss = -(1/(n-1)) Σ_t ln p_t   nats/char      bits/char = nats / ln 2

So ``probs[i]`` is the probability of ``text[i + 1]``. The text runs through the
model as one stream (B = 1) in chunks, carrying the state, so memory stays small
for long files and nothing is cut.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from rnnplay.core.data import blocks
from rnnplay.core.errors import RnnplayError
from rnnplay.core.generate import Primed
from rnnplay.core.model import Model, States
from rnnplay.core.ops import log_softmax
from rnnplay.core.vocab import Vocab, describe_char
from rnnplay.core.work import Cancel, Cancelled, Progress

CHUNK = 512  # characters per forward pass
NAMED_UNKNOWN = 10  # unseen characters named in a message; the rest are counted


@dataclass
class Score:
    text: str
    chars: tuple[str, ...]  # the model's alphabet, to name alternative ids
    probs: np.ndarray  # (n-1,) p(text[i+1] | text[:i+1])
    top_ids: np.ndarray  # (n-1, k) the k most likely characters at each position, most likely first
    top_probs: np.ndarray  # (n-1, k) their probabilities
    nats_per_char: float

    @property
    def bits_per_char(self) -> float:
        return self.nats_per_char / math.log(2)

    def alternatives(self, i: int) -> list[tuple[str, float]]:
        """[(character, probability), …] the model expected instead of ``text[i + 1]``, most likely first."""
        return [(self.chars[j], float(p)) for j, p in zip(self.top_ids[i], self.top_probs[i], strict=True)]


def unknown_summary(vocab: Vocab, text: str) -> str:
    """"3 characters the model has never seen (2 distinct: 'é' '⚔')" naming at most ten; '' if there are none."""
    unknown = vocab.unknown(text)
    return describe_unknown(unknown, len(text) - len(vocab.encode(text, on_unknown="skip")) if unknown else 0)


def describe_unknown(unknown: list[str], count: int) -> str:
    """:func:`unknown_summary`'s words for ``count`` unseen characters, ``unknown`` the distinct ones in order of
    appearance; '' if there are none."""
    if not unknown:
        return ""
    names = " ".join(describe_char(c) for c in unknown[:NAMED_UNKNOWN])
    more = f" and {len(unknown) - NAMED_UNKNOWN:,} more" if len(unknown) > NAMED_UNKNOWN else ""
    return (f"{count:,} character{'' if count == 1 else 's'} the model has never seen "
            f"({len(unknown):,} distinct: {names}{more})")


def score_text(model: Model, text: str, top_k: int = 5, progress: Progress | None = None,
               cancel: Cancel | None = None) -> Score:
    """Score every character of ``text`` but the first (see the module docstring); unseen characters are refused.

    ``progress(fraction)`` hears how far it has got and ``cancel()`` is asked between chunks of
    CHUNK characters (True raises :class:`~rnnplay.core.work.Cancelled`), as in the neuron search.
    """
    unknown = unknown_summary(model.vocab, text)
    if unknown:
        raise RnnplayError(f"the text has {unknown}: remove them, or use a model trained on text that has them")
    ids = model.vocab.encode(text)
    n = len(ids) - 1
    if n < 1:
        raise RnnplayError("need at least two characters to score: the first one only primes the model")
    k = min(top_k, model.vocab.size)
    logp = np.empty(n, dtype=np.float64)
    top_ids = np.empty((n, k), dtype=np.int32)
    top_probs = np.empty((n, k), dtype=np.float32)
    start = 0
    for lp, targets in log_probs(model, [ids]):
        if cancel is not None and cancel():
            raise Cancelled(f"stopped after scoring {start:,} of {n:,} characters")
        stop = start + len(targets)
        logp[start:stop] = lp[np.arange(len(targets)), targets]
        best = np.argpartition(-lp, k - 1, axis=1)[:, :k]
        best = np.take_along_axis(best, np.argsort(-np.take_along_axis(lp, best, axis=1), axis=1), axis=1)
        top_ids[start:stop] = best
        top_probs[start:stop] = np.exp(np.take_along_axis(lp, best, axis=1))
        start = stop
        if progress is not None:
            progress(stop / n)
    loss = float(-logp.mean())
    if loss != loss:  # NaN: a cell's state went bad somewhere in the text; a "nan nats/char" would pass for a score
        raise nan_loss()
    return Score(text, model.vocab.chars, np.exp(logp), top_ids, top_probs, loss)


@dataclass
class Running:
    """The running sum of :func:`score_stream`, whole chunks only: what a caller stopped part-way (Ctrl-C) has."""

    nats: float = 0.0
    scored: int = 0


def score_stream(model: Model, id_pieces: Iterable[np.ndarray], total: int,
                 progress: Progress | None = None, running: Running | None = None) -> tuple[float, int]:
    """(nats per character, characters scored) of the text whose ids arrive in ``id_pieces``, ``total`` of them,
    scored as :func:`score_text` scores it (the same chunks, so the same probabilities) but kept as a running sum
    (in ``running``, if given, chunk by chunk): memory for one piece, whatever the text's length. Unseen
    characters must be left out before."""
    run = Running() if running is None else running
    for lp, targets in log_probs(model, id_pieces):
        run.nats, run.scored = run.nats - float(lp[np.arange(len(targets)), targets].sum()), run.scored + len(targets)
        if progress is not None:
            progress(run.scored / max(total - 1, 1))
    nats, scored = run.nats, run.scored
    if scored < 1:
        raise RnnplayError("need at least two characters to score: the first one only primes the model")
    loss = nats / scored
    if loss != loss:
        raise nan_loss()
    return loss, scored


def log_probs(model: Model, id_pieces: Iterable[np.ndarray]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(log-probabilities (T, V) after each of T characters, the ids of the T characters that follow them) for
    chunks of CHUNK characters of the ids in ``id_pieces``, read as one stream (B = 1) with the state carried;
    every character but the first is a target once."""
    states: States = model.initial_state(1)
    last = None  # a chunk, read once the first character after it is known
    for block in blocks(id_pieces, CHUNK):
        if last is not None:
            logits, states, _ = model.forward(last[:, None], states)
            yield log_softmax(logits[:, 0].astype(np.float64)), np.concatenate([last[1:], block[:1]])
        last = block
    if last is not None and len(last) > 1:
        logits, states, _ = model.forward(last[:-1, None], states)
        yield log_softmax(logits[:, 0].astype(np.float64)), last[1:]


def nan_loss() -> ValueError:
    return ValueError("the model's scores are NaN (its cell's state is not a number)")


class RunningScore:
    """The probability the model gives each next character of a stream, one at a time (for live colouring)."""

    def __init__(self, model: Model, seed: Primed) -> None:
        """Start after ``seed`` (:func:`.generate.prime_seed`), read once for the stream and for its colours."""
        self.model = model
        self.logits, self.states = seed.fresh()
        self.step = model.stepper()

    def push(self, i: int) -> float:
        """p(i | everything pushed so far), then read i."""
        p = float(np.exp(log_softmax(self.logits.astype(np.float64))[i]))
        logits, self.states = self.step(np.array([i]), self.states)
        self.logits = logits[0]
        return p
