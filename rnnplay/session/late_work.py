"""Work shown as such once it has lasted a moment: a seed's reading, whatever its length.

A seed of ``LONG_TEXT`` characters or more is shown as work at once (a bar, Esc to stop); a shorter one was
never shown, though its reading takes as long as the model and the machine make it: 5,000 characters into the
bundled model took 3.5 to 10 s on a busy machine, the screen unchanged. A timer shows it once
``SHOW_AFTER`` seconds have passed, its share read from then on, and ends it with the block::

    with LateWork(session.working, "reading a seed of 900 characters", SHOW_AFTER) as work:
        prime(model, ids, progress=work.progress)
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Self

SHOW_AFTER = 0.5  # seconds of work before it is shown (short enough to be "at once", long enough not to flicker)


class LateWork:
    """``working(what)`` entered ``after`` seconds into the block (at once for 0), left as the block ends."""

    def __init__(self, working: Callable[[str], contextlib.AbstractContextManager[Callable[[float], None]]],
                 what: str | Callable[[], str], after: float = SHOW_AFTER) -> None:
        self.working, self.what, self.after = working, what, after
        self.lock = threading.Lock()  # the timer's start of the work and the block's progress and end, in order
        self.shown = contextlib.ExitStack()
        self.report: Callable[[float], None] | None = None
        self.timer = threading.Timer(after, self.show)
        self.timer.daemon = True

    def __enter__(self) -> Self:
        if self.after > 0:
            self.timer.start()
        else:
            self.show()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.timer.cancel()
        if self.timer.is_alive():
            self.timer.join()  # a show under way finishes first: its end comes after its start
        with self.lock:
            self.shown.close()

    def show(self) -> None:
        """Show the work, in words said now (``what()``, when a callable: what holds it up may have changed)."""
        with self.lock:
            what = self.what() if callable(self.what) else self.what
            self.report = self.shown.enter_context(self.working(what))

    def progress(self, fraction: float) -> None:
        """The share done, shown once the work is."""
        with self.lock:
            if self.report is not None:
                self.report(fraction)
