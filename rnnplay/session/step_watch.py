"""A training step that does not return, noticed: one line naming the cell, and a way out that does not wait for it.

A plugin's cell may block inside ``forward`` for good. The step then never ends, the weights stay held (the
session's ``model_lock``), and a stop asked between two steps never comes. :class:`StepWatch` times each
step (:meth:`StepWatch.taking`); once one has run for ``step_stall_seconds()`` it says so, once, naming the
cell and its plugin (:meth:`StepWatch.line`). What waits on the step can then give up on it: a seed is
refused in one line, leaving the app or the REPL leaves without that step, a Ctrl-C pressed again ends
``rnnplay train``. A thread cannot be killed in Python, so the process leaves with ``os._exit``.

The time is ``STEP_STALL_SECONDS`` or ``$RNNPLAY_STEP_STALL_SECONDS``: a first step that compiles the kernels
on a busy machine takes a good part of it, and a step that returns later says so and training goes on.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from rnnplay.corpora.download import seconds_from_env
from rnnplay.plugins.host import get_host
from rnnplay.session.stall_watch import SLOW_NOT_STUCK, Watcher

STEP_STALL_SECONDS = 30.0  # a training step this long has not returned: say so, and stop waiting for it to leave


def step_stall_seconds() -> float:
    """STEP_STALL_SECONDS, or ``$RNNPLAY_STEP_STALL_SECONDS``; one line for a value that is no number of seconds."""
    return seconds_from_env("RNNPLAY_STEP_STALL_SECONDS", STEP_STALL_SECONDS)


class StepWatch(Watcher):
    """Says ``line()`` through ``say`` once a step has run for ``seconds``; and when that step returns after all.

    ``cell``: the name of the cell the step runs (a plugin's is named with its plugin, "the cell 'stuck' from
    rnnplay-hang"); ``then``: what the user may do.
    """

    def __init__(self, say: Callable[[str], None], cell: str, then: str, seconds: float | None = None) -> None:
        self.say, self.who, self.then = say, get_host().who("cells", cell), then
        self.built_in = get_host().cell_plugin(cell) is None  # slow, not stuck: rnnplay's own cells always return
        self.seconds = step_stall_seconds() if seconds is None else seconds
        super().__init__("rnnplay-step-watch", min(0.25, self.seconds / 4))
        self.lock = threading.Lock()
        self.since: float | None = None  # when the step in progress began
        self.step = 0  # its number
        self.reported = False  # it was said to have stalled

    @contextlib.contextmanager
    def taking(self, step: int) -> Iterator[None]:
        """The block is training step ``step``."""
        with self.lock:
            self.since, self.step = time.monotonic(), step
        try:
            yield
        finally:
            with self.lock:
                late = self.reported and self.since is not None and time.monotonic() - self.since
                self.since, self.reported = None, False
            if late:
                self.say(f"training step {step} returned after all, after {late:.0f} s; training goes on")

    def running(self) -> bool:
        """Whether a step is in progress."""
        return self.since is not None

    def stalled(self) -> bool:
        """Whether the step in progress has been said not to return."""
        return self.reported

    def line(self) -> str:
        """'training step 3 has not returned for 31 s: the cell … may never return; THEN' (is slow, for a built-in)."""
        since = self.since
        waited = 0.0 if since is None else time.monotonic() - since
        why = SLOW_NOT_STUCK if self.built_in else "may never return"
        return f"training step {self.step} has not returned for {waited:.0f} s: {self.who} {why}; {self.then}"

    def left_behind(self, saved: tuple[Path, int] | None, back: str | None = None) -> str:
        """The line for leaving without the step that has not returned: where the run was last ``saved`` (path,
        step), and the ``back`` command that opens the model it continued."""
        if saved is not None:
            kept = f"the run's last checkpoint is {saved[0]}, at step {saved[1]:,}"
        else:
            kept = "no checkpoint of this run was saved" + (f" ({back} opens the model it continued)" if back else "")
        return f"left training step {self.step} behind, unfinished ({self.who} has not returned); {kept}"

    def tick(self) -> None:
        with self.lock:
            due = self.since is not None and not self.reported and time.monotonic() - self.since >= self.seconds
            self.reported = self.reported or due
        if due:
            self.say(self.line())
