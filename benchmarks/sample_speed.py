"""Sampling speed: characters per second from a 2-layer, 256-unit LSTM (vocabulary 65), one run.

    python benchmarks/sample_speed.py [--chars 3000] [--repeat 3] [--threads N|auto]

Rows: rnnplay's generate() with the temperature sampler (one stream, everything a
user's `rnnplay sample` does per character), the same with the compiled gate
kernels turned off (RNNPLAY_JIT=0: numpy only), greedy, beam search of width 8 (its
8 beams step as one batch; characters of the final text per second), and PyTorch doing the
same single-stream loop eagerly (nn.LSTM + nn.Linear under no_grad, multinomial
sampling, one .item() per character), and the app (`rnnplay MODEL.npz`, the same
model saved) in a 200x40 pseudo-terminal: the characters of a turn over the seconds
from its Enter until the terminal has it all (the line typed after it, which runs
once the turn has ended, has drawn its answer), as a user sees them. Random weights: speed does not depend on them.
Each row gives the median and the best of --repeat runs (the best is the least
disturbed by whatever else the machine is doing); the rows take turns, one run each
per round, so the machine's slow minutes fall on all of them alike. Each round runs
every row twice: quiet, then with another process spinning on one core
(:mod:`spinner`), and the last columns give the busy median and its share of the quiet one.

--threads N sets N BLAS threads for both libraries before they load. The default,
auto, is what `rnnplay sample` does: rnnplay under its thread policy
(:mod:`rnnplay.core.threads`, BLAS on the cores other processes leave free, read every
half second), PyTorch on one thread per core, its own default. Per character the work
is three (B, 256) x(256, 1024)-sized products, reading 3 MB of weights: two threads
read them faster when the machine is quiet, and only wait for each other when it is busy.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from spinner import one_core_busy

SETTLE = 2.0  # seconds after a change of load: four of the thread policy's readings
APP_SIZE = (40, 200)  # the app's terminal, rows and columns
APP_WAIT = 600.0  # seconds: a bound on the app's start and on one turn, not a speed claim


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chars", type=int, default=3000, help="characters per timed run")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per row; the median is printed")
    ap.add_argument("--threads", type=thread_count, default="auto",
                    help="BLAS / PyTorch threads (default auto: rnnplay's policy, and one per core for PyTorch)")
    args = ap.parse_args()
    if args.threads != "auto":
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = args.threads
    runs = {
        "rnnplay, temperature 0.7, 1 stream": rnnplay_run(args, "temperature", {"temperature": 0.7}),
        "  the same, numpy only (RNNPLAY_JIT=0)": rnnplay_run(args, "temperature", {"temperature": 0.7}, jit=False),
        "rnnplay, greedy, 1 stream": rnnplay_run(args, "greedy", {}),
        "rnnplay, beam width 8 (one batch of 8)": rnnplay_run(args, "beam", {"width": 8}),
        "PyTorch eager, temperature 0.7, 1 stream": torch_run(args),
        "the app on a terminal, temperature 0.7": app_run(args),
    }
    load = os.getloadavg()[0]
    if args.threads == "auto":
        from rnnplay.core import threads

        threads.start("auto")  # as `rnnplay sample` does: BLAS gets the cores other processes leave free
    try:
        rates = round_robin({label: run for label, run in runs.items() if run is not None}, args.repeat)
    finally:
        App.close_all()
    print(f"\nsampling from a 2x256 LSTM, vocabulary 65; {args.chars} chars per run, {args.repeat} runs, "
          f"threads: {args.threads}; load average before: {load:.2f}")
    print(f"{'':44}{'median':>10}{'best':>10}{'busy':>10}{'of quiet':>10}  chars/s (busy: one core spinning)")
    for label in runs:
        r = rates.get(label)
        print(f"{label:44}" + ("n/a (torch not installed)" if r is None else
                               f"{r[0]:10,.0f}{r[1]:10,.0f}{r[2]:10,.0f}{r[2] / r[0]:9.2f}x"))


def thread_count(text: str) -> str:
    if text != "auto" and not (text.isdigit() and int(text) > 0):
        raise argparse.ArgumentTypeError(f"give a number of threads or 'auto' (got {text!r})")
    return text


def round_robin(runs: dict[str, Callable[[], int]], repeat: int) -> dict[str, tuple[float, float, float]]:
    """(quiet median, quiet best, busy median) characters per second of each run over ``repeat`` rounds,
    after one warm-up each.

    Each round times every row once quiet and once with one core busy, so a slow minute on a
    shared machine hits all rows alike.
    """
    for run in runs.values():
        run()  # warm up: caches, lazy imports, compiled kernels
    rates: dict[tuple[str, bool], list[float]] = {(label, busy): [] for label in runs for busy in (False, True)}
    for _ in range(repeat):
        for busy in (False, True):
            with one_core_busy() if busy else contextlib.nullcontext():
                time.sleep(SETTLE)  # the thread policy's readings see the new load before the runs
                for label, run in runs.items():
                    start = time.perf_counter()
                    n = run()
                    rates[label, busy].append(n / (time.perf_counter() - start))
    return {label: (statistics.median(rates[label, False]), max(rates[label, False]),
                    statistics.median(rates[label, True])) for label in runs}


def lstm() -> Any:
    """The 2x256 LSTM of every row, random weights, vocabulary 65 printable characters."""
    from rnnplay.core.cells import LSTMCell
    from rnnplay.core.model import Model
    from rnnplay.core.vocab import Vocab

    return Model(LSTMCell(), Vocab(tuple(chr(c) for c in range(32, 32 + 65))), 256, 2, seed=0)


def rnnplay_run(args: argparse.Namespace, sampler_name: str, params: dict, jit: bool = True) -> Callable[[], int]:
    import numpy as np

    from rnnplay.builtin.samplers import BeamSampler, GreedySampler
    from rnnplay.core.generate import generate
    from rnnplay.core.sampler import TEMPERATURE

    sampler = {"temperature": TEMPERATURE, "greedy": GreedySampler(), "beam": BeamSampler()}[sampler_name]
    model = lstm()
    seed = "".join(model.vocab.chars[:20])
    rng = np.random.default_rng(0)

    def run() -> int:
        os.environ["RNNPLAY_JIT"] = "1" if jit else "0"  # read when generate() makes its stepper
        return sum(1 for _ in generate(model, seed, sampler, params, args.chars, rng))

    return run


class App:
    """``rnnplay MODEL`` in a pseudo-terminal, its home a temporary folder; what it writes kept in :attr:`shown`."""

    started: ClassVar[list[App]] = []  # ended by close_all()

    def __init__(self, model: Path) -> None:
        self.folder = model.parent
        env = dict(os.environ, HOME=str(self.folder), XDG_DATA_HOME=str(self.folder / "data"), RNNPLAY_NOHISTORY="1",
                   TERM="xterm-256color")
        self.master, slave = os.openpty()
        termios.tcsetwinsize(slave, APP_SIZE)
        self.proc = subprocess.Popen([sys.executable, "-m", "rnnplay", str(model)], stdin=slave, stdout=slave,
                                     stderr=slave, env=env, start_new_session=True)
        os.close(slave)
        self.shown = bytearray()
        App.started.append(self)

    def type_until(self, keys: str, answer: str) -> None:
        """Type ``keys``, then read what the app draws until it shows ``answer``."""
        start = len(self.shown)
        os.write(self.master, keys.encode())
        deadline = time.monotonic() + APP_WAIT
        while answer.encode() not in self.shown[start:]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the app did not show {answer!r}")
            if select.select([self.master], [], [], 0.05)[0]:
                self.shown += os.read(self.master, 1 << 20)

    @classmethod
    def close_all(cls) -> None:
        for app in cls.started:
            app.proc.terminate()  # as Ctrl+D
            app.proc.wait()
            os.close(app.master)
            shutil.rmtree(app.folder, ignore_errors=True)


def app_run(args: argparse.Namespace) -> Callable[[], int]:
    """A turn of --chars characters in the app; the first call (the warm-up) starts the app."""
    from rnnplay.core.checkpoint import save_checkpoint

    model = Path(tempfile.mkdtemp(prefix="sample-speed-")) / "lstm.npz"
    save_checkpoint(model, lstm())
    apps: list[App] = []
    turns = iter(range(1000, 10_000))  # each turn's /set seed answers with its own number

    def run() -> int:
        if not apps:
            apps.append(App(model))
            apps[0].type_until("", "type a few characters")
            apps[0].type_until(f"/set length {args.chars}\r", f"length = {args.chars} chars")
        n = next(turns)
        apps[0].type_until(f"ROMEO:\r/set seed {n}\r", f"seed = {n}")  # drawn once the turn before it has ended
        return args.chars

    return run


def torch_run(args: argparse.Namespace) -> Callable[[], int] | None:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads((os.cpu_count() or 1) if args.threads == "auto" else int(args.threads))
    torch.manual_seed(0)
    V, H = 65, 256
    emb = torch.nn.Embedding(V, V)
    with torch.no_grad():
        emb.weight.copy_(torch.eye(V))  # one-hot input, as in rnnplay
    lstm, head = torch.nn.LSTM(V, H, 2), torch.nn.Linear(H, V)

    def run() -> int:
        with torch.no_grad():
            state = None
            x = torch.zeros(1, 1, dtype=torch.long)
            for _ in range(args.chars):
                out, state = lstm(emb(x), state)
                p = torch.softmax(head(out[0, 0]) / 0.7, dim=-1)
                x[0, 0] = int(torch.multinomial(p, 1).item())
        return args.chars

    return run


if __name__ == "__main__":
    sys.exit(main())
