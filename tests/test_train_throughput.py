"""benchmarks/train_throughput.py's ceiling: rnnplay's packed float32 kernels on every core, where they run.

No figures are asserted: they are the benchmark's output.
"""

from __future__ import annotations

import functools
import importlib
from pathlib import Path

import pytest

from rnnplay.core import products

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.skipif(products.kernels("float32") is None, reason="no packed float32 kernels on this CPU (or no numba)")
def test_the_ceiling_is_measured_with_the_kernels_on_after_the_numpy_runner(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    train_throughput = importlib.import_module("train_throughput")
    monkeypatch.setattr(train_throughput, "all_cores_speed",
                        functools.partial(train_throughput.all_cores_speed, seconds=0.01))  # fmt: skip
    monkeypatch.setenv("RNNPLAY_JIT", "0")  # as the "numpy only" runner leaves it after its steps
    speed = train_throughput.kernel_peak(16)
    assert speed is not None and speed > 0
