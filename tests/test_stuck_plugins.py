"""Plugins that hang, or fail at the first step, must not cost the user their session.

rnnplay-hang (tests/fixtures) is pip-installed for real: its cell 'stuck' waits inside a training
``forward`` on a ``threading.Event`` the test sets only at its teardown (or raises, or gives NaN, as
``HANG_DOES`` says), its sampler 'stuck' and its command /stuck wait on the same event. The session, the
app (Pilot), the REPL and `rnnplay train` (in pseudo-terminals) must name what hangs, refuse what
cannot run in one line, and leave when asked, saying where the run's last checkpoint is. The stall
times are made short through ``$RNNPLAY_STEP_STALL_SECONDS`` and the stall watch's constants.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from child_env import child_env
from on_a_terminal import ended, on_a_terminal, run_line, spawn
from pilot_helpers import type_line, until
from plugin_fixtures import hang_loaded
from pty_screen import environment
from textual.widgets import Static
from waiting import wait_for

from rnnplay.core.errors import RnnplayError
from rnnplay.core.train_config import ModelSpec, TrainConfig
from rnnplay.corpora import load_corpus
from rnnplay.models.bundled import load_model
from rnnplay.session import stall_watch, training_job
from rnnplay.session.events import Event, Message, Working
from rnnplay.session.session import Session
from rnnplay.session.step_watch import StepWatch
from rnnplay.session.training_runs import new_run
from rnnplay.ui.tui import RnnplayApp

TIMEOUT = 60  # a bound that catches a hang, not a speed claim
SMALL = "hidden=8 layers=1 batch=2 seq=8 steps=100000"
STALL = r"training step (\d+) has not returned for \d+ s: the cell 'stuck' from rnnplay-hang may never return; "


@pytest.fixture
def hang(hang_site: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """This process loads rnnplay-hang afresh; whatever waits on its event is let go at the end."""
    with hang_loaded(hang_site, monkeypatch) as module:
        yield module


class Heard:
    """A session with every event it emits kept."""

    def __init__(self, model: Path) -> None:
        self.session = Session()
        self.session.load(str(model))
        self.events: list[Event] = []
        self.session.subscribe(self.events.append)

    def said(self, level: str) -> list[str]:
        return [e.text for e in list(self.events) if isinstance(e, Message) and e.level == level]

    def line(self, level: str, pattern: str) -> str:
        """The first ``level`` message that ``pattern`` matches, once it comes."""
        return wait_for(lambda: next((t for t in self.said(level) if re.search(pattern, t)), None), pattern, TIMEOUT)

    def in_thread(self, call: object, *args: object) -> object:
        """``call(*args)`` on a thread of its own, which must end (it blocked for good before)."""
        answer: list[object] = []
        thread = threading.Thread(target=lambda: answer.append(call(*args)), daemon=True)  # type: ignore[operator]
        thread.start()
        thread.join(TIMEOUT)
        assert not thread.is_alive(), f"{call} never returned"
        return answer[0]

    def finish(self, hang: ModuleType) -> None:
        """Let the plugin go and the training thread end, so that nothing of the test runs past it."""
        hang.RELEASE.set()
        job = self.session.training
        if job is not None and job.thread is not None:
            job.thread.join(TIMEOUT)


def test_a_step_that_never_returns_is_named_a_seed_refused_and_leaving_names_the_last_checkpoint(
        hang: ModuleType, tiny_path: Path, small_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A hung step held the model lock: /stop said it would stop after the step and nothing more came, seeds
    vanished, and leaving waited for good."""
    monkeypatch.setenv("RNNPLAY_STEP_STALL_SECONDS", "0.5")
    monkeypatch.setenv("HANG_AFTER", "3")  # steps 1 to 3 return, each saved
    heard, out = Heard(tiny_path), tmp_path / "run.npz"
    try:
        heard.session.submit(f"/train {small_file} cell=stuck {SMALL} checkpoint_every=1 out={out}")
        step = re.match(STALL, heard.line("warning", STALL + "Ctrl\\+D or /quit leaves rnnplay without it$"))
        assert step is not None
        heard.in_thread(heard.session.submit, "ROMEO")
        assert re.fullmatch(f"the model is busy, so this is not run: {STALL}.*", heard.said("error")[-1])
        heard.session.submit("/stop")
        assert re.fullmatch(STALL + ".*", heard.said("warning")[-1])  # not "stopping after this step"
        assert heard.in_thread(heard.session.close) is True
        assert heard.session.runner.left_behind()
        saved = int(step.group(1)) - 1
        assert heard.said("warning")[-1] == (f"left training step {saved + 1} behind, unfinished (the cell 'stuck' "
                                             f"from rnnplay-hang has not returned); the run's last checkpoint is "
                                             f"{out}, at step {saved}")
        assert load_model(out).meta["training"]["step"] == saved
    finally:
        heard.finish(hang)


@pytest.mark.parametrize("does", ["raise", "interrupt", "exit", "nan"])
def test_a_training_that_makes_no_step_leaves_the_loaded_model_loaded(
        hang: ModuleType, does: str, tiny_path: Path, small_file: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The session swapped its model for the broken cell's untrained one, whose file was not on disk."""
    monkeypatch.setenv("HANG_DOES", does)
    heard = Heard(tiny_path)
    try:
        heard.session.submit(f"/train {small_file} cell=stuck {SMALL} out={tmp_path / 'run.npz'}")
        heard.line("info", "^no step of the training went through, so nothing was saved; tiny.npz is loaded, "
                           "as before$")
        assert not (tmp_path / "run.npz").exists()
        assert (heard.session.model_name, heard.session.model_path) == ("tiny.npz", tiny_path)
        assert dict(heard.session.card())["cell"] == "lstm"
        errors = len(heard.said("error"))
        assert heard.session.generate("To be") and len(heard.said("error")) == errors  # the next seed runs
    finally:
        heard.finish(hang)


def test_a_sampler_that_hangs_does_not_hold_the_training_back(
        hang: ModuleType, tiny_path: Path, small_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each step waited for the hung turn to give way (GIVE_WAY_SECONDS, made longer than the test here): the
    training crawled for as long as the sampler hung. And Esc's line named no plugin."""
    monkeypatch.setattr(training_job, "GIVE_WAY_SECONDS", 10 * TIMEOUT)
    monkeypatch.setattr(stall_watch, "STALL_SECONDS", 0.2)
    heard = Heard(tiny_path)
    try:
        heard.session.submit(f"/train {small_file} {SMALL} out={tmp_path / 'run.npz'}")
        heard.session.submit("/sampler stuck")
        threading.Thread(target=heard.session.submit, args=("ROMEO",), daemon=True).start()
        wait_for(lambda: any(isinstance(e, Working) and "stuck is still choosing" in e.what for e in heard.events),
                 "the turn to go quiet", TIMEOUT)
        job = heard.session.training
        assert job is not None
        start = job.run.trainer.step
        wait_for(lambda: job.run.trainer.step >= start + 5, "steps beside the hung turn", TIMEOUT)
        assert heard.session.at_work.does_not_stop() == ("it does not stop: the sampler 'stuck' from rnnplay-hang "
                                                         "never checks for a stop")
        heard.session.cancel()
        heard.session.runner.stop()
    finally:
        heard.finish(hang)


async def test_the_app_names_a_command_that_hangs_and_esc_names_it_again(
        hang: ModuleType, tiny_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """/stuck showed no working bar and no word; Esc's line named no plugin."""
    monkeypatch.setattr(stall_watch, "STALL_SECONDS", 0.2)
    monkeypatch.setenv("RNNPLAY_STOP_GRACE_SECONDS", "0.2")
    session = Session()
    session.load(str(tiny_path))
    app = RnnplayApp(session)

    def working() -> str:
        line = app.query_one("#working")
        return str(app.query_one("#working-what", Static).render()) if line.has_class("active") else ""

    try:
        async with app.run_test() as pilot:
            await type_line(pilot, "/stuck")
            await until(pilot, lambda: working() == "/stuck (from rnnplay-hang) has not returned yet · Esc to stop")
            await pilot.press("escape")
            await until(pilot, lambda: working() == ("it does not stop: /stuck (from rnnplay-hang) never checks for a "
                                                     "stop · Ctrl+D leaves rnnplay"))
    finally:
        hang.RELEASE.set()


# -- front ends as a user starts them, in pseudo-terminals (tests/on_a_terminal.py) -----------------------------
@pytest.fixture
def env(hang_site: Path, tmp_path: Path) -> dict[str, str]:
    return child_env(hang_site, base=environment(tmp_path), RNNPLAY_STEP_STALL_SECONDS="1")


def test_the_repl_names_a_hung_command_and_ctrl_c_twice_leaves_with_130(env: dict[str, str], tmp_path: Path) -> None:
    """The REPL blocked with no word; Ctrl+C said 'a plugin never checks', and the second exited 0."""
    child = spawn(["repl"], env, tmp_path)
    try:
        child.expect_exact(b"type a few characters")
        child.send("/stuck\r")
        child.expect_exact(b"/stuck (from rnnplay-hang) has not returned yet")
        child.sendcontrol("c")
        child.expect_exact(b"it does not stop: /stuck (from rnnplay-hang) never checks for a stop; Ctrl+C again "
                           b"leaves rnnplay")
        child.sendcontrol("c")
        assert ended(child) == 130
    finally:
        child.close(force=True)


@pytest.mark.parametrize("leave", ["ctrl-d", "sigterm", "sighup"])
def test_the_repl_refuses_a_seed_beside_a_hung_step_and_leaves(env: dict[str, str], tmp_path: Path,
                                                               small_file: Path, leave: str) -> None:
    """A seed typed beside the hung step blocked for good, and Ctrl+D or a signal waited for the step for good."""
    child = spawn(["repl"], env, tmp_path)
    try:
        child.expect_exact(b"type a few characters")
        child.send(f"/train {small_file} from=new cell=stuck {SMALL} out={tmp_path / 'run.npz'}\r")
        child.expect(STALL.encode() + rb"Ctrl\+D or /quit leaves rnnplay without it")
        run_line(child, "ROMEO", b"the model is busy, so this is not run: training step 1 has not returned")
        if leave == "ctrl-d":
            child.sendeof()
        else:
            child.kill(getattr(signal, leave.upper()))
        child.expect_exact(b"left training step 1 behind, unfinished (the cell 'stuck' from rnnplay-hang has not "
                           b"returned); no checkpoint of this run was saved")
        assert ended(child) == {"ctrl-d": 130, "sigterm": 143, "sighup": 129}[leave]
    finally:
        child.close(force=True)


@pytest.mark.parametrize(("stall", "hang_after", "kept"), [
    ("1", "2", rb"the run's last checkpoint is run.npz, at step (\d+)"),
    ("1000", "0", rb"no checkpoint of this run was saved()"),
], ids=["after-the-stall-line", "third-ctrl-c"])
def test_rnnplay_train_leaves_a_hung_step_at_ctrl_c_again(env: dict[str, str], tmp_path: Path, small_file: Path,
                                                          stall: str, hang_after: str, kept: bytes,
                                                          hang: ModuleType) -> None:
    """Every Ctrl-C said 'still finishing this step'; only Ctrl-\\ ended it."""
    env = {**env, "RNNPLAY_STEP_STALL_SECONDS": stall, "HANG_AFTER": hang_after, "HANG_MARK": str(tmp_path / "mark")}
    child = spawn(["train", str(small_file), "--cell", "stuck", "--hidden", "8", "--layers", "1", "--batch-size",
                   "2", "--seq-length", "8", "--checkpoint-every", "1", "--out", "run.npz"], env, tmp_path)
    try:
        if stall == "1":
            child.expect(STALL.encode() + rb"Ctrl-C twice leaves without it")
        else:
            wait_for((tmp_path / "mark").exists, "the step that hangs", TIMEOUT)
        child.sendcontrol("c")
        child.expect_exact(b"Ctrl-C: stopping after this step")
        if stall == "1000":
            child.sendcontrol("c")
            child.expect_exact(b"still finishing this step; then run.npz is saved (a third one leaves without it)")
        child.sendcontrol("c")
        child.expect(rb"Ctrl-C: left training step (\d+) behind, unfinished \(the cell 'stuck' from rnnplay-hang has "
                     rb"not returned\); " + kept)
        hung, saved = child.match.groups()
        assert ended(child) == 130 and not list(tmp_path.glob("*.lock"))
        if saved:
            assert int(hung) == int(saved) + 1
            assert load_model(tmp_path / "run.npz").meta["training"]["step"] == int(saved)
        else:
            assert hung == b"1" and not (tmp_path / "run.npz").exists()
    finally:
        child.close(force=True)


@pytest.mark.parametrize("leave", ["ctrl-d", "sigterm", "sighup"])
def test_the_app_leaves_past_a_hung_step_naming_the_last_checkpoint(env: dict[str, str], tmp_path: Path,
                                                                   small_file: Path, leave: str) -> None:
    """Ctrl+D showed 'stopping the training and saving its checkpoint…' for good; /quit, Ctrl+C and SIGTERM did
    nothing; only kill -9 ended the app."""
    with on_a_terminal([], {**env, "HANG_AFTER": "2"}, tmp_path) as (proc, master, reader):
        os.write(master, f"/train {small_file} from=new cell=stuck {SMALL} checkpoint_every=1 out=run.npz\r".encode())
        wait_for(lambda: b"may never return" in reader.shown(), "the stall to be named", TIMEOUT)
        if leave == "ctrl-d":
            os.write(master, b"\x04")
        else:
            proc.send_signal(getattr(signal, leave.upper()))
        assert proc.wait(TIMEOUT) == {"ctrl-d": 130, "sigterm": 143, "sighup": 129}[leave]
        farewell = wait_for(lambda: re.search(rb"rnnplay: left training step (\d+) behind, unfinished \(the cell "
                                              rb"'stuck' from rnnplay-hang has not returned\); the run's last "
                                              rb"checkpoint is \S*run.npz, at step (\d+)", reader.shown()),
                            "the farewell on the shell's screen", TIMEOUT)
    hung, saved = (int(n) for n in farewell.groups())
    assert hung == saved + 1 and not list(tmp_path.glob("*.lock"))


def test_a_slow_step_of_a_built_in_cell_is_called_slow_not_stuck(tmp_path: Path, small_file: Path) -> None:
    """rnnplay's own cells always return: their steps past the stall time (a busy machine, a large model) are said
    to be slow and may yet return, and the run goes on to its end."""
    done = subprocess.run([sys.executable, "-m", "rnnplay", "train", str(small_file), "--hidden", "64", "--steps", "2",
                           "--out", str(tmp_path / "m.npz")], capture_output=True, text=True, timeout=TIMEOUT,
                          env={**os.environ, "RNNPLAY_STEP_STALL_SECONDS": "0.0001",
                               "RNNPLAY_JIT": "0"})  # the cell on numpy: no numba to import (no kernel is the claim)
    assert done.returncode == 0, done.stderr
    assert "the cell 'lstm' of rnnplay is slow here (a large model, a busy machine, memory short) and may yet return" \
        in done.stderr and "may never return" not in done.stderr and "returned after all" in done.stderr


VALIDATION = (r"the validation after step 3 has not returned for \d+ s: the cell 'stuck' from rnnplay-hang may never "
              r"return; Ctrl\+D or /quit leaves rnnplay without it, saving the run at step 3$")


def test_a_hung_final_validation_is_named_and_leaving_saves_the_finished_steps(
        hang: ModuleType, tiny_path: Path, small_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The final validation was called 'training step 4', a step there is not, and leaving past it lost the run's
    three finished steps: no checkpoint of it had been saved."""
    monkeypatch.setenv("RNNPLAY_STEP_STALL_SECONDS", "0.5")
    monkeypatch.setenv("HANG_AFTER", "3")  # steps 1 to 3 return; the final validation's forward waits
    heard, out = Heard(tiny_path), tmp_path / "run.npz"
    try:
        heard.session.submit(f"/train {small_file} cell=stuck hidden=8 layers=1 batch=2 seq=8 steps=3 out={out}")
        heard.line("warning", VALIDATION)
        heard.session.submit("/stop")
        assert re.fullmatch(VALIDATION, heard.said("warning")[-1])
        assert heard.in_thread(heard.session.close) is True
        assert heard.said("warning")[-1] == ("left the validation after step 3 behind, unfinished (the cell 'stuck' "
                                             f"from rnnplay-hang has not returned); the run's last checkpoint is "
                                             f"{out}, at step 3")
        assert load_model(out).meta["training"]["step"] == 3
    finally:
        heard.finish(hang)


@pytest.mark.parametrize(("steps", "every", "after", "then"), [(3, 0, 3, "the run ends"), (6, 2, 2, "the run goes on")])
def test_a_validation_that_returns_late_says_whether_the_run_goes_on(
        hang: ModuleType, steps: int, every: int, after: int, then: str, tiny_path: Path, small_file: Path,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """It said 'training step 4 returned after all; training goes on', and the training was done; a validation every
    two steps was called the step after it."""
    monkeypatch.setenv("RNNPLAY_STEP_STALL_SECONDS", "0.5")
    monkeypatch.setenv("HANG_AFTER", str(after))  # the steps up to ``after`` return; the validation after it waits
    heard, out = Heard(tiny_path), tmp_path / "run.npz"
    try:
        heard.session.submit(f"/train {small_file} cell=stuck hidden=8 layers=1 batch=2 seq=8 steps={steps} "
                             f"val_every={every} out={out}")
        heard.line("warning", VALIDATION.replace("step 3", f"step {after}"))
        hang.RELEASE.set()
        heard.line("warning", rf"^the validation after step {after} returned after all, after \d+ s; {then}$")
        heard.line("info", f"^training done at step {steps}; validation loss .*; saved {re.escape(str(out))}$")
    finally:
        heard.finish(hang)


def test_a_step_said_to_stall_that_then_fails_is_not_said_to_return(small_file: Path) -> None:
    """A step on Ray workers that stalled past the time, then failed (a lost node: the run ends in its error line),
    was followed by "training step 2 returned after all, after 68 s; training goes on" before that line. Only a
    step that returns says so now."""
    run = new_run(load_corpus(str(small_file)), ModelSpec("lstm", 1, 8, 0.0),
                  TrainConfig(steps=1, batch_size=2, seq_length=8))
    said: list[str] = []
    with StepWatch(said.append, run.trainer, "Ctrl-C twice leaves without it", seconds=0.01) as watch:
        with pytest.raises(RnnplayError), watch.taking(1):
            wait_for(lambda: said, "the stall line", TIMEOUT)
            raise RnnplayError("the Ray cluster lost the node 10.0.0.6 during this step")
        with watch.taking(2):
            wait_for(lambda: len(said) > 1, "the second step's stall line", TIMEOUT)
    assert [line.split(" has not returned")[0] for line in said[:2]] == ["training step 1", "training step 2"], said
    assert len(said) == 3 and said[2].startswith("training step 2 returned after all, after "), said
