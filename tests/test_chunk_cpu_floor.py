"""benchmarks/train_throughput.py's floor: the CPU time of a step's chunks, counted on the threads that run them.

No figures are asserted (they are the benchmark's output); only that every chunk of a real step is counted once,
the step's wrapper goes away, and the floor is that CPU time spread over the cores.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from rnnplay.core import parallel_step, threads
from rnnplay.core.cells import LSTMCell
from rnnplay.core.model import Model
from rnnplay.core.vocab import Vocab

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
TEXT = "the quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs.\n" * 40


@pytest.fixture
def train_throughput(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    monkeypatch.setenv("RNNPLAY_JIT", "0")  # numpy's gate maths: no compiling here (the runner sets it too)
    return importlib.import_module("train_throughput")


def test_each_step_gives_its_chunks_cpu_and_unwraps_them(train_throughput: ModuleType) -> None:
    original = parallel_step.chunk_loss_and_grads
    vocab = Vocab.from_text(TEXT)
    cpu: list[float] = []
    steps = train_throughput.rnnplay_steps(vocab.encode(TEXT), vocab, "lstm", 1, 8, 64, 8, compiled=False, cpu=cpu)
    next(steps)
    next(steps)
    assert len(cpu) == 2 and all(seconds > 0 for seconds in cpu)  # one figure a step
    assert parallel_step.chunk_loss_and_grads is original


def test_chunk_cpu_takes_one_reading_per_chunk_on_the_worker_threads(train_throughput: ModuleType) -> None:
    vocab = Vocab.from_text(TEXT)
    model = Model(LSTMCell(), vocab, 8, 1)
    ids = np.asarray(vocab.encode(TEXT)[: 8 * 64 + 1])
    inputs, targets = ids[:-1].reshape(64, 8).T, ids[1:].reshape(64, 8).T  # (T, B): 8 steps of 64 streams
    seconds: list[float] = []
    with train_throughput.chunk_cpu(seconds):
        model.loss_and_grads(inputs, targets, model.initial_state(64))
    assert len(seconds) == len(parallel_step.chunk_bounds(64, parallel_step.chunk_size(model))) == 2
    assert all(s > 0 for s in seconds)


def test_the_floor_is_the_chunks_cpu_spread_over_every_core(train_throughput: ModuleType,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    cores = threads.usable_cores()
    train_throughput.print_floor(0.4, 6400, {"rnnplay": 6400 * cores / 0.4 / 2, "torch": 1000.0})
    line = capsys.readouterr().out
    assert f"400.0 ms a step; over all {cores} cores" in line
    assert f"a floor of {6400 * cores / 0.4:,.0f} chars/s" in line and "ran at 50% of it" in line
