"""Which of a training's progress events the REPL prints: lines to read in a scrollback, not a redrawn status.

A step is printed at step 1 and then each time another tenth of the budget is done; a validation's count of
characters scored (:class:`ValidationProgress`, twice a second while one reads) at its first count and then each
time another tenth of its characters is read. Every other event is always printed.
"""

from __future__ import annotations

from rnnplay.core.trainer import StepEvent
from rnnplay.session.events import ValidationProgress

EVERY = 0.1  # a progress line each time another tenth is done


class Tenths:
    """Whether a fraction has reached the next tenth since the last one said yes (or since :meth:`due` restarted)."""

    def __init__(self) -> None:
        self.next = 0.0

    def due(self, fraction: float | None, restart: bool) -> bool:
        if restart:
            self.next = 0.0
        if fraction is None or fraction < self.next:
            return False
        self.next = (int(fraction / EVERY) + 1) * EVERY
        return True


class TrainingLines:
    """The REPL's filter on a training's progress: :meth:`due` says whether an event's line is printed."""

    def __init__(self) -> None:
        self.steps, self.reading = Tenths(), Tenths()
        self.validating: tuple[int, str] | None = None  # the validation whose count is shown: (its step, what)

    def due(self, event: object) -> bool:
        if isinstance(event, StepEvent):
            return self.steps.due(event.fraction, event.step == 1)
        if isinstance(event, ValidationProgress):
            started, self.validating = (event.step, event.what) != self.validating, (event.step, event.what)
            return self.reading.due(event.done / event.total, started)
        return True


def progress(event: object) -> bool:
    """Whether ``event`` is a training's progress, printed dim after 'training: '."""
    return isinstance(event, StepEvent | ValidationProgress)
