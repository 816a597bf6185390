"""`rnnplay train`'s progress line tells one story.

A field run of `rnnplay train … --time 60` showed `95% step 29 … ETA 20s`, left `100% step 30 … ETA 18s` on the
screen as its last line, then `saved t60.npz after 30 steps in 50s`: the bar measured the share of the steps'
time (the budget less the final validation's and the save's reserve: rnnplay/core/time_budget.py), the ETA the
whole budget, and at the end the stale ETA stayed. The ETA now counts to the run's foreseen end (the steps, the
final validation and the save: ``TimeBudget.time_left``), and the last line drawn says "steps done" in its place.
Under --steps the ETA counts the final validation and the save too (``TimeBudget.eta``). On a terminal the line is
never cut: rich's table cut it to `10… step 3 … | steps do…` where it was wider than the terminal (80 columns).

"""

from __future__ import annotations

import io
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from on_a_terminal import ended, spawn, terminal_env
from pty_screen import screen_of
from tiny_model import TEXT

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


def test_a_steps_runs_eta_counts_its_final_validation_and_the_save(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under --steps the ETA at the last step was 0 s, with the final validation and the save still to come: it
    counts them, at the speed the run's last validation measured, and no validation when one was made at the last
    step (the run makes no other)."""
    config = TrainConfig(steps=10, batch_size=2, seq_length=8, val_every=0, seed=1)
    trainer = new_run(Corpus("tiny.txt", TEXT, "tests"), ModelSpec("rnn", 1, 8), config).trainer
    recorded(trainer.timing)
    clock = SimpleNamespace(now=1.0 + 9 * STEP)  # nine steps of STEP seconds since the first ended, at 1.0
    monkeypatch.setattr(trainer_module, "time", SimpleNamespace(perf_counter=lambda: clock.now))
    trainer._started = 0.0
    trainer.step = 8
    assert trainer._eta(9, 1.0) == pytest.approx(2 * STEP + VALIDATION + SAVE)
    trainer.step = 10
    assert trainer._eta(9, 1.0) == pytest.approx(VALIDATION + SAVE)
    trainer.history.val_steps.append(10)  # validated at its last step: no final validation is ahead
    assert trainer._eta(9, 1.0) == pytest.approx(SAVE)


@pytest.fixture
def small(tmp_path: Path) -> Path:
    path = tmp_path / "small.txt"
    path.write_text(TEXT * 3)
    return path


def status_rows(rows: list[str], marker: str) -> list[str]:
    """The rows of the status line that holds ``marker``: its first, then those its text folded onto (indented)."""
    first = max(i for i, row in enumerate(rows) if marker in row)
    end = next((i for i in range(first + 1, len(rows)) if not rows[i].startswith(" ")), len(rows))
    return rows[first:end]


@pytest.mark.parametrize("columns", [80, 160])
def test_on_a_terminal_the_last_status_line_shows_whole_and_says_the_steps_are_done(small: Path, tmp_path: Path,
                                                                                   columns: int) -> None:
    """At 160 columns the line is one row; at 80 (too narrow for the bar and the text with its validation loss and
    learning rate) its text folds onto a second row: never cut with an ellipsis (it was: `10… step 3 … | steps do…`)."""
    env = terminal_env(tmp_path, RNNPLAY_CACHE_DIR=str(tmp_path / "c"), RNNPLAY_JIT="0")
    shown = io.BytesIO()
    with spawn(["train", str(small), "--cell", "rnn", "--hidden", "8", "--layers", "1", "--steps", "3",
                "--batch-size", "2", "--seq-length", "8", "--out", str(tmp_path / "t.npz")], env,
               columns=columns) as child:
        child.logfile_read = shown
        assert ended(child) == 0, shown.getvalue()
    rows = [row.rstrip() for row in screen_of(shown.getvalue(), 30, columns).display if row.strip()]
    status = status_rows(rows, " step 3 epoch ")
    whole = " ".join(" ".join(status).split())
    assert re.search(r" 100% step 3 epoch \S+ loss \S+ val \S+ lr \S+ \| [\d,]+ chars/s \| steps done$", whole), rows
    assert len(status) == (1 if columns == 160 else 2), rows
    assert not any("…" in row or "ETA" in row for row in rows), rows
