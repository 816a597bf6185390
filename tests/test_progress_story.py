"""`rnnplay train`'s progress line tells one story, and `--init-from` says what it reads before its first line.

A field run of `rnnplay train … --time 60` showed `95% step 29 … ETA 20s`, left `100% step 30 … ETA 18s` on the
screen as its last line, then `saved t60.npz after 30 steps in 50s`: the bar measured the share of the steps'
time (the budget less the final validation's and the save's reserve: rnnplay/core/time_budget.py), the ETA the
whole budget, and at the end the stale ETA stayed. The ETA now counts to the run's foreseen end (the steps, the
final validation and the save: ``TimeBudget.time_left``), and the last line drawn says "steps done" in its place.

`rnnplay train zen.txt --init-from shakespeare` was silent for seconds before its first line while the model read
4,096 characters of the text to place a new character (rnnplay/core/finetune.py): it now says so in one line,
with a bar on a terminal, and Ctrl-C there ends the command with nothing written.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from child_env import child_env
from on_a_terminal import ended, spawn
from plugin_fixtures import hang_loaded
from pty_screen import screen_of
from tiny_model import TEXT
from waiting import wait_for

import rnnplay.core.trainer as trainer_module
from rnnplay.core.time_budget import TimeBudget
from rnnplay.core.train_config import ModelSpec, TrainConfig
from rnnplay.corpora import Corpus
from rnnplay.session.training_runs import new_run

TIMEOUT = 120  # a bound that catches a hang, not a speed claim
NEW = "§"  # a character the tiny model (tests/tiny_model.py) lacks
BUDGET = 60.0
WHOLE = 20_001  # characters a whole validation reads
VALIDATION, STEP, SAVE = 8.0, 3.0, 0.5  # recorded: a whole validation's seconds, a step's, the last save's


def recorded(budget: TimeBudget) -> TimeBudget:
    """``budget`` as a run leaves it that measured VALIDATION, STEP and SAVE (its steps' end: 60 - 8 - 0.5 - 3)."""
    budget.measured(budget.whole, VALIDATION, spent=2.0)
    for _ in range(4):
        budget.stepped(STEP)
    budget.saves, budget.saving = True, SAVE
    return budget


def test_the_time_left_counts_the_steps_the_final_validation_and_the_save() -> None:
    budget = recorded(TimeBudget(WHOLE, 512))
    steps_end = budget.steps_until(BUDGET)
    assert steps_end == pytest.approx(BUDGET - VALIDATION - SAVE - STEP)
    for spent in (10.0, 30.0, steps_end):
        assert budget.time_left(BUDGET, spent) == pytest.approx(steps_end - spent + VALIDATION + SAVE)
    assert budget.time_left(BUDGET, BUDGET - 1.0) == pytest.approx(1.0, abs=1e-3)  # within what the budget has left


def test_the_eta_at_the_last_step_is_the_final_validation_and_the_save(monkeypatch: pytest.MonkeyPatch) -> None:
    """A trainer's ETA beside its share of the steps, on a clock the test moves: at 100 % the run has the final
    validation and the save ahead (8.5 s), not the whole budget's rest (the one step's slack more)."""
    config = TrainConfig(seconds=BUDGET, batch_size=2, seq_length=8, val_every=0, seed=1)
    trainer = new_run(Corpus("tiny.txt", TEXT, "tests"), ModelSpec("rnn", 1, 8), config).trainer
    recorded(trainer.timing)
    clock = SimpleNamespace(now=0.0)
    monkeypatch.setattr(trainer_module, "time", SimpleNamespace(perf_counter=lambda: clock.now))
    trainer._started, trainer.step = 0.0, 10
    clock.now = trainer.timing.steps_until(BUDGET)
    assert trainer.budget_fraction() == 1.0
    assert trainer._eta(9, 1.0) == pytest.approx(VALIDATION + SAVE)
    clock.now = 20.0
    assert trainer._eta(9, 1.0) == pytest.approx(BUDGET - STEP - 20.0)  # the foreseen end: one step before 60 s


def on_a_terminal(tmp_path: Path, *extra: Path, **variables: str) -> dict[str, str]:
    """A child's environment in a pty: colours as on any terminal (NO_COLOR makes rich draw no bar until its end)."""
    base = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    return child_env(*extra, base=base, XDG_DATA_HOME=str(tmp_path / "d"), TERM="xterm-256color", **variables)


@pytest.fixture
def small(tmp_path: Path) -> Path:
    path = tmp_path / "small.txt"
    path.write_text(TEXT * 3)
    return path


def test_on_a_terminal_the_last_status_line_says_the_steps_are_done(small: Path, tmp_path: Path) -> None:
    env = on_a_terminal(tmp_path, RNNPLAY_CACHE_DIR=str(tmp_path / "c"), RNNPLAY_JIT="0")
    shown = io.BytesIO()
    with spawn(["train", str(small), "--cell", "rnn", "--hidden", "8", "--layers", "1", "--steps", "3",
                "--batch-size", "2", "--seq-length", "8", "--out", str(tmp_path / "t.npz")], env,
               columns=160) as child:
        child.logfile_read = shown
        assert ended(child) == 0, shown.getvalue()
    lines = [line.rstrip() for line in screen_of(shown.getvalue(), 30, 160).display if line.strip()]
    status = [line for line in lines if " step 3 epoch " in line]
    assert status and status[-1].endswith("| steps done") and "100%" in status[-1], lines
    assert not any("ETA" in line for line in lines), lines


def text_with_a_new_character(tmp_path: Path) -> Path:
    path = tmp_path / "notes.txt"
    path.write_text((TEXT + NEW + "\n") * 4)
    return path


TUNE = ["--steps", "1", "--batch-size", "2", "--seq-length", "8", "--val-every", "0"]


def test_off_a_terminal_one_line_says_what_the_model_reads_before_the_run(tiny_path: Path, tmp_path: Path) -> None:
    notes = text_with_a_new_character(tmp_path)
    done = subprocess.run([sys.executable, "-m", "rnnplay", "train", str(notes), "--init-from", str(tiny_path), *TUNE,
                           "--out", str(tmp_path / "n.npz")], env=child_env(XDG_DATA_HOME=str(tmp_path / "d")),
                          capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert lines[0] == "rnnplay: adding 1 new character to tiny.npz: reading 4,096 characters of notes.txt", lines
    assert lines[1].startswith("fine-tuning tiny.npz"), lines


def test_on_a_terminal_a_bar_shows_the_share_read(tiny_path: Path, tmp_path: Path) -> None:
    notes = text_with_a_new_character(tmp_path)
    env = on_a_terminal(tmp_path)
    shown = io.BytesIO()
    with spawn(["train", str(notes), "--init-from", str(tiny_path), *TUNE, "--out", str(tmp_path / "n.npz")], env,
               columns=160) as child:
        child.logfile_read = shown
        assert ended(child) == 0, shown.getvalue()
    lines = [line.rstrip() for line in screen_of(shown.getvalue(), 30, 160).display if line.strip()]
    assert lines[0] == "rnnplay: adding 1 new character to tiny.npz: reading 4,096 characters of notes.txt", lines
    assert lines[1].startswith("reading notes.txt [") and lines[1].endswith("100% 4,096 chars / 4,096 chars"), lines
    assert lines[2].startswith("fine-tuning tiny.npz"), lines


def stuck_model(tmp_path: Path) -> Path:
    """An untrained 1×8 model of rnnplay-hang's cell 'stuck' on TEXT, saved (no forward made)."""
    run = new_run(Corpus("tiny.txt", TEXT, "tests"), ModelSpec("stuck", 1, 8), TrainConfig(steps=1, seed=1))
    return run.save(tmp_path / "stuck.npz")


def test_ctrl_c_while_the_model_reads_ends_the_run_with_nothing_written(hang_site: Path, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The reading is held in the cell (``HANG_READS=wait``) until Ctrl-C comes: no race with its end."""
    with hang_loaded(hang_site, monkeypatch):
        model = stuck_model(tmp_path)
    notes, out, mark = text_with_a_new_character(tmp_path), tmp_path / "out" / "n.npz", tmp_path / "reading"
    out.parent.mkdir()
    env = on_a_terminal(tmp_path, hang_site, RNNPLAY_LOAD_PLUGINS="rnnplay-hang", HANG_READS="wait",
                        HANG_MARK=str(mark), RNNPLAY_JIT="0")
    shown = io.BytesIO()
    with spawn(["train", str(notes), "--init-from", str(model), *TUNE, "--out", str(out)], env, columns=160) as child:
        child.logfile_read = shown
        child.expect_exact(b"reading notes.txt")  # the bar's label
        wait_for(mark.exists, "the reading to begin")
        child.sendintr()
        assert ended(child) == 130, shown.getvalue()
    lines = [line.rstrip() for line in screen_of(shown.getvalue(), 30, 160).display if line.strip()]
    assert lines[-1] == "rnnplay: interrupted before the first step: nothing was trained or saved", lines
    assert list(out.parent.iterdir()) == []  # no checkpoint, no rescue copy, no lock file left
