"""A training's outputs claimed before its first step: a new name in the model library taken as it is chosen.

When ``/train`` is given no ``out=``, rnnplay picks the next free name in the model library
(``notes.npz``, ``notes-2.npz``, …). Two sessions training on one text at once could both pick
the same one before either locked it, and the second was refused as if the user had named it.
:func:`claim_library_target` takes the name's lock as it is chosen, and passes over a name that
another session locked or saved to meanwhile; an ``out=`` the user gave keeps its refusal.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from rnnplay.core.errors import RnnplayError
from rnnplay.core.train_config import check_best, settings_named
from rnnplay.models.library import models_dir
from rnnplay.session.checkpoint_names import library_target
from rnnplay.session.output_paths import LockHeld, OutputLock, check_room, lock_outputs, saves_again
from rnnplay.session.training_runs import BestCheckpoint, TrainingRun

CLAIM_TRIES = 100  # names passed over, taken by other sessions meanwhile, before a claim gives up


def claim_library_target(corpus_name: str) -> tuple[Path, OutputLock]:
    """A new checkpoint's path in the model library (:func:`library_target`) and its lock, taken. A name another
    session took between the choice and the lock (its lock held, or its checkpoint saved there by now) is passed
    over for the next free one."""
    for _ in range(CLAIM_TRIES):
        target = library_target(corpus_name)
        lock = OutputLock(target, "out=")
        try:
            lock.__enter__()
        except LockHeld:
            continue
        if lock.wrote == ():  # nothing there: the name is this run's
            return target, lock
        lock.__exit__()
    raise RnnplayError(f"other programs took {CLAIM_TRIES} names in {models_dir()} while /train chose one: "
                       "give /train out=PATH")


def claim_outputs(out: Path | None, best: Path | None, corpus_name: str, run: TrainingRun,
                  checkpoint_every: int) -> tuple[Path, BestCheckpoint | None, contextlib.ExitStack]:
    """Where ``run`` saves (``out``, or a new name in the model library claimed for it), checked for room (for two
    files while a save replaces the run's own earlier one: every ``checkpoint_every`` steps, and each better best);
    its best checkpoint (``best``); the locks on both, held until the stack is closed (none, when a check fails)."""
    with settings_named():
        check_best(run.trainer.config, best)
    with contextlib.ExitStack() as stack:
        claimed = out is None
        if out is None:
            out, claim = claim_library_target(corpus_name)
            stack.push(claim)
        outputs = [(out, "out=", saves_again(run.trainer, checkpoint_every)), (best, "best=", True)]
        check_room([o for o in outputs if o[0] is not None], run.checkpoint_bytes())
        keeper = BestCheckpoint.for_run(best, run, out) if best else None
        stack.enter_context(lock_outputs((None if claimed else out, "out="), (best, "best=")))
        return out, keeper, stack.pop_all()
