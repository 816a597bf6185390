"""benchmarks/product_speed.py runs end to end on tiny sizes and prints one row per product.

No figures are asserted: they are the benchmark's output.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "product_speed.py"


def test_it_prints_the_peak_and_every_product_of_each_size() -> None:
    run = subprocess.run([sys.executable, str(SCRIPT), "--hidden", "8", "16", "--repeats", "3"],
                         capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
    lines = run.stdout.splitlines()
    assert lines[0].startswith("one BLAS thread; peak (square 1,024 products):")
    rows = [line for line in lines if line.startswith("H=")]
    assert len(rows) == 2 * 5  # 8, 16, 32, 64 streams and all rows at once, for each H
    assert all(float(row.split()[-2]) > 0 and row.endswith("%") for row in rows)


def test_a_repeat_count_below_one_is_refused_in_one_line() -> None:
    run = subprocess.run([sys.executable, str(SCRIPT), "--repeats", "0"], capture_output=True, text=True, timeout=60)
    assert run.returncode != 0 and run.stderr.strip() == "--repeats and --hidden must be at least 1"
