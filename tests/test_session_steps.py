"""Which of the trainer's StepEvents a training job forwards, and the loss they carry (no clock: time is set)."""

from __future__ import annotations

import pytest

from rnnplay.core.train_events import StepEvent
from rnnplay.session import training_job
from rnnplay.session.training_job import StepThrottle


def step(n: int, loss: float) -> StepEvent:
    return StepEvent(step=n, epoch=n / 10, loss=loss, lr=1e-3, grad_norm=1.0, chars_per_sec=100.0, eta_seconds=None,
                     fraction=n / 10)


def test_step_one_then_one_each_tenth_of_a_second_then_the_last_with_the_mean_loss(
        monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(training_job.time, "monotonic", lambda: now[0])
    throttle = StepThrottle()
    first = throttle.offer(step(1, 4.0))
    assert first == step(1, 4.0)  # always forwarded
    assert throttle.offer(step(2, 3.0)) is None and throttle.offer(step(3, 2.0)) is None  # within 0.1 s: held
    now[0] += 0.25
    forwarded = throttle.offer(step(4, 1.0))
    assert forwarded == step(4, 2.0)  # the mean over steps 2-4, the rest of step 4 as it was
    assert throttle.offer(step(5, 1.5)) is None
    assert throttle.flush() == step(5, 1.5)  # the run ended: the step held back
    assert throttle.flush() is None  # nothing twice
