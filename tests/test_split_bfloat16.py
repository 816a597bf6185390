"""benchmarks/split_bfloat16.py runs end to end on tiny sizes: one row per product, bf16x3 nearer float64 than bfloat16.

No timings are asserted: they are the benchmark's output (docs/training.md).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rnnplay.core import products

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "split_bfloat16.py"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120,
                          cwd=SCRIPT.parent)  # fmt: skip


@pytest.mark.skipif(not products.bf16_available() or products.kernels("float32") is None,
                    reason="needs AVX512_BF16 and AVX-512 kernels")  # fmt: skip
def test_it_prints_a_row_per_shape_with_bf16x3s_error_far_below_a_bfloat16_rounding() -> None:
    done = run("--hidden", "16", "32", "--repeats", "3")
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines() if line.startswith("H=")]
    assert len(rows) == 2 * 3  # 8, 16 and 1,600 rows for each H
    for row in rows:
        *_, best, error_float32, error_bf16x3 = row
        assert float(best) > 0
        assert float(error_float32) <= float(error_bf16x3) < 2 ** -9  # one bfloat16 rounding is up to 2⁻⁹ of a value


def test_a_repeat_count_below_one_is_refused_in_one_line() -> None:
    done = run("--repeats", "0")
    assert done.returncode != 0 and done.stderr.strip() == "--repeats and --hidden must be at least 1"
