"""A validation that takes long but moves: its count of characters on the status line, and no stall line.

`rnnplay train big.txt --val-max-chars 30000000` showed "100% step 2 … ETA 0s" for the whole of its final
validation, then after 30 s "the validation after step 2 has not returned for 30 s: the cell 'lstm' of rnnplay is
slow here …", though it read its characters all along. The validation's chunks are made slow here for real:
rnnplay-hang's cell 'stuck' (tests/fixtures, pip-installed) with ``HANG_DOES=slow`` sleeps in each forward after
the first (the training step's), far less long than the stall time, so the validation as a whole outlasts it.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from child_env import child_env
from on_a_terminal import spawn

TIMEOUT = 120  # a bound that catches a hang, not a speed claim
STALL = "3"  # seconds without a sign of life before the stall line; the validation's chunks take 0.25 s each
FLAGS = ["--cell", "stuck", "--hidden", "8", "--layers", "1", "--steps", "1", "--val-fraction", "0.5"]


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """400,000 characters: 200,000 validated, in 25 chunks of 8,192 (over 6 s of sleep in all)."""
    path = tmp_path / "big.txt"
    path.write_text("".join(f"line {i % 1000:03}: to be, or not to be, that is the question.\n"
                            for i in range(400_000 // 50))[:400_000])
    return path


def environment(hang_site: Path, tmp_path: Path) -> dict[str, str]:
    return child_env(hang_site, RNNPLAY_LOAD_PLUGINS="rnnplay-hang", HANG_AFTER="1", HANG_DOES="slow", HANG_SLOW="0.25",
                     RNNPLAY_STEP_STALL_SECONDS=STALL, RNNPLAY_STATUS_SECONDS="1", XDG_DATA_HOME=str(tmp_path / "d"),
                     RNNPLAY_CACHE_DIR=str(tmp_path / "cache"), RNNPLAY_JIT="0")


def test_a_long_validation_says_how_far_it_got_and_is_never_called_stalled(hang_site: Path, tmp_path: Path,
                                                                          corpus: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "rnnplay", "train", str(corpus), *FLAGS, "--out",
                           str(tmp_path / "v.npz")], env=environment(hang_site, tmp_path), capture_output=True,
                          text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    assert "the validation after step 1 has not returned" not in done.stderr
    counts = re.findall(r"^still running the validation after step 1, ([\d,]+) of 199,999 characters scored: ",
                        done.stderr, re.M)
    assert counts, done.stderr
    assert (tmp_path / "v.npz").exists()


def test_on_a_terminal_the_status_line_counts_the_validations_characters(hang_site: Path, tmp_path: Path,
                                                                         corpus: Path) -> None:
    env = {**environment(hang_site, tmp_path), "TERM": "xterm-256color"}
    with spawn(["train", str(corpus), *FLAGS, "--out", str(tmp_path / "v.npz")], env) as child:
        child.expect(rb"running the validation after step 1: [\d,]+ of 199,999 characters scored")
        child.expect_exact(b"saved ")
        rest = child.read()
        assert child.wait() == 0
    assert b"the validation after step 1 has not returned" not in child.before + rest
