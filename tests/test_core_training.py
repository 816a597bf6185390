"""Trainer, optimizers, determinism, exact resume, non-finite steps, checkpoints."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import types

import numpy as np
import pytest
from file_limits import files_no_larger_than
from numpy_updates import numpy_updates

from rnnplay.core import jit, time_budget
from rnnplay.core import trainer as trainer_module
from rnnplay.core.checkpoint import load_checkpoint, save_checkpoint
from rnnplay.core.errors import RnnplayError
from rnnplay.core.model import Model
from rnnplay.core.optim import (
    OPTIMIZERS,
    UPDATE_KERNELS,
    clip_by_global_norm,
    clip_by_value,
    decayed_lr,
    make_optimizer,
    scheduled_lr,
)
from rnnplay.core.train_config import ModelSpec, TrainConfig
from rnnplay.core.trainer import MAX_BAD_STEPS, FinishedEvent, SkippedEvent, StepEvent, ValidationEvent
from rnnplay.corpora import Corpus
from rnnplay.models.bundled import load_model
from rnnplay.plugins.host import get_host
from rnnplay.session.output_paths import OutputLock, check_output_path, check_room
from rnnplay.session.resume import continue_hint, resume_run
from rnnplay.session.training_runs import BestCheckpoint, Saved, TrainingRun, new_run


def small_run(text: str, cell: str = "lstm", **config):
    defaults = {"batch_size": 4, "seq_length": 16, "steps": 30, "val_every": 10, "seed": 3}
    return new_run(Corpus("small", text, "test"), ModelSpec(cell, 2, 24, 0.1), TrainConfig(**{**defaults, **config}))


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_every_optimizer_lowers_the_loss(small_text: str, optimizer: str) -> None:
    lr = {"sgd": 0.05, "adagrad": 0.1, "rmsprop": 2e-3, "adam": 5e-3}[optimizer]
    run = small_run(small_text, "rnn", optimizer=optimizer, lr=lr, steps=80)
    losses = [e.loss for e in run.trainer.run() if isinstance(e, StepEvent)]
    assert np.mean(losses[-10:]) < np.mean(losses[:10]) - 0.3


def test_events_and_final_validation(small_text: str) -> None:
    events = list(small_run(small_text).trainer.run())
    steps = [e for e in events if isinstance(e, StepEvent)]
    vals = [e for e in events if isinstance(e, ValidationEvent)]
    assert [e.step for e in steps] == list(range(1, 31))
    assert [v.step for v in vals] == [10, 20, 30]
    # a step's validation comes first, so whatever is saved on its StepEvent includes it
    assert all(events.index(v) == events.index(steps[v.step - 1]) - 1 for v in vals)
    assert isinstance(events[-1], FinishedEvent) and events[-1].val_loss == vals[-1].val_loss
    assert all(e.chars_per_sec > 0 for e in steps)
    assert events[-1].val_step == 30 and events[-1].val_at() == ""


def test_a_run_stopped_between_validations_says_which_step_its_validation_loss_is_from(small_text: str) -> None:
    """/stop at step 845 said 'validation loss 3.993', the loss of step 600, as if it were the last step's."""
    run = small_run(small_text)
    for event in run.trainer.run():
        if isinstance(event, StepEvent) and event.step == 13:
            run.trainer.stop()
    assert isinstance(event, FinishedEvent) and (event.step, event.reason, event.val_step) == (13, "stopped", 10)
    assert event.val_loss == run.trainer.history.val_losses[-1] and event.val_at() == " (at step 10)"


def steps_on_a_clock(run: TrainingRun, monkeypatch: pytest.MonkeyPatch, first: float, after: float) -> list[StepEvent]:
    """The StepEvents of ``run`` on a clock that moves ``first`` seconds in its first step and ``after`` in each
    step after it (and not otherwise)."""
    clock = [0.0]
    monkeypatch.setattr(trainer_module, "time", types.SimpleNamespace(perf_counter=lambda: clock[0]))
    take_step = run.trainer.train_step

    def timed_step() -> tuple[float, float] | str:
        clock[0] += first if run.trainer.step == 0 else after
        return take_step()

    monkeypatch.setattr(run.trainer, "train_step", timed_step)
    return [e for e in run.trainer.run() if isinstance(e, StepEvent)]


def test_eta_is_paced_by_the_steps_after_the_first(small_text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first step loads kernels and memory: paced by it, a run of minutes said 'ETA 7h02m' at step 1. On a
    clock that moves 100 s in the first step and 1 s in each after it, step 2 of 30 has 28 s to go."""
    etas = [e.eta_seconds for e in steps_on_a_clock(small_run(small_text, val_every=0), monkeypatch, 100.0, 1.0)]
    assert etas[0] is None and etas[1:4] == [28.0, 27.0, 26.0] and etas[-1] == 0.0


def test_the_speed_shown_after_the_first_step_is_the_second_steps(small_text: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The first step loads kernels: a run of steps shorter than the speed's one-second window (the app's /train of
    200 steps) showed the first step's speed, a tenth of the real one, on every line. On a clock that moves 100 s in
    the first step and 0.01 s in each after it, step 1 shows the batch over 100 s and every step after it the batch
    over 0.01 s."""
    run = small_run(small_text, val_every=0)
    speeds = [e.chars_per_sec for e in steps_on_a_clock(run, monkeypatch, 100.0, 0.01)]
    batch = run.trainer.batcher.chars_per_batch
    assert speeds[0] == pytest.approx(batch / 100.0)
    assert speeds[1:] == pytest.approx([batch / 0.01] * (len(speeds) - 1))


def test_same_seed_same_weights(small_text: str) -> None:
    a, b = small_run(small_text), small_run(small_text)
    list(a.trainer.run())
    list(b.trainer.run())
    for k in a.model.params:
        assert np.array_equal(a.model.params[k], b.model.params[k])


RECIPE = {"ema": 0.95, "dropout_kind": "locked", "weight_drop": 0.2, "embedding_dropout": 0.1, "warmup": 5,
          "weight_decay": 0.1}


@pytest.mark.parametrize("recipe", [{"ema": 0.0}, RECIPE], ids=["plain", "ema-dropouts-and-decay"])
def test_interrupted_and_resumed_run_ends_with_identical_weights(small_text: str, tmp_path, recipe: dict) -> None:
    """Stop after 13 steps, save, resume from the file: bit-identical to 30 uninterrupted steps.

    With weight averaging the file's parameters are the average and its training state the raw weights: both
    continue exactly.
    """
    straight = small_run(small_text, **recipe)
    list(straight.trainer.run())

    first = small_run(small_text, **recipe)
    for event in first.trainer.run():
        if isinstance(event, StepEvent) and event.step == 13:
            first.trainer.stop()
    path = first.save(tmp_path / "half.npz")
    assert first.trainer.step == 13
    resumed = resume_run(path, first.corpus, {"steps": 30})
    list(resumed.trainer.run())
    assert resumed.trainer.step == 30
    for k, v in straight.model.params.items():
        assert np.array_equal(v, resumed.model.params[k]), k
        assert np.array_equal(straight.trainer.weights[k], resumed.trainer.weights[k]), k
    assert resumed.trainer.history.losses == straight.trainer.history.losses
    assert resumed.trainer.history.val_losses == straight.trainer.history.val_losses


def test_non_finite_loss_skips_the_step_and_keeps_weights(small_text: str) -> None:
    run = small_run(small_text, steps=3, val_every=0)
    trainer = run.trainer
    list(trainer.run())
    before = {k: v.copy() for k, v in trainer.weights.items()}
    average = {k: v.copy() for k, v in run.model.params.items()}
    trainer.weights["head.b_y"][0] = np.nan  # poison one weight the steps run on: the loss becomes NaN
    trainer.config.steps = 4
    events = list(trainer.run())
    assert any(isinstance(e, SkippedEvent) and "non-finite" in e.reason for e in events)
    for k, v in before.items():
        if k != "head.b_y":
            assert np.array_equal(v, trainer.weights[k]), k
            assert np.array_equal(average[k], run.model.params[k]), k  # a skipped step does not move the average


def test_clipping_and_decay() -> None:
    grads = {"a": np.array([3.0, 4.0]), "b": np.array([0.0])}
    assert clip_by_global_norm(grads, 1.0) == pytest.approx(5.0)
    assert np.linalg.norm(grads["a"]) == pytest.approx(1.0, rel=1e-5)
    grads = {"a": np.array([-9.0, 2.0, 7.0])}
    clip_by_value(grads, 5.0)
    assert grads["a"].tolist() == [-5.0, 2.0, 5.0]
    assert decayed_lr(1.0, 25, 0.5, 10) == 0.25
    assert [scheduled_lr(1.0, f, "cosine", floor=0.1) for f in (0.0, 0.5, 1.0)] == pytest.approx([1.0, 0.55, 0.1])
    assert scheduled_lr(1.0, 0.7, "constant", floor=0.1) == 1.0
    assert [scheduled_lr(1.0, f, "cosine", floor=0.0) for f in (0.0, 0.5, 1.0)] == pytest.approx([1.0, 0.5, 0.0])
    with pytest.raises(RnnplayError, match="unknown optimizer"):
        make_optimizer("lbfgs", {})


def test_budget_is_required(small_text: str) -> None:
    run = small_run(small_text, steps=None)
    with pytest.raises(RnnplayError, match="budget"):
        next(run.trainer.run())


# -- checkpoints -----------------------------------------------------------------------
def make_model() -> Model:
    from rnnplay.core.vocab import Vocab

    return Model(get_host().cell("lstm"), Vocab(tuple("abcdef")), 8, 2, seed=1)


def test_checkpoint_round_trip(tmp_path) -> None:
    model = make_model()
    path = save_checkpoint(tmp_path / "m.npz", model)
    loaded = load_checkpoint(path, get_host().resolve_cell).model
    assert loaded.vocab == model.vocab and loaded.num_layers == 2
    for k, v in model.params.items():
        assert np.array_equal(v, loaded.params[k])


def test_float16_storage_halves_the_file(tmp_path) -> None:
    model = make_model()
    big = save_checkpoint(tmp_path / "a.npz", model)
    small = save_checkpoint(tmp_path / "b.npz", model, dtype="float16")
    assert small.stat().st_size < big.stat().st_size
    loaded = load_model(small).model
    assert loaded.params["head.W_hy"].dtype == np.float32
    np.testing.assert_allclose(loaded.params["head.W_hy"], model.params["head.W_hy"], atol=1e-3)


def test_a_failed_save_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch) -> None:
    path = save_checkpoint(tmp_path / "m.npz", make_model())
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # the process dies in the middle of writing

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, make_model())
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]  # no temporary file left behind


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "corrupt or truncated"),
        (lambda p: p.write_bytes(b"not a zip at all"), "corrupt or truncated"),
        (lambda p: p.write_text(""), "corrupt or truncated"),
    ],
    ids=["truncated", "garbage", "empty"],
)
def test_damaged_checkpoints_get_one_line(tmp_path, damage, message) -> None:
    path = save_checkpoint(tmp_path / "m.npz", make_model())
    damage(path)
    with pytest.raises(RnnplayError, match=message) as err:
        load_model(path)
    assert "\n" not in str(err.value)


def test_pickle_carrying_checkpoint_is_refused(tmp_path) -> None:
    path = tmp_path / "evil.npz"
    np.savez(path, __meta__=np.array({"format": "rnnplay-checkpoint"}, dtype=object))
    with pytest.raises(RnnplayError, match="pickled objects"):
        load_model(path)


def test_wrong_shapes_are_named(tmp_path) -> None:
    model = make_model()
    model.params["layers.1.W_hh"] = np.zeros((3, 3), np.float32)
    path = save_checkpoint(tmp_path / "m.npz", model)
    with pytest.raises(RnnplayError, match=r"layers\.1\.W_hh has shape \(3, 3\)"):
        load_model(path)


def test_hostile_metadata_is_refused(tmp_path) -> None:
    import json

    meta = {"format": "rnnplay-checkpoint", "version": 1, "cell": "lstm", "vocab": "ab",
            "hidden_size": 10**9, "num_layers": 1}
    path = tmp_path / "h.npz"
    np.savez(path, __meta__=np.array(json.dumps(meta)))
    with pytest.raises(RnnplayError, match="impossible sizes"):
        load_model(path)
    with pytest.raises(RnnplayError, match="no such file"):
        load_model(tmp_path / "missing.npz")


def test_adam_matches_torch_adam_step_for_step() -> None:
    """Textbook Adam (ε added to √v̂): identical updates to torch.optim.Adam, tiny gradients included."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    p = rng.normal(size=(4, 3))
    tp = torch.tensor(p.copy(), requires_grad=True)
    ours = make_optimizer("adam", {"p": p})
    theirs = torch.optim.Adam([tp], lr=2e-3)
    for _ in range(5):
        g = rng.normal(size=(4, 3)) * 10.0 ** rng.integers(-9, 1, size=(4, 3))
        tp.grad = torch.tensor(g)
        theirs.step()
        ours.step({"p": p}, {"p": g.copy()}, 2e-3)
        np.testing.assert_allclose(p, tp.detach().numpy(), rtol=0, atol=1e-12)


def test_weight_decay_matches_torch_adamw_on_matrices_and_spares_biases() -> None:
    """Decoupled weight decay: the matrix moves as torch.optim.AdamW moves it; the bias as plain Adam."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    params = {"W": rng.normal(size=(4, 3)), "b": rng.normal(size=3)}
    mine = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in params.items()}
    ours = make_optimizer("adam", params, weight_decay=0.1)
    theirs = torch.optim.AdamW([{"params": [mine["W"]], "weight_decay": 0.1},
                                {"params": [mine["b"]], "weight_decay": 0.0}], lr=3e-2)
    for _ in range(5):
        grads = {k: rng.normal(size=v.shape) for k, v in params.items()}
        for k, g in grads.items():
            mine[k].grad = torch.tensor(g)
        theirs.step()
        ours.step(params, grads, 3e-2)
        for k in params:
            np.testing.assert_allclose(params[k], mine[k].detach().numpy(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_weight_decay_shrinks_each_matrix_by_lr_times_its_share(name: str) -> None:
    """With a zero gradient every rule leaves a weight where it is, so decay alone moves it: θ(1 - lr·λ)."""
    params = {"W": np.full((2, 2), 3.0), "b": np.full(2, 3.0)}
    make_optimizer(name, params, weight_decay=0.5).step(params, {k: np.zeros_like(v) for k, v in params.items()}, 0.1)
    np.testing.assert_allclose(params["W"], 3.0 * (1 - 0.1 * 0.5))
    np.testing.assert_array_equal(params["b"], 3.0)


def test_a_fresh_model_predicts_the_character_frequencies(small_text: str) -> None:
    """The head's bias starts at log unigram frequencies, so the untrained loss is the unigram entropy."""
    run = small_run(small_text)
    ids = run.trainer.batcher.streams.ravel()
    p = np.bincount(ids, minlength=run.model.vocab.size) / len(ids)
    entropy = -float(np.sum(p[p > 0] * np.log(p[p > 0])))
    assert run.model.evaluate(ids) == pytest.approx(entropy, abs=0.05)
    assert entropy < np.log(run.model.vocab.size) - 0.3  # well below guessing uniformly


# -- a step is all or nothing; runs that go wrong end well -------------------------------------------------
def trainer_state(trainer) -> tuple:
    """Everything a checkpoint holds of a trainer, as comparable values."""
    meta, arrays = trainer.checkpoint_state()
    params = {k: v.copy() for k, v in trainer.model.params.items()}
    return repr({k: meta[k] for k in ("step", "optimizer_t", "data", "rng")}), {**arrays, **params}


def assert_same_state(a: tuple, b: tuple) -> None:
    assert a[0] == b[0]
    assert a[1].keys() == b[1].keys() and all(np.array_equal(a[1][k], b[1][k]) for k in a[1])


def test_a_step_that_raises_anywhere_changes_nothing(small_text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure in the forward/backward (after it drew dropout noise) or half-way through the optimizer's
    arithmetic leaves step, optimizer t, data position, RNG, carried state and weights as they were, and the
    run then goes on exactly like a twin that never failed."""
    run, twin = small_run(small_text, steps=3), small_run(small_text, steps=3)
    list(run.trainer.run())
    list(twin.trainer.run())
    trainer = run.trainer
    before = trainer_state(trainer)

    def cell_fails(*args, **kwargs):
        trainer.rng.random(7)
        raise RuntimeError("the cell failed")

    monkeypatch.setattr(trainer.model, "loss_and_grads", cell_fails)
    with pytest.raises(RuntimeError):
        trainer.train_step()
    assert_same_state(trainer_state(trainer), before)
    monkeypatch.undo()

    # numpy's step (one parameter at a time) and the compiled pass (update_kernels: one call per parameter and piece)
    for owner, method in ((trainer.optimizer, "update"), (jit.load(UPDATE_KERNELS), "adam")):
        original, calls = getattr(owner, method), []

        def fails_on_the_third_parameter(*args, original=original, calls=calls):
            calls.append(args)
            if len(calls) == 3:
                raise MemoryError
            return original(*args)

        monkeypatch.setattr(owner, method, fails_on_the_third_parameter)
        if method == "update":  # the compiled pass unloadable: Adam takes numpy's step
            numpy_updates(monkeypatch)
        with pytest.raises(MemoryError):
            trainer.train_step()
        assert len(calls) == 3, f"{method} was not what failed"
        assert_same_state(trainer_state(trainer), before)
        monkeypatch.undo()

    trainer.config.steps = twin.trainer.config.steps = 8
    list(trainer.run())
    list(twin.trainer.run())
    assert_same_state(trainer_state(trainer), trainer_state(twin.trainer))


def test_non_finite_steps_in_a_row_end_the_run_as_diverged(small_text: str) -> None:
    run = small_run(small_text, steps=3, val_every=0)
    list(run.trainer.run())
    run.trainer.weights["head.b_y"][0] = np.nan  # every loss is NaN from here on
    kept = {k: v.copy() for k, v in run.trainer.weights.items()}
    run.trainer.config.steps = 50
    events = list(run.trainer.run())
    assert [type(e) for e in events] == [SkippedEvent] * MAX_BAD_STEPS + [FinishedEvent]
    assert events[-1].reason == "diverged" and events[-1].step == 3 + MAX_BAD_STEPS
    for k, v in kept.items():
        np.testing.assert_array_equal(v, run.trainer.weights[k])


def test_an_update_that_would_overflow_is_skipped(small_text: str) -> None:
    run = small_run(small_text, optimizer="sgd", lr=1e300, steps=2, val_every=0)
    kept = {k: v.copy() for k, v in run.model.params.items()}
    events = list(run.trainer.run())
    assert all("would make weights non-finite" in e.reason for e in events if isinstance(e, SkippedEvent))
    assert sum(isinstance(e, SkippedEvent) for e in events) == 2 and run.trainer.optimizer.t == 0
    assert all(np.array_equal(v, run.model.params[k]) for k, v in kept.items())


def thirty_seconds_on_a_fake_clock(text: str, monkeypatch: pytest.MonkeyPatch, per_char: float,
                                   first_evaluation: float = 0.0, stop_at: float | None = None,
                                   resume: tuple | None = None, slower: tuple[float, float, float] = (30.0, 1.0, 1.0),
                                   ) -> tuple[TrainingRun, list]:
    """A 30 s --time run on a clock where a step costs 1 s and validating ``per_char`` s a character, the process's
    first Model.evaluate ``first_evaluation`` s more: the run and its events. ``stop_at``: stopped (as by Ctrl-C)
    once the clock reaches it; ``resume``: the run begins from that ``checkpoint_state()``; ``slower``: (from, steps,
    validations): from that second of the clock on, a step costs ``steps`` times as much and a character validated
    ``validations`` times (a run starved of the CPU halfway)."""
    clock = types.SimpleNamespace(now=0.0, evaluations=0)
    since, step_factor, val_factor = slower
    monkeypatch.setattr(trainer_module, "time", types.SimpleNamespace(perf_counter=lambda: clock.now))
    run = small_run(text * 10, val_every=0, steps=None, seconds=30.0)
    if resume is not None:
        run.trainer.restore(*resume)
    model, step, evaluate = run.model, run.model.loss_and_grads, run.model.evaluate

    def timed_step(*args, **kwargs):
        clock.now += step_factor if clock.now >= since else 1.0
        if stop_at is not None and clock.now >= stop_at:
            run.trainer.stop()
        return step(*args, **kwargs)

    def timed_evaluate(ids, *args, progress=None, **kwargs):
        clock.now += first_evaluation if clock.evaluations == 0 else 0.0
        clock.evaluations += 1
        read = 0

        def advance(done: int, total: int) -> None:  # a chunk costs its characters' time at the clock's speed then
            nonlocal read
            clock.now += (done - read) * per_char * (val_factor if clock.now >= since else 1.0)
            read = done
            if progress is not None:
                progress(done, total)

        return evaluate(ids, *args, progress=advance, **kwargs)

    monkeypatch.setattr(model, "loss_and_grads", timed_step)
    monkeypatch.setattr(model, "evaluate", timed_evaluate)
    assert len(run.trainer.val_ids) > trainer_module.PROBE_CHARS  # the first estimate is scaled up from a probe
    return run, list(run.trainer.run())


@pytest.mark.parametrize("per_char", [2e-4, 1e-3], ids=["validation-fits", "validation-too-long-for-its-share"])
def test_a_time_budget_keeps_room_for_the_final_validation(small_text: str, monkeypatch: pytest.MonkeyPatch,
                                                            per_char: float) -> None:
    """A 30 s run ends within one step of 30 s; a validation longer than its share of the budget reads the part
    that fits, and says so."""
    run, (*_, validation, finished) = thirty_seconds_on_a_fake_clock(small_text, monkeypatch, per_char)
    assert finished.reason == "budget" and finished.val_loss == validation.val_loss
    assert 30.0 - 1.0 <= finished.seconds <= 30.0 + 1.0
    partial = len(run.trainer.val_ids) * per_char > time_budget.VALIDATION_SHARE * 30.0
    assert ("of 9," in validation.note and "25% of the --time budget" in validation.note) == partial


@pytest.mark.parametrize(("steps", "validations"), [(4.0, 4.0), (1.0, 5.0)], ids=["all-slower", "validation-slower"])
def test_a_run_that_slows_down_still_ends_with_its_budget(small_text: str, monkeypatch: pytest.MonkeyPatch,
                                                          steps: float, validations: float) -> None:
    """From 10 s on, steps and validations run several times slower (a run niced to 19 beside a busier process);
    the final validation's reserve follows what the run measures (the steps' time, a probe when their end is near),
    so a 30 s run still ends by 30 s and a step, the validation whole or the part that fits. A reserve predicted from
    the probe at the start ended it near 37.7 s (all 4 times slower) or 37.6 s (the validation 5 times slower)."""
    _, (*events, validation, finished) = thirty_seconds_on_a_fake_clock(small_text, monkeypatch, 2e-4,
                                                                        slower=(10.0, steps, validations))
    assert finished.reason == "budget" and isinstance(validation, ValidationEvent)
    assert 30.0 - 2 * steps <= finished.seconds <= 30.0 + 1.0
    assert validation.note == "" or "left of the --time budget" in validation.note
    assert sum(isinstance(e, StepEvent) for e in events) > 7  # 7 steps before 10 s: it trained on after them


def test_a_final_validation_that_slows_as_it_reads_stops_when_the_budget_runs_out(
        small_text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its speed drops threefold as it begins (27.5 s, after the probe near the steps' end: nothing foresaw it). It
    reads its first chunk, 8,192 characters, and stops there, when the budget ran out, instead of reading on."""
    run, (*_, validation, finished) = thirty_seconds_on_a_fake_clock(small_text, monkeypatch, 2e-4,
                                                                     slower=(27.5, 1.0, 3.0))
    assert finished.reason == "budget" and 30.0 <= finished.seconds <= 30.0 + 8_192 * 6e-4
    assert validation.note == ("on 8,192 of 9,287 validation characters (the start of each of its streams), what it "
                               "read before the --time budget ran out")
    assert run.trainer.val_chars == 0  # not the text's first characters: nothing compares a model on them


def test_a_slow_first_evaluation_does_not_shrink_a_time_budget(small_text: str,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A process's first Model.evaluate pays one-time costs (here 5 s of the clock, the most measured); the reserve
    for the final validation is made from the faster probe, so a 30 s run still ends within one step of 30 s and
    validates the whole text (a reserve from the first probe alone would end it near 22.5 s). The first step is
    foretold to pay as much (it compiles kernels too): a budget that cannot hold it makes none."""
    _, (*_, validation, finished) = thirty_seconds_on_a_fake_clock(small_text, monkeypatch, 2e-4, first_evaluation=5.0)
    assert finished.reason == "budget" and 30.0 - 1.0 <= finished.seconds <= 30.0 + 1.0
    assert validation.note == ""  # the whole validation text: its warm cost is well inside its share


def test_a_resumed_time_budget_goes_on_with_the_seconds_left(small_text: str,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A 30 s run stopped at 10 s and resumed trains the 20 s left, its rate going on down the schedule: it started
    a fresh 30 s, the rate back at its top (a tester's `--time` run, resumed, trained 45 s of 30)."""
    _, whole = thirty_seconds_on_a_fake_clock(small_text, monkeypatch, 2e-4)
    stopped, first = thirty_seconds_on_a_fake_clock(small_text, monkeypatch, 2e-4, stop_at=10.0)
    saved = stopped.trainer.checkpoint_state()
    assert 10.0 <= saved[0]["seconds"] < 12.0
    resumed, rest = thirty_seconds_on_a_fake_clock(small_text, monkeypatch, 2e-4, resume=saved)
    steps = [[e for e in events if isinstance(e, StepEvent)] for events in (whole, first, rest)]
    assert rest[-1].reason == "budget" and 29.0 <= resumed.trainer.checkpoint_state()[0]["seconds"] <= 31.0
    assert steps[2][-1].step <= steps[0][-1].step  # no more steps in all than the run never stopped (its probe again)
    assert steps[2][0].lr < steps[1][-1].lr  # the schedule goes on down from where it stopped


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"batch_size": True}, "batch size"), ({"seq_length": 2.5}, "sequence length"), ({"lr": float("nan")}, "rate"),
        ({"clip": -1.0}, "clip"), ({"lr_decay": 1.5}, "lr decay"), ({"steps": 0}, "steps"),
        ({"epochs": float("inf")}, "epochs"), ({"seconds": -1.0}, "time"), ({"seed": -1}, "seed"),
        ({"optimizer": "lbfgs"}, "unknown optimizer"), ({"val_fraction": 1.0}, "val fraction"),
    ],
)
def test_every_setting_is_checked_once_where_it_is_made(settings: dict, message: str) -> None:
    with pytest.raises(RnnplayError, match=message) as err:
        TrainConfig(**settings)
    assert "\n" not in str(err.value)


def test_model_specs_are_checked_against_the_loaders_limits() -> None:
    with pytest.raises(RnnplayError, match="layers 65 is outside"):
        ModelSpec("lstm", 65, 8)
    with pytest.raises(RnnplayError, match="dropout"):
        ModelSpec("lstm", 1, 8, 1.0)


def test_resume_refuses_what_it_cannot_change_and_names_what_it_changes(small_text: str, tmp_path) -> None:
    first = small_run(small_text, steps=5)
    list(first.trainer.run())
    path = first.save(tmp_path / "m.npz")
    with pytest.raises(RnnplayError, match=r"different hidden 64 \(saved: 24\), batch_size 8 \(saved: 4\)"):
        resume_run(path, first.corpus, {"batch_size": 8}, {"hidden": 64})
    with pytest.raises(RnnplayError, match="budget"):
        resume_run(path, first.corpus, {"steps": 5})
    run = resume_run(path, first.corpus, {"lr": 0.01, "lr_floor": 0.0, "steps": 9, "batch_size": 4}, {"layers": 2})
    assert run.changes == ["lr 0.004 -> 0.01", "lr_floor 0.1 -> 0", "steps 5 -> 9"]
    assert (run.trainer.config.lr, run.trainer.config.lr_floor) == (0.01, 0.0)


@pytest.mark.parametrize("budget", [{"steps": 5}, {"steps": None, "seconds": 0.5}], ids=["steps", "time"])
def test_the_way_on_after_a_run_out_budget_is_a_larger_one(small_text: str, tmp_path, budget: dict) -> None:
    """A run interrupted in its final validation or its last save said "continue with --resume m.npz", and that
    resume was refused: its budget was spent. The line now names the budget and the larger one a resume needs;
    a run stopped before its budget still says to resume it, and it resumes."""
    run = small_run(small_text, val_every=0, **budget)
    list(run.trainer.run())
    path = run.save(tmp_path / "m.npz")
    larger = "--time" if budget["steps"] is None else "--steps or --epochs"
    spent = "--time 0.5" if budget["steps"] is None else "--steps 5"
    assert continue_hint(path, run.trainer) == (f"its budget ({spent}) is spent: to train on, --resume {path} with "
                                                f"a larger {larger}")
    if budget["steps"] is not None:  # a --time one may have a step left in its final validation's reserve
        with pytest.raises(RnnplayError, match="is spent"):
            resume_run(path, run.corpus, budget)
    stopped = small_run(small_text, val_every=0, steps=5)
    events = stopped.trainer.run()
    next(e for e in events if isinstance(e, StepEvent))
    stopped.trainer.stop()
    list(events)
    path = stopped.save(tmp_path / "s.npz")
    assert continue_hint(path, stopped.trainer) == f"continue with --resume {path}"
    assert resume_run(path, stopped.corpus, {"steps": 5}).trainer.step == 1


def test_a_run_stopped_while_its_last_steps_event_is_handled_names_its_spent_budget(small_text: str,
                                                                                   tmp_path) -> None:
    """Ctrl-C during the save of the last step (a checkpoint saved every step): the run ended as stopped, and
    its line said "continue with --resume m.npz", which is refused, as its budget is spent (seen once in the suite's
    random-moment Ctrl-C test). The way on names the spent budget, as for a run that ran out."""
    run = small_run(small_text, val_every=0, steps=3)
    events = run.trainer.run()
    next(e for e in events if isinstance(e, StepEvent) and e.step == 3)
    run.trainer.stop()  # as the checkpoint of step 3 is written
    list(events)
    assert not run.trainer.ran_out
    path = run.save(tmp_path / "m.npz")
    assert continue_hint(path, run.trainer) == (f"its budget (--steps 3) is spent: to train on, --resume {path} "
                                                "with a larger --steps or --epochs")
    with pytest.raises(RnnplayError, match="is spent"):
        resume_run(path, run.corpus, {"steps": 3})


# -- output paths ------------------------------------------------------------------------------------------
def test_a_second_lock_on_the_same_output_is_refused_and_a_stale_one_taken_over(tmp_path) -> None:
    out = tmp_path / "m.npz"
    with OutputLock(out):
        assert (tmp_path / "m.npz.lock").read_text() == f"{os.getpid()} training\n"
        with pytest.raises(RnnplayError, match=f"another training \\(PID {os.getpid()}\\) is writing"):
            OutputLock(out).__enter__()
    assert not (tmp_path / "m.npz.lock").exists()
    (tmp_path / "m.npz.lock").write_text("999999999\n")  # left by a run that was killed
    with OutputLock(out):
        pass
    assert not (tmp_path / "m.npz.lock").exists()


def test_a_lock_name_taken_by_a_link_or_a_fifo_is_refused_and_never_written_through(tmp_path) -> None:
    """OUT.lock as a link to another file emptied that file and wrote the PID in it."""
    out, victim = tmp_path / "m.npz", tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (tmp_path / "m.npz.lock").symlink_to(victim)
    with pytest.raises(RnnplayError, match=r"m\.npz\.lock is a symbolic link, not a lock file of rnnplay's: remove"):
        OutputLock(out).__enter__()
    assert victim.read_text() == "precious\n" and (tmp_path / "m.npz.lock").is_symlink()
    (tmp_path / "m.npz.lock").unlink()
    os.mkfifo(tmp_path / "m.npz.lock")
    with pytest.raises(RnnplayError, match=r"m\.npz\.lock is not a regular file"):
        OutputLock(out).__enter__()


def test_a_lock_removed_with_its_folder_is_taken_again_and_never_saved_over_another_runs(small_text: str, tmp_path,
                                                                                       monkeypatch) -> None:
    """Deleting --out's folder mid-run took the lock file with it: a second run could then take the same --out, and
    the first run's next checkpoint replaced the second's (or, the folder replaced, another file of that name)."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    run = small_run(small_text, steps=2)
    list(run.trainer.run())
    out = tmp_path / "o" / "m.npz"
    with OutputLock(out):
        shutil.rmtree(tmp_path / "o")  # nothing else took it: the lock is made again, and the save goes to out
        assert run.save_or_rescue(out) == Saved(out) and (tmp_path / "o" / "m.npz.lock").exists()
        os.rename(tmp_path / "o", tmp_path / "moved")  # the library moved away, and another file put in its place
        (tmp_path / "o").mkdir()
        out.write_bytes(b"another model")
        replaced = run.save_or_rescue(out)
        assert replaced.problem == f"{out} was replaced by another file while this run trained; that file is kept"
        assert out.read_bytes() == b"another model" and replaced.path.parent.name == "rescued"
        shutil.rmtree(tmp_path / "o")
        second = subprocess.Popen(  # a second run, started meanwhile, takes out
            [sys.executable, "-c", "import sys; from rnnplay.session.output_paths import OutputLock\n"
             f"with OutputLock({str(out)!r}):\n print('held', flush=True); sys.stdin.read()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert second.stdout is not None and second.stdout.readline() == "held\n"
        out.write_bytes(b"the second run's checkpoint")
        saved = run.save_or_rescue(out)
        second.communicate("")
        assert saved.path.parent.name == "rescued" and load_model(saved.path).training["step"] == 2
        assert saved.problem.startswith(f"{out}.lock was removed while this run trained, and another training (PID")
        assert out.read_bytes() == b"the second run's checkpoint"
        assert not (tmp_path / "o" / "m.npz.lock").exists()
        (tmp_path / "o" / "m.npz.lock").write_text("a third run's lock")  # the first run leaves it be
    assert (tmp_path / "o" / "m.npz.lock").read_text() == "a third run's lock"


def test_a_save_that_fails_goes_to_a_rescue_copy(small_text: str, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    run = small_run(small_text, steps=2)
    list(run.trainer.run())
    (tmp_path / "gone").write_text("a file where the folder was")
    saved = run.save_or_rescue(tmp_path / "gone" / "m.npz")
    assert "cannot write" in saved.problem
    assert saved.path.parent == tmp_path / "data" / "rnnplay" / "rescued" and saved.path.name.startswith("m-")
    assert load_model(saved.path).training["step"] == 2
    best = run.save_or_rescue(tmp_path / "gone" / "best" / "m.npz")  # --best of the same name, elsewhere
    assert best.path != saved.path and load_model(saved.path).training["step"] == 2  # each its own rescue copy


def test_a_best_checkpoint_that_cannot_be_saved_anywhere_is_not_claimed(small_text: str, tmp_path,
                                                                       monkeypatch) -> None:
    """--best whose file and rescue copy both failed still ended 'kept PATH: the lowest validation loss ...'."""
    (tmp_path / "afile").write_text("no folder")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "afile"))  # the rescue copy fails too
    run = small_run(small_text, steps=2)
    list(run.trainer.run())
    best = BestCheckpoint(tmp_path / "afile" / "best.npz")
    with pytest.raises(RnnplayError, match="the rescue copy failed too"):
        best.offer(run, 2.5)
    assert not best.kept
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    saved = best.offer(run, 2.6)  # rescued: the best is kept there, and said to be
    assert saved is not None and best.kept and best.path == saved.path and saved.path.parent.name == "rescued"


@pytest.mark.parametrize(
    ("name", "message"),
    [("", "not a file name"), ("sub", "is a folder"), ("sub/", "is a folder"), ("notes.txt", "will not overwrite"),
     ("notes.txt/m.npz", "is a file, not a folder"), ("/proc/rnnplay-none/m.npz", "cannot write")],
)
def test_output_paths_are_checked_before_anything_runs(tmp_path, monkeypatch, name: str, message: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(RnnplayError, match=message):
        check_output_path(name, "--out", checkpoint=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "sub"]


def test_checkpoints_that_will_not_fit_are_refused_before_the_first_step(small_text: str, tmp_path) -> None:
    """A full disk was found at the first checkpoint or at the end, with the run lost if the rescue copy's disk was
    full too; the check before the run wrote one byte. Sizes against this disk's real free space."""
    run = small_run(small_text, steps=2)
    saved = run.save(tmp_path / "m.npz").stat().st_size
    assert saved <= run.checkpoint_bytes() <= saved + (1 << 16)  # its arrays, and room for the metadata
    free = shutil.disk_usage(tmp_path).free
    check_room([(tmp_path / "new" / "m.npz", "--out", False)], free // 3)  # fits: nothing said
    with pytest.raises(RnnplayError, match=rf"--out {tmp_path}/new/m\.npz: a checkpoint of this run takes about "
                                           rf"[\d,]+ bytes, and only [\d,]+ are free in {tmp_path}; free some space"):
        check_room([(tmp_path / "new" / "m.npz", "--out", False)], free + (1 << 30))
    with pytest.raises(RnnplayError, match=r"--best .*b\.npz: the checkpoints of this run take about [\d,]+ bytes on "):
        check_room([(tmp_path / "m.npz", "--out", False), (tmp_path / "b.npz", "--best", False)], free // 2 + (1 << 20))


def test_a_folder_that_cannot_take_a_byte_is_refused_before_anything_runs(tmp_path) -> None:
    """A full disk still lets an empty file be made: the probe writes a byte, and so does the lock."""
    out = tmp_path / "m.npz"
    limit = "the file-size limit (ulimit -f) was reached: raise it, or choose another folder"  # not "free some space"
    with files_no_larger_than(0), pytest.raises(RnnplayError) as err:  # as a full disk, where every write fails
        check_output_path(out, "--out", checkpoint=True)
    assert str(err.value) == f"cannot write --out {out}: File too large; {limit}"
    with files_no_larger_than(0), pytest.raises(RnnplayError) as err:
        OutputLock(out).__enter__()
    assert str(err.value) == f"cannot write the lock file {out}.lock: File too large; {limit}"
    assert list(tmp_path.iterdir()) == []  # no probe, no lock file left behind
    with OutputLock(out):  # and the lock it let go of is free
        pass


def test_ctrl_c_while_a_step_is_committed_waits_for_the_commit(small_text: str, monkeypatch) -> None:
    """With Python's own SIGINT handler (a library caller, a notebook), a Ctrl-C in the middle of applying
    a step surfaces once the step is whole: step and optimizer count still agree."""
    run = small_run(small_text, steps=2)
    list(run.trainer.run())
    trainer = run.trainer
    apply = trainer.optimizer.apply

    def interrupted_apply(params, update):
        os.kill(os.getpid(), signal.SIGINT)  # arrives between two of the copies below
        apply(params, update)

    monkeypatch.setattr(trainer.optimizer, "apply", interrupted_apply)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with pytest.raises(KeyboardInterrupt):
        trainer.train_step()
    assert trainer.step == trainer.optimizer.t == 3
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_evaluating_with_a_large_vocabulary_holds_few_logits_at_once() -> None:
    """A text of 3,000 distinct characters: its validation used to hold 8,192 rows of logits in float64 three times
    over; chunks of at most EVAL_LOGITS logits hold a few tens of MB, and give the same loss."""
    import tracemalloc

    from rnnplay.core.cells import LSTMCell
    from rnnplay.core.vocab import Vocab

    chars = "".join(chr(0x4E00 + i) for i in range(3000))
    model = Model(LSTMCell(), Vocab.from_text(chars), 8, 1, seed=1)
    ids = np.random.default_rng(0).integers(0, 3000, size=20_000).astype(np.int32)
    whole = model.evaluate(ids[:600], seq_length=256)  # a short text: one chunk of 18 steps, nothing to split
    tracemalloc.start()
    model.evaluate(ids)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 64 * 2**20, f"{peak / 2**20:.0f} MiB at once"
    assert model.evaluate(ids[:600], seq_length=1) == pytest.approx(whole, rel=1e-9)  # chunking keeps the loss
