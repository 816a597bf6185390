"""A training run's stop flag, and which came first: the run's first step, or a stop.

A stop asked before the first step leaves nothing to save, and one asked during it ends the run after that step,
saved. Which of the two it is cannot be read from outside the loop without a race (the loop may be about to begin
its first step as the stop comes), so the first step is begun through :meth:`StopFlag.begin`, and it and
:meth:`StopFlag.set` take one token: whichever takes it first decides, and :meth:`StopFlag.set` says which.
"""

from __future__ import annotations

import contextlib
import threading


class StopFlag:
    """``set``, ``is_set`` and ``clear`` as a ``threading.Event``'s; ``set`` also says whether a step has begun."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._first = threading.Lock()  # taken by the run's first step, or by a stop before it
        self._forestalled = False  # a stop took it: this run makes no step

    def set(self) -> bool:
        """Stop after the step under way, or before the first (thread- and signal-safe: nothing here waits); whether
        the run has begun a step (False: it makes none, and saves nothing)."""
        self._event.set()
        if self._first.acquire(blocking=False):
            self._forestalled = True
        return not self._forestalled

    def is_set(self) -> bool:
        return self._event.is_set()

    def begin(self, first: bool) -> bool:
        """Whether the run may make its next step (its ``first`` one: also not forestalled by a stop before it)."""
        return not self._event.is_set() and (not first or self._first.acquire(blocking=False))

    def clear(self) -> None:
        """The run has ended: a next run of the same trainer starts afresh."""
        self._event.clear()
        self._forestalled = False
        with contextlib.suppress(RuntimeError):  # not taken: the run ended before a step or a stop
            self._first.release()
