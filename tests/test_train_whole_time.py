"""`rnnplay train --time N` counts the whole command, as a user times it: from the process's start (Python's start-up
and the imports, which a starved machine once took 46 s over) to its exit (the interpreter's teardown once took 33 s);
a budget with no time left for a final validation worth the name says so instead of printing a loss on one character.

Real subprocesses: a start-up made slow by sleeping before rnnplay is imported, as a starved machine makes it.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from rnnplay.models.bundled import load_model

TINY = ["--cell", "rnn", "--layers", "1", "--hidden", "16", "--batch-size", "4", "--seq-length", "16"]
# `python -m rnnplay ARGS`, after a sleep of argv[1] seconds, with an object whose deletion (in the interpreter's
# teardown of __main__) says so on stderr
SLOW_START = """\
import runpy, sys, time
class Torn:
    def __del__(self):
        sys.stderr.write("interpreter teardown\\n")
torn = Torn()
time.sleep(float(sys.argv.pop(1)))
runpy.run_module("rnnplay", run_name="__main__")
"""


def train_after(sleep: float, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", SLOW_START, str(sleep), "train", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_the_budget_counts_the_start_up(small_file: Path, tmp_path: Path) -> None:
    """A start-up that takes longer than the budget leaves no time to train: the command makes no step and says so in
    one line, and saves nothing (a model of 0 steps replaced the checkpoint --out named), where the clock started
    after the imports and the run trained its 2 s after them."""
    assert train_after(0.0, str(small_file), *TINY, "--steps", "1", "--out", "m.npz", cwd=tmp_path).returncode == 0
    had = (tmp_path / "m.npz").read_bytes()  # the user's checkpoint
    r = train_after(3.0, str(small_file), *TINY, "--time", "2", "--out", "m.npz", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith(("rnnplay:", "note:", "saved"))]
    assert errors == [errors[-1]] and "no training step fitted in the --time budget of 2 s" in errors[0], r.stderr
    assert "m.npz is as it was" in errors[0], r.stderr
    assert (tmp_path / "m.npz").read_bytes() == had


def test_a_budget_that_holds_steps_counts_the_start_up_in_its_seconds(small_file: Path, tmp_path: Path) -> None:
    """The seconds a checkpoint records (what a resume counts as spent) are the command's, its start-up included, so
    all but its save and exit: its steps end early enough for the command, 2 s of sleep included, to keep to its
    budget. It leaves without the interpreter's teardown, which came after the budget's end."""
    began = time.monotonic()
    r = train_after(2.0, str(small_file), *TINY, "--time", "6", "--out", "m.npz", cwd=tmp_path)
    wall = time.monotonic() - began
    assert r.returncode == 0, r.stderr
    training = load_model(tmp_path / "m.npz").training
    assert training["step"] > 0 and training["seconds"] >= wall - 1.5, (training["seconds"], wall)
    assert "interpreter teardown" not in r.stderr, r.stderr


def test_an_error_exit_keeps_its_code_when_it_leaves_at_once(small_file: Path, tmp_path: Path) -> None:
    """A train command that fails in one line still exits 1 (and one that succeeds 0, above), the teardown skipped."""
    r = train_after(0.0, str(small_file), *TINY, "--time", "6", "--out", str(tmp_path), cwd=tmp_path)
    assert r.returncode == 1 and r.stderr.startswith("rnnplay: error: ") and r.stderr.count("\n") == 1, r.stderr
