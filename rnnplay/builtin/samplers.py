"""The built-in samplers: temperature, greedy, top-k, top-p and beam search.

The truncating samplers (top-k, top-p) decide which characters to keep on the
model's own probabilities p = softmax(y); the temperature then reshapes what is
left, so the two knobs are independent. docs/samplers.md has the maths of each.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np

from rnnplay.core.errors import RnnplayError
from rnnplay.core.ops import log_softmax
from rnnplay.core.params import Param
from rnnplay.core.sampler import TEMPERATURE, Stepper, StepSampler, draw, take_rows, tempered
from rnnplay.plugins.hookspecs import Register, hookimpl

TEMPERATURE_PARAM = TEMPERATURE.params["temperature"]


class GreedySampler(StepSampler):
    """i = argmax_j y_j: always the most likely character (the lowest id on ties)."""

    name = "greedy"
    help = "always the most likely character (argmax)"
    params: dict[str, Param] = {}  # noqa: RUF012 - read-only declaration

    def choose(self, logits: np.ndarray, rng: np.random.Generator) -> int:
        return int(logits.argmax())


class TopKSampler(StepSampler):
    """Keep the k highest-scoring characters, sample among them with p ∝ exp(y / T)."""

    name = "top-k"
    help = "sample among the k most likely characters"
    params = {  # noqa: RUF012
        "k": Param("k", int, 10, "how many of the most likely characters to keep", min=1),
        "temperature": TEMPERATURE_PARAM,
    }

    def choose(self, logits: np.ndarray, rng: np.random.Generator, k: int = 10, temperature: float = 0.7) -> int:
        if k >= len(logits):
            return draw(tempered(logits, temperature), rng)
        keep = np.argpartition(logits, len(logits) - k)[-k:]  # the k largest, in no particular order
        return int(keep[draw(tempered(logits[keep], temperature), rng)])


class TopPSampler(StepSampler):
    """Nucleus sampling: keep the smallest set of most likely characters whose probability reaches p.

    With p sorted descending, keep the first m where m = min{ m : Σ_{j ≤ m} p_(j) ≥ p },
    then sample among them with p ∝ exp(y / T).
    """

    name = "top-p"
    help = "sample among the most likely characters that together hold probability p"
    params = {  # noqa: RUF012
        "p": Param("p", float, 0.9, "probability mass to keep", min=0.0, max=1.0, min_open=True),
        "temperature": TEMPERATURE_PARAM,
    }

    def choose(self, logits: np.ndarray, rng: np.random.Generator, p: float = 0.9, temperature: float = 0.7) -> int:
        order = np.argsort(-logits, kind="stable")
        w = tempered(logits[order], 1.0)  # the model's probabilities, unnormalised, descending
        c = np.cumsum(w)
        m = min(int(c.searchsorted(p * c[-1], side="left")) + 1, len(c))  # first m with Σ ≥ p
        keep = order[:m]
        return int(keep[draw(tempered(logits[keep], temperature), rng)])


class BeamSampler:
    """Beam search: keep the ``width`` most likely sequences, extend each by every character, repeat.

    Scores are summed log-probabilities, s(x_1..x_t) = Σ log p(x_i | x_<i). All beams
    step as one batch. A beam that ends with ``end`` is finished, once it has at least
    ``min_length`` characters (so that a seed which ends a line need not end the search
    with an empty one). Finished and live beams are ranked by s / len^alpha (length
    normalisation: without it short finished beams always win, since every character
    only lowers s). The search ends at ``length``, or once no live beam can still
    overtake the best finished one. The prefix that every candidate that can still win
    shares (the live beams and the best finished one) can no longer change, so it is
    yielded at once and forgotten; the rest of the winner is yielded at the end. Memory
    is width x the undecided characters, not width x length.
    """

    name = "beam"
    help = "the most likely continuation found by beam search (deterministic)"
    needs_chars = True  # generate() passes the alphabet as chars=, to find `end`
    params = {  # noqa: RUF012
        "width": Param("width", int, 4, "how many sequences to keep at each step", min=1, max=256),
        "alpha": Param("alpha", float, 0.7, "length normalisation: rank by logP / length^alpha", min=0.0, max=5.0),
        "end": Param("end", str, "", "finish a beam when it produces this text ('' for never), e.g. '\\n'"),
        "min_length": Param("min_length", int, 1, "finish no beam shorter than this many characters, end included",
                            min=1),
    }

    def generate(
        self,
        stepper: Stepper,
        logits: np.ndarray,
        state: Any,
        length: int,
        rng: np.random.Generator,
        width: int = 4,
        alpha: float = 0.7,
        end: str = "",
        min_length: int = 1,
        chars: tuple[str, ...] = (),
    ) -> Iterator[int]:
        if length < 1:
            return
        V = logits.shape[-1]
        end_ids = _end_ids(end, chars)
        keep = max(len(end_ids) - 1, 1)  # columns kept behind the undecided ones: the last character, `end`'s start
        base = 0  # tail[:, j] is every beam's character at position base + j; those before `emitted` are settled
        tail = np.zeros((width, 0), dtype=np.int64)
        scores = np.full(width, -np.inf)
        scores[0] = 0.0  # one real beam to start; the other rows are empty (-inf) until filled
        state = take_rows(state, np.zeros(width, dtype=np.int64))
        batch_logits = np.broadcast_to(logits, (width, V))
        best_finished: Finished | None = None  # of the beams that produced `end`, the best: no other can win
        emitted, n = 0, 0
        for t in range(length):
            if t:
                batch_logits, state = stepper(tail[:, -1].copy(), state)
            parents, tokens, scores = _extensions(scores, batch_logits, width)
            tail = np.concatenate([tail[parents], tokens[:, None]], axis=1)
            state = take_rows(state, parents)
            n = t + 1
            if len(end_ids) and n >= max(len(end_ids), min_length):
                done = np.flatnonzero(np.isfinite(scores) & (tail[:, -len(end_ids) :] == end_ids).all(axis=1))
                for b in done:
                    if best_finished is None or scores[b] / n**alpha > best_finished.score:
                        best_finished = Finished(scores[b] / n**alpha, base, tail[b].copy())
                scores[done] = -np.inf
                # a live beam's normalised score can only reach s / length^alpha (s < 0 only falls)
                if best_finished is not None and best_finished.score >= scores.max() / length**alpha:
                    break
            while emitted < n and (c := _shared(tail[:, emitted - base], scores, best_finished, emitted)) is not None:
                yield c
                emitted += 1
            if (drop := min(emitted, n - keep) - base) > 0:  # settled columns no longer needed: width x undecided
                tail, base = tail[:, drop:], base + drop
        live = [Finished(scores[b] / n**alpha, base, tail[b]) for b in np.flatnonzero(np.isfinite(scores))]
        winner = max([best_finished, *live] if best_finished is not None else live, key=lambda c: c.score)
        yield from (int(i) for i in winner.ids[emitted - winner.start :])


def _extensions(scores: np.ndarray, logits: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``width`` best one-character extensions of the beams, best first: (parent beams, characters, scores)."""
    V = logits.shape[-1]
    flat = (scores[:, None] + log_softmax(logits.astype(np.float64))).ravel()  # (width·V,)
    neg = -flat
    best = neg.argpartition(width - 1)[:width]  # the width best, unordered (methods: no dispatch wrapper)
    best = best[neg[best].argsort(kind="stable")]
    return best // V, best % V, flat[best]


class Finished(NamedTuple):
    """A candidate: its normalised score s / len^alpha and its characters from position ``start`` on (the
    earlier ones are settled: every candidate shares them)."""

    score: float
    start: int
    ids: np.ndarray


def _end_ids(end: str, chars: tuple[str, ...]) -> np.ndarray:
    """The ids of ``end``; a character the model has never seen can never be produced."""
    index = {c: i for i, c in enumerate(chars)}
    missing = [c for c in end if c not in index]
    if missing:
        raise RnnplayError(f"end {end!r} has characters the model has never seen: {', '.join(map(repr, missing))}")
    return np.array([index[c] for c in end], dtype=np.int64)


def _shared(column: np.ndarray, scores: np.ndarray, finished: Finished | None, t: int) -> int | None:
    """The character at position t if every live candidate and the best finished one have the same one there,
    else None."""
    values = set(column[np.isfinite(scores)].tolist())
    if finished is not None:
        values.add(int(finished.ids[t - finished.start]) if t - finished.start < len(finished.ids) else -1)
    return values.pop() if len(values) == 1 and -1 not in values else None


@hookimpl
def register_samplers(register: Register) -> None:
    for sampler in (TEMPERATURE, GreedySampler(), TopKSampler(), TopPSampler(), BeamSampler()):
        register(sampler)
