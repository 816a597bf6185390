"""The training loop: truncated BPTT over B parallel streams, with events.

One step::

    inputs, targets = next (T, B) batch          (state reset when the streams wrap)
    loss, grads, state = model.loss_and_grads(inputs, targets, state)
    ‖g‖ = clip(grads)                            (global norm 5 by default)
    optimizer.step(params, grads, lr(step))

``Trainer.run()`` is a generator of events (:class:`StepEvent`,
:class:`ValidationEvent`, :class:`SampleEvent`, :class:`SkippedEvent`, and a
final :class:`FinishedEvent`) that the CLI and the TUI render. A step's
validation, when one is due, comes before its StepEvent. Everything that
decides what happens next (weights, optimizer state, step, RNG, data position,
carried state) is in :meth:`Trainer.checkpoint_state`, so a resumed run ends
bit-for-bit where an uninterrupted one would.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..errors import RnnplayError
from .data import StreamBatcher
from .generate import sample_text
from .model import Model, States
from .optim import (
    Optimizer,
    check_schedule,
    clip_by_global_norm,
    clip_by_value,
    decayed_lr,
    make_optimizer,
    scheduled_lr,
)


@dataclass
class TrainConfig:
    batch_size: int = 64
    seq_length: int = 100
    optimizer: str = "adam"
    lr: float = 4e-3
    lr_schedule: str = "cosine"  # over the budget: "cosine" (down to lr/10) or "constant"
    clip: float = 5.0
    clip_mode: str = "norm"  # "norm" (global norm) or "value" (min-char-rnn's ±clip)
    lr_decay: float = 1.0  # multiply the rate by this ...
    lr_decay_every: int = 0  # ... every this many steps (0: once per epoch)
    val_fraction: float = 0.1
    val_every: int = 500  # steps between validation runs (0: only at the end)
    val_max_chars: int = 250_000  # validate on at most this many characters (tiny shakespeare's split: 111,540)
    sample_every: int = 0  # steps between samples (0: never)
    sample_length: int = 200
    seed: int = 0
    steps: int | None = None  # budget: total steps, total epochs, or seconds of this run
    epochs: float | None = None
    seconds: float | None = None

    def __post_init__(self) -> None:
        if self.clip_mode not in ("norm", "value"):
            raise RnnplayError(f"clip mode must be 'norm' or 'value', got {self.clip_mode!r}")
        check_schedule(self.lr_schedule)
        if self.lr <= 0:
            raise RnnplayError(f"learning rate must be > 0, got {self.lr}")


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


@dataclass
class SampleEvent:
    step: int
    text: str


@dataclass
class SkippedEvent:
    step: int
    reason: str


@dataclass
class FinishedEvent:
    step: int
    train_loss: float
    val_loss: float | None
    reason: str  # "budget" or "stopped"
    seconds: float


Event = StepEvent | ValidationEvent | SampleEvent | SkippedEvent | FinishedEvent


@dataclass
class History:
    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    val_steps: list[int] = field(default_factory=list)
    val_losses: list[float] = field(default_factory=list)


class Trainer:
    def __init__(
        self,
        model: Model,
        train_ids: np.ndarray,
        val_ids: np.ndarray | None,
        config: TrainConfig,
    ) -> None:
        self.model = model
        self.config = config
        self.batcher = StreamBatcher(train_ids, config.batch_size, config.seq_length)
        self.val_ids = val_ids if val_ids is not None and len(val_ids) > 1 else None
        self.optimizer: Optimizer = make_optimizer(config.optimizer, model.params)
        self.rng = np.random.default_rng(config.seed)
        self.states: States = model.initial_state(config.batch_size)
        self.step = 0
        self.history = History()
        self._started: float | None = None  # perf_counter() when run() began
        self._stop = threading.Event()

    # -- control -------------------------------------------------------------------
    def stop(self) -> None:
        """Ask a running :meth:`run` to finish after the current step (thread-safe)."""
        self._stop.set()

    @property
    def epoch(self) -> float:
        return self.batcher.epoch + self.batcher.position / self.batcher.batches_per_epoch

    def lr(self) -> float:
        """The schedule over the budget spent so far, times any step decay (char-rnn's per-epoch decay)."""
        c = self.config
        every = c.lr_decay_every or self.batcher.batches_per_epoch
        base = scheduled_lr(c.lr, self.budget_fraction() or 0.0, c.lr_schedule)
        return decayed_lr(base, self.step, c.lr_decay, every)

    def _elapsed(self) -> float:
        """Seconds since this run() began (0 before it does): the clock of a --time budget."""
        return 0.0 if self._started is None else time.perf_counter() - self._started

    def _budget_done(self) -> bool:
        c = self.config
        if c.steps is not None and self.step >= c.steps:
            return True
        if c.epochs is not None and self.epoch >= c.epochs:
            return True
        return c.seconds is not None and self._elapsed() >= c.seconds

    def budget_fraction(self) -> float | None:
        """The largest share of any budget spent so far (the run ends when one reaches 1).

        Steps and epochs count from the run's start, so a resumed run continues the same
        schedule; a --time budget is this run's seconds.
        """
        c = self.config
        shares = []
        if c.steps:
            shares.append(self.step / c.steps)
        if c.epochs:
            shares.append(self.epoch / c.epochs)
        if c.seconds and self._started is not None:
            shares.append(self._elapsed() / c.seconds)
        return min(1.0, max(shares)) if shares else None

    def _eta(self, steps_done: int) -> float | None:
        c = self.config
        if steps_done == 0:
            return None
        per_step = self._elapsed() / steps_done
        left = []
        if c.steps is not None:
            left.append((c.steps - self.step) * per_step)
        if c.epochs is not None:
            left.append((c.epochs - self.epoch) * self.batcher.batches_per_epoch * per_step)
        if c.seconds is not None:
            left.append(c.seconds - self._elapsed())
        return max(0.0, min(left)) if left else None

    # -- one step --------------------------------------------------------------------
    def train_step(self) -> tuple[float, float] | str:
        """One optimisation step. Returns (loss, grad norm), or the reason it was skipped."""
        batch = self.batcher.next()
        if batch.reset:
            self.states = self.model.initial_state(self.config.batch_size)
        dropout_rng = self.rng if self.model.dropout > 0 else None
        loss, grads, states = self.model.loss_and_grads(batch.inputs, batch.targets, self.states, dropout_rng)
        if self.config.clip_mode == "value":
            norm = clip_by_value(grads, self.config.clip)
        else:
            norm = clip_by_global_norm(grads, self.config.clip)
        if not (math.isfinite(loss) and math.isfinite(norm)):
            # Keep the last good weights; restart the streams' memory from zero.
            self.states = self.model.initial_state(self.config.batch_size)
            self.step += 1
            return f"non-finite loss ({loss}) or gradient norm ({norm}); step skipped, weights kept"
        self.optimizer.step(self.model.params, grads, self.lr())
        self.states = states
        self.step += 1
        return loss, norm

    def validate(self) -> float | None:
        if self.val_ids is None:
            return None
        val = self.model.evaluate(self.val_ids[: self.config.val_max_chars])
        self.history.val_steps.append(self.step)
        self.history.val_losses.append(val)
        return val

    # -- the loop ----------------------------------------------------------------------
    def run(self) -> Iterator[Event]:
        c = self.config
        if c.steps is None and c.epochs is None and c.seconds is None:
            raise RnnplayError("give a training budget: --steps, --epochs or --time")
        self._stop.clear()
        self._started = window_start = time.perf_counter()
        window_chars = 0
        steps_done = 0
        last_loss = float("nan")
        val_loss: float | None = None
        chars_per_sec = 0.0
        while not self._budget_done() and not self._stop.is_set():
            result = self.train_step()
            steps_done += 1
            if isinstance(result, str):
                yield SkippedEvent(self.step, result)
                continue
            last_loss, norm = result
            self.history.steps.append(self.step)
            self.history.losses.append(last_loss)
            if c.val_every and self.step % c.val_every == 0 and self.val_ids is not None:
                val_loss = self.validate()  # before the StepEvent: a checkpoint saved on it holds this loss
                yield ValidationEvent(self.step, val_loss)
            window_chars += self.batcher.chars_per_batch
            now = time.perf_counter()
            if now - window_start >= 1.0 or chars_per_sec == 0.0:
                chars_per_sec = window_chars / max(now - window_start, 1e-9)
                window_start, window_chars = now, 0
            yield StepEvent(self.step, self.epoch, last_loss, self.lr(), norm, chars_per_sec,
                            self._eta(steps_done), self.budget_fraction())
            if c.sample_every and self.step % c.sample_every == 0:
                yield SampleEvent(self.step, self.sample())
        reason = "stopped" if self._stop.is_set() else "budget"
        if self.val_ids is not None and (not self.history.val_steps or self.history.val_steps[-1] != self.step):
            val_loss = self.validate()
            yield ValidationEvent(self.step, val_loss)
        elif self.history.val_losses:
            val_loss = self.history.val_losses[-1]
        yield FinishedEvent(self.step, last_loss, val_loss, reason, self._elapsed())

    def sample(self, length: int | None = None, temperature: float = 0.8) -> str:
        """A sample from the current weights, from its own RNG so training stays reproducible."""
        rng = np.random.default_rng([self.config.seed, self.step])
        first = int(self.batcher.streams[0, 0])
        return sample_text(self.model, np.array([first]), length or self.config.sample_length, temperature, rng)

    # -- resume -------------------------------------------------------------------------
    def checkpoint_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """(JSON-able training state, arrays) that :meth:`restore` takes back."""
        meta = {
            "config": asdict(self.config),
            "step": self.step,
            "optimizer_t": self.optimizer.t,
            "data": self.batcher.state_dict(),
            "rng": self.rng.bit_generator.state,
            "history": asdict(self.history),
        }
        arrays = {f"opt/{k}": v for k, v in self.optimizer.state_arrays().items()}
        for i, state in enumerate(self.states):
            for j, a in enumerate(state):
                arrays[f"state/{i}/{j}"] = a
        return meta, arrays

    def restore(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        try:
            self.step = int(meta["step"])
            self.batcher.load_state_dict(meta["data"])
            self.rng.bit_generator.state = meta["rng"]
            self.history = History(**meta["history"])
            opt = {k[4:]: v for k, v in arrays.items() if k.startswith("opt/")}
            self.optimizer.load_state_arrays(opt, int(meta["optimizer_t"]))
            states = [list(s) for s in self.states]
            for key, a in arrays.items():
                if key.startswith("state/"):
                    _, i, j = key.split("/")
                    if states[int(i)][int(j)].shape != a.shape:
                        raise RnnplayError("the carried state does not fit: resume with the same --batch-size")
                    states[int(i)][int(j)] = a.astype(self.model.dtype)
            self.states = [tuple(s) for s in states]
        except (KeyError, TypeError, ValueError, IndexError) as err:
            raise RnnplayError(f"the checkpoint's training state is incomplete ({err}): start a fresh run") from None
