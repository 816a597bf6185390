"""The counts a checkpoint's training state claims, checked as untrusted input before a resumed run takes them:
its step, its optimizer's step count and the seconds it has trained (the clock of a ``--time`` budget)."""

from __future__ import annotations

from typing import Any

from rnnplay.core.errors import RnnplayError
from rnnplay.core.params import Param


def saved_counts(meta: dict[str, Any]) -> tuple[int, int, float]:
    """(step, optimizer step count, seconds trained) of a checkpoint's training state ``meta``.

    The step and the optimizer's count are whole numbers >= 0, the count no larger than the step (skipped steps do
    not count for the optimizer); the seconds a finite number >= 0, 0 where a checkpoint does not say (one saved
    before they were kept). A value out of bounds is a one-line error; a missing step or count a ``KeyError``.
    """
    step, t, seconds = meta["step"], meta["optimizer_t"], meta.get("seconds", 0.0)
    try:
        Param("step", int, 0, "", min=0, label="its step").check(step)
        Param("optimizer_t", int, 0, "", min=0, max=step, label="its optimizer step").check(t)
        seconds = Param("seconds", float, 0.0, "", min=0.0, label="its seconds trained").check(seconds)
    except RnnplayError as err:
        raise RnnplayError(f"the checkpoint's training state is unusable ({err}): start a fresh run") from None
    return step, t, seconds
