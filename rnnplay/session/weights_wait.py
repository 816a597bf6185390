"""The model's weights while a training step holds them: a seed, a /compare or a /save waits, and says so.

The training thread holds the session's ``model_lock`` for each step. A step is short, and so is the wait
most of the time; but a step of a large model on a busy machine, or of a plugin's cell that blocks, held a
seed typed meanwhile without a word until the stall line came (``step_stall_seconds()``, 30 s). Now a wait
longer than ``WAIT_WORD_SECONDS`` says at once what it waits for and how to end it: Ctrl+C (Esc in the app)
stops the training after that step (:meth:`WeightsWait.stop_training`, through ``Session.cancel``), and
what waited runs then. A step said to have stalled refuses the wait in one line, as it did.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from rnnplay.core.errors import RnnplayError

if TYPE_CHECKING:
    from rnnplay.session.session import Session

WAIT_WORD_SECONDS = 0.5  # a wait for the weights this long is said: longer than a small model's step


class WeightsWait:
    """The session's ``model_lock``, waited for with a word; how many wait now (Ctrl+C then stops the training)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._lock = threading.Lock()
        self.waiting = 0  # threads waiting for a step to end

    @contextlib.contextmanager
    def held(self, what: str) -> Iterator[None]:
        """The model lock for the block; refused in one line, which ``what`` begins, while a step that does not
        return holds it; a longer wait said once, with the way to end it."""
        lock = self.session.model_lock
        if not lock.acquire(timeout=WAIT_WORD_SECONDS):
            with self._counted():
                self._wait(lock, what)
        try:
            yield
        finally:
            lock.release()

    @contextlib.contextmanager
    def _counted(self) -> Iterator[None]:
        with self._lock:
            self.waiting += 1
        try:
            yield
        finally:
            with self._lock:
                self.waiting -= 1

    def _wait(self, lock: threading.Lock, what: str) -> None:
        with contextlib.ExitStack() as meanwhile:
            said = False
            while not lock.acquire(timeout=0.1):
                job = self.session.runner.job
                if job is not None and job.watch.stalled():
                    raise RnnplayError(f"{what}: {job.watch.line()}")
                if not said and job is not None and job.alive and job.watch.running():
                    said = True  # the cell at work meanwhile, for a line that it does not stop
                    meanwhile.enter_context(self.session.at_work.running(("cells", job.run.model.cell.name)))
                    self.session.info(f"this waits for {job.watch.doing()} to end; "
                                      "Ctrl+C stops the training after that step, and this runs then")

    def stop_training(self) -> bool:
        """Ctrl+C while something waits for a step: the training stops after it, so the wait ends; True if so."""
        job = self.session.runner.job
        if not self.waiting or job is None or not job.alive:
            return False
        if not job.run.trainer.stopping:
            job.run.trainer.stop()
            self.session.info(f"stopping the training after step {job.watch.stops_after()}; what you typed runs then")
        return True
