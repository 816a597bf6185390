"""`rnnplay train` whose plugin cell is held in compiled code: Ctrl-C twice, or SIGTERM, saves the last finished step.

Python runs a signal's handler on the main thread between two bytecodes; a cell that never returns to the
interpreter (a C call retrying on EINTR, a numba loop) never let it run, so Ctrl-C, SIGTERM and SIGHUP did nothing
at all and only SIGKILL ended the run, its steps since the last checkpoint lost. rnnplay-hang (tests/fixtures,
pip-installed for real) with ``HANG_DOES=pause`` holds the forward of training step 4 in libc's ``pause()`` through
ctypes, the signals blocked in its thread; `rnnplay train` runs as a real process and gets real signals.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from child_env import child_env
from plugin_fixtures import hang_loaded
from waiting import wait_for

from rnnplay.models.bundled import load_model

TIMEOUT = 60  # a bound that catches a hang, not a speed claim
FLAGS = ["--cell", "stuck", "--hidden", "8", "--layers", "1", "--batch-size", "2", "--seq-length", "8"]
HELD = ("Ctrl-C: stopping after this step, then saving run.npz; training step 4 is held in compiled code, so Ctrl-C "
        "again saves the run at step 3 now and leaves")
LEFT = ("{}: left training step 4 behind, unfinished; interrupted at step 3: saved run.npz; continue with --resume "
        "run.npz")


@pytest.fixture
def stuck(hang_site: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process knows the cell 'stuck', to load the checkpoints the runs save."""
    with hang_loaded(hang_site, monkeypatch):
        yield


def train(folder: Path, hang_site: Path, *args: str, hang: bool = True) -> subprocess.Popen[bytes]:
    (folder / "small.txt").write_text("".join(f"line {i}: to be, or not to be, that is the question.\n"
                                              for i in range(150)))
    env = child_env(hang_site, RNNPLAY_LOAD_PLUGINS="rnnplay-hang", RNNPLAY_STEP_STALL_SECONDS="1000",
                    HANG_AFTER="3" if hang else "1000", HANG_DOES="pause", HANG_MARK=str(folder / "mark"),
                    RNNPLAY_JIT="0")
    with (folder / "stderr.txt").open("w") as err:
        return subprocess.Popen([sys.executable, "-m", "rnnplay", "train", "small.txt", *FLAGS, *args], cwd=folder,
                                env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)


def held_in_pause(proc: subprocess.Popen[bytes]) -> bool:
    """Whether the main thread has blocked SIGINT (the cell's next call is pause(), for good)."""
    status = Path(f"/proc/{proc.pid}/task/{proc.pid}/status").read_text()
    blocked = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigBlk:")), 16)
    return bool(blocked & (1 << (signal.SIGINT - 1)))


def left(proc: subprocess.Popen[bytes], folder: Path, signals: list[signal.Signals]) -> tuple[int, list[str]]:
    """The exit status and stderr's lines of ``proc`` sent ``signals`` while training step 4 is held in C; killed
    if it does not end (as it did not)."""
    said = folder / "stderr.txt"
    try:
        wait_for(lambda: (folder / "mark").exists() and held_in_pause(proc), "training step 4 held", TIMEOUT)
        for n, sig in enumerate(signals):
            proc.send_signal(sig)
            if n < len(signals) - 1:
                wait_for(lambda: HELD in said.read_text(), "the first Ctrl-C's line", TIMEOUT)
        code = proc.wait(TIMEOUT)
    finally:
        proc.kill()
        proc.wait()
    return code, [line for line in said.read_text().splitlines() if line]


@pytest.mark.parametrize("signals", [[signal.SIGINT, signal.SIGINT], [signal.SIGTERM]], ids=["ctrl-c-twice", "term"])
def test_a_step_held_in_compiled_code_is_left_with_the_run_saved(signals: list[signal.Signals], stuck: None,
                                                                  hang_site: Path, tmp_path: Path) -> None:
    code, lines = left(train(tmp_path, hang_site, "--steps", "20", "--out", "run.npz"), tmp_path, signals)
    name = "Ctrl-C" if signals[0] == signal.SIGINT else "SIGTERM"
    assert (code, lines[-1]) == (128 + signals[0], LEFT.format(name)), lines
    assert load_model(tmp_path / "run.npz").meta["training"]["step"] == 3


def test_the_run_saved_past_a_held_step_resumes_as_if_never_interrupted(stuck: None, hang_site: Path,
                                                                         tmp_path: Path) -> None:
    """The held step had taken its batch: the checkpoint holds the data position and RNG from before it."""
    held, whole = tmp_path / "held", tmp_path / "whole"
    held.mkdir()
    whole.mkdir()
    assert left(train(held, hang_site, "--steps", "6", "--out", "run.npz"), held, [signal.SIGTERM])[0] == 143
    resumed = train(held, hang_site, "--resume", "run.npz", hang=False)
    straight = train(whole, hang_site, "--steps", "6", "--out", "run.npz", hang=False)
    assert (resumed.wait(TIMEOUT), straight.wait(TIMEOUT)) == (0, 0)
    a, b = load_model(held / "run.npz"), load_model(whole / "run.npz")
    assert a.meta["training"]["step"] == b.meta["training"]["step"] == 6
    for name, value in a.model.params.items():
        np.testing.assert_array_equal(value, b.model.params[name], err_msg=name)
