"""A training step that does not return, noticed: one line naming the cell, and a way out that does not wait for it.

A plugin's cell may block inside ``forward`` for good. The step then never ends, the weights stay held (the
session's ``model_lock``), and a stop asked between two steps never comes. :class:`StepWatch` times each
step (:meth:`StepWatch.taking`); once one has run for ``step_stall_seconds()`` it says so, once, naming the
cell and its plugin (:meth:`StepWatch.line`). What waits on the step can then give up on it: a seed is
refused in one line, leaving the app or the REPL leaves without that step, a Ctrl-C pressed again ends
``rnnplay train``. A thread cannot be killed in Python, so the process leaves with ``os._exit``.

The trainer says when it validates (``Trainer.reading``): a validation that does not return is named as one,
"the validation after step 6", not as a step 7 there is not; leaving past it keeps the run
(:mod:`rnnplay.session.past_validation`). One that goes on reading its characters is not stalled, however long it
takes: the time counts from the last chunk it read.

The time is ``STEP_STALL_SECONDS`` or ``$RNNPLAY_STEP_STALL_SECONDS``: a first step that compiles the kernels
on a busy machine takes a good part of it, and a step that returns later says so and training goes on.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from rnnplay.core import jit
from rnnplay.env_values import seconds_from_env
from rnnplay.plugins.host import get_host
from rnnplay.session.stall_watch import SLOW_NOT_STUCK, WAITS_FOR_KERNELS, Watcher

if TYPE_CHECKING:
    from rnnplay.core.trainer import Trainer

STEP_STALL_SECONDS = 30.0  # a training step this long has not returned: say so, and stop waiting for it to leave


def step_stall_seconds() -> float:
    """STEP_STALL_SECONDS, or ``$RNNPLAY_STEP_STALL_SECONDS``; one line for a value that is no number of seconds."""
    return seconds_from_env("RNNPLAY_STEP_STALL_SECONDS", STEP_STALL_SECONDS)


class StepWatch(Watcher):
    """Says ``line()`` through ``say`` once a step has run for ``seconds``; and when that step returns after all.

    ``trainer``: the run's, which says whether it is validating (the validation after step N, not step N+1);
    its cell is named with its plugin ("the cell 'stuck' from rnnplay-hang"); ``then``: what the user may do.
    """

    def __init__(self, say: Callable[[str], None], trainer: Trainer, then: str, seconds: float | None = None) -> None:
        cell = trainer.model.cell.name
        self.say, self.trainer, self.who, self.then = say, trainer, get_host().who("cells", cell), then
        self.built_in = get_host().cell_plugin(cell) is None  # slow, not stuck: rnnplay's own cells always return
        self.seconds = step_stall_seconds() if seconds is None else seconds
        super().__init__("rnnplay-step-watch", min(0.25, self.seconds / 4))
        self.lock = threading.Lock()
        self.since: float | None = None  # when the step in progress began
        self.step = 0  # its number
        self.reported = ""  # what was said to have stalled ("training step 7"); "" when nothing was

    @contextlib.contextmanager
    def taking(self, step: int) -> Iterator[None]:
        """The block is training step ``step`` (and the validation after it, or after the step before). A step said
        to have stalled that then returns says so; one that raises leaves its error to say what happened (a lost Ray
        node ends the run: "training goes on" would be wrong)."""
        with self.lock:
            self.since, self.step = time.monotonic(), step
        returned = False
        try:
            yield
            returned = True
        finally:
            with self.lock:
                late = self.reported and self.since is not None and time.monotonic() - self.since
                what, self.since, self.reported = self.reported, None, ""
            if late and returned:
                self.say(f"{what} returned after all, after {late:.0f} s; {self._after(what)}")

    def _after(self, what: str) -> str:
        """What comes after ``what`` returned: more steps, or the end of the run."""
        if what.startswith("training step"):
            return "training goes on"
        ends = self.trainer.stopping or (self.trainer.budget_fraction() or 0.0) >= 1.0
        return "the run ends" if ends else "the run goes on"

    def doing(self) -> str:
        """'training step 7'; 'the validation after step 6' (or 'the sample') while the trainer only reads the
        weights; 'the work after step 6' once that step returned (the end of the run, say)."""
        step = self.trainer.step
        if self.reads_only():
            return f"{self.trainer.reading.what} after step {step}"
        return f"the work after step {step}" if step >= self.step else f"training step {self.step}"

    def stops_after(self) -> int:
        """The step a stop asked now ends the run after: the one in progress, or the one a validation follows."""
        return self.step if self.doing().startswith("training step") else self.trainer.step

    def reads_only(self) -> bool:
        """Whether the block in progress is a validation or a sample, which only read the weights."""
        return self.since is not None and bool(self.trainer.reading.what)

    def running(self) -> bool:
        """Whether a step is in progress."""
        return self.since is not None

    def stalled(self) -> bool:
        """Whether the step in progress has been said not to return."""
        return bool(self.reported)

    def line(self) -> str:
        """'training step 3 has not returned for 31 s: the cell … may never return; THEN' (is slow, for a built-in);
        'the validation after step 6 has not returned …; THEN, saving the run at step 6' while it validates (leaving
        past a validation saves the run first: :mod:`rnnplay.session.past_validation`); 'training step 3 has not
        returned for 31 s: it waits for Ray to start the workers of the node … again elsewhere …' while a step on Ray
        workers waits for a lost node."""
        since = self._quiet_since()
        waited = 0.0 if since is None else time.monotonic() - since
        why = f"{self.who} {SLOW_NOT_STUCK if self.built_in else 'may never return'}"
        if self.built_in and jit.loading():  # a first run's first step compiles the kernels: not the cell's fault
            why = WAITS_FOR_KERNELS
        if waits := self._waits_for():  # a step on Ray workers waiting for a lost node: no fault of the cell's
            why = f"it waits for {waits}"
        then = f"{self.then}, saving the run at step {self.trainer.step:,}" if self.reads_only() else self.then
        return f"{self.doing()} has not returned for {waited:.0f} s: {why}; {then}"

    def _waits_for(self) -> str:
        """What the training step in progress waits for besides its cell, as the run's gradient function says it
        (``waits_for()`` of :class:`rnnplay.distributed.data_parallel.DataParallelGradients`: Ray to start the
        workers of a lost node elsewhere), or ''."""
        waits_for = getattr(self.trainer.gradients, "waits_for", None)
        return waits_for() if callable(waits_for) and not self.reads_only() else ""

    def left_behind(self, saved: tuple[Path, int] | None, back: str | None = None) -> str:
        """The line for leaving without the step that has not returned: where the run was last ``saved`` (path,
        step), and the ``back`` command that opens the model it continued."""
        if saved is not None:
            kept = f"the run's last checkpoint is {saved[0]}, at step {saved[1]:,}"
        else:
            kept = "no checkpoint of this run was saved" + (f" ({back} opens the model it continued)" if back else "")
        return f"left {self.doing()} behind, unfinished ({self.who} has not returned); {kept}"

    def _quiet_since(self) -> float | None:
        """Since when the block in progress has shown no sign of life: its start, or a validation's last chunk read
        (a long one that moves is slow, not stalled); None when no block runs."""
        since = self.since
        if since is not None and self.reads_only():
            since = max(since, self.trainer.reading.moved)
        return since

    def tick(self) -> None:
        with self.lock:
            since = self._quiet_since()
            due = since is not None and not self.reported and time.monotonic() - since >= self.seconds
            if due:
                self.reported = self.doing()
        if due:
            self.say(self.line())
