"""Data-parallel scaling on this machine: one process against Ray workers, and what a step's communication costs.

    python benchmarks/scale.py [--steps 3] [--rounds 3] [--warmup 1] [--workers 2] [--hidden 512]

A 2-layer LSTM (2×512 by default) trains on tiny shakespeare with B = 64 streams of T = 100 characters:

- "1 process": today's in-process step (``rnnplay train`` without --workers): the batch's 16-stream chunks on
  a pool of threads over every core, each product on one BLAS thread, so the process uses all the cores;
- "N workers": ``--workers N`` on a local Ray of N CPUs, each worker one CPU (one chunk thread, one BLAS
  thread) and B/N streams.

Each row times whole training steps (gradients, clip, Adam) after ``--warmup`` steps, and prints chars/s; the
rows take turns, ``--steps`` steps each, ``--rounds`` times, so a busy minute of the shared machine falls on both.
Communication is measured apart from compute in two ways: the round trip of a step with nothing computed
(the driver puts the weights into Ray's object store, each worker reads them and sends back arrays the size
of the gradients), and, inside the timed training steps, each step's round trip less its slowest worker's
compute. The load average before and after says how busy the machine was.
Needs ../shared/corpora/tinyshakespeare.txt and Ray (`pip install 'rnnplay[ray]'`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from rnnplay.core.train_config import ModelSpec, TrainConfig
from rnnplay.corpora import load_corpus
from rnnplay.distributed.cluster import ray_session
from rnnplay.distributed.data_parallel import Cluster, DataParallelGradients, StepTiming
from rnnplay.session.training_runs import TrainingRun, new_run

CORPUS = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpora" / "tinyshakespeare.txt"
BATCH, SEQ = 64, 100


def make_run(hidden: int) -> TrainingRun:
    config = TrainConfig(batch_size=BATCH, seq_length=SEQ, steps=10**6, val_every=0)
    return new_run(load_corpus(str(CORPUS)), ModelSpec("lstm", 2, hidden, 0.0), config)


def seconds_per_step(run: TrainingRun, steps: int, warmup: int, after=None) -> list[float]:
    """Each timed step's seconds (Trainer.train_step: gradients, clip, optimizer), after ``warmup`` untimed ones;
    ``after()`` is called after each timed step."""
    for _ in range(warmup):
        run.trainer.train_step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        run.trainer.train_step()
        times.append(time.perf_counter() - start)
        if after is not None:
            after()
    return times


def row(label: str, times: list[float]) -> None:
    per_step = statistics.median(times)
    print(f"{label:<34} {per_step:8.3f} s {BATCH * SEQ / per_step:10,.0f}   (steps: "
          f"{', '.join(f'{t:.2f}' for t in times)})")


def round_trips(ray, gradients: DataParallelGradients, repeat: int) -> tuple[list[float], list[float]]:
    """(seconds to put the weights, seconds for weights out and gradient-sized arrays back), ``repeat`` times."""
    puts, trips = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        weights = ray.put(gradients.model.params)
        puts.append(time.perf_counter() - start)
        ray.get([w.echo.remote(weights) for w in gradients.workers])
        trips.append(time.perf_counter() - start)
    return puts, trips


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per row and round (default 3)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, the rows taking turns (default 3)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first (default 1)")
    parser.add_argument("--workers", type=int, default=2, help="Ray workers of the second row (default 2)")
    parser.add_argument("--hidden", type=int, default=512, help="units per layer (default 512)")
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    single, parallel = make_run(args.hidden), make_run(args.hidden)
    params = single.model.num_params()
    print(f"2x{args.hidden} LSTM, {params:,} parameters ({4 * params / 1e6:.1f} MB as float32), B={BATCH} T={SEQ}: "
          f"{BATCH * SEQ:,} characters a step; {args.rounds} rounds of {args.steps} steps, the rows taking turns")
    with ray_session(None, num_cpus=args.workers) as ray:
        gradients = DataParallelGradients(ray, parallel.model, Cluster(args.workers))
        parallel.trainer.gradients = gradients
        timings: list[StepTiming] = []
        ones, many = seconds_per_step(single, 0, args.warmup), seconds_per_step(parallel, 0, args.warmup)
        for _ in range(args.rounds):
            ones += seconds_per_step(single, args.steps, 0)
            many += seconds_per_step(parallel, args.steps, 0, lambda: timings.append(gradients.timing))
        puts, trips = round_trips(ray, gradients, max(3, args.steps))
        print(f"{'':<34} {'s/step':>10} {'chars/s':>10}")
        row("1 process (all cores)", ones)
        row(f"{args.workers} workers x {gradients.cpus} thread (Ray)", many)
        gradients.close()
    ms = 1000.0
    print(f"\ncommunication per step, {args.workers} workers, {4 * params / 1e6:.1f} MB each way per worker:")
    print(f"  weights into the object store (ray.put)           {statistics.median(puts) * ms:8.1f} ms")
    print(f"  weights out + gradients back, nothing computed    {statistics.median(trips) * ms:8.1f} ms")
    print(f"  in the training steps: round trip less compute    "
          f"{statistics.median(t.communication for t in timings) * ms:8.1f} ms "
          f"(slowest worker's compute {statistics.median(t.compute for t in timings):.3f} s)")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
