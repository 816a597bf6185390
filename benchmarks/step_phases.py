"""Where a training step's time goes: one real rnnplay LSTM step split into its phases.

    python benchmarks/step_phases.py [--hidden 256 --layers 2 --batch-size 64 --seq-length 100 --steps 10 --warmup 2]

The step is ``Trainer.train_step`` with TrainConfig's defaults (Adam, clipping, weight
averaging), as ``rnnplay train`` runs it: float32, the streams in chunks on the worker
threads of :mod:`rnnplay.core.parallel_step`. No rnnplay code changes: the functions
and methods the step calls are replaced by wrappers reading ``time.perf_counter``
around the real call (``unittest.mock.patch.object``), put back afterwards. Two tables:

* the step's phases, and the "serial" part of each: what runs on one thread while
  the other cores idle. All but the chunks is serial (BLAS is held at one thread).
  The chunks' wall time is cut by how many were running at each moment: two or more,
  one, none (handing work to the pool and back). The "untimed remainder" is what no
  wrapper covers, so the rows add up to the step.
* one chunk alone on this thread: the per-time-step recurrence (h·W_hh, dz·W_hhᵀ and
  the gate maths, T times each way) beside the batched products, loss and the rest.

Serial time runs at one core's speed, and at a share of one under load: on 2 cores
it bounds what the chunks' parallelism can gain. Needs ../shared/corpora/tinyshakespeare.txt.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import statistics
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any, NamedTuple
from unittest import mock

import numpy as np
from train_throughput import CORPUS, _timed

from rnnplay.core import parallel_step, products, threads
from rnnplay.core import trainer as trainer_module
from rnnplay.core.cells import LSTMCell, lstm_gates
from rnnplay.core.cells import lstm as lstm_module
from rnnplay.core.data import split_ids
from rnnplay.core.model import Model
from rnnplay.core.optim import Update
from rnnplay.core.train_config import TrainConfig
from rnnplay.core.trainer import Trainer
from rnnplay.core.vocab import Vocab

# (key, label) of the step's phases, in the order a step runs them; the chunks' three keys come from their intervals
STEP_PHASES = [
    ("blas", "BLAS held at one thread (policy thread, enter + exit, step and chunks)"),
    ("batch", "next batch (Batcher.next)"),
    ("states", "initial states (Model.initial_state)"),
    ("swap", "EMA: raw weights into the model and back"),
    ("masks", "dropout masks"),
    ("chunks 2+", "chunks: 2 or more running (parallel)"),
    ("chunks 1", "chunks: one running (the other cores idle)"),
    ("chunks 0", "chunks: none running (submit, hand-off, results)"),
    ("sum", "the chunks' states joined (their gradients are added, in order, while the chunks run)"),
    ("clip", "clipping (global norm)"),
    ("propose", "Adam: propose"),
    ("finite", "finiteness check of the update"),
    ("apply", "Adam: apply"),
    ("ema", "EMA: weight average update"),
]
PARALLEL = {"chunks 2+"}
REMAINDER = "untimed remainder"


class Interval(NamedTuple):
    start: float  # perf_counter
    end: float
    cpu: float  # the thread's CPU seconds in between


class Clock:
    """Seconds per phase, added from any thread; the intervals of the run_chunks calls and of the chunks."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.windows: list[Interval] = []  # each run_chunks call: submitting the first chunk to the last one's end
        self.chunks: list[Interval] = []  # each chunk on its worker thread
        self._lock = threading.Lock()

    def add(self, phase: str, seconds: float) -> None:
        with self._lock:
            self.seconds[phase] += seconds

    def wrap(self, phase: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn`` with its time added to ``phase``."""

        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.add(phase, time.perf_counter() - start)

        return timed

    def wrap_context(self, phase: str, factory: Callable[..., Any]) -> Callable[..., Any]:
        """The context manager ``factory`` with the time of its enter and its exit (not of the body) in ``phase``."""

        @contextlib.contextmanager
        def timed(*args: Any, **kwargs: Any) -> Iterator[None]:
            manager = factory(*args, **kwargs)
            self.wrap(phase, manager.__enter__)()
            try:
                yield
            finally:
                self.wrap(phase, manager.__exit__)(None, None, None)

        return timed

    @staticmethod
    def record(runs: list[Interval], fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn`` with each call's Interval appended to ``runs`` (from any thread: list.append is atomic)."""

        @functools.wraps(fn)
        def recorded(*args: Any, **kwargs: Any) -> Any:
            start, cpu = time.perf_counter(), time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                runs.append(Interval(start, time.perf_counter(), time.thread_time() - cpu))

        return recorded


def build_trainer(text: str, hidden: int, layers: int, batch_size: int, seq_length: int) -> Trainer:
    """A fresh LSTM and its Trainer on ``text`` with TrainConfig's defaults, as ``rnnplay train`` makes them."""
    vocab = Vocab.from_text(text)
    train_ids, val_ids = split_ids(vocab.encode(text))
    model = Model(LSTMCell(), vocab, hidden, layers)
    model.init_output_bias(train_ids)
    return Trainer(model, train_ids, val_ids, TrainConfig(batch_size=batch_size, seq_length=seq_length))


@contextlib.contextmanager
def patched(patches: list[tuple[Any, str, Any]]) -> Iterator[None]:
    """Each (object, attribute, replacement) in place while the body runs, the originals back afterwards."""
    with contextlib.ExitStack() as stack:
        for target, name, new in patches:
            stack.enter_context(mock.patch.object(target, name, new))
        yield


def step_patches(trainer: Trainer, clock: Clock) -> list[tuple[Any, str, Any]]:
    """The step's functions and methods, each replaced by a timed wrapper of itself."""
    model, optimizer, average = trainer.model, trainer.optimizer, trainer.average
    patches = [
        (threads, "one_blas_thread", clock.wrap_context("blas", threads.one_blas_thread)),
        (trainer.batcher, "next", clock.wrap("batch", trainer.batcher.next)),
        (model, "initial_state", clock.wrap("states", model.initial_state)),
        (model, "dropout_masks", clock.wrap("masks", model.dropout_masks)),
        (parallel_step, "run_chunks", clock.record(clock.windows, parallel_step.run_chunks)),
        (parallel_step, "chunk_loss_and_grads", clock.record(clock.chunks, parallel_step.chunk_loss_and_grads)),
        (parallel_step.ChunkSum, "total", clock.wrap("sum", parallel_step.ChunkSum.total)),
        (trainer_module, "clip_by_global_norm", clock.wrap("clip", trainer_module.clip_by_global_norm)),
        (optimizer, "propose", clock.wrap("propose", optimizer.propose)),
        (Update, "finite", clock.wrap("finite", Update.finite)),
        (optimizer, "apply", clock.wrap("apply", optimizer.apply)),
    ]
    if average is not None:
        patches += [(average, "raw_weights", clock.wrap_context("swap", average.raw_weights)),
                    (average, "update", clock.wrap("ema", average.update))]
    return patches


def split_windows(clock: Clock) -> dict[str, float]:
    """Seconds of the run_chunks windows during which 0, 1, or 2+ chunks were running.

    Each window is swept from event to event (a chunk starting or ending); between two
    events the count of running chunks is constant, and the span goes to that count's key.
    """
    keys = ("chunks 0", "chunks 1", "chunks 2+")
    spans = dict.fromkeys(keys, 0.0)
    for lo, hi, _ in clock.windows:
        events = sorted(e for c in clock.chunks if lo <= c.start <= hi for e in ((c.start, 1), (c.end, -1)))
        running, last = 0, lo
        for moment, change in [*events, (hi, 0)]:
            spans[keys[min(running, 2)]] += max(0.0, moment - last)
            running, last = running + change, max(last, moment)
    return spans


class StepTiming(NamedTuple):
    step_seconds: list[float]  # each timed step's wall time
    phases: dict[str, float]  # seconds per step of each STEP_PHASES key and REMAINDER
    chunk_cpu: float  # the workers' CPU seconds per step in the chunks
    chunk_wall: float  # seconds per step from submitting the first chunk to the last one's end


def time_steps(trainer: Trainer, steps: int, warmup: int) -> StepTiming:
    """``warmup`` plain steps, then ``steps`` instrumented ones: their wall times and the mean per phase."""
    for _ in range(warmup):
        trainer.train_step()
    clock = Clock()
    walls = []
    with patched(step_patches(trainer, clock)):
        for _ in range(steps):
            start = time.perf_counter()
            trainer.train_step()
            walls.append(time.perf_counter() - start)
    totals = {key: clock.seconds.get(key, 0.0) for key, _ in STEP_PHASES}
    totals.update(split_windows(clock))
    totals[REMAINDER] = sum(walls) - sum(totals.values())
    phases = {key: seconds / steps for key, seconds in totals.items()}
    chunk_wall = sum(w.end - w.start for w in clock.windows) / steps
    return StepTiming(walls, phases, sum(c.cpu for c in clock.chunks) / steps, chunk_wall)


# (key, label, group) of one chunk's parts; "head" and "rest" rows are what their caller's time leaves over
CHUNK_PARTS = [
    ("rec fwd", "h·W_hh, each time step (forward)", "recurrence"),
    ("gates fwd", "gate maths, each time step (forward)", "recurrence"),
    ("rec bwd", "dz·W_hhᵀ, each time step (backward)", "recurrence"),
    ("gates bwd", "gate maths, each time step (backward)", "recurrence"),
    ("proj fwd", "input projections (row gather; x·W_xh)", "batched"),
    ("proj bwd", "input projection gradients (scatter-add; xᵀ·dz, dz·W_xhᵀ)", "batched"),
    ("cell fwd rest", "rest of LSTM forward (weights scaled, buffers, the step loop)", "other"),
    ("whh grad", "W_hh gradients hᵀ·dz over all T·b rows (timed apart, same shapes)", "batched"),
    ("cell bwd rest", "rest of LSTM backward (Σdz for b_h, buffers, the step loop)", "other"),
    ("head fwd", "head: h·W_hy + b_y (Model.forward less the layers)", "batched"),
    ("head bwd", "head: W_hy, b_y gradients and dx (Model.backward less the layers)", "batched"),
    ("loss", "loss: softmax and dlogits", "batched"),
    ("chunk rest", "rest of the chunk", "other"),
]


class TimedProducts:
    """:mod:`rnnplay.core.products`, for the LSTM module while one chunk is timed: each time step's product, timed.

    The LSTM makes one operand per sequence each way and multiplies by it once per step:
    forward h_{t-1}·W_hh with W_hh (H, 4H), backward dz_t·W_hhᵀ with W_hhᵀ (4H, H); the
    operand's shape says which.
    """

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def __getattr__(self, name: str) -> Any:
        return getattr(products, name)

    def operand(self, b: np.ndarray) -> SimpleNamespace:  # stands in for products.operand
        way = "fwd" if b.shape[0] < b.shape[1] else "bwd"
        return SimpleNamespace(times=self.clock.wrap(f"rec {way}", products.operand(b).times))


def chunk_patches(model: Model, clock: Clock) -> list[tuple[Any, str, Any]]:
    """One chunk's model, LSTM and loss calls, timed (for one thread: the LSTM module's products are replaced).

    The loops over time run in Python here, so that each step's calls can be timed: the same calls, in the same
    order, that the compiled loops (:mod:`rnnplay.core.cells.lstm_loops`) make in one call per layer and way.
    """
    cell, gate_maths = model.cell, lstm_module.gate_maths
    return [
        (lstm_module, "time_loops", lambda gates, W: None),
        (lstm_module, "products", TimedProducts(clock)),
        (lstm_module, "gate_maths", lambda dtype: SimpleNamespace(  # the gate maths' two per-step functions
            forward_step=clock.wrap("gates fwd", gate_maths(dtype).forward_step),
            backward_step=clock.wrap("gates bwd", gate_maths(dtype).backward_step))),
        (lstm_module, "project_inputs", clock.wrap("proj fwd", lstm_module.project_inputs)),
        (lstm_module, "project_inputs_backward", clock.wrap("proj bwd", lstm_module.project_inputs_backward)),
        (cell, "forward", clock.wrap("cell fwd", cell.forward)),
        (cell, "backward", clock.wrap("cell bwd", cell.backward)),
        (model, "forward", clock.wrap("model fwd", model.forward)),
        (model, "backward", clock.wrap("model bwd", model.backward)),
        (parallel_step, "cross_entropy_sum", clock.wrap("loss", parallel_step.cross_entropy_sum)),
    ]


def weight_grad_seconds(T: int, b: int, H: int, dtype: Any, repeats: int) -> float:
    """One layer's dW_hh = [h_0 … h_{T-1}]ᵀ·dz on arrays of a chunk's shapes: LSTM backward's ``product_tn``,
    which no wrapper reaches, timed apart (float32)."""
    hs, dz = np.ones((T + 1, b, H), dtype), np.ones((T * b, 4 * H), dtype)
    return statistics.fmean(_timed(lambda: hs[:-1].reshape(T * b, H).T @ dz) for _ in range(repeats))


def chunk_parts(s: dict[str, float], chunk: float, whh_grad: float) -> dict[str, float]:
    """Seconds of each CHUNK_PARTS key from the wrappers' sums ``s``, the chunks' total and the W_hh gradients'."""
    parts = {key: s[key] for key in ("rec fwd", "gates fwd", "rec bwd", "gates bwd", "proj fwd", "proj bwd")}
    parts["cell fwd rest"] = s["cell fwd"] - s["proj fwd"] - s["rec fwd"] - s["gates fwd"]
    parts["whh grad"] = whh_grad
    parts["cell bwd rest"] = s["cell bwd"] - s["proj bwd"] - s["rec bwd"] - s["gates bwd"] - whh_grad
    parts["head fwd"] = s["model fwd"] - s["cell fwd"]
    parts["head bwd"] = s["model bwd"] - s["cell bwd"]
    parts["loss"] = s["loss"]
    parts["chunk rest"] = chunk - s["model fwd"] - s["model bwd"] - s["loss"]
    return {key: parts[key] for key, _, _ in CHUNK_PARTS}


class ChunkTiming(NamedTuple):
    streams: int
    plain: float  # mean seconds of one chunk, no wrappers
    instrumented: float  # ... with them
    parts: dict[str, float]  # mean seconds per CHUNK_PARTS key, adding up to ``instrumented``


def time_chunk(trainer: Trainer, repeats: int) -> ChunkTiming:
    """The first chunk of the next batch, forward and backward alone on this thread, ``repeats`` times each way."""
    model, batch = trainer.model, trainer.batcher.next()
    T, B = batch.inputs.shape
    part = slice(0, min(parallel_step.chunk_size(model), B))
    states, masks = parallel_step.streams_part(trainer.states, model.dropout_masks(None, T, B), part)
    inputs, targets = batch.inputs[:, part], batch.targets[:, part]
    run = functools.partial(parallel_step.chunk_loss_and_grads, model, inputs, targets, states, masks, B * T)
    clock = Clock()
    with threads.one_blas_thread():
        run()
        plain = statistics.fmean(_timed(run) for _ in range(repeats))
        with patched(chunk_patches(model, clock)):
            instrumented = statistics.fmean(_timed(run) for _ in range(repeats))
        whh_grad = model.num_layers * weight_grad_seconds(T, part.stop, model.hidden_size, model.dtype, repeats)
    parts = {key: seconds / repeats for key, seconds in chunk_parts(clock.seconds, instrumented * repeats,
                                                                      whh_grad * repeats).items()}
    return ChunkTiming(part.stop, plain, instrumented, parts)


def ms(seconds: float) -> str:
    return f"{1e3 * seconds:,.2f}"


def share(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole > 0 else "n/a"


def step_table(timing: StepTiming) -> list[str]:
    """The step's phases as markdown rows: ms/step, share, and the serial part of each (all but PARALLEL)."""
    step = statistics.fmean(timing.step_seconds)
    labels = dict(STEP_PHASES) | {REMAINDER: f"{REMAINDER} (learning rate, Attempt, Ctrl-C held, wrappers)"}
    lines = ["| phase | ms/step | % of step | serial ms/step | serial % of step |",
             "| --- | ---: | ---: | ---: | ---: |"]
    serial = 0.0
    for key, seconds in timing.phases.items():
        alone = 0.0 if key in PARALLEL else seconds
        serial += alone
        lines.append(f"| {labels[key]} | {ms(seconds)} | {share(seconds, step)} | {ms(alone)} | {share(alone, step)} |")
    lines.append(f"| **whole step** | **{ms(step)}** | 100% | **{ms(serial)}** | **{share(serial, step)}** |")
    return lines


def chunk_table(timing: ChunkTiming) -> list[str]:
    """One chunk's parts as markdown rows, then the recurrence's and the batched work's totals."""
    lines = [f"| part of one chunk ({timing.streams} streams, alone on one thread, its loops over time in Python) "
             "| group | ms/chunk | % of chunk |",
             "| --- | --- | ---: | ---: |"]
    groups: dict[str, float] = defaultdict(float)
    for key, label, group in CHUNK_PARTS:
        seconds = timing.parts[key]
        groups[group] += seconds
        lines.append(f"| {label} | {group} | {ms(seconds)} | {share(seconds, timing.instrumented)} |")
    for group, seconds in groups.items():
        lines.append(f"| **all {group}** | | **{ms(seconds)}** | **{share(seconds, timing.instrumented)}** |")
    lines.append(f"| **the chunk (instrumented; plain: {ms(timing.plain)} ms)** | | **{ms(timing.instrumented)}** "
                 "| 100% |")
    return lines


def report(trainer: Trainer, label: str, steps: int, warmup: int, repeats: int) -> None:
    """Time ``trainer``'s steps (instrumented, then plain) and one chunk; print the two tables."""
    load = os.getloadavg()
    B, T = trainer.config.batch_size, trainer.config.seq_length
    timing = time_steps(trainer, steps, warmup)
    plain = statistics.fmean(_timed(trainer.train_step) for _ in range(steps))
    chunk = time_chunk(trainer, repeats)
    compiled = lstm_module.gate_maths(np.float32) is not lstm_gates
    streams = parallel_step.chunk_size(trainer.model)
    print(f"\n### {label}, B{B} T{T}\n")
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {threads.usable_cores()} usable cores, "
          f"{parallel_step.worker_count()} worker threads (parallel_step.worker_count), "
          f"{len(parallel_step.chunk_bounds(B, streams))} chunks of {streams} streams; BLAS at 1 thread in the "
          f"step; gate maths {'compiled' if compiled else 'numpy'}.")
    print(f"step: {ms(plain)} ms plain, {B * T / plain:,.0f} chars/s; instrumented "
          f"{ms(statistics.fmean(timing.step_seconds))} ms (mean of {steps}, after {warmup} warm-up); the workers used "
          f"{timing.chunk_cpu / timing.chunk_wall:.2f} cores' CPU time during the chunks "
          f"({ms(timing.chunk_cpu)} CPU ms in {ms(timing.chunk_wall)} wall ms).\n")
    print("\n".join(step_table(timing)) + "\n")
    print("\n".join(chunk_table(chunk)), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hidden", type=int, nargs="+", default=[256, 512], help="one model per hidden size")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--seq-length", type=int, default=100)
    ap.add_argument("--steps", type=int, default=10, help="timed steps, instrumented and then plain")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--chunk-repeats", type=int, default=5, help="runs of the lone chunk, each way")
    args = ap.parse_args()
    if not CORPUS.exists():
        raise SystemExit(f"benchmark corpus missing: {CORPUS}")
    text = CORPUS.read_text()
    threads.start()  # the thread policy, as the CLI starts it
    print(f"numpy {np.__version__}; {os.cpu_count()} cores; TrainConfig defaults (Adam, clip by global norm, "
          f"EMA {TrainConfig().ema})")
    for hidden in args.hidden:
        trainer = build_trainer(text, hidden, args.layers, args.batch_size, args.seq_length)
        report(trainer, f"LSTM {args.layers}x{hidden}", args.steps, args.warmup, args.chunk_repeats)


if __name__ == "__main__":
    main()
