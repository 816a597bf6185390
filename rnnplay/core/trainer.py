"""The training loop: truncated BPTT over B parallel streams, with events.

One step::

    inputs, targets = next (T, B) batch          (state reset when the streams wrap)
    loss, grads, state = model.loss_and_grads(inputs, targets, state)
    ‖g‖ = clip(grads)                            (global norm 5 by default)
    optimizer.step(params, grads, lr(step))

``Trainer.run()`` is a generator of events (:class:`StepEvent`,
:class:`ValidationEvent`, :class:`SampleEvent`, :class:`SkippedEvent`, :class:`NoteEvent`, and a
final :class:`FinishedEvent`, declared in :mod:`.train_events`) that the CLI and
the TUI render; its settings are a :class:`~.train_config.TrainConfig`. A step's
validation, when one is due, comes before its StepEvent. Everything that
decides what happens next (weights, optimizer state, step, RNG, data position,
carried state) is in :meth:`Trainer.checkpoint_state`, so a resumed run ends
bit-for-bit where an uninterrupted one would. A step is all or nothing: it is
computed aside and committed at once (:meth:`Trainer.train_step`), and
:meth:`Trainer.stop` only sets a flag the loop reads between steps, so a
checkpoint saved at any moment holds a whole number of steps.
"""

from __future__ import annotations

import math
import threading
import time
import timeit
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from rnnplay.core import freed_memory, parallel_step, products, threads
from rnnplay.core.averaging import SLOT, WeightAverage
from rnnplay.core.ctrl_c import ctrl_c_held
from rnnplay.core.data import StreamBatcher
from rnnplay.core.dropout import Dropout
from rnnplay.core.errors import RnnplayError
from rnnplay.core.generate import sample_text
from rnnplay.core.model import GradientFn, Model, States
from rnnplay.core.optim import (
    Optimizer,
    Update,
    clip_by_global_norm,
    clip_by_value,
    decayed_lr,
    make_optimizer,
    scheduled_lr,
    warmed_up_lr,
)
from rnnplay.core.saved_counts import saved_counts
from rnnplay.core.stop_flag import StopFlag
from rnnplay.core.time_budget import TimeBudget
from rnnplay.core.train_config import TrainConfig
from rnnplay.core.train_events import (
    Event,
    FinishedEvent,
    History,
    NoteEvent,
    Reading,
    SampleEvent,
    SkippedEvent,
    StepEvent,
    ValidationEvent,
)

# Steps whose loss, gradient or update is not finite, in a row, before a run ends as "diverged". One such step
# is skipped (the weights are kept, the carried state restarts); several in a row mean the weights will not recover.
MAX_BAD_STEPS = 3
# Characters a --time budget times Model.evaluate on before it has timed a whole validation (one of its chunks).
PROBE_CHARS = 32 * 256
# Times the first probe is read, the fastest counting: a process's first evaluation also pays one-time costs (threads
# started, buffers first touched) that would cut a short budget's training by up to its validation's share of it.
PROBE_RUNS = 2


@dataclass
class Attempt:
    """One step computed aside: what :meth:`Trainer.train_step` commits, or the reason it skips it."""

    loss: float
    norm: float
    states: States
    update: Update | None  # None: a non-finite step, skipped
    skipped: str = ""


class Trainer:
    def __init__(self, model: Model, train_ids: np.ndarray, val_ids: np.ndarray | None, config: TrainConfig,
                 gradients: GradientFn | None = None) -> None:
        if config.precision == "bfloat16" and not products.bf16_available():
            raise RnnplayError(products.why_bf16_unavailable())
        self.model = model
        self.gradients = gradients  # None: the model's own
        self.config = config
        model.products = config.precision
        model.noise = Dropout(model.dropout, config.dropout_kind == "locked", config.weight_drop,
                              config.embedding_dropout)
        self.average = WeightAverage(config.ema, model.params) if config.ema > 0 else None
        self.batcher = StreamBatcher(train_ids, config.batch_size, config.seq_length)
        self.val_ids = val_ids if val_ids is not None and len(val_ids) > 1 else None
        self.optimizer: Optimizer = make_optimizer(config.optimizer, model.params, config.weight_decay)
        self.rng = np.random.default_rng(config.seed)
        self.states: States = model.initial_state(config.batch_size)
        self.step, self.bad_steps, self.ran_out = 0, 0, False  # steps made; bad steps in a row; budget spent
        self.history = History()
        self.val_chars = 0  # the characters the last validation scored, all its ids but the first (0: none yet)
        self.reading = Reading()  # a validation or a sample under way: it only reads the weights
        self._started: float | None = None  # perf_counter() when run()'s clock started
        self.clock_from = math.inf  # perf_counter() when a --time budget's clock starts (inf: as run() begins)
        self.spent_before = 0.0  # seconds the run trained before this piece of it (a resumed run's)
        whole = min(len(self.val_ids), config.val_max_chars) if self.val_ids is not None else 0
        self.timing = TimeBudget(whole, self.batcher.chars_per_batch)  # a --time budget's reckoning
        self._stop = StopFlag()
        self.before_step: tuple[dict[str, Any], Any] | None = None  # a step's data position and RNG as it began
        self.committing = threading.Lock()  # held while a step is applied: a save from another thread waits

    # -- control -------------------------------------------------------------------
    def stop(self) -> bool:
        """Ask :meth:`run` to finish after the current step, or before its first (thread- and signal-safe); whether
        it has begun a step (False: it makes none)."""
        return self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    @property
    def epoch(self) -> float:
        return self.batcher.epoch + self.batcher.position / self.batcher.batches_per_epoch

    def lr(self) -> float:
        """The schedule over the budget spent so far, times any step decay (char-rnn's per-epoch decay)."""
        c = self.config
        every = c.lr_decay_every or self.batcher.batches_per_epoch
        base = scheduled_lr(c.lr, self.budget_fraction() or 0.0, c.lr_schedule, c.lr_floor)
        return warmed_up_lr(decayed_lr(base, self.step, c.lr_decay, every), self.step, c.warmup)

    @property
    def weights(self) -> dict[str, np.ndarray]:
        """The weights the optimizer moves: the model's, or with weight averaging the raw ones (:mod:`.averaging`)."""
        return self.average.raw if self.average is not None else self.model.params

    def _elapsed(self) -> float:
        """Seconds since this run() began (0 before it does)."""
        return 0.0 if self._started is None else time.perf_counter() - self._started

    def _spent(self) -> float:
        """The clock of a --time budget: the run's seconds, a resumed run's earlier pieces included."""
        return self.spent_before + self._elapsed()

    def budget_done(self) -> bool:
        c = self.config
        if c.steps is not None and self.step >= c.steps:
            return True
        if c.epochs is not None and self.epoch >= c.epochs:
            return True
        if c.seconds is None:
            return False
        if self.val_ids is not None and self.timing.wants_probe(c.seconds, self._spent()):
            self._probe(self.val_ids)
        return self._spent() >= self.timing.steps_until(c.seconds)  # the final validation's reserve kept (.time_budget)

    def _probe(self, val_ids: np.ndarray) -> None:
        """Time Model.evaluate on the validation text's first characters: the fastest of PROBE_RUNS before any
        validation, once when the steps' end is near (the run may have slowed since)."""
        probe = val_ids[: self.timing.probe_chars(PROBE_CHARS) + 1]
        runs = PROBE_RUNS if self.timing.per_char is None else 1
        evaluation = timeit.Timer(lambda: self.model.evaluate(probe), timer=time.perf_counter)
        self.timing.probed(len(probe), evaluation.repeat(repeat=runs, number=1), self._spent())

    def budget_fraction(self) -> float | None:
        """The largest share of any budget spent so far (the run ends when one reaches 1).

        Steps, epochs and seconds count from the run's start, so a resumed run continues the same schedule.
        """
        c = self.config
        shares = []
        if c.steps:
            shares.append(self.step / c.steps)
        if c.epochs:
            shares.append(self.epoch / c.epochs)
        if c.seconds and self._started is not None:
            limit = self.timing.steps_until(c.seconds)
            shares.append(self._spent() / limit if limit > 0 else 1.0)
        return min(1.0, max(shares)) if shares else None

    def _eta(self, steps_since: int, since: float) -> float | None:
        c = self.config
        if steps_since == 0:
            return None
        steps_left = [c.steps - self.step] if c.steps is not None else []
        if c.epochs is not None:
            steps_left.append((c.epochs - self.epoch) * self.batcher.batches_per_epoch)
        validated = self.history.val_steps[-1:] == [self.step] and min(steps_left, default=1) <= 0  # none is ahead
        per_step = (time.perf_counter() - since) / steps_since
        return self.timing.eta(steps_left, per_step, self.val_ids is not None and not validated, c.seconds,
                               self._spent())

    # -- one step --------------------------------------------------------------------
    def train_step(self) -> tuple[float, float] | str:
        """One optimisation step, all or nothing. Returns (loss, grad norm), or the reason it was skipped.

        Everything that can fail (the batch, forward and backward, clipping, the optimizer's
        arithmetic) is computed aside; if it raises, the data position and the RNG are put
        back, so step, optimizer t, data position, RNG and carried state always agree and a
        checkpoint saved afterwards resumes exactly.
        """
        self.before_step = position, rng_state = self.batcher.state_dict(), self.rng.bit_generator.state
        freed_memory.keep()  # before the step starts its threads: they share the heap that keeps its memory
        try:  # one BLAS thread for the whole step (the clip's norm too): its bits never depend on the load
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"), self._blas():
                attempt = self._attempt()
        except BaseException:
            self.batcher.load_state_dict(position)
            self.rng.bit_generator.state = rng_state
            raise
        return self._commit(attempt)

    def _blas(self) -> AbstractContextManager[None]:
        """BLAS held at one thread for a chunked step (:mod:`.parallel_step` runs its own threads), else as it is."""
        return threads.one_blas_thread() if parallel_step.chunked(self.model) else nullcontext()

    def _attempt(self) -> Attempt:
        batch = self.batcher.next()
        states = self.model.initial_state(self.config.batch_size) if batch.reset else self.states
        dropout_rng = self.rng if self.model.noise.active else None
        gradients = self.gradients or self.model.loss_and_grads
        with self.average.raw_weights() if self.average is not None else nullcontext():
            loss, grads, states = gradients(batch.inputs, batch.targets, states, dropout_rng)
        if self.config.clip_mode == "value":
            norm = clip_by_value(grads, self.config.clip)
        else:
            norm = clip_by_global_norm(grads, self.config.clip)
        fresh = self.model.initial_state(self.config.batch_size)  # the streams' memory restarts after a skipped step
        if not (math.isfinite(loss) and math.isfinite(norm)):
            bad = [f"{k} ({v})" for k, v in (("loss", loss), ("gradient norm", norm)) if not math.isfinite(v)]
            return Attempt(loss, norm, fresh, None, f"non-finite {' and '.join(bad)}; step skipped, weights kept")
        lr = self.lr()
        update = self.optimizer.propose(self.weights, grads, lr)
        if not update.finite():
            return Attempt(loss, norm, fresh, None, f"the update at learning rate {lr:.3g} would make weights "
                                                    "non-finite; step skipped, weights kept")
        return Attempt(loss, norm, states, update)

    def _commit(self, attempt: Attempt) -> tuple[float, float] | str:
        with ctrl_c_held(), self.committing:
            if attempt.update is not None:
                self.optimizer.apply(self.weights, attempt.update)
                if self.average is not None:
                    self.average.update(self.optimizer.t)
            self.states = attempt.states
            self.step, self.before_step = self.step + 1, None
            self.bad_steps = 0 if attempt.update is not None else self.bad_steps + 1
        return attempt.skipped or (attempt.loss, attempt.norm)

    def validate(self, chars: int | None = None, stop: Callable[[], bool] | None = None) -> float | None:
        """The loss on the validation text's first ``chars`` characters (default: up to val_max_chars); ``stop()``
        True ends it after a chunk (``val_chars`` then 0: what it read is not the text's start)."""
        if self.val_ids is None:
            return None
        ids = self.val_ids[: chars or self.config.val_max_chars]
        start = time.perf_counter()
        with self.reading("the validation"):
            val = self.model.evaluate(ids, progress=self.reading.advance, stop=stop)
        self.val_chars = len(ids) - 1 if self.reading.done == len(ids) - 1 else 0
        self.timing.measured(self.reading.done + 1, time.perf_counter() - start, self._spent())
        self.history.val_steps.append(self.step)
        self.history.val_losses.append(val)
        return val

    def _validate_last(self) -> ValidationEvent | NoteEvent:
        """The final validation: under a --time budget, the part that fits (:mod:`.time_budget`), read until the
        budget runs out (and a step: the steps' end is foreseen to within one), its note saying what it read when not
        the whole; or when that is a handful of characters, whose loss is noise, a note saying why there is none."""
        seconds, spent = self.config.seconds, self._spent()
        chars, why = self.timing.final_chars(seconds, spent)
        if self.timing.too_few(chars):
            return NoteEvent(self.step, self.timing.no_validation_note(chars, seconds, spent, self.history.val_steps))
        end = (seconds or 0.0) + self.timing.step_seconds()
        val_loss = self.validate(chars, (lambda: self._spent() >= end) if seconds else None)
        return ValidationEvent(self.step, val_loss, self.timing.read_note(chars, why, self.reading.done))

    # -- the loop ----------------------------------------------------------------------
    def run(self) -> Iterator[Event]:
        c = self.config
        if c.steps is None and c.epochs is None and c.seconds is None:
            raise RnnplayError("give a training budget: --steps, --epochs or --time")
        self._started = min(self.clock_from, window_start := time.perf_counter())
        window_chars = steps_done = 0
        last_loss, chars_per_sec, first_done = float("nan"), 0.0, window_start
        while not self.budget_done() and self._stop.begin(first=steps_done == 0):
            began = time.perf_counter()
            result = self.train_step()
            self.timing.stepped(time.perf_counter() - began, warm=steps_done > 0)  # the first loads kernels, memory
            yield from (NoteEvent(self.step, note) for note in parallel_step.take_notes())  # fewer worker threads
            steps_done += 1
            if steps_done == 1:  # the ETA is paced by the steps after it: the first loads kernels and memory
                first_done = time.perf_counter()
            if isinstance(result, str):
                yield SkippedEvent(self.step, result)
                if self.bad_steps >= MAX_BAD_STEPS:
                    break
                continue
            last_loss, norm = result
            self.history.steps.append(self.step)
            self.history.losses.append(last_loss)
            if c.val_every and self.step % c.val_every == 0 and self.val_ids is not None:
                val_loss = self.validate()  # before the StepEvent: a checkpoint saved on it holds this loss
                yield ValidationEvent(self.step, val_loss)
            window_chars += self.batcher.chars_per_batch
            now = time.perf_counter()
            if now - window_start >= 1.0 or steps_done <= 2:  # step 2 alone: the first's speed is its compiling
                chars_per_sec = window_chars / max(now - window_start, 1e-9)
                window_start, window_chars = now, 0
            yield StepEvent(self.step, self.epoch, last_loss, self.lr(), norm, chars_per_sec,
                            self._eta(steps_done - 1, first_done), self.budget_fraction())
            if c.sample_every and self.step % c.sample_every == 0:
                yield SampleEvent(self.step, self.sample())
        yield from self._finish(last_loss, steps_done > 0)

    def _finish(self, last_loss: float, stepped: bool) -> Iterator[Event]:
        """The final validation (when the budget ran out after a step of this run's with none yet), then the
        FinishedEvent. A stopped or diverged run ends at once, with the last validation loss it has; a stop asked
        during the final validation (or while its event is handled) ends the run as stopped, never as one that ran
        its budget."""
        reason = "diverged" if self.bad_steps >= MAX_BAD_STEPS else "stopped" if self._stop.is_set() else "budget"
        h, self.ran_out = self.history, reason == "budget"  # all that is left: the final validation, the save
        val_loss, val_step = (h.val_losses[-1], h.val_steps[-1]) if h.val_losses else (None, None)
        due = reason == "budget" and stepped and self.val_ids is not None  # no step made: nothing new to score
        if due and (not h.val_steps or h.val_steps[-1] != self.step):
            yield (last := self._validate_last())
            if isinstance(last, ValidationEvent):
                val_loss, val_step = last.val_loss, self.step
        reason = "stopped" if reason == "budget" and self._stop.is_set() else reason
        self._stop.clear()
        freed_memory.give_back()  # the steps' arrays are gone: what malloc kept for them goes back
        yield FinishedEvent(self.step, last_loss, val_loss, reason, self._elapsed(), val_step)

    def sample(self, length: int | None = None, temperature: float = 0.8) -> str:
        """A sample from the current weights, from its own RNG so training stays reproducible."""
        rng = np.random.default_rng([self.config.seed, self.step])
        first = int(self.batcher.streams[0, 0])
        with self.reading("the sample"):
            return sample_text(self.model, np.array([first]), length or self.config.sample_length, temperature, rng)

    # -- resume -------------------------------------------------------------------------
    def checkpoint_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """(JSON-able training state, arrays) that :meth:`restore` takes back; as of the last finished step, even
        from another thread while a step runs (its batch and draws not yet taken: ``before_step``)."""
        data, rng = self.before_step or (self.batcher.state_dict(), self.rng.bit_generator.state)
        meta = {
            "config": asdict(self.config),
            "step": self.step,
            "seconds": self._spent(),
            "optimizer_t": self.optimizer.t,
            "data": data,
            "rng": rng,
            "history": asdict(self.history),
        }
        arrays = {f"opt/{k}": v for k, v in self.optimizer.state_arrays().items()}
        if self.average is not None:  # the model's parameters are the average; the raw weights go here
            arrays.update({f"opt/{SLOT}/{k}": v for k, v in self.average.state_arrays().items()})
        for i, state in enumerate(self.states):
            for j, a in enumerate(state):
                arrays[f"state/{i}/{j}"] = a
        return meta, arrays

    def restore(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Take back :meth:`checkpoint_state`; anything missing, mistyped or impossible is a one-line error."""
        try:
            self.step, t, self.spent_before = saved_counts(meta)
            self.batcher.load_state_dict(meta["data"])
            self.rng.bit_generator.state = meta["rng"]
            self.history = History.from_dict(meta["history"])
            opt = {k[4:]: v for k, v in arrays.items() if k.startswith("opt/")}
            raw = {k[len(SLOT) + 1 :]: opt.pop(k) for k in list(opt) if k.startswith(f"{SLOT}/")}
            self.optimizer.load_state_arrays(opt, t)
            if self.average is not None:
                self.average.load(raw or None)
            self.states = self._carried_state(arrays)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError) as err:  # an RNG
            raise RnnplayError(f"the checkpoint's training state is incomplete ({err}): start a fresh run") from None

    def _carried_state(self, arrays: dict[str, np.ndarray]) -> States:
        states = [list(s) for s in self.states]
        for key, a in arrays.items():
            if key.startswith("state/"):
                _, i, j = key.split("/")
                if states[int(i)][int(j)].shape != a.shape:
                    raise RnnplayError("the checkpoint's carried state does not fit: resume with the same --batch-size")
                if a.dtype.kind != "f" or not np.isfinite(a).all():
                    raise RnnplayError(f"the checkpoint's carried state {key} is not finite numbers: start a fresh run")
                states[int(i)][int(j)] = a.astype(self.model.dtype)
        return [tuple(s) for s in states]
