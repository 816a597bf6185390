"""Where bfloat16 cannot run, the refusal names the setting as the user gives it: `--precision float32` on the
command line, `precision=float32` in /train.

On a CPU without AVX512_BF16 (the project's AVX2 host, an AMD EPYC Zen 3, on 2026-12-07) `rnnplay train …
--precision bfloat16` said "train with precision float32", a flag that does not exist. RNNPLAY_JIT=0 refuses
bfloat16 on every CPU, so the first two tests run anywhere; the third needs a CPU without AVX512_BF16.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from child_env import child_env

from rnnplay.core import products

TIMEOUT = 120  # a bound that catches a hang, not a speed claim
NO_JIT = "RNNPLAY_JIT=0 turns them off: unset it, or train in float32"
NO_BF16 = "needs a CPU with AVX512_BF16 dot products (and numba); this one has none: train in float32"


def rnnplay(args: list[str], cwd: Path, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rnnplay", *args], cwd=cwd, input=stdin, capture_output=True,
                          text=True, timeout=TIMEOUT, env=child_env(XDG_DATA_HOME=str(cwd / "data"), **env))


def test_the_command_line_names_the_flag(small_file: Path, tmp_path: Path) -> None:
    done = rnnplay(["train", str(small_file), "--precision", "bfloat16", "--steps", "1"], tmp_path, RNNPLAY_JIT="0")
    assert done.returncode != 0, done
    assert done.stderr == (f"rnnplay: error: --precision bfloat16 runs on compiled kernels, and {NO_JIT} "
                           "(--precision float32, the default)\n"), done.stderr
    assert not (tmp_path / "model.npz").exists()


def test_the_app_s_train_names_the_key(small_file: Path, tmp_path: Path) -> None:
    script = f"/new cell=lstm layers=1 hidden=8\n/train {small_file} precision=bfloat16 steps=1\n"
    done = rnnplay(["repl"], tmp_path, script, RNNPLAY_JIT="0")
    assert done.returncode == 1, done
    assert (f"error: precision=bfloat16 runs on compiled kernels, and {NO_JIT} (precision=float32, the default)"
            in done.stdout + done.stderr), done


def test_a_cpu_without_bfloat16_names_the_flag(small_file: Path, tmp_path: Path) -> None:
    if products.bf16_available():
        pytest.skip("this CPU has AVX512_BF16: bfloat16 runs")
    done = rnnplay(["train", str(small_file), "--precision", "bfloat16", "--steps", "1"], tmp_path)
    assert done.stderr == f"rnnplay: error: --precision bfloat16 {NO_BF16} (--precision float32, the default)\n"
