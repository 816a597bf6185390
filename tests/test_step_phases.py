"""benchmarks/step_phases.py's timing on a tiny model: the phases add up to the step, and the wrappers go away.

No figures are asserted (they are the benchmark's output); only that the accounting is whole.
"""

from __future__ import annotations

import importlib
import math
from pathlib import Path
from types import ModuleType

import pytest

from rnnplay.core import parallel_step, products, threads
from rnnplay.core import trainer as trainer_module
from rnnplay.core.cells import lstm as lstm_module

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
TEXT = "the quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs.\n" * 40


@pytest.fixture
def step_phases(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # it imports its neighbour train_throughput
    monkeypatch.setenv("RNNPLAY_JIT", "0")  # the numpy gate maths: no compiling in a unit test
    return importlib.import_module("step_phases")


def test_the_phases_add_up_to_the_step_and_none_is_negative(step_phases: ModuleType) -> None:
    originals = (parallel_step.run_chunks, threads.one_blas_thread, trainer_module.clip_by_global_norm)
    trainer = step_phases.build_trainer(TEXT, 8, 2, 64, 8)  # two chunks of 32 streams (WIDE_CHUNK: a small model)
    timing = step_phases.time_steps(trainer, steps=2, warmup=1)
    assert trainer.step == 3
    assert list(timing.phases) == [key for key, _ in step_phases.STEP_PHASES] + [step_phases.REMAINDER]
    assert all(seconds >= 0 for seconds in timing.phases.values()), timing.phases
    step = sum(timing.step_seconds) / len(timing.step_seconds)
    assert math.isclose(sum(timing.phases.values()), step, rel_tol=1e-9)
    chunks = sum(timing.phases[key] for key in ("chunks 0", "chunks 1", "chunks 2+"))
    assert math.isclose(chunks, timing.chunk_wall, rel_tol=1e-9) and timing.chunk_cpu > 0
    assert (parallel_step.run_chunks, threads.one_blas_thread, trainer_module.clip_by_global_norm) == originals
    assert "next" not in vars(trainer.batcher) and "propose" not in vars(trainer.optimizer)


def test_one_chunk_s_parts_add_up_to_it(step_phases: ModuleType) -> None:
    trainer = step_phases.build_trainer(TEXT, 8, 2, 32, 8)
    trainer.train_step()
    chunk = step_phases.time_chunk(trainer, repeats=2)
    assert chunk.streams == min(parallel_step.chunk_size(trainer.model), trainer.config.batch_size)
    assert list(chunk.parts) == [key for key, _, _ in step_phases.CHUNK_PARTS]
    assert math.isclose(sum(chunk.parts.values()), chunk.instrumented, rel_tol=1e-9)
    assert min(chunk.parts[key] for key in ("rec fwd", "gates fwd", "rec bwd", "gates bwd", "loss")) > 0
    assert lstm_module.products is products  # the benchmark's TimedProducts stand-in was taken out again
