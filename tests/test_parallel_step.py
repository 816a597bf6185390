"""The chunked training step (rnnplay/core/parallel_step.py): the same maths as the whole batch, any worker count.

No timings here: the speed is in docs/performance.md (benchmarks/under_load.py).
"""

from __future__ import annotations

import numpy as np
import pytest

from rnnplay.core import parallel_step
from rnnplay.core.cells import LayerNormLSTMCell, LSTMCell, RNNCell
from rnnplay.core.cells.base import Cell
from rnnplay.core.dropout import Dropout
from rnnplay.core.model import Model, States
from rnnplay.core.optim import Adam, clip_by_global_norm
from rnnplay.core.vocab import Vocab

VOCAB = Vocab.from_text("abcdefghijklmnopqrstuvwxyz .,\n")
B, T = 40, 12  # chunks of 32 and 8 streams: the small models here take chunk_size's WIDE_CHUNK


def batch(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, VOCAB.size, (T, B)), rng.integers(0, VOCAB.size, (T, B))


def carried(model: Model, seed: int) -> States:
    """A non-zero carried state for every layer, as after a few steps."""
    rng = np.random.default_rng(seed)
    return [tuple(rng.uniform(-0.5, 0.5, s.shape).astype(model.dtype) for s in state)
            for state in model.initial_state(B)]  # fmt: skip


def test_chunks_are_fixed_by_the_batch_size_and_the_model_shape_alone() -> None:
    assert parallel_step.chunk_size(Model(RNNCell(), VOCAB, 128, 1)) == parallel_step.WIDE_CHUNK  # 128² products
    assert parallel_step.chunk_size(Model(LSTMCell(), VOCAB, 24, 2)) == parallel_step.WIDE_CHUNK
    assert parallel_step.chunk_size(Model(RNNCell(), VOCAB, 256, 1)) == parallel_step.CHUNK  # 256²: SMALL_STEP
    assert parallel_step.chunk_size(Model(LSTMCell(), VOCAB, 256, 2, dtype=np.float64)) == parallel_step.CHUNK
    assert parallel_step.chunk_size(Model(LayerNormLSTMCell(), VOCAB, 512, 2)) == parallel_step.CHUNK
    assert parallel_step.chunk_bounds(40, 16) == [(0, 16), (16, 32), (32, 40)]
    assert parallel_step.chunk_bounds(64, 16) == [(0, 16), (16, 32), (32, 48), (48, 64)]
    assert parallel_step.chunk_bounds(64, 32) == [(0, 32), (32, 64)]
    assert parallel_step.chunk_bounds(5) == [(0, 5)]
    assert parallel_step.chunk_bounds(64) == parallel_step.chunk_bounds(64, 16)


@pytest.mark.parametrize("cell", [LSTMCell(), RNNCell(), LayerNormLSTMCell()], ids=["lstm", "rnn", "lnlstm"])
@pytest.mark.parametrize("noise", [Dropout(), Dropout(0.3), Dropout(0.3, locked=True, weight=0.3, embedding=0.2)],
                         ids=["none", "dropout", "locked-weight-embedding"])
def test_the_chunked_step_matches_the_whole_batch(cell: Cell, noise: Dropout) -> None:
    model = Model(cell, VOCAB, 24, 2, noise.output, seed=1)
    model.noise = noise
    inputs, targets = batch(2)
    states = carried(model, 3)
    whole = model.whole_loss_and_grads(inputs, targets, states, np.random.default_rng(4))
    chunked = parallel_step.loss_and_grads(model, inputs, targets, states, np.random.default_rng(4), workers=2)
    assert chunked[0] == pytest.approx(whole[0], rel=1e-6)
    assert chunked[1].keys() == whole[1].keys()
    for name, g in whole[1].items():
        np.testing.assert_allclose(chunked[1][name], g, rtol=1e-4, atol=1e-6, err_msg=name)
    for got, want in zip(chunked[2], whole[2], strict=True):  # the carried-out state, every stream in place
        for a, b in zip(got, want, strict=True):
            assert a.shape == b.shape  # float32 products of 16 rows and of 40 round apart, and LN's 1/σ scales that
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_float32_models_take_the_chunked_path_and_float64_the_reference() -> None:
    model = Model(LSTMCell(), VOCAB, 8, 1)
    assert parallel_step.chunked(model)
    assert not parallel_step.chunked(model.astype(np.float64))


def test_the_chunks_agree_with_the_whole_batch_in_float64() -> None:
    model = Model(LSTMCell(), VOCAB, 16, 2, 0.2, seed=5).astype(np.float64)
    inputs, targets = batch(6)
    states = carried(model, 7)
    whole = model.whole_loss_and_grads(inputs, targets, states, np.random.default_rng(8))
    chunked = parallel_step.loss_and_grads(model, inputs, targets, states, np.random.default_rng(8), workers=2)
    assert chunked[0] == pytest.approx(whole[0], rel=1e-12)
    for name, g in whole[1].items():
        np.testing.assert_allclose(chunked[1][name], g, rtol=1e-10, atol=1e-13, err_msg=name)


def train(workers: int, cell: Cell, steps: int = 5) -> dict[str, np.ndarray]:
    """The weights after ``steps`` clipped Adam steps with dropout, the state carried from step to step."""
    model = Model(cell, VOCAB, 32, 2, 0.25, seed=11)
    optimizer = Adam(model.params)
    rng = np.random.default_rng(12)
    states = model.initial_state(B)
    for step in range(steps):
        inputs, targets = batch(100 + step)
        _, grads, states = parallel_step.loss_and_grads(model, inputs, targets, states, rng, workers=workers)
        clip_by_global_norm(grads, 1.0)
        optimizer.step(model.params, grads, 1e-2)
    return model.params


@pytest.mark.parametrize("cell", [LSTMCell(), RNNCell()], ids=["lstm", "rnn"])
def test_the_weights_do_not_depend_on_the_number_of_workers(cell: Cell) -> None:
    one, two, three = train(1, cell), train(2, cell), train(3, cell)
    for name, w in one.items():
        assert np.array_equal(w, two[name]), name
        assert np.array_equal(w, three[name]), name


def test_a_failing_chunk_raises_in_the_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    model = Model(LSTMCell(), VOCAB, 8, 1)
    inputs, targets = batch(1)

    def broken(*args: object) -> None:
        raise RuntimeError("chunk failed")

    monkeypatch.setattr(parallel_step, "chunk_loss_and_grads", broken)
    with pytest.raises(RuntimeError, match="chunk failed"):
        parallel_step.loss_and_grads(model, inputs, targets, model.initial_state(B), workers=2)
