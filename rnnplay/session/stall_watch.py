"""A turn that goes quiet says so: after ``STALL_SECONDS`` with no new character, a :class:`Working` line.

Most samplers give a character every step, but beam search gives one only once every
beam it keeps agrees on it (at ``width=256`` the beams may not agree for the whole
text, which then comes at the end), and a plugin's cell or sampler may simply be
slow. Without a sign, a user takes the silence for a hang. A thread watches the time
since the last character; the next character ends the line, before it is shown.

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

from rnnplay.session.events import Chunk, Event, Working

STALL_SECONDS = 1.5  # quiet time before a turn shows that it is still at work (a test may shorten it)
STOP_GRACE = 3.0  # seconds a turn told to stop may take before a face says it does not (a plugin that never checks)
DOES_NOT_STOP = "it does not stop: a plugin never checks for a stop"


class StallWatch:
    """Shows a Working line while the turn's stream has given no character for ``STALL_SECONDS``."""

    def __init__(self, emit: Callable[[Event], None], sampler: str, length: int) -> None:
        self.emit, self.sampler, self.length = emit, sampler, length
        self.lock = threading.Lock()  # the watcher's Working line and the turn's chunks, one at a time, in order
        self.last = time.monotonic()
        self.written = 0
        self.showing: Working | None = None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._watch, name="rnnplay-stall-watch", daemon=True)

    def __enter__(self) -> StallWatch:
        self.thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.done.set()
        self.thread.join()
        with self.lock:
            self._end()

    def chunk(self, event: Chunk) -> None:
        """Emit the turn's next characters, the Working line (if shown) ended first."""
        with self.lock:
            self._end()
            self.last = time.monotonic()
            self.written += len(event.text)
            self.emit(event)

    def _watch(self) -> None:
        while not self.done.wait(min(0.25, STALL_SECONDS)):
            with self.lock:
                if self.showing is None and time.monotonic() - self.last >= STALL_SECONDS:
                    self.showing = Working(f"{self.sampler} is still choosing the next characters "
                                           f"({self.written:,} of {self.length:,} written)")
                    self.emit(self.showing)

    def _end(self) -> None:
        if self.showing is not None:
            self.emit(Working(self.showing.what, done=True))
            self.showing = None
