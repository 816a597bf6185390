"""A long validation told as it goes: :class:`ReadingWatch` emits :class:`ValidationProgress` while one reads.

The training thread is inside the validation and emits nothing until it ends, which on a large ``val_max_chars``
takes minutes; the app's and the REPL's status stayed at the last step meanwhile. The trainer counts the characters
scored (``Trainer.reading``, as `rnnplay train`'s status line shows them); a watcher thread looks at that count each
EVERY seconds and emits it when it has moved, so the faces show it at most that often.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from rnnplay.session.events import Event, ValidationProgress
from rnnplay.session.stall_watch import Watcher

if TYPE_CHECKING:
    from rnnplay.core.trainer import Trainer

EVERY = 0.5  # seconds between two looks at a validation's count, so at most two events a second


class ReadingWatch(Watcher):
    """While its ``with`` block runs, emits (through ``emit``) how far ``trainer``'s validation has read, each time
    the count has moved since the last look."""

    def __init__(self, emit: Callable[[Event], None], trainer: Trainer) -> None:
        super().__init__("rnnplay-reading-watch", EVERY)
        self.emit, self.trainer = emit, trainer
        self.last: ValidationProgress | None = None  # the count last emitted

    def tick(self) -> None:
        now = self.trainer.reading.now()
        if now is None:  # no validation, or none of it read yet
            return
        progress = ValidationProgress(self.trainer.step, *now)
        if progress != self.last:  # it has moved since the last look (or another validation has begun)
            self.last = progress
            self.emit(progress)
