"""`rnnplay train` left during a validation that does not return: the run saved at its last finished step.

A validation only reads the weights, so the run between two steps is whole while one runs. Yet Ctrl-C, SIGTERM and
SIGHUP each only asked the trainer to stop "after this step", a step that was not running: past a validation that
never returned (or a very long one) nothing was saved; only once the stall line had come did a second Ctrl-C leave,
saying "no checkpoint of this run was saved". rnnplay-hang (tests/fixtures, pip-installed for real) holds the
forward of the validation after step 3 (``HANG_AFTER=3``: the steps' three forwards return) until the test lets it
go (``HANG_RELEASE``); `rnnplay train` runs as a real process, gets real signals, and its checkpoint is loaded.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
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
LEFT = "{name}: left the validation after step 3 behind, unfinished; interrupted at step 3: saved run.npz; {hint}"
HINTS = {"final": "its budget (--steps 3) is spent: to train on, --resume run.npz with a larger --steps or --epochs",
         "periodic": "continue with --resume run.npz"}  # after the final validation, a plain --resume is refused
STALLED = re.compile(r"the validation after step 3 has not returned for \d+ s: the cell 'stuck' from rnnplay-hang may "
                     r"never return; Ctrl-C twice leaves without it, saving the run at step 3\n")
WAITING = ("Ctrl-C: waiting for the validation after step 3 to end, then saving run.npz; Ctrl-C again saves the run "
           "at step 3 now and leaves")
BUDGETS = {"final": ["--steps", "3"], "periodic": ["--steps", "100", "--val-every", "3"]}  # the validation after 3


@pytest.fixture
def stuck(hang_site: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process knows the cell 'stuck', to load the checkpoints the runs save."""
    with hang_loaded(hang_site, monkeypatch):
        yield


class Run:
    """``rnnplay train small.txt FLAGS ARGS --out run.npz`` in ``folder``, its stderr in a file; the validation after
    step 3 held until :meth:`release` (at the end in any case)."""

    def __init__(self, folder: Path, hang_site: Path, *args: str, stall: str = "1000", status: str = "30") -> None:
        self.folder, self.err = folder, folder / "stderr.txt"
        env = child_env(hang_site, RNNPLAY_LOAD_PLUGINS="rnnplay-hang", RNNPLAY_STEP_STALL_SECONDS=stall,
                        RNNPLAY_STATUS_SECONDS=status, HANG_AFTER="3", HANG_MARK=str(folder / "mark"),
                        HANG_RELEASE=str(folder / "release"), RNNPLAY_JIT="0")
        with self.err.open("w") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "rnnplay", "train", "small.txt", *FLAGS, *args,
                                          "--out", "run.npz"], cwd=folder, env=env, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=err)

    def held(self) -> None:
        """Once the validation after step 3 is under way (and held)."""
        wait_for(lambda: (self.folder / "mark").exists() or self.proc.poll() is not None, "the validation", TIMEOUT)
        assert self.proc.poll() is None, self.said()

    def said(self) -> str:
        return self.err.read_text()

    def release(self) -> None:
        (self.folder / "release").touch()

    def ended(self) -> int:
        try:
            return self.proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self.release()
            self.proc.kill()
            pytest.fail(f"rnnplay train did not end within {TIMEOUT} s of the signal; it said:\n{self.said()}")

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(TIMEOUT)


@pytest.fixture
def folder(tmp_path: Path, small_text: str) -> Path:
    (tmp_path / "small.txt").write_text(small_text)
    return tmp_path


def step_of(path: Path) -> int:
    return load_model(path).meta["training"]["step"]


@pytest.mark.parametrize("leave", ["ctrl-c-twice", "sigterm", "sighup"])
@pytest.mark.parametrize("validation", ["final", "periodic"])
def test_leaving_during_a_held_validation_saves_the_run_at_its_last_step(
        stuck: None, hang_site: Path, folder: Path, leave: str, validation: str) -> None:
    """The final validation of a 3-step run, or the one every 3 steps of a longer run: the first Ctrl-C says what it
    waits for; a second one, or the first SIGTERM or SIGHUP, saves the run at step 3 and leaves with 128 + N."""
    with Run(folder, hang_site, *BUDGETS[validation]) as run:
        run.held()
        signum = signal.SIGINT if leave == "ctrl-c-twice" else getattr(signal, leave.upper())
        run.proc.send_signal(signum)
        if leave == "ctrl-c-twice":
            wait_for(lambda: WAITING in run.said(), "the first Ctrl-C's line", TIMEOUT)
            run.proc.send_signal(signal.SIGINT)
        assert run.ended() == 128 + signum
    said = run.said()
    name = {"ctrl-c-twice": "Ctrl-C"}.get(leave, leave.upper())
    assert said.rstrip().splitlines()[-1] == LEFT.format(name=name, hint=HINTS[validation]), said
    assert "Traceback" not in said and "stopping after this step" not in said
    assert step_of(folder / "run.npz") == 3 and not list(folder.glob("*.lock"))


@pytest.mark.parametrize("validation", ["final", "periodic"])
def test_a_validation_that_returns_after_the_first_ctrl_c_ends_the_run_at_that_step(
        stuck: None, hang_site: Path, folder: Path, validation: str) -> None:
    """What the first Ctrl-C's line says comes true: the validation ends, and the run is saved after it as
    interrupted, exit 130. The final validation's Ctrl-C ended the run as finished, exit 0 ("saved run.npz after 3
    steps"): the trainer forgot the stop asked during it."""
    with Run(folder, hang_site, *BUDGETS[validation]) as run:
        run.held()
        run.proc.send_signal(signal.SIGINT)
        wait_for(lambda: WAITING in run.said(), "the first Ctrl-C's line", TIMEOUT)
        run.release()
        assert run.ended() == 130, run.said()
    said = run.said()
    assert said.rstrip().splitlines()[-1] == f"interrupted at step 3: saved run.npz; {HINTS[validation]}"
    assert "Traceback" not in said, said
    assert load_model(folder / "run.npz").meta["training"]["history"]["val_steps"] == [3]


def test_the_line_that_says_the_run_is_at_work_names_the_held_validation(
        stuck: None, hang_site: Path, folder: Path) -> None:
    """Off a terminal, a line comes when none has for RNNPLAY_STATUS_SECONDS. During the validation after step 3,
    whose status line is not shown yet, it said "still training: 1s since step 2", a step that had ended."""
    with Run(folder, hang_site, "--steps", "100", "--val-every", "3", status="0.2") as run:
        run.held()
        before = len(run.said())

        def still() -> list[str]:  # the lines said since the validation began (the first may be from step 3)
            return [line for line in run.said()[before:].splitlines() if line.startswith("still ")]

        wait_for(lambda: len(still()) >= 2, "two lines that the run is at work", TIMEOUT)
    assert re.fullmatch(r"still running the validation after step 3: \S+ since step 2", still()[-1]), run.said()


def test_past_the_stall_line_ctrl_c_twice_saves_the_run_and_it_resumes_as_if_never_stopped(
        stuck: None, hang_site: Path, folder: Path) -> None:
    """Once the held validation was said to have stalled, Ctrl-C twice left with "no checkpoint of this run was
    saved". Now the run is saved at step 3, and resumed to step 6 it has the weights of a run never stopped."""
    with Run(folder, hang_site, "--steps", "6", "--val-every", "3", stall="0.5") as run:
        run.held()
        wait_for(lambda: STALLED.search(run.said()), "the stall line", TIMEOUT)
        run.proc.send_signal(signal.SIGINT)
        wait_for(lambda: WAITING in run.said(), "the first Ctrl-C's line", TIMEOUT)
        run.proc.send_signal(signal.SIGINT)
        assert run.ended() == 130
    assert run.said().rstrip().splitlines()[-1] == LEFT.format(name="Ctrl-C", hint=HINTS["periodic"])
    assert step_of(folder / "run.npz") == 3
    env = child_env(hang_site, RNNPLAY_LOAD_PLUGINS="rnnplay-hang", HANG_AFTER=str(10**6), RNNPLAY_JIT="0")  # none held
    for args in (["--resume", "run.npz"], ["--steps", "6", "--val-every", "3", "--out", "straight.npz"]):
        done = subprocess.run([sys.executable, "-m", "rnnplay", "train", "small.txt", *FLAGS, *args], cwd=folder,
                              env=env, capture_output=True, text=True, timeout=TIMEOUT)
        assert done.returncode == 0, done.stderr
    resumed, straight = (load_model(folder / name) for name in ("run.npz", "straight.npz"))
    assert resumed.meta["training"]["step"] == straight.meta["training"]["step"] == 6
    for name, value in straight.model.params.items():
        assert np.array_equal(resumed.model.params[name], value), name



@pytest.mark.parametrize("leave", ["validation-sigterm", "validation-ctrl-c-twice", "step-ctrl-c-thrice"])
def test_a_run_that_leaves_at_once_still_draws_its_plot(stuck: None, hang_site: Path, folder: Path,
                                                        leave: str) -> None:
    """--plot was drawn only on the way out of a run that ended; one left past a held validation (SIGTERM, Ctrl-C
    twice) or a hung step (Ctrl-C three times) ends with ``os._exit`` from the signal handler, and drew nothing."""
    budget = BUDGETS["periodic"] if leave.startswith("validation") else ["--steps", "100"]  # step 4 hangs
    with Run(folder, hang_site, *budget, "--plot", "loss.svg") as run:
        run.held()
        if leave == "validation-sigterm":
            run.proc.send_signal(signal.SIGTERM)
        for press in range(2 if leave == "validation-ctrl-c-twice" else 3 if leave == "step-ctrl-c-thrice" else 0):
            run.proc.send_signal(signal.SIGINT)
            wait_for(lambda n=press + 1: run.said().count("\nCtrl-C: ") >= n or run.proc.poll() is not None,
                     "its line", TIMEOUT)
        assert run.ended() == (143 if leave == "validation-sigterm" else 130)
    said = run.said()
    assert "wrote the loss curves to loss.svg" in said and "Traceback" not in said, said
    root = ET.parse(folder / "loss.svg").getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg" and not list(folder.glob("*.lock"))
