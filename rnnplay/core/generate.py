"""Streaming generation: prime the state with the seed, then let a sampler pick characters.

::

    ids   = vocab.encode(seed)                 unknown characters skipped or refused
    y, s  = prime(model, ids)                  the scores for the first new character (before generate returns)
    for i in sampler.generate(model.stepper(), y, s, length, rng, **params):
        yield vocab.chars[i]                   one chunk per id, as soon as it is picked

A seed read once (:func:`prime_seed`, a :class:`Primed`) can start many continuations:
each gets its own copy of the state, so colouring a stream or comparing samplers
does not read a long seed again.

It stops at ``length`` characters, right after the ``stop`` string appears (the
stop string is part of the output), or when ``cancel`` is set: the stepper
checks it before every model step, so a cancel from another thread stops the
stream within one step, whatever the sampler. The same ``rng`` seed gives the
same text. A long seed takes a while to read (one model step per character, each
needing the last): ``progress(fraction)`` hears how far it has got, and ``cancel``
stops it too.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from rnnplay.core.data import blocks
from rnnplay.core.errors import RnnplayError
from rnnplay.core.model import Model, States
from rnnplay.core.sampler import TEMPERATURE, Sampler, resolve_params
from rnnplay.core.work import Progress

PRIME_CHUNK = 1024  # seed characters per forward pass; bounds the memory a long seed needs


class Cancelled(Exception):
    """Raised inside the stepper when the cancel event is set; ends the stream quietly."""


def prime(model: Model, ids: np.ndarray, cancel: threading.Event | None = None,
          progress: Progress | None = None) -> tuple[np.ndarray, States]:  # fmt: skip
    """Run the seed ids (n,) through the model: (logits (V,) for the next character, states).

    With no seed the state stays zero and the scores are the head applied to the
    zero hidden state, ``y = 0·W_hy + b_y``: the model's prediction from nothing.
    ``cancel``, checked before each chunk of PRIME_CHUNK characters, raises :class:`Cancelled`:
    a long seed stops within a chunk. ``progress(fraction)`` hears the share read after each chunk.
    """
    return prime_pieces(model, [np.asarray(ids).reshape(-1)], len(ids), cancel, progress)


def prime_pieces(model: Model, id_pieces: Iterable[np.ndarray], total: int, cancel: threading.Event | None = None,
                 progress: Progress | None = None) -> tuple[np.ndarray, States]:  # fmt: skip
    """:func:`prime` for a seed whose ``total`` ids arrive in pieces (a file read a piece at a time): the same
    chunks, so the same state, in the memory of one piece."""
    states = model.initial_state(1)
    logits, done = None, 0
    for block in blocks(id_pieces, PRIME_CHUNK):
        if cancel is not None and cancel.is_set():
            raise Cancelled
        logits, states, _ = model.forward(block[:, None], states)
        done += len(block)
        if progress is not None:
            progress(min(done / max(total, 1), 1.0))
    if logits is None:
        h = states[-1][0]  # the top layer's h (zeros)
        return (h @ model.params["head.W_hy"] + model.params["head.b_y"])[0], states
    return logits[-1, 0], states


@dataclass(frozen=True)
class Primed:
    """A seed read into the model: the scores for the first new character and the state after the seed."""

    logits: np.ndarray  # (V,)
    states: States

    def fresh(self) -> tuple[np.ndarray, States]:
        """Copies of the scores and state, for one continuation (a sampler or cell may write into its arrays)."""
        return self.logits.copy(), copy.deepcopy(self.states)


def prime_seed(model: Model, seed_text: str, *, on_unknown: str = "skip", cancel: threading.Event | None = None,
              progress: Progress | None = None) -> Primed:  # fmt: skip
    """Encode ``seed_text`` and read it into the model (:func:`prime`); :class:`Cancelled` when ``cancel`` is set.

    Unknown characters are refused (``on_unknown="error"``) or dropped ("skip"); scores
    that are NaN are refused here, before any continuation starts.
    """
    ids = model.vocab.encode(seed_text, on_unknown=on_unknown)
    if cancel is not None and cancel.is_set():
        raise Cancelled
    return checked(*prime(model, ids, cancel, progress))


def prime_stream(model: Model, id_pieces: Iterable[np.ndarray], total: int, *, cancel: threading.Event | None = None,
                 progress: Progress | None = None) -> Primed:  # fmt: skip
    """:func:`prime_seed` for a seed's ``total`` ids that arrive in pieces (unknown characters already left out)."""
    return checked(*prime_pieces(model, id_pieces, total, cancel, progress))


def checked(logits: np.ndarray, states: States) -> Primed:
    """A seed read: scores that are NaN are refused here, before any continuation starts."""
    if np.isnan(logits).any():
        raise nan_scores()
    return Primed(logits, states)


def check_request(sampler: Sampler, params: Mapping[str, Any], length: int) -> dict[str, Any]:
    """``params`` resolved for ``sampler`` (strings parsed, bounds checked); a bad one, or a negative ``length``,
    refused in one line. :func:`generate` calls it; a front end may call it first, before it reads a long seed."""
    if length < 0:
        raise RnnplayError(f"length must be >= 0 (got {length})")
    return resolve_params(sampler, params)


def generate(
    model: Model,
    seed: str | Primed,
    sampler: Sampler,
    params: Mapping[str, Any],
    length: int,
    rng: np.random.Generator,
    *,
    stop: str | None = None,
    cancel: threading.Event | None = None,
    on_unknown: str = "skip",
    progress: Progress | None = None,
) -> Iterator[str]:
    """Stream the continuation of ``seed``, one character per chunk, as the sampler picks them.

    ``seed`` is text, or a seed already read (:func:`prime_seed`), which is then not read again.
    ``params`` (strings are parsed) are checked against ``sampler.params``, and the
    seed is encoded and read into the model's state before this returns, so bad input
    (and a model whose scores are NaN) fails here, not mid-stream, and a front end can
    show a long seed's reading (``progress``) before the continuation starts.
    ``on_unknown="error"`` refuses unknown seed characters, naming them; "skip"
    drops them (callers report them with ``model.vocab.unknown(seed_text)``).
    A ``cancel`` set while the seed is read gives an empty stream.
    """
    values = check_request(sampler, params, length)
    if length == 0 or (cancel is not None and cancel.is_set()):
        if isinstance(seed, str):
            model.vocab.encode(seed, on_unknown=on_unknown)  # an unknown character is still refused
        return iter(())
    try:
        primed = seed if isinstance(seed, Primed) else prime_seed(model, seed, on_unknown=on_unknown, cancel=cancel,
                                                                 progress=progress)
    except Cancelled:
        return iter(())
    logits, states = primed.fresh()
    return _stream(model, logits, states, sampler, values, length, rng, stop or None, cancel)


def _stream(
    model: Model,
    logits: np.ndarray,
    states: States,
    sampler: Sampler,
    values: dict[str, Any],
    length: int,
    rng: np.random.Generator,
    stop: str | None,
    cancel: threading.Event | None,
) -> Iterator[str]:
    model_step = model.stepper()
    size = model.vocab.size

    def step(ids: np.ndarray, states: States) -> tuple[np.ndarray, States]:
        if cancel is not None and cancel.is_set():
            raise Cancelled
        if outside(ids, size):
            raise ValueError(f"the sampler stepped the model with the character ids {ids.ravel()[:8].tolist()}, "
                             f"not all of 0 to {size - 1}")  # the cells' table lookups would clamp them silently
        logits, states = model_step(ids, states)
        first = logits.item(0)
        if first != first:  # NaN (the one test that costs next to nothing per character)
            raise nan_scores()
        return logits, states

    chars = model.vocab.chars
    if getattr(sampler, "needs_chars", False):  # optional: samplers that match text (beam's `end`) get the alphabet
        values = {**values, "chars": chars}
    tail = ""  # the last len(stop) characters, to spot the stop string across chunks
    try:
        for n, i in enumerate(sampler.generate(step, logits, states, length, rng, **values)):
            if n == length:  # a sampler that yields more than asked must not write forever
                return
            if not isinstance(i, int | np.integer) or isinstance(i, bool) or not 0 <= i < len(chars):
                raise ValueError(f"the sampler gave the character id {i!r}, not one of 0 to {len(chars) - 1}")
            ch = chars[i]  # (chars[-1] would have been a character too, and True the id 1)
            yield ch
            if stop is not None:
                tail = (tail + ch)[-len(stop) :]
                if tail == stop:
                    return
    except Cancelled:
        return


def outside(ids: np.ndarray, size: int) -> bool:
    """Whether an id in ``ids`` is not one of 0 to ``size - 1`` (one stream's id is read without a reduction)."""
    if ids.size == 1:
        return not 0 <= ids.item(0) < size
    return bool(ids.min() < 0 or ids.max() >= size)


def nan_scores() -> ValueError:
    """The error for scores that are NaN. A state gone bad spreads NaN to every score (so the first one tells);
    sampled, they would give the lowest id over and over, silently."""
    return ValueError("the model's scores for the next character are NaN (its cell's state is not a number)")


def sample_text(
    model: Model, seed_ids: np.ndarray, length: int, temperature: float, rng: np.random.Generator
) -> str:
    """The seed and ``length`` characters after it at ``temperature``: the trainer's occasional sample, which
    reads from the seed's first character as the text it continues does."""
    logits, states = prime(model, seed_ids)
    ids = TEMPERATURE.generate(model.stepper(), logits, states, length, rng, temperature=temperature)
    return model.vocab.decode([*seed_ids.tolist(), *ids])
