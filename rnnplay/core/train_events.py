"""What a training run reports as it goes (the events :meth:`Trainer.run` yields) and the loss history it keeps.

Front ends render the events; the history is saved with a checkpoint and read back by :meth:`History.from_dict`.
Between its steps a run also says what it only reads the weights for (a validation, a sample): :class:`Reading`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class StepEvent:
    step: int
    epoch: float
    loss: float
    lr: float
    grad_norm: float
    chars_per_sec: float
    eta_seconds: float | None
    fraction: float | None = None  # how much of the budget is spent, 0..1 (None: unknown)


@dataclass
class ValidationEvent:
    step: int
    val_loss: float
    note: str = ""  # set when the validation read only part of the validation text, and why


@dataclass
class SampleEvent:
    step: int
    text: str


@dataclass
class SkippedEvent:
    step: int
    reason: str


@dataclass
class NoteEvent:
    step: int  # the step it was noted at, from 0 (before the first is done)
    text: str  # what the user is to know about how the run trains (fewer worker threads), said once


@dataclass
class FinishedEvent:
    step: int
    train_loss: float
    val_loss: float | None
    reason: str  # "budget", "stopped" or "diverged" (MAX_BAD_STEPS non-finite steps in a row; weights kept)
    seconds: float
    val_step: int | None = None  # the step val_loss was measured at (an earlier one for a run stopped between two)

    def val_at(self) -> str:
        """' (at step 600)' when the validation loss is an earlier step's than the last; '' otherwise."""
        return f" (at step {self.val_step})" if self.val_step not in (None, self.step) else ""


Event = StepEvent | ValidationEvent | SampleEvent | SkippedEvent | NoteEvent | FinishedEvent


@dataclass
class History:
    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    val_steps: list[int] = field(default_factory=list)
    val_losses: list[float] = field(default_factory=list)

    @classmethod
    def from_dict(cls, saved: dict[str, Any]) -> History:
        """A history read back from a checkpoint: pairs of lists of the same length, steps whole, losses numbers."""
        history = cls(**saved)
        for steps, losses in ((history.steps, history.losses), (history.val_steps, history.val_losses)):
            if not (isinstance(steps, list) and isinstance(losses, list) and len(steps) == len(losses)):
                raise ValueError("its loss history is not two lists of the same length")
            if not all(isinstance(s, int) and not isinstance(s, bool) for s in steps):
                raise ValueError("its loss history has steps that are not whole numbers")
            if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in losses):
                raise ValueError("its loss history has losses that are not numbers")
        return history


def characters_scored(done: int, total: int) -> str:
    """'1,234,567 of 29,999,999 characters scored': how far a validation has read, as every front end says it."""
    return f"{done:,} of {total:,} characters scored"


class Reading:
    """What the trainer reads the weights for now, without changing them: ``what`` is "the validation" inside
    ``with reading("the validation"):``, "" outside. A watch on a block that does not return names it from this,
    and a checkpoint may be saved meanwhile (:mod:`rnnplay.session.past_validation`). ``ran_out`` names the last
    block if memory ran out in it ("" once the next one starts), so a front end tells it from a step that did.
    ``done`` of ``total`` characters are read so far (:meth:`advance`; 0 of 0 until the first chunk is), the last
    of them at ``moved`` (``time.monotonic()``; the block's start before that): a long validation is shown as it goes,
    and never taken for one that does not return while it moves."""

    def __init__(self) -> None:
        self.what = self.ran_out = ""
        self.done = self.total = 0
        self.moved = 0.0

    def now(self) -> tuple[str, int, int] | None:
        """(what, done, total) while a block reads, once it has read a first chunk; else None. One look at the three,
        which the trainer's thread changes meanwhile."""
        what, done, total = self.what, self.done, self.total
        return (what, done, total) if what and total else None

    def scored(self) -> tuple[str, float] | None:
        """('1,234,567 of 29,999,999 characters scored', the fraction) while a block reads, once it has read a first
        chunk; else None."""
        now = self.now()
        return None if now is None else (characters_scored(now[1], now[2]), now[1] / now[2])

    def advance(self, done: int, total: int) -> None:
        """``done`` of the block's ``total`` characters are read now."""
        self.done, self.total, self.moved = done, total, time.monotonic()

    @contextlib.contextmanager
    def __call__(self, what: str) -> Iterator[None]:
        self.what, self.ran_out = what, ""
        self.done = self.total = 0
        self.moved = time.monotonic()
        try:
            yield
        except MemoryError:
            self.ran_out = what
            raise
        finally:
            self.what = ""
