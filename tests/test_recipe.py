"""The training recipe's pieces: locked dropout, weight drop, embedding dropout, weight averaging, warm-up.

The masks' shapes, the chunked float32 step (the compiled LSTM kernels) against the float64
reference, and what the trainer does with EMA and warm-up; the gradient checks of each kind
of dropout are with the others, in tests/test_core_cells.py. The figures of what each is worth are in
docs/training.md ("What was tried", from benchmarks/recipe.py).
"""

from __future__ import annotations

import tracemalloc
from dataclasses import replace

import numpy as np
import pytest

from rnnplay.core import parallel_step
from rnnplay.core.cells import LSTMCell, RNNCell
from rnnplay.core.cells.base import Cell
from rnnplay.core.dropout import Dropout, keep_mask
from rnnplay.core.errors import RnnplayError
from rnnplay.core.model import Model
from rnnplay.core.optim import warmed_up_lr
from rnnplay.core.train_config import ModelSpec, TrainConfig
from rnnplay.core.vocab import Vocab
from rnnplay.corpora import Corpus
from rnnplay.session.training_runs import new_run

VOCAB_CHARS = tuple("abcdefg")
KINDS = {
    "locked": Dropout(0.3, locked=True),
    "weight drop": Dropout(weight=0.4),
    "embedding": Dropout(embedding=0.4),
    "all": Dropout(0.3, locked=True, weight=0.4, embedding=0.4),
}


def noisy_model(cell: Cell, noise: Dropout, dtype: type = np.float64, hidden: int = 4) -> Model:
    model = Model(cell, Vocab(VOCAB_CHARS), hidden, 2, noise.output, dtype=dtype, seed=1)
    model.noise = noise
    return model


def test_the_masks_have_the_shape_of_their_kind() -> None:
    model = noisy_model(LSTMCell(), KINDS["all"])
    masks = model.dropout_masks(np.random.default_rng(0), 6, 3)
    assert [m.shape for m in masks.outputs] == [(1, 3, 4), (1, 3, 4)]  # one per stream and unit, for every t
    assert masks.weights[0]["W_hh"].shape == (4, 16) and masks.weights[1]["W_hh"].shape == (4, 16)
    assert masks.weights[0]["W_xh"].shape == (7, 1) and "W_xh" not in masks.weights[1]  # whole characters
    assert set(np.unique(masks.weights[0]["W_hh"])) <= {0.0, 1 / 0.6}
    part = masks.streams(slice(1, 3))
    assert part.outputs[0].shape == (1, 2, 4) and part.weights is masks.weights  # shared by every chunk
    assert model.dropout_masks(None, 6, 3).outputs == [None, None]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("locked", [False, True], ids=["step", "locked"])
def test_the_output_masks_are_booleans_applied_with_the_bits_of_the_float_masks(dtype: type, locked: bool) -> None:
    model = noisy_model(LSTMCell(), Dropout(0.3, locked=locked), dtype, hidden=9)
    masks = model.dropout_masks(np.random.default_rng(5), 7, 5)
    rng = np.random.default_rng(5)  # the float masks, drawn whole, layer after layer, from the same seed
    floats = [keep_mask(rng, (1 if locked else 7, 5, 9), 0.3, dtype) for _ in range(2)]
    x = np.random.default_rng(6).standard_normal((7, 5, 9)).astype(dtype)
    x[0, 0, :] = [np.nan, np.inf, -np.inf, -0.0, 0.0, -1e-30, 1e30, -3.0, 3.0]
    for i, want in enumerate(floats):
        assert masks.outputs[i].dtype == bool and masks.outputs[i].shape == want.shape  # a quarter of float32's
        with np.errstate(invalid="ignore"):  # ±inf dropped: NaN, both ways
            got, product = masks.dropped(i, x), x * want
        assert got.dtype == x.dtype and np.array_equal(got, product, equal_nan=True)
        assert np.array_equal(np.signbit(got), np.signbit(product))  # -0.0 where a negative value is dropped
    assert masks.outputs[0].tobytes() != masks.outputs[1].tobytes()


def test_drawing_the_output_masks_makes_no_float_array_of_the_batch() -> None:
    model = noisy_model(LSTMCell(), Dropout(0.2), np.float32, hidden=64)
    T, B = 50, 64
    tracemalloc.start()
    try:
        model.dropout_masks(np.random.default_rng(0), T, B)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    one_layer = T * B * 64  # booleans: a byte a unit (float32 masks were 4, and their draws 4 more)
    assert peak < 2 * one_layer + one_layer // 2


@pytest.mark.parametrize("cell", [LSTMCell(), RNNCell()], ids=lambda c: c.name)
def test_the_chunked_float32_step_matches_the_float64_reference(cell: Cell) -> None:
    """Three chunks (40 streams) on the compiled float32 kernels, the weight masks shared by all of them."""
    model = noisy_model(cell, KINDS["all"], np.float32, hidden=24)
    rng = np.random.default_rng(2)
    x, y = rng.integers(0, 7, (12, 40)), rng.integers(0, 7, (12, 40))
    states = model.initial_state(40)
    chunked = parallel_step.loss_and_grads(model, x, y, states, np.random.default_rng(4), workers=2)
    reference = model.astype(np.float64)
    whole = reference.whole_loss_and_grads(x, y, reference.initial_state(40), np.random.default_rng(4))
    assert chunked[0] == pytest.approx(whole[0], rel=1e-5)
    for name, g in whole[1].items():
        np.testing.assert_allclose(chunked[1][name], g, rtol=1e-3, atol=1e-6, err_msg=name)


def test_dropout_off_evaluates_the_raw_weights() -> None:
    model = noisy_model(LSTMCell(), KINDS["all"])
    ids = np.random.default_rng(0).integers(0, 7, (5, 2))
    plain = Model(LSTMCell(), model.vocab, 4, 2, dtype=np.float64, params=model.params)
    np.testing.assert_array_equal(model.forward(ids, model.initial_state(2))[0],
                                  plain.forward(ids, plain.initial_state(2))[0])


def test_a_cell_without_the_weight_gets_one_line() -> None:
    class Named(RNNCell):
        name = "named"

        def init_params(self, input_size, hidden_size, rng, dtype=np.float32):
            p = super().init_params(input_size, hidden_size, rng, dtype)
            p["U"] = p.pop("W_hh")
            return p

    model = noisy_model(Named(), Dropout(weight=0.2))
    with pytest.raises(RnnplayError, match="weight drop needs a cell with a W_hh weight"):
        model.dropout_masks(np.random.default_rng(0), 3, 2)


def small_run(text: str, **config):
    defaults = {"batch_size": 4, "seq_length": 16, "steps": 12, "val_every": 6, "seed": 3}
    return new_run(Corpus("small", text, "test"), ModelSpec("lstm", 2, 16, 0.1), TrainConfig(**{**defaults, **config}))


def test_ema_the_model_holds_the_average_and_the_optimizer_moves_the_raw_weights(small_text: str) -> None:
    run = small_run(small_text, ema=0.9, dropout_kind="locked", weight_drop=0.2, embedding_dropout=0.1)
    trainer, model = run.trainer, run.model
    assert model.noise == Dropout(0.1, locked=True, weight=0.2, embedding=0.1)
    before = {k: v.copy() for k, v in model.params.items()}
    trainer.train_step()
    raw, average = trainer.average.raw, trainer.average.average
    for name, p in model.params.items():
        d = min(0.9, 2 / 11)  # the warm start at t = 1
        np.testing.assert_allclose(p, d * before[name] + (1 - d) * raw[name], rtol=1e-6, atol=1e-7)
        np.testing.assert_array_equal(p, average[name])
    assert not np.array_equal(raw["layers.0.W_hh"], model.params["layers.0.W_hh"])
    _, arrays = trainer.checkpoint_state()
    assert {k for k in arrays if k.startswith("opt/raw/")} == {f"opt/raw/{k}" for k in model.params}


def test_warm_up_rises_linearly_to_the_schedule() -> None:
    assert [warmed_up_lr(1.0, s, 4) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert warmed_up_lr(0.5, 0, 0) == 0.5


def test_the_trainer_warms_up(small_text: str) -> None:
    run = small_run(small_text, warmup=5, lr_schedule="constant", lr=0.01)
    rates = []
    for _ in range(6):
        rates.append(run.trainer.lr())
        run.trainer.train_step()
    assert rates == pytest.approx([0.002, 0.004, 0.006, 0.008, 0.01, 0.01])


def test_the_settings_refuse_impossible_rates() -> None:
    for bad in ({"weight_drop": 1.0}, {"embedding_dropout": -0.1}, {"ema": 1.0}, {"dropout_kind": "lockd"},
                {"warmup": -1}):
        with pytest.raises(RnnplayError):
            TrainConfig(**bad)
    assert replace(TrainConfig(), ema=0.0).ema == 0.0
