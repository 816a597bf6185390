"""Training throughput: rnnplay (NumPy) beside PyTorch CPU, same model, same batch, one run.

    python benchmarks/train_throughput.py [--steps 10] [--warmup 3] [--rounds 3]

Each row runs full training steps (forward, backward through time, clip by
global norm 5, Adam) on batches of tiny shakespeare and prints characters per
second; "numpy only" is rnnplay with its compiled LSTM kernels off (RNNPLAY_JIT=0;
the RNN has none). Where the CPU has AVX512_BF16, a second row per model runs
rnnplay with ``--precision bfloat16`` (:mod:`rnnplay.core.products`) beside PyTorch under
``torch.autocast("cpu", dtype=torch.bfloat16)``, the same mixed precision, and its last
column compares it with PyTorch in float32 as well. All runners take turns, --steps
steps each, --rounds times, so the shared machine's slow minutes fall on all of them
alike. "% of peak" is the model's arithmetic per character (:func:`flops_per_char`) times chars/s, over this machine's
single-precision matrix-multiply peak measured at start (:func:`sgemm_peak`: numpy's
BLAS on every core, a large square product, best of a few). On CPUs with AVX-512 or AVX2 a
second figure bounds each LSTM row from above: rnnplay's own packed float32 kernel
run on every core at once on the products of that row's step (:func:`kernel_peak`),
faster than BLAS's square product; "ceiling" is that speed over the flops per
character — the chars/s of a step that did nothing but its products, each at that
speed — and "% of ceiling" is how near each library comes to it.
Needs ../shared/corpora/tinyshakespeare.txt; PyTorch is optional
(`pip install torch==2.13.0`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from rnnplay.core import parallel_step, products, threads
from rnnplay.core.cells import LSTMCell, RNNCell
from rnnplay.core.data import StreamBatcher
from rnnplay.core.model import Model
from rnnplay.core.optim import Adam, clip_by_global_norm
from rnnplay.core.vocab import Vocab

CORPUS = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpora" / "tinyshakespeare.txt"
CONFIGS = [  # (label, cell, layers, hidden, batch, seq)
    ("LSTM 2x256, B64 T100", "lstm", 2, 256, 64, 100),
    ("LSTM 2x512, B64 T100", "lstm", 2, 512, 64, 100),
    ("RNN 1x128, B64 T100", "rnn", 1, 128, 64, 100),
]
GATES = {"lstm": 4, "rnn": 1}  # weight blocks per layer: i, f, o, g for the LSTM; one for the vanilla RNN


def flops_per_char(cell: str, layers: int, hidden: int, vocab: int) -> float:
    """Floating-point operations of one training character: forward, plus backward at twice the forward.

    Per character the forward multiplies h_{t-1} by W_hh (2·G·H² flops, G = GATES[cell]), the
    layer's input by W_xh (2·G·H² for layers above the first; the first layer's input is one
    character, a row of W_xh, no product) and the top layer's h by W_hy (2·H·V). Backward is
    the products for dx and dW of each, twice the forward's. Elementwise gate maths is left out.
    """
    g, h = GATES[cell], hidden
    forward = layers * 2 * g * h * h + (layers - 1) * 2 * g * h * h + 2 * h * vocab
    return 3.0 * forward


def sgemm_peak(n: int = 2048, repeats: int = 5) -> float:
    """This machine's float32 matrix-multiply speed in flops/s: the best of ``repeats`` n×n products."""
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    a @ a  # warms up BLAS and its threads
    best = min(_timed(lambda: a @ a) for _ in range(repeats))
    return 2.0 * n**3 / best


def kernel_peak(hidden: int) -> float | None:
    """rnnplay's packed float32 product on every usable core at once, in flops/s: the better of a chunk's per-step
    product (NARROW_CHUNK streams by W_hh, H×4H) and its product over all T·b rows on a weight (x·W_xh, T = 100).
    None where the kernels cannot run (neither AVX-512 nor AVX2 and FMA, no numba)."""
    os.environ["RNNPLAY_JIT"] = "1"  # the kernels on, as in the rnnplay row: the "numpy only" runner leaves them off
    if products.kernels("float32") is None:
        return None
    W = np.random.default_rng(0).random((hidden, 4 * hidden), dtype=np.float32)
    return max(all_cores_speed(W, rows) for rows in (parallel_step.NARROW_CHUNK, 100 * parallel_step.NARROW_CHUNK))


def all_cores_speed(W: np.ndarray, rows: int, seconds: float = 1.0) -> float:
    """flops/s of ``rows``×K by W (K×N) on the float32 kernels, one thread per usable core, all at once."""
    cores = threads.usable_cores()
    start_together = threading.Barrier(cores)
    rates = [0.0] * cores

    def run(i: int) -> None:
        a = np.random.default_rng(i).random((rows, W.shape[0]), dtype=np.float32)
        out = np.empty((rows, W.shape[1]), dtype=np.float32)
        with products.precision("float32"):
            operand = products.Operand(W)
            operand.times(a, out)  # compiled and warm before the clock starts
            start_together.wait()
            start, calls = time.perf_counter(), 0
            while (elapsed := time.perf_counter() - start) < seconds:
                operand.times(a, out)
                calls += 1
        rates[i] = calls * 2.0 * a.size * W.shape[1] / elapsed

    workers = [threading.Thread(target=run, args=(i,)) for i in range(cores)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(rates)


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def rnnplay_steps(ids: np.ndarray, vocab: Vocab, cell: str, layers: int, hidden: int, B: int, T: int,
                  compiled: bool, precision: str = "float32",
                  cpu: list[float] | None = None) -> Iterator[None]:  # fmt: skip
    """One full rnnplay training step per next(), kernels on or off, products in ``precision``; ``cpu``: each step's
    chunks' CPU seconds appended to it (:func:`chunk_cpu`)."""
    model = Model(LSTMCell() if cell == "lstm" else RNNCell(), vocab, hidden, layers)
    model.products = precision
    opt = Adam(model.params)
    batcher = StreamBatcher(ids, B, T)
    states = model.initial_state(B)
    while True:
        os.environ["RNNPLAY_JIT"] = "1" if compiled else "0"  # read each time the cell runs forward/backward
        batch = batcher.next()
        chunks: list[float] = []
        with chunk_cpu(chunks) if cpu is not None else contextlib.nullcontext():
            _, grads, states = model.loss_and_grads(batch.inputs, batch.targets, states)
        if cpu is not None:
            cpu.append(sum(chunks))
        clip_by_global_norm(grads, 5.0)
        opt.step(model.params, grads, 2e-3)
        yield


@contextlib.contextmanager
def chunk_cpu(seconds: list[float]) -> Iterator[None]:
    """While the body runs, the CPU seconds of each chunk of a training step (``chunk_loss_and_grads`` of
    :mod:`rnnplay.core.parallel_step`, on whichever thread runs it) are appended to ``seconds``: two readings of the
    thread's CPU clock a chunk."""
    original = parallel_step.chunk_loss_and_grads

    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.thread_time()
        try:
            return original(*args, **kwargs)
        finally:
            seconds.append(time.thread_time() - start)

    parallel_step.chunk_loss_and_grads = timed
    try:
        yield
    finally:
        parallel_step.chunk_loss_and_grads = original


def torch_steps(ids: np.ndarray, V: int, cell: str, layers: int, hidden: int, B: int, T: int,
                bfloat16: bool = False) -> Iterator[None] | None:  # fmt: skip
    """One full PyTorch training step per next(), or None without torch; ``bfloat16``: under CPU autocast."""
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(0)
    rnn_cls = torch.nn.LSTM if cell == "lstm" else torch.nn.RNN
    emb = torch.nn.Embedding(V, V)
    with torch.no_grad():
        emb.weight.copy_(torch.eye(V))  # one-hot input, as in rnnplay
    emb.weight.requires_grad_(False)
    rnn = rnn_cls(V, hidden, layers)
    head = torch.nn.Linear(hidden, V)
    params = list(rnn.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=2e-3)
    batcher = StreamBatcher(ids, B, T)

    def steps() -> Iterator[None]:
        state = None
        while True:
            batch = batcher.next()
            x = torch.from_numpy(batch.inputs.astype(np.int64))
            y = torch.from_numpy(batch.targets.astype(np.int64))
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bfloat16):
                out, state = rnn(emb(x), state)
                logits = head(out).reshape(-1, V).float()
            state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
            loss = torch.nn.functional.cross_entropy(logits, y.reshape(-1))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 5.0)
            opt.step()
            yield

    return steps()


def round_robin(runners: dict[str, Iterator[None]], steps: int, warmup: int, rounds: int) -> dict[str, float]:
    """Median seconds per step of each runner over ``rounds`` turns of ``steps`` steps each.

    The runners take turns a block of steps at a time (ABC ABC ABC), so a slow minute
    of the shared machine falls on all of them alike; a block, not a single step,
    because one library's idle threads spin for a moment after it stops and would
    slow the other down at every switch.
    """
    for runner in runners.values():
        for _ in range(warmup):
            next(runner)
    per_round: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(rounds):
        for name, runner in runners.items():
            per_round[name].append(seconds_per_step(runner, steps))
    return {name: statistics.median(times) for name, times in per_round.items()}


def seconds_per_step(runner: Iterator[None], steps: int) -> float:
    """Wall-clock seconds per step of ``runner`` over ``steps`` steps in a row."""
    start = time.perf_counter()
    for _ in range(steps):
        next(runner)
    return (time.perf_counter() - start) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3, help="turns of --steps steps per runner; the median is printed")
    args = ap.parse_args()
    if not CORPUS.exists():
        raise SystemExit(f"benchmark corpus missing: {CORPUS}")
    text = CORPUS.read_text()
    vocab = Vocab.from_text(text)
    ids = vocab.encode(text)
    peak = sgemm_peak()
    print(
        f"machine: {os.cpu_count()} cores; numpy {np.__version__}; sgemm peak {peak / 1e9:.1f} GFLOP/s; median of "
        f"{args.rounds} turns of {args.steps} timed steps each, after {args.warmup} warm-up steps; load average "
        f"{os.getloadavg()[0]:.2f}"
    )
    with_bf16 = products.bf16_available()
    print(f"{'model':<29}{'rnnplay chars/s':>17}{'numpy only':>12}{'torch chars/s':>15}{'ratio':>8}"
          f"{'rnnplay % peak':>16}{'torch % peak':>14}{'vs torch float32':>18}")
    for label, cell, layers, hidden, B, T in CONFIGS:
        cpu: list[float] = []
        runners = {
            "rnnplay": rnnplay_steps(ids, vocab, cell, layers, hidden, B, T, compiled=True, cpu=cpu),
            "numpy": rnnplay_steps(ids, vocab, cell, layers, hidden, B, T, compiled=False),
            "torch": torch_steps(ids, vocab.size, cell, layers, hidden, B, T),
        }
        if with_bf16:
            runners["rnnplay bf16"] = rnnplay_steps(ids, vocab, cell, layers, hidden, B, T, True, "bfloat16")
            runners["torch bf16"] = torch_steps(ids, vocab.size, cell, layers, hidden, B, T, bfloat16=True)
        seconds = round_robin({k: v for k, v in runners.items() if v is not None}, args.steps, args.warmup,
                              args.rounds)
        rates = {name: B * T / s for name, s in seconds.items()}
        flops = flops_per_char(cell, layers, hidden, vocab.size)
        print_row(label, rates, "rnnplay", "torch", flops / peak, rates.get("numpy"))
        if with_bf16:
            print_row(f"{label}, bf16", rates, "rnnplay bf16", "torch bf16", flops / peak, None)
        if cell == "lstm":
            print_ceiling(hidden, flops, rates)
        print_floor(statistics.median(cpu), B * T, rates)
    if not with_bf16:
        print("(no bfloat16 rows: this CPU has no AVX512_BF16)")


def print_ceiling(hidden: int, flops: float, rates: dict[str, float]) -> None:
    """The float32 row's ceiling: the kernels' all-core speed (:func:`kernel_peak`) over ``flops`` per character."""
    speed = kernel_peak(hidden)
    if speed is None:
        print("  (no ceiling: rnnplay's float32 kernels do not run on this CPU)")
        return
    ceiling = speed / flops
    shares = ", ".join(f"{name} {100 * rates[name] / ceiling:.0f}%" for name in ("rnnplay", "torch") if name in rates)
    needs = (f"; 1.3x torch would be {130 * rates['torch'] / ceiling:.0f}%, 1.5x {150 * rates['torch'] / ceiling:.0f}%"
             if "torch" in rates else "")
    print(f"  ceiling: the packed kernel on all {threads.usable_cores()} cores at once, {speed / 1e9:.1f} GFLOP/s, "
          f"is {ceiling:,.0f} chars/s; float32 at {shares} of it{needs}", flush=True)


def print_floor(chunk_seconds: float, chars: int, rates: dict[str, float]) -> None:
    """rnnplay's float32 step beside its floor: ``chunk_seconds``, its chunks' CPU a step, spread over every core."""
    cores = threads.usable_cores()
    floor = chars * cores / chunk_seconds  # chars/s of a step that took its chunks' CPU time over the cores, no more
    needs = f"; 1.5x torch is {150 * rates['torch'] / floor:.0f}% of it" if "torch" in rates else ""
    print(f"  chunks' CPU: {1e3 * chunk_seconds:,.1f} ms a step; over all {cores} cores with nothing else, a floor of "
          f"{floor:,.0f} chars/s; rnnplay's step ran at {100 * rates['rnnplay'] / floor:.0f}% of it{needs}", flush=True)


def print_row(label: str, rates: dict[str, float], ours: str, theirs: str, flop_share: float,
              numpy_only: float | None) -> None:  # fmt: skip
    """One row: ``ours`` beside ``theirs`` (absent without torch), % of the float32 peak, ``ours`` / torch float32."""
    mine, other = rates[ours], rates.get(theirs)
    torch_s, ratio = (f"{other:,.0f}", f"{mine / other:.2f}x") if other else ("no torch", "n/a")
    torch_pct = f"{100 * other * flop_share:.0f}%" if other else "n/a"
    plain = f"{mine / rates['torch']:.2f}x" if "torch" in rates else "n/a"
    numpy_s = f"{numpy_only:,.0f}" if numpy_only else "-"
    print(f"{label:<29}{mine:>17,.0f}{numpy_s:>12}{torch_s:>15}{ratio:>8}{100 * mine * flop_share:>15.0f}%"
          f"{torch_pct:>14}{plain:>18}", flush=True)


if __name__ == "__main__":
    main()
