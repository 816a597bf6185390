"""A seed typed while a training step runs long says at once that it waits for the step, and Ctrl+C stops the training.

A seed typed beside a step that takes long (a large model, a busy machine, a plugin's cell that blocks) waited
without a word until the stall line came, 30 s later (``$RNNPLAY_STEP_STALL_SECONDS``), and Ctrl+C meanwhile did
nothing it said. rnnplay-hang (tests/fixtures, pip-installed for real) holds its second training step until the test
lets it go; the stall time is made long, so that only the new line can be what the user sees.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import pytest
from child_env import child_env
from pilot_helpers import messages, type_line, until
from plugin_fixtures import load_hang, pip_install_fixtures
from waiting import wait_for

from rnnplay.plugins.host import reset_host
from rnnplay.session.events import Message
from rnnplay.session.session import Session
from rnnplay.ui.tui import RnnplayApp

TIMEOUT = 60  # a bound that catches a hang, not a speed claim
SMALL = "hidden=8 layers=1 batch=2 seq=8 steps=100000"
WAITS = "this waits for training step 2 to end; Ctrl+C stops the training after that step, and this runs then"
STOPPING = "stopping the training after step 2; what you typed runs then"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return pip_install_fixtures(["rnnplay-hang"], tmp_path_factory.mktemp("hang"))


@pytest.fixture
def hang(site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """This process loads rnnplay-hang afresh, its second training step held until the test lets it go."""
    monkeypatch.setenv("RNNPLAY_STEP_STALL_SECONDS", "1000")
    monkeypatch.setenv("HANG_AFTER", "1")
    monkeypatch.setenv("HANG_MARK", str(tmp_path / "mark"))
    module = load_hang(site, monkeypatch)
    yield module
    module.RELEASE.set()
    reset_host()


async def test_the_app_says_a_seed_waits_for_the_step_and_esc_stops_the_training(
        hang: ModuleType, tiny_path: Path, small_file: Path, tmp_path: Path) -> None:
    session = Session()
    session.load(str(tiny_path))
    app = RnnplayApp(session)
    try:
        async with app.run_test() as pilot:
            await type_line(pilot, f"/train {small_file} cell=stuck {SMALL} out={tmp_path / 'run.npz'}")
            await until(pilot, (tmp_path / "mark").exists)  # step 2 under way, and held
            await type_line(pilot, "to be")
            await until(pilot, lambda: WAITS in messages(app, "info"))
            await pilot.press("escape")
            await until(pilot, lambda: STOPPING in messages(app, "info"))
            hang.RELEASE.set()
            await until(pilot, lambda: any(t.seed == "to be" and t.ended == "done" for t in session.turns))
            await until(pilot, lambda: any(m.startswith("training stopped at step 2") for m in messages(app, "info")))
    finally:
        hang.RELEASE.set()
        job = session.training
        if job is not None and job.thread is not None:
            job.thread.join(TIMEOUT)


def test_the_piped_repl_says_a_seed_waits_for_the_step_and_ctrl_c_stops_the_training(
        site: Path, tiny_path: Path, small_file: Path, tmp_path: Path) -> None:
    mark, release = tmp_path / "mark", tmp_path / "release"
    env = child_env(site, RNNPLAY_LOAD_PLUGINS="rnnplay-hang", RNNPLAY_STEP_STALL_SECONDS="1000", HANG_AFTER="1",
                    HANG_MARK=str(mark), HANG_RELEASE=str(release), XDG_DATA_HOME=str(tmp_path / "data"))
    with piped_repl(["-m", "rnnplay", "repl", str(tiny_path)], env, tmp_path, release) as (proc, lines):
        seed_beside_held_step(proc, lines, f"/train {small_file} cell=stuck {SMALL} out=run.npz", mark)
        wait_for(lambda: any(STOPPING in line for line in lines), "the training to be stopping", TIMEOUT)
        seed_runs(proc, lines, release)
    assert any(line.startswith("training stopped at step 2") for line in lines), lines


@contextmanager
def piped_repl(argv: list[str], env: dict[str, str], cwd: Path,
               release: Path) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """``python ARGV`` (a REPL reading a pipe) and the list its stdout's lines go into as they come; at the end the
    held step is let go and the process killed if it is still there."""
    proc = subprocess.Popen([sys.executable, *argv], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, cwd=cwd, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        yield proc, lines
    finally:
        release.touch()
        if proc.poll() is None:
            proc.kill()
    reader.join(TIMEOUT)


def typed(proc: subprocess.Popen[str], line: str) -> None:
    assert proc.stdin is not None
    proc.stdin.write(line + "\n")
    proc.stdin.flush()


def seed_beside_held_step(proc: subprocess.Popen[str], lines: list[str], train: str, mark: Path) -> None:
    """``train`` typed, its step 2 held (``mark`` made), a seed typed beside it and told it waits, then Ctrl+C."""
    typed(proc, train)
    wait_for(mark.exists, "step 2 under way", TIMEOUT)
    typed(proc, "to be")
    wait_for(lambda: any(WAITS in line for line in lines), "the line that the seed waits", TIMEOUT)
    proc.send_signal(signal.SIGINT)


def seed_runs(proc: subprocess.Popen[str], lines: list[str], release: Path) -> None:
    """The held step let go: the seed runs, and the REPL ends at the end of its input."""
    release.touch()
    wait_for(lambda: any(line.startswith("to be") for line in lines), "the seed to run", TIMEOUT)
    assert proc.stdin is not None
    proc.stdin.close()
    assert proc.wait(TIMEOUT) == 0, proc.stderr.read() if proc.stderr else ""


# The REPL with rnnplay's own LSTM made slow by the test itself (no plugin): its second training step waits for a file.
SLOW_LSTM = """
import os, sys, threading, time
from pathlib import Path
from rnnplay.core.cells.lstm import LSTMCell
from rnnplay.ui.cli import run
forward, steps = LSTMCell.forward, []
def held(self, *args, **kwargs):
    if threading.current_thread().name == "rnnplay-train":
        steps.append(1)
        if len(steps) == 2:
            Path(os.environ["HANG_MARK"]).touch()
            while not Path(os.environ["HANG_RELEASE"]).exists():
                time.sleep(0.05)
    return forward(self, *args, **kwargs)
LSTMCell.forward = held
sys.exit(run())
"""


def test_ctrl_c_beside_a_slow_step_of_a_built_in_cell_says_it_is_slow_not_that_it_never_checks(
        tiny_path: Path, small_file: Path, tmp_path: Path) -> None:
    """Past the stop's grace the REPL said 'the cell 'lstm' of rnnplay never checks for a stop': rnnplay's own
    cells always return, so it is said to be slow, as the stall line says."""
    mark, release = tmp_path / "mark", tmp_path / "release"
    env = child_env(RNNPLAY_STEP_STALL_SECONDS="1000", HANG_MARK=str(mark), HANG_RELEASE=str(release),
                    XDG_DATA_HOME=str(tmp_path / "data"))
    with piped_repl(["-c", SLOW_LSTM, "repl", str(tiny_path)], env, tmp_path, release) as (proc, lines):
        seed_beside_held_step(proc, lines, f"/train {small_file} from=new cell=lstm {SMALL} out=run.npz", mark)
        said = wait_for(lambda: next((line for line in lines if line.startswith("it ")), None),
                        "the line that the turn has not stopped", TIMEOUT)
        assert said.rstrip() == ("it has not stopped yet: the cell 'lstm' of rnnplay is slow here (a large model, a "
                                 "busy machine, memory short) and may yet return; Ctrl+C again leaves rnnplay")
        seed_runs(proc, lines, release)


def test_a_seed_beside_a_held_final_validation_says_it_waits_for_the_validation(
        hang: ModuleType, tiny_path: Path, small_file: Path, tmp_path: Path) -> None:
    """It said it waited for 'training step 2' and would stop 'after step 2', of a run of one step whose final
    validation held the weights."""
    session = Session()
    session.load(str(tiny_path))
    said: list[str] = []
    session.subscribe(lambda e: said.append(e.text) if isinstance(e, Message) else None)
    seed = threading.Thread(target=session.submit, args=("to be",), daemon=True)
    try:
        session.submit(f"/train {small_file} cell=stuck hidden=8 layers=1 batch=2 seq=8 steps=1 "
                       f"out={tmp_path / 'run.npz'}")
        wait_for((tmp_path / "mark").exists, "the final validation under way", TIMEOUT)
        seed.start()
        wait_for(lambda: "this waits for the validation after step 1 to end; Ctrl+C stops the training after that "
                         "step, and this runs then" in said, "the wait named", TIMEOUT)
        assert session.cancel()
        assert said[-1] == "stopping the training after step 1; what you typed runs then"
        hang.RELEASE.set()
        seed.join(TIMEOUT)
        assert any(t.seed == "to be" and t.ended == "done" for t in session.turns)
    finally:
        hang.RELEASE.set()
        job = session.training
        if job is not None and job.thread is not None:
            job.thread.join(TIMEOUT)
