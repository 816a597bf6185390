"""Elementwise passes over all of a model's weights, cut into pieces that run at once on the step's worker threads.

An optimizer's step and the weight average compute each number of each weight from the
same position in a few other arrays, independently of every other number. Between the
chunks of a training step (:mod:`.parallel_step`) they run on one thread while the other
cores wait, so they are cut into P pieces, P the cores this process may use: piece k of
``run`` is the k-th of P consecutive shares of every array, flat::

    array of n numbers, piece k of P:   a.ravel()[⌊k·n/P⌋ : ⌊(k+1)·n/P⌋]

and the pieces run on the step's pool, each in a compiled function that holds no
interpreter lock (:mod:`.update_kernels`). Each number is computed as it would be in one
pass, so the result does not depend on P or on the load. A pass over fewer than
:data:`SMALL` numbers is one piece on the calling thread: handing it to a worker would
cost more than it saves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from rnnplay.core import parallel_step, threads

SMALL = 1 << 16  # numbers in a pass below which it runs whole on the calling thread
R = TypeVar("R")


@dataclass(frozen=True)
class Piece:
    """Share ``index`` of ``count`` of every array a pass reads or writes."""

    index: int
    count: int

    def of(self, a: np.ndarray) -> np.ndarray:
        """This piece of ``a`` as a flat view (``a`` must be C-contiguous, so the view is ``a``'s own numbers)."""
        if not a.flags.c_contiguous:
            raise ValueError("a piece of an array that is not C-contiguous would be a copy")
        flat = a.reshape(-1)
        n = flat.shape[0]
        return flat[n * self.index // self.count : n * (self.index + 1) // self.count]


def run(work: Callable[[Piece], R], numbers: int) -> list[R]:
    """``work(piece)`` for every piece of a pass over ``numbers`` numbers, at once on the step's pool; the results
    in the pieces' order. If interrupted, no piece is still running when the exception goes on."""
    count = 1 if numbers < SMALL else threads.usable_cores()
    executor = parallel_step.pool() if count > 1 else None
    if executor is None:  # one piece, or no room for a worker thread (parallel_step.fitting): the same pieces here
        return [work(Piece(k, count)) for k in range(count)]
    futures: list[Future[R]] = []
    with parallel_step.all_finished(futures):
        futures.extend(executor.submit(work, Piece(k, count)) for k in range(count))
        return [f.result() for f in futures]


def eligible(*groups: Iterable[np.ndarray]) -> bool:
    """Whether every array is float32 and C-contiguous: what the compiled passes take."""
    return all(a.dtype == np.float32 and a.flags.c_contiguous for group in groups for a in group)
