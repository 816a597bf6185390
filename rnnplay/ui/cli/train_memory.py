"""What ``rnnplay train`` says when memory runs out: in a training step (a smaller batch or sequence; for a resumed
run, whose batch and sequence length are its checkpoint's, a new run from its weights), or in a validation or a
sample, which only read the weights of a step that is whole (fewer validation characters, a shorter sample)."""

from __future__ import annotations

from pathlib import Path

from rnnplay.core import address_space
from rnnplay.core.errors import counted
from rnnplay.session import memory_room
from rnnplay.session.training_runs import TrainingRun


def out_of_memory(run_: TrainingRun, out: Path, resumed: bool, kept: str) -> str:
    """The one line for a MemoryError out of ``run_``'s events; ``kept`` says where the run is saved."""
    trainer, limit = run_.trainer, address_space.advice()
    c, after = trainer.config, f"after step {trainer.step:,}"
    if trainer.reading.ran_out == "the validation":
        chars = min(len(trainer.val_ids), c.val_max_chars) if trainer.val_ids is not None else c.val_max_chars
        return (f"out of memory in the validation {after} (up to {chars:,} characters): {limit}give a "
                f"--val-max-chars below {chars:,}; {kept}")
    if trainer.reading.ran_out == "the sample":
        return (f"out of memory in the sample {after} ({c.sample_length:,} characters): {limit}give a "
                f"--sample-length below {c.sample_length:,}; {kept}")
    return f"out of memory in a training step ({step_size(run_)}): {limit}{smaller_steps(out, resumed)}; {kept}"


def smaller_steps(out: Path, resumed: bool) -> str:
    """How to make a step need less memory: a new run's flags, or, for a resumed run (whose batch and sequence
    length are its checkpoint's), a new run that starts from its weights."""
    if not resumed:
        return "use a smaller --batch-size or --seq-length"
    return (f"a resumed run keeps its batch and sequence length, so close other programs, or start a new run "
            f"from its weights: --init-from {out} with a smaller --batch-size or --seq-length")


def step_size(run_: TrainingRun) -> str:
    """'64 streams x 100 characters through 2 layers of 256 units': the step (memory_room's words) and the model."""
    model = run_.model
    return (f"{memory_room.step_size(run_.trainer.config)} through {counted(model.num_layers, 'layer')} of "
            f"{model.hidden_size} units")
