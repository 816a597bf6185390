"""A --time budget holds on a run that slows down as it goes: the final validation's reserve follows what the run
measures (its steps' time, a probe when their end is near), not only a probe at its start.

`rnnplay train tinyshakespeare.txt --time 60` niced to 19 beside a `while True: pass` at nice 0 ran 84.8 s (a later
try, 114 s): the final validation, predicted from the probe at the start to take 2.4 s, took 50 s, its characters
read 21 times slower than the probe's. The reckoning (rnnplay.core.time_budget) is tested here on recorded timings,
and a real run's, whose plugin cell (rnnplay-hang's ``slower``, pip-installed) sleeps longer at every forward.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from plugin_fixtures import hang_loaded

from rnnplay.core.cells import RNNCell
from rnnplay.core.model import Model
from rnnplay.core.time_budget import MIN_FINAL_CHARS, VALIDATION_SHARE, TimeBudget
from rnnplay.core.train_config import ModelSpec, TrainConfig
from rnnplay.core.train_events import FinishedEvent, StepEvent, ValidationEvent
from rnnplay.core.vocab import Vocab
from rnnplay.corpora import Corpus
from rnnplay.session.training_runs import new_run

WHOLE, BATCH = 100_001, 6_400  # a validation's characters, a step's


def measured_run(per_char: float = 1e-5, step: float = 0.1, steps: int = 5) -> TimeBudget:
    """A reckoning whose probe read 8,193 characters at ``per_char`` seconds each, then ``steps`` steps of ``step``."""
    budget = TimeBudget(WHOLE, BATCH)
    budget.probed(8_193, [8_193 * per_char], spent=0.5)
    for _ in range(steps):
        budget.stepped(step)
    return budget


def test_the_reserve_follows_the_step_time() -> None:
    budget = measured_run()
    assert budget.reserve(60.0) == pytest.approx(WHOLE * 1e-5)  # 1 s: the whole validation at the probe's speed
    assert budget.steps_until(60.0) == pytest.approx(60.0 - 1.0 - 0.1)  # and one step before it
    budget.stepped(0.4)  # the run is starved: its steps four times slower, so are its validations
    assert budget.step_seconds() == pytest.approx(0.4)  # a step's time followed at once
    assert budget.reserve(60.0) == pytest.approx(WHOLE * 1e-5)  # the validation's once a second step shows it
    budget.stepped(0.4)
    assert budget.reserve(60.0) == pytest.approx(4 * WHOLE * 1e-5)
    assert budget.steps_until(60.0) == pytest.approx(60.0 - 4.0 - 0.4)
    for _ in range(10):
        budget.stepped(5.0)  # fifty times slower: its share of the budget
    assert budget.reserve(60.0) == VALIDATION_SHARE * 60.0


def test_one_slow_step_does_not_multiply_the_final_validations_estimate() -> None:
    """`rnnplay train med.txt --time 20 --val-max-chars 3000000 --hidden 128` ended at 16 s of 20: the final
    validation's estimate was scaled by the last step's time over the steps' time when it was measured, so one slow
    step made it as many times what the validation took, up to its share of the budget, and the steps ended that
    much early. A slowdown scales it once two steps in a row show it."""
    budget = measured_run(step=0.1)
    budget.stepped(0.5)  # one step five times the others
    assert budget.step_seconds() == pytest.approx(0.5)  # one step kept before the reserve: this one's
    assert budget.reserve(20.0) == pytest.approx(WHOLE * 1e-5)  # 1 s, not 5 (its 25% share of 20 s)
    assert budget.steps_until(20.0) == pytest.approx(20.0 - 1.0 - 0.5)
    assert budget.final_chars(20.0, spent=18.5) == (WHOLE, "")  # and it reads the whole text
    budget.stepped(0.5)  # a second: the run has slowed, and so will its validation
    assert budget.reserve(60.0) == pytest.approx(5 * WHOLE * 1e-5)


def test_one_quick_step_does_not_shrink_the_estimate() -> None:
    budget = measured_run(step=0.4)
    budget.stepped(0.1)
    assert budget.step_seconds() == pytest.approx(0.4) and budget.reserve(60.0) == pytest.approx(WHOLE * 1e-5)


def test_a_slow_step_as_a_validation_is_measured_does_not_shrink_the_reserve_after_it() -> None:
    budget = measured_run(step=0.1)
    budget.stepped(2.0)  # a hiccup of the machine
    budget.measured(WHOLE, 1.0, spent=20.0)
    for _ in range(3):
        budget.stepped(0.1)
        assert budget.per_char_now() == pytest.approx(1.0 / WHOLE)  # not a twentieth of it


def test_a_slowdown_just_before_a_validation_is_its_base() -> None:
    budget = measured_run(step=0.1)
    budget.stepped(0.4)
    budget.measured(WHOLE, 4.0, spent=20.0)  # the validation ran four times slower too
    for _ in range(3):
        budget.stepped(0.4)
        assert budget.per_char_now() == pytest.approx(4.0 / WHOLE)  # not four times that


def test_a_validation_measured_later_is_the_new_base() -> None:
    budget = measured_run()
    for _ in range(5):
        budget.stepped(0.3)
    budget.measured(WHOLE, 12.0, spent=30.0)  # a validation at step N: 12 s, with steps of 0.3 s
    assert budget.per_char_now() == pytest.approx(12.0 / WHOLE)
    assert budget.reserve(100.0) == pytest.approx(12.0)


def test_one_probe_more_when_the_steps_end_is_near() -> None:
    budget = TimeBudget(WHOLE, BATCH)
    assert budget.wants_probe(60.0, spent=0.0)  # before anything is measured
    budget = measured_run()
    assert not budget.wants_probe(60.0, spent=30.0)
    near = budget.steps_until(60.0) - budget.reserve(60.0)  # one reserve before the steps end
    assert not budget.wants_probe(60.0, spent=near - 0.1)
    assert budget.wants_probe(60.0, spent=near)
    budget.probed(2_000, [2_000 * 1e-5], spent=near)
    assert not budget.wants_probe(60.0, spent=near + 0.5)
    budget.measured(2_000, 2_000 * 0.5e-5, spent=near + 0.5)  # a validation: the reserve halves, the end moves later
    assert not budget.wants_probe(60.0, spent=budget.steps_until(60.0) - 0.1)  # no third probe
    assert budget.probe_chars(8_192) == 8_192 and TimeBudget(1_000, BATCH, per_char=1.0).probe_chars(8_192) == 250


def test_a_first_step_is_foretold_from_the_probe() -> None:
    budget = TimeBudget(WHOLE, BATCH)
    budget.probed(8_193, [30.0, 8_193 * 1e-3], spent=38.0)  # starved from the start: 8 s warm, 30 s cold
    assert budget.step_seconds() == pytest.approx(2 * BATCH * 1e-3 + 30.0 - 8.193)  # the compiling too
    assert budget.steps_until(60.0) == pytest.approx(60.0 - 15.0 - 12.8 - 21.807)  # below 38: no step begins
    budget.stepped(40.0, warm=False)  # a first step made all the same (a resumed budget's check came first, say)
    assert budget.step_seconds() == pytest.approx(2 * BATCH * 1e-3)  # the next is foretold warm


@pytest.mark.parametrize("whole", [WHOLE, 1_001])  # a validation over its share of the budget, one within it
def test_a_run_that_made_no_step_is_told_the_least_budget_that_holds_one(whole: int) -> None:
    budget = TimeBudget(whole, BATCH, saves=True)
    assert budget.least_seconds() is None  # the start-up spent the budget: nothing was timed
    assert budget.no_step_note(2.0, 2.5) == ("no training step fitted in the --time budget of 2 s: the start-up took "
                                             "all of it (2.5 s); give a longer --time")
    budget.probed(8_193, [2 * 8_193e-3, 8_193e-3], spent=3.0)  # 3 s before the first step, its probe included
    least = budget.least_seconds()
    assert least is not None and budget.steps_until(least) == pytest.approx(3.0)  # a step begins in any more
    note = budget.no_step_note(2.0, 3.0)
    assert "3.0 s went before the first step" in note and f"give --time {math.ceil(least)} or more" in note, note


@pytest.mark.parametrize(("spent", "chars", "why"), [
    (59.0, WHOLE, ""),  # the whole one fits in the time left and one step
    (59.5, 50_000, "what fits in the 0.5 s left of the --time budget"),  # cut short: not a step more
    (61.0, 2, "what fits in the 0.0 s left of the --time budget"),
])
def test_the_final_validation_reads_what_fits_in_the_time_left(spent: float, chars: int, why: str) -> None:
    budget = measured_run(per_char=1e-5, step=0.1)
    read, said = budget.final_chars(60.0, spent)
    assert chars - 1 <= read <= chars and said == why


def test_the_final_validation_reads_its_share_of_the_budget() -> None:
    budget = measured_run(per_char=1e-3)  # 100 s for the whole
    assert budget.final_chars(60.0, 40.0) == (15_000, "what 25% of the --time budget validates")
    assert budget.final_chars(None, 40.0) == (WHOLE, "")  # no --time: the whole one



def test_a_run_that_saves_keeps_room_for_its_last_save() -> None:
    """`rnnplay train` saves after its final validation, within the budget: its steps end that much earlier, one
    step's worth before it has saved once, then what its last save took; a run that saves nothing keeps none."""
    budget = measured_run(per_char=1e-5, step=0.1)
    assert budget.save_seconds() == 0.0 and budget.steps_until(60.0) == pytest.approx(60.0 - 1.0 - 0.1)
    budget.saves = True
    assert budget.steps_until(60.0) == pytest.approx(60.0 - 1.0 - 0.1 - 0.1)
    budget.saving = 2.0  # a periodic checkpoint took 2 s
    assert budget.steps_until(60.0) == pytest.approx(60.0 - 1.0 - 2.0 - 0.1)
    assert budget.final_chars(60.0, 58.0)[0] < WHOLE  # nor does the final validation read into the save's time
    cold = TimeBudget(WHOLE, BATCH, saves=True)
    cold.probed(8_193, [30.0, 8_193 * 1e-3], spent=38.0)  # starved from the start: its first step foretold cold
    assert cold.save_seconds() == pytest.approx(2 * BATCH * 1e-3)  # a save compiles nothing: a warm step's time


def test_a_final_validation_of_a_handful_of_characters_is_too_few() -> None:
    """A loss on the first character (a 0.5 s budget once validated on 1 of 111,539) means nothing: too few; a text
    shorter than the least is enough whole."""
    budget = measured_run(per_char=1e-5, step=0.1)
    chars, _ = budget.final_chars(60.0, 61.0)
    assert budget.too_few(chars) and not budget.too_few(WHOLE) and not budget.too_few(MIN_FINAL_CHARS)
    assert not TimeBudget(500, BATCH).too_few(500) and TimeBudget(500, BATCH).too_few(499)
    assert TimeBudget(WHOLE, BATCH).final_chars(60.0, 61.0)[0] == 0  # never probed, no time left: none at all


BUDGET = 4.0


def test_a_run_whose_steps_slow_down_ends_with_its_budget(hang_site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real run whose cell sleeps 8 ms more at every forward (its last steps a quarter of a second, a validation's
    chunks too): it ends by its budget and a step, its final validation the part that fits (the reserve from the
    probe at the start, 0.1 s, let the whole validation run 6 s past this budget). Half the budget and twice the
    slowing of before: as many seconds a step at the end, in half the time."""
    text = "".join(f"line {i % 997:03}: to be, or not to be, that is the question.\n" for i in range(6_000))
    monkeypatch.setenv("RNNPLAY_JIT", "0")  # no kernels compiled by the first step: seconds of a short budget
    monkeypatch.setenv("HANG_DOES", "slower")
    monkeypatch.setenv("HANG_SLOW", "0.008")
    with hang_loaded(hang_site, monkeypatch):
        run = new_run(Corpus("slowing", text, "test"), ModelSpec("stuck", 1, 8, 0.0),
                      TrainConfig(seconds=BUDGET, batch_size=4, seq_length=16, val_every=0, val_fraction=0.5, seed=1))
        *events, validation, finished = list(run.trainer.run())
    assert isinstance(finished, FinishedEvent) and finished.reason == "budget"
    assert finished.seconds <= BUDGET + 2.0, (finished.seconds, validation)
    assert isinstance(validation, ValidationEvent) and "validation characters" in validation.note  # a part
    assert sum(isinstance(e, StepEvent) for e in events) > 5  # it trained (about 50 steps on a quiet machine)


def test_an_evaluation_told_to_stop_scores_the_chunks_it_read(small_text: str) -> None:
    model = Model(RNNCell(), Vocab.from_text(small_text), 8, 1, seed=1)
    ids = model.vocab.encode(small_text * 4)
    seen: list[int] = []
    whole = model.evaluate(ids, seq_length=16)
    first = model.evaluate(ids, seq_length=16, progress=lambda done, total: seen.append(done), stop=lambda: True)
    assert seen == [32 * 16] and first != whole  # one chunk of 32 streams, 16 characters each
    assert model.evaluate(ids, seq_length=16, stop=lambda: False) == whole
