"""Leaving past a validation that has not returned keeps the run's finished steps: a validation only reads weights.

``Trainer.validate`` runs the model forward on the validation text: it reads the weights and writes none of what a
checkpoint holds (weights, optimizer and averaging state, step, data position, RNG, carried state); only the
loss history gains a line once it returns. ``Trainer.sample`` reads them too, with an RNG of its own. So when the
session leaves while the training thread is held in either, the run is saved at its last finished step. The held
thread keeps the session's model lock, so the save does without it; the trainer is told to stop first, so no step
follows should that validation return after all.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from rnnplay.core.errors import RnnplayError

if TYPE_CHECKING:
    from rnnplay.session.training_job import TrainingJob


def kept_past_validation(job: TrainingJob, warn: Callable[[str], None]) -> tuple[Path, int] | None:
    """Where and at which step the run is kept when the session leaves it: saved now if its thread is held in a
    validation or a sample (a failed save said through ``warn``), else its last checkpoint's (None: none)."""
    if not job.watch.reads_only():
        return job.last_saved
    job.run.trainer.stop()
    try:
        saved = job.run.save_or_rescue(job.out)
    except RnnplayError as err:
        warn(f"the run was not saved as it was left: {err}")
        return job.last_saved
    if saved.problem:
        warn(f"{saved.problem}; saved to {saved.path} instead")
    job.last_saved = saved.path, job.run.trainer.step
    return job.last_saved
