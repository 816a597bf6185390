"""A turn that goes quiet says so: after ``STALL_SECONDS`` with no new character, a :class:`Working` line.

Most samplers give a character every step, but beam search gives one only once every
beam it keeps agrees on it (at ``width=256`` the beams may not agree for the whole
text, which then comes at the end), and a plugin's cell or sampler may simply be
slow. Without a sign, a user takes the silence for a hang. A thread watches the time
since the last character; the next character ends the line, before it is shown. ``on_quiet(True)`` when the line shows,
``on_quiet(False)`` when it ends: a training beside the turn stops giving way to it meanwhile.

::

    with StallWatch(session.emit, "beam", length) as watch:
        for chunk in stream:
            watch.chunk(Chunk(chunk))      # emitted under the watch's lock, after the Working line's end
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Self

from rnnplay.env_values import seconds_from_env
from rnnplay.session.events import Chunk, Event, Working

STALL_SECONDS = 1.5  # quiet time before a turn shows that it is still at work (a test may shorten it)
STOP_GRACE = 3.0  # seconds a turn told to stop may take before a face says it does not (a plugin that never checks)
DOES_NOT_STOP = "it does not stop: a plugin never checks for a stop"
SLOW_NOT_STUCK = "is slow here (a large model, a busy machine, memory short) and may yet return"  # rnnplay's own code
WAITS_FOR_KERNELS = "it waits for rnnplay's compiled kernels, which a first run compiles"  # jit.loading()


def stop_grace() -> float:
    """STOP_GRACE, or ``$RNNPLAY_STOP_GRACE_SECONDS``: how long work told to stop (a turn, a plugin's command, a
    front end leaving after SIGTERM or SIGHUP) may take before a face says it does not, or leaves without it. One
    line for a value that is no number of seconds."""
    return seconds_from_env("RNNPLAY_STOP_GRACE_SECONDS", STOP_GRACE)


class Watcher:
    """A daemon thread that calls :meth:`tick` each ``every`` seconds while the ``with`` block runs."""

    def __init__(self, name: str, every: float) -> None:
        self.every = every
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.done.set()
        self.thread.join()

    def _run(self) -> None:
        while not self.done.wait(self.every):
            self.tick()

    def tick(self) -> None:
        """One look at what is watched."""


class StallWatch(Watcher):
    """Shows a Working line while the turn's stream has given no character for ``STALL_SECONDS``."""

    def __init__(self, emit: Callable[[Event], None], sampler: str, length: int,
                 on_quiet: Callable[[bool], None] = lambda quiet: None) -> None:
        super().__init__("rnnplay-stall-watch", min(0.25, STALL_SECONDS))
        self.emit, self.sampler, self.length, self.on_quiet = emit, sampler, length, on_quiet
        self.lock = threading.Lock()  # the watcher's Working line and the turn's chunks, one at a time, in order
        self.last = time.monotonic()
        self.written = 0
        self.showing: Working | None = None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        super().__exit__(kind, error, tb)
        with self.lock:
            self._end()

    def chunk(self, event: Chunk) -> None:
        """Emit the turn's next characters, the Working line (if shown) ended first."""
        with self.lock:
            self._end()
            self.last = time.monotonic()
            self.written += len(event.text)
            self.emit(event)

    def tick(self) -> None:
        with self.lock:
            if self.showing is None and time.monotonic() - self.last >= STALL_SECONDS:
                self.showing = Working(f"{self.sampler} is still choosing the next characters "
                                       f"({self.written:,} of {self.length:,} written)")
                self.emit(self.showing)
                self.on_quiet(True)

    def _end(self) -> None:
        if self.showing is not None:
            self.emit(Working(self.showing.what, done=True))
            self.showing = None
            self.on_quiet(False)
