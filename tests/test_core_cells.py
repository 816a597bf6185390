"""Gradient checks of every built-in cell, and parity of the LSTM with torch.nn.LSTM."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from rnnplay.core.cells import LayerNormLSTMCell, LSTMCell, RNNCell
from rnnplay.core.cells.base import Cell
from rnnplay.core.dropout import Dropout
from rnnplay.core.model import Model
from rnnplay.core.vocab import Vocab
from rnnplay.plugins.testing import GradientCheckError, check_cell

# central differences' step: layer normalisation of the probes' 4 units curves so sharply that the default
# step's truncation error (it falls as step²) alone is above 1e-6
STEP = {"lnlstm": 1e-4}


@pytest.mark.parametrize("cell", [RNNCell(), LSTMCell(), LayerNormLSTMCell()], ids=lambda c: c.name)
@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize("carried_state", [True, False], ids=["carried", "zero"])
def test_gradient_check(cell, layers: int, carried_state: bool) -> None:
    report = check_cell(cell, num_layers=layers, carried_state=carried_state, eps=STEP.get(cell.name, 1e-3))
    assert report.max_rel_error < 1e-6, str(report)
    assert any(k.startswith("layers.0.W_hh") for k in report.errors)


@pytest.mark.parametrize("cell", [RNNCell(), LSTMCell(), LayerNormLSTMCell()], ids=lambda c: c.name)
def test_gradient_check_with_vector_input(cell) -> None:
    report = check_cell(cell, num_layers=2, vector_input=True, eps=STEP.get(cell.name, 1e-3))
    assert report.errors["input"] < 1e-6


def test_gradient_check_catches_a_wrong_backward() -> None:
    class Broken(RNNCell):
        def backward(self, params, cache, dh_seq, dstate):
            dx, grads, d0 = super().backward(params, cache, dh_seq, dstate)
            grads["W_hh"] = grads["W_hh"] * 1.01
            return dx, grads, d0

    with pytest.raises(GradientCheckError, match="W_hh"):
        check_cell(Broken())


class NaNForward(RNNCell):
    def forward(self, params, x, state):
        hs, last, cache = super().forward(params, x, state)
        return hs * np.nan, tuple(s * np.nan for s in last), cache


class NaNGradients(RNNCell):
    def backward(self, params, cache, dh_seq, dstate):
        dx, grads, d0 = super().backward(params, cache, dh_seq, dstate)
        return dx, {k: g * np.nan for k, g in grads.items()}, d0


class ColumnGradient(RNNCell):
    def backward(self, params, cache, dh_seq, dstate):
        dx, grads, d0 = super().backward(params, cache, dh_seq, dstate)
        return dx, {**grads, "b_h": grads["b_h"][:, None]}, d0  # numpy would broadcast it into a matrix


@pytest.mark.parametrize(("cell", "says"), [(NaNForward(), "inf"), (NaNGradients(), "inf"),
                                            (ColumnGradient(), r"shape \(4, 1\) for layers.0.b_h")])
def test_gradient_check_fails_nan_and_a_gradient_of_another_shape(cell: RNNCell, says: str) -> None:
    """A NaN compared as no error at all: a cell of NaN passed with 'max relative error 0.00e+00'."""
    with pytest.raises(GradientCheckError, match=says):
        check_cell(cell)


def test_training_refuses_a_gradient_of_another_shape(small_text: str) -> None:
    model = Model(ColumnGradient(), Vocab.from_text(small_text), 4, 1, seed=0)
    ids = model.vocab.encode(small_text[:41]).reshape(41, 1)
    with pytest.raises(ValueError, match=r"a gradient of shape \(4, 1\) for b_h, whose shape is \(4,\)"):
        model.loss_and_grads(ids[:-1], ids[1:], model.initial_state(1))


class NarrowInputGradient(RNNCell):
    def backward(self, params, cache, dh_seq, dstate):
        dx, grads, d0 = super().backward(params, cache, dh_seq, dstate)
        return (None if dx is None else dx[..., :-1]), grads, d0  # a column short: numpy's broadcast error below


def test_training_refuses_an_input_gradient_of_another_shape(small_text: str) -> None:
    """A plugin cell's dx a column short failed in the layer below as 'operands could not be broadcast together with
    shapes (40,1,3) (40,1,4)', which says neither that dx is wrong nor whose it is."""
    model = Model(NarrowInputGradient(), Vocab.from_text(small_text), 4, 2, seed=0)
    ids = model.vocab.encode(small_text[:41]).reshape(41, 1)
    with pytest.raises(ValueError, match=r"backward returned dx of shape \(40, 1, 3\), where its input x was "
                                         r"\(40, 1, 4\)"):
        model.loss_and_grads(ids[:-1], ids[1:], model.initial_state(1))


NOISE = {  # output dropout, and the kinds a trainer adds (rnnplay/core/dropout.py); the same masks on every call
    "dropout": Dropout(0.3),
    "locked": Dropout(0.3, locked=True),
    "weight-drop": Dropout(weight=0.4),
    "embedding": Dropout(embedding=0.4),
    "all": Dropout(0.3, locked=True, weight=0.4, embedding=0.4),
}


@pytest.mark.parametrize("cell", [LSTMCell(), RNNCell(), LayerNormLSTMCell()], ids=lambda c: c.name)
@pytest.mark.parametrize("noise", list(NOISE))
def test_model_gradients_with_head_and_dropout(cell, noise: str) -> None:
    """The whole model (stack + dropout + softmax head + loss) against central differences.

    Weight drop and embedding dropout run the layer on W⊙m, so dL/dW = m ⊙ dL/d(W⊙m); locked
    masks are one per stream and unit, broadcast over time.
    """
    vocab = Vocab(tuple("abcde"))
    model = Model(cell, vocab, 4, 2, dropout=NOISE[noise].output, dtype=np.float64, seed=1)
    model.noise = NOISE[noise]
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 5, (6, 2)), rng.integers(0, 5, (6, 2))
    # a carried state, as in training: from zeros, a dropped character leaves a layer-normalised LSTM's cell
    # with all units equal, where LN's derivative is 1/√ε (its docstring) and no difference quotient follows it
    states = [tuple(rng.uniform(-0.5, 0.5, s.shape) for s in state) for state in model.initial_state(2)]

    def loss() -> float:
        return model.loss_and_grads(x, y, states, np.random.default_rng(5))[0]

    _, grads, _ = model.loss_and_grads(x, y, states, np.random.default_rng(5))
    eps = STEP.get(cell.name, 1e-3)
    for name, p in model.params.items():
        flat = p.reshape(-1)
        for k in range(0, flat.size, 7):
            old = flat[k]
            vals = []
            for m in (-2, -1, 1, 2):
                flat[k] = old + m * eps
                vals.append(loss())
            flat[k] = old
            numeric = (8 * (vals[2] - vals[1]) - (vals[3] - vals[0])) / (12 * eps)
            analytic = grads[name].reshape(-1)[k]
            assert abs(numeric - analytic) <= 1e-7 + 1e-6 * abs(numeric), name


def test_lstm_forget_bias_starts_at_one() -> None:
    params = LSTMCell().init_params(5, 3, np.random.default_rng(0))
    assert params["b_h"].tolist() == [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0]


@pytest.mark.parametrize("cell", [LSTMCell(), LayerNormLSTMCell()], ids=lambda c: c.name)
def test_step_matches_forward_in_float32(cell: Cell) -> None:
    vocab = Vocab(tuple("abcdefg"))
    model = Model(cell, vocab, 16, 2, seed=3)
    ids = np.random.default_rng(1).integers(0, 7, (12, 3))
    logits, _, _ = model.forward(ids, model.initial_state(3))
    states = model.initial_state(3)
    for t in range(12):
        step_logits, states = model.step(ids[t], states)
        np.testing.assert_allclose(step_logits, logits[t], rtol=1e-4, atol=1e-5)


@pytest.fixture(scope="module")
def torch() -> Any:
    """PyTorch (a test extra), imported only by the worker that runs these parity tests, not by every worker that
    collects this module."""
    return pytest.importorskip("torch")


def test_lstm_matches_torch_outputs_and_every_gradient(torch: Any) -> None:
    """Same weights in float64: outputs, final state and every parameter gradient agree to 1e-5."""
    T, B, V, H, L = 7, 3, 6, 5, 2
    vocab = Vocab(tuple("abcdef"))
    model = Model(LSTMCell(), vocab, H, L, dtype=np.float64, seed=4)
    rng = np.random.default_rng(2)
    for p in model.params.values():
        p += rng.normal(0, 0.3, p.shape)
    ids = rng.integers(0, V, (T, B))
    targets = rng.integers(0, V, (T, B))
    h0 = [tuple(rng.normal(0, 0.5, (B, H)) for _ in range(2)) for _ in range(L)]

    lstm = torch.nn.LSTM(V, H, L).double()
    head = torch.nn.Linear(H, V).double()
    with torch.no_grad():
        for i in range(L):
            # ours: W_xh (I, 4H), W_hh (H, 4H), one bias; gate order i, f, g, o as torch
            getattr(lstm, f"weight_ih_l{i}").copy_(torch.from_numpy(model.params[f"layers.{i}.W_xh"].T))
            getattr(lstm, f"weight_hh_l{i}").copy_(torch.from_numpy(model.params[f"layers.{i}.W_hh"].T))
            getattr(lstm, f"bias_ih_l{i}").copy_(torch.from_numpy(model.params[f"layers.{i}.b_h"]))
            getattr(lstm, f"bias_hh_l{i}").zero_()
        head.weight.copy_(torch.from_numpy(model.params["head.W_hy"].T))
        head.bias.copy_(torch.from_numpy(model.params["head.b_y"]))
    x = torch.nn.functional.one_hot(torch.from_numpy(ids), V).double()
    th0 = torch.from_numpy(np.stack([s[0] for s in h0]))
    tc0 = torch.from_numpy(np.stack([s[1] for s in h0]))
    out, (hT, cT) = lstm(x, (th0, tc0))
    logits_t = head(out)
    loss_t = torch.nn.functional.cross_entropy(logits_t.reshape(-1, V), torch.from_numpy(targets).reshape(-1))
    loss_t.backward()

    logits, states, _ = model.forward(ids, h0)
    np.testing.assert_allclose(logits, logits_t.detach().numpy(), atol=1e-10)
    np.testing.assert_allclose(states[-1][0], hT[-1].detach().numpy(), atol=1e-10)
    np.testing.assert_allclose(states[-1][1], cT[-1].detach().numpy(), atol=1e-10)
    loss, grads, _ = model.loss_and_grads(ids, targets, h0)
    assert loss == pytest.approx(loss_t.item(), abs=1e-12)
    for i in range(L):
        np.testing.assert_allclose(
            grads[f"layers.{i}.W_xh"], getattr(lstm, f"weight_ih_l{i}").grad.numpy().T, atol=1e-5
        )
        np.testing.assert_allclose(
            grads[f"layers.{i}.W_hh"], getattr(lstm, f"weight_hh_l{i}").grad.numpy().T, atol=1e-5
        )
        np.testing.assert_allclose(grads[f"layers.{i}.b_h"], getattr(lstm, f"bias_ih_l{i}").grad.numpy(), atol=1e-5)
    np.testing.assert_allclose(grads["head.W_hy"], head.weight.grad.numpy().T, atol=1e-5)
    np.testing.assert_allclose(grads["head.b_y"], head.bias.grad.numpy(), atol=1e-5)


def test_rnn_matches_torch_rnn(torch: Any) -> None:
    T, B, V, H = 5, 2, 4, 3
    vocab = Vocab(tuple("abcd"))
    model = Model(RNNCell(), vocab, H, 1, dtype=np.float64, seed=0)
    ids = np.random.default_rng(0).integers(0, V, (T, B))
    rnn = torch.nn.RNN(V, H, 1).double()
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(torch.from_numpy(model.params["layers.0.W_xh"].T))
        rnn.weight_hh_l0.copy_(torch.from_numpy(model.params["layers.0.W_hh"].T))
        rnn.bias_ih_l0.copy_(torch.from_numpy(model.params["layers.0.b_h"]))
        rnn.bias_hh_l0.zero_()
    out, _ = rnn(torch.nn.functional.one_hot(torch.from_numpy(ids), V).double())
    h_seq, _, _ = RNNCell().forward(model.layers[0], ids, model.initial_state(B)[0])
    np.testing.assert_allclose(h_seq, out.detach().numpy(), atol=1e-12)
