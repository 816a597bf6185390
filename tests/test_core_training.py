"""Trainer, optimizers, determinism, exact resume, non-finite steps, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest

from rnnplay.core.checkpoint import load_checkpoint, save_checkpoint
from rnnplay.core.model import Model
from rnnplay.core.optim import OPTIMIZERS, clip_by_global_norm, clip_by_value, decayed_lr, make_optimizer, scheduled_lr
from rnnplay.core.trainer import FinishedEvent, SkippedEvent, StepEvent, TrainConfig, ValidationEvent
from rnnplay.corpora import Corpus
from rnnplay.errors import RnnplayError
from rnnplay.models import load_model
from rnnplay.plugins import get_host
from rnnplay.training import ModelSpec, new_run, resume_run


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


def test_same_seed_same_weights(small_text: str) -> None:
    a, b = small_run(small_text), small_run(small_text)
    list(a.trainer.run())
    list(b.trainer.run())
    for k in a.model.params:
        assert np.array_equal(a.model.params[k], b.model.params[k])


def test_interrupted_and_resumed_run_ends_with_identical_weights(small_text: str, tmp_path) -> None:
    """Stop after 13 steps, save, resume from the file: bit-identical to 30 uninterrupted steps."""
    straight = small_run(small_text)
    list(straight.trainer.run())

    first = small_run(small_text)
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
    assert resumed.trainer.history.losses == straight.trainer.history.losses


def test_non_finite_loss_skips_the_step_and_keeps_weights(small_text: str) -> None:
    run = small_run(small_text, steps=3, val_every=0)
    trainer = run.trainer
    list(trainer.run())
    before = {k: v.copy() for k, v in run.model.params.items()}
    run.model.params["head.b_y"][0] = np.nan  # poison one weight: the loss becomes NaN
    trainer.config.steps = 4
    events = list(trainer.run())
    assert any(isinstance(e, SkippedEvent) and "non-finite" in e.reason for e in events)
    for k, v in before.items():
        if k != "head.b_y":
            assert np.array_equal(v, run.model.params[k]), k


def test_clipping_and_decay() -> None:
    grads = {"a": np.array([3.0, 4.0]), "b": np.array([0.0])}
    assert clip_by_global_norm(grads, 1.0) == pytest.approx(5.0)
    assert np.linalg.norm(grads["a"]) == pytest.approx(1.0, rel=1e-5)
    grads = {"a": np.array([-9.0, 2.0, 7.0])}
    clip_by_value(grads, 5.0)
    assert grads["a"].tolist() == [-5.0, 2.0, 5.0]
    assert decayed_lr(1.0, 25, 0.5, 10) == 0.25
    assert [scheduled_lr(1.0, f, "cosine") for f in (0.0, 0.5, 1.0)] == pytest.approx([1.0, 0.55, 0.1])
    assert scheduled_lr(1.0, 0.7, "constant") == 1.0
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


def test_a_fresh_model_predicts_the_character_frequencies(small_text: str) -> None:
    """The head's bias starts at log unigram frequencies, so the untrained loss is the unigram entropy."""
    run = small_run(small_text)
    ids = run.trainer.batcher.streams.ravel()
    p = np.bincount(ids, minlength=run.model.vocab.size) / len(ids)
    entropy = -float(np.sum(p[p > 0] * np.log(p[p > 0])))
    assert run.model.evaluate(ids) == pytest.approx(entropy, abs=0.05)
    assert entropy < np.log(run.model.vocab.size) - 0.3  # well below guessing uniformly
