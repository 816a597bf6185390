"""Which of a training's steps the session forwards to the front ends: at most ten a second, their losses averaged."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from rnnplay.core.train_events import StepEvent


class StepThrottle:
    """Which training steps to forward: step 1, then at most one each 0.1 s, and the last one held back when the
    run ends; each carries the mean loss over the steps since the one forwarded before it."""

    def __init__(self) -> None:
        self.pending: list[float] = []
        self.held: StepEvent | None = None
        self.last = 0.0

    def offer(self, event: StepEvent) -> StepEvent | None:
        """``event`` with its loss averaged over the steps held back since the last one forwarded, or None."""
        self.pending.append(event.loss)
        self.held = event
        now = time.monotonic()
        if now - self.last < 0.1 and event.step != 1:
            return None
        self.last = now
        return self.flush()

    def flush(self) -> StepEvent | None:
        """The last step held back (its loss the mean since the last forwarded), or None when there is none."""
        held, self.held = self.held, None
        if held is None:
            return None
        mean = float(np.mean(self.pending))
        self.pending.clear()
        return replace(held, loss=mean)
