"""Training under load: the 2x256 LSTM step on a quiet machine and with one core kept busy, rnnplay beside PyTorch.

    python benchmarks/under_load.py [--steps 10] [--warmup 2] [--rounds 3] [--threads N] [--other-session]

The step is train_throughput.py's (forward, backward through time, clipping, Adam,
on batches of tiny shakespeare, B64 T100). rnnplay's step runs its chunks (as many
streams as parallel_step.chunk_streams gives the model) on its pool of worker
threads, BLAS on one thread (rnnplay.core.parallel_step);
the thread policy is started as the CLI starts it (--threads N pins it; it now only
matters outside training steps). PyTorch runs as it comes.
"One core busy" is a spinning process this script starts and stops, like
`yes > /dev/null`. Each round times both libraries quiet, then both with the
spinner running; --warmup steps after each change let the policy and the
scheduler see it. The figures are medians over the rounds, and only mean
something on an otherwise quiet machine: the load average is printed first.
"cores" is the CPU time this process used per second of a block (all its threads):
the share of the machine the scheduler gave it. The spinner runs in this
script's session; --other-session starts it in a session of its own, as
`yes > /dev/null` typed in another terminal would be (where the kernel groups
tasks by session, "autogroup", the two sessions then share the cores as equals).
Needs ../shared/corpora/tinyshakespeare.txt; PyTorch is optional.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import time
from collections.abc import Iterator

from spinner import one_core_busy
from train_throughput import CONFIGS, CORPUS, rnnplay_steps, torch_steps

from rnnplay.core import parallel_step, threads
from rnnplay.core.cells import LSTMCell, RNNCell
from rnnplay.core.errors import RnnplayError
from rnnplay.core.model import Model
from rnnplay.core.vocab import Vocab


def timed_block(runner: Iterator[None], steps: int) -> tuple[float, float]:
    """(wall-clock seconds per step, cores this process used meanwhile) over ``steps`` steps of ``runner``."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        next(runner)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return wall / steps, cpu / wall


def time_blocks(runners: dict[str, Iterator[None]], steps: int, warmup: int, rounds: int,
                policy: threads.Policy, chunks: tuple[int, int],
                own_session: bool = False) -> dict[tuple[str, bool], list[tuple[float, float]]]:  # fmt: skip
    """(seconds per step, cores used) of each runner, quiet (False) and with one core busy (True), one per round.

    ``chunks``: rnnplay's step as (chunks, streams in each), for the lines it prints."""
    blocks: dict[tuple[str, bool], list[tuple[float, float]]] = {
        (name, busy): [] for name in runners for busy in (False, True)
    }
    for _ in range(rounds):
        for busy in (False, True):
            with one_core_busy(own_session) if busy else contextlib.nullcontext():
                for name, runner in runners.items():
                    for _ in range(warmup):
                        next(runner)
                    blocks[name, busy].append(timed_block(runner, steps))
                    if name == "rnnplay":
                        print(f"  {'busy' if busy else 'quiet'}: rnnplay's steps ran {chunks[0]} chunks of {chunks[1]} "
                              f"streams on {min(parallel_step.worker_count(), chunks[0])} worker threads, BLAS on 1 "
                              "thread; the policy reads "
                              f"{policy.others:.1f} cores used by other processes", flush=True)  # fmt: skip
    return blocks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=10, help="timed steps per block (default 10)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps after each change of load (default 2)")
    ap.add_argument("--rounds", type=int, default=3, help="quiet/busy rounds; the median is printed (default 3)")
    ap.add_argument("--threads", default=None, help="pin rnnplay's BLAS threads instead of the policy's 'auto'")
    ap.add_argument(
        "--other-session",
        action="store_true",
        help="start the spinner in a session of its own, as a command typed in another terminal",
    )
    args = ap.parse_args()
    if min(args.steps, args.warmup + 1, args.rounds) < 1:
        raise SystemExit("--steps and --rounds must be at least 1, --warmup at least 0")
    if not CORPUS.exists():
        raise SystemExit(f"benchmark corpus missing: {CORPUS}")
    try:
        policy = threads.start(args.threads)
    except RnnplayError as err:
        raise SystemExit(f"under_load.py: {err}") from None
    text = CORPUS.read_text()
    vocab = Vocab.from_text(text)
    ids = vocab.encode(text)
    label, cell, layers, hidden, B, T = CONFIGS[0]
    runners = {"rnnplay": rnnplay_steps(ids, vocab, cell, layers, hidden, B, T, compiled=True)}
    theirs = torch_steps(ids, vocab.size, cell, layers, hidden, B, T)
    if theirs is not None:
        runners["PyTorch"] = theirs
    print(
        f"{label}; {os.cpu_count()} cores; load average before: {os.getloadavg()[0]:.2f}; "
        f"rnnplay threads: {args.threads or 'auto'}; median of {args.rounds} rounds of {args.steps} timed steps; "
        f"the spinner in {'a session of its own' if args.other_session else 'this session'}"
    )
    streams = parallel_step.chunk_size(Model(LSTMCell() if cell == "lstm" else RNNCell(), vocab, hidden, layers))
    chunks = (len(parallel_step.chunk_bounds(B, streams)), streams)
    blocks = time_blocks(runners, args.steps, args.warmup, args.rounds, policy, chunks, args.other_session)
    print(f"{'':<10}{'quiet chars/s':>15}{'one core busy':>15}{'ratio':>8}{'cores quiet':>13}{'cores busy':>12}")
    for name in runners:
        quiet, busy = (B * T / statistics.median(s for s, _ in blocks[name, load]) for load in (False, True))
        cores_quiet, cores_busy = (statistics.median(c for _, c in blocks[name, load]) for load in (False, True))
        print(f"{name:<10}{quiet:>15,.0f}{busy:>15,.0f}{busy / quiet:>7.2f}x{cores_quiet:>13.2f}{cores_busy:>12.2f}")


if __name__ == "__main__":
    main()
