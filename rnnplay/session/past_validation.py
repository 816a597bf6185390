"""Leaving past a validation that has not returned keeps the run's finished steps: a validation only reads weights.

``Trainer.validate`` runs the model forward on the validation text: it reads the weights and writes none of what a
checkpoint holds (weights, optimizer and averaging state, step, data position, RNG, carried state); only the
loss history gains a line once it returns. ``Trainer.sample`` reads them too, with an RNG of its own. So when a run
is left while it is held in either, it is saved at its last finished step: by the session as it leaves (the held
thread keeps the session's model lock, so the save does without it), and by ``rnnplay train``'s signal handler
(:mod:`rnnplay.ui.cli.interrupts`), which runs on the very thread the validation holds, between two of its
bytecodes. The trainer is told to stop first, so no step follows should that validation return after all.

A training step held in compiled code (:mod:`rnnplay.ui.cli.held_signals`) has written nothing a checkpoint holds
either until it is applied: its batch and random draws are put back in the checkpoint (``Trainer.before_step``),
so it too is left with the run saved at its last finished step.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from rnnplay.core.errors import RnnplayError

if TYPE_CHECKING:
    from rnnplay.session.step_watch import StepWatch
    from rnnplay.session.training_runs import Saved


def kept_past_validation(watch: StepWatch, save: Callable[[], Saved], kept: tuple[Path, int] | None,
                         warn: Callable[[str], None], held: bool = False) -> tuple[Path, int] | None:
    """Where and at which step a run is kept when it is left: saved now through ``save`` if what ``watch`` times
    is a validation or a sample, or (``held``) a step held in compiled code on the main thread (a failed save said
    through ``warn``), else ``kept``, its last checkpoint's (path and step; None: none)."""
    if not (held or watch.reads_only()):
        return kept
    trainer = watch.trainer
    trainer.stop()
    try:
        with trainer.committing:  # a step being applied is applied first
            if held and trainer.average is not None:  # the step holds the raw weights in the model: the average back
                trainer.average.averaged()
            saved = save()
    except RnnplayError as err:
        warn(f"the run was not saved as it was left: {err}")
        return kept
    if saved.problem:
        warn(f"{saved.problem}; saved to {saved.path} instead")
    return saved.path, watch.trainer.step
