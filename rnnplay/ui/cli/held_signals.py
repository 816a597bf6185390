"""Signals that come while the main thread is held in compiled code, heard all the same.

Python runs a signal's handler on the main thread, between two bytecodes. A plugin's cell held inside compiled
code (a C call that never returns to the interpreter, a numba loop) never lets it run, so Ctrl-C did nothing at
all to ``rnnplay train``. With :func:`signal.set_wakeup_fd`, the C-level handler writes each signal's number to a
pipe whatever the main thread is doing, and a thread of :class:`HeldSignals` reads it. When the handler has not
run within :data:`CATCH_UP_SECONDS` of a signal, and the main thread's innermost Python frame has not moved
meanwhile, the main thread is held outside the interpreter: ``on_held(signum)`` answers the signal on the reader
thread instead, if ``wanted()`` (else the handler answers it if the main thread ever returns). Should the main
thread return after all, its handler's run for those signals is skipped (:meth:`HeldSignals.ran` says so), so
that no signal is answered twice.

Only where no one else uses the wakeup descriptor (an asyncio loop would): otherwise signals are heard as before.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

READER_STACK = 256 * 1024  # it reads a pipe, may save the run; the default 8 MiB is address space no check counts
CATCH_UP_SECONDS = 1.0  # far longer than a live main thread takes to run a handler: a bound, not a wait
LATE_READ_SECONDS = 0.5  # how long before the reader read a signal its handler may have run (the reader was slow)


class HeldSignals:
    """While entered (in the main thread), each of ``signals`` the handler does not get to is given to
    ``on_held`` on a thread of its own, when ``wanted()`` then."""

    def __init__(self, signals: set[int], on_held: Callable[[int], None], wanted: Callable[[], bool]) -> None:
        self.signals, self.on_held, self.wanted = signals, on_held, wanted
        self._lock = threading.Lock()
        self._last_run = float("-inf")  # monotonic time of the handler's last run
        self._owed = False  # answered here: the handler's next run is for those signals
        self._pipe: tuple[int, int] | None = None

    def __enter__(self) -> HeldSignals:
        try:
            read, write = os.pipe()
        except OSError:
            return self
        os.set_blocking(write, False)  # the C-level handler must never block on it
        try:
            previous = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
        except ValueError:  # not the main thread
            previous = -2
        if previous != -1:  # another's (or none could be set): put back, and hear signals as before
            with contextlib.suppress(ValueError):
                signal.set_wakeup_fd(previous if previous >= 0 else -1)
            os.close(read)
            os.close(write)
            return self
        self._pipe = read, write
        try:
            reader_thread(self._hear, read)
        except RuntimeError:  # no room for a thread (ulimit -v): signals are heard as before
            self.__exit__()
            os.close(read)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pipe is None:
            return
        with contextlib.suppress(ValueError):
            signal.set_wakeup_fd(-1)
        os.close(self._pipe[1])  # the reader reads the end of the pipe, and closes its own end
        self._pipe = None

    def ran(self) -> bool:
        """Called first by the handler: whether this run is for signals already answered by ``on_held`` (skip it)."""
        with self._lock:
            self._last_run = time.monotonic()
            owed, self._owed = self._owed, False
        return owed

    def _hear(self, read: int) -> None:
        with contextlib.closing(os.fdopen(read, "rb", buffering=0)) as pipe:
            while data := pipe.read(64):
                for signum in data:
                    if signum in self.signals:
                        self._answer_if_held(signum)

    def _answer_if_held(self, signum: int) -> None:
        came = time.monotonic()
        before = main_position()
        deadline = came + CATCH_UP_SECONDS
        while time.monotonic() < deadline:
            time.sleep(0.05)
            if self._last_run >= came - LATE_READ_SECONDS or main_position() != before:
                return  # the main thread runs Python: its handler has run, or will
        if not self.wanted():
            return
        with self._lock:
            self._owed = True
        self.on_held(signum)


def reader_thread(hear: Callable[[int], None], read: int) -> None:
    """Start the thread that reads the wakeup pipe, on a small stack of its own (the default maps 8 MiB)."""
    previous = threading.stack_size(READER_STACK)
    try:
        threading.Thread(target=hear, args=(read,), name="rnnplay-held-signals", daemon=True).start()
    finally:
        threading.stack_size(previous)


def main_position() -> tuple[int, int] | None:
    """Where the main thread is in Python (its innermost frame and instruction); the same while it is held in C."""
    frame = sys._current_frames().get(threading.main_thread().ident or 0)
    return None if frame is None else (id(frame), frame.f_lasti)
