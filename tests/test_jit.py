"""The compiled LSTM step (numba): the same numbers as the numpy reference, and a safe fallback."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from rnnplay.core import jit, threads
from rnnplay.core.cells import LayerNormLSTMCell, LSTMCell, layernorm_gates, lstm_gates
from rnnplay.core.cells.base import Cell
from rnnplay.core.cells.layernorm_lstm import gate_maths as ln_gate_maths
from rnnplay.core.cells.lstm import gate_maths
from rnnplay.core.model import Model
from rnnplay.core.vocab import Vocab

LSTM_KERNELS = "rnnplay.core.cells.lstm_kernels"
LN_KERNELS = "rnnplay.core.cells.layernorm_kernels"


@pytest.fixture
def kernels() -> ModuleType:
    """The LSTM kernels; numba is a run-time dependency, so they must load."""
    loaded = jit.load(LSTM_KERNELS)
    assert loaded is not None, "numba is installed with rnnplay, but the LSTM kernels did not load"
    return loaded


def run_steps(
    model: Model, ids: np.ndarray, compiled: bool, monkeypatch: pytest.MonkeyPatch, busy: bool = False
) -> list[np.ndarray]:
    """Logits of every step of ids (T, B) through a stepper made with the kernels on or off (and cores busy)."""
    with monkeypatch.context() as m, threads.busy_cores() if busy else contextlib.nullcontext():
        m.setenv("RNNPLAY_JIT", "1" if compiled else "0")
        step = model.stepper()
    states, out = model.initial_state(ids.shape[1]), []
    for t in range(len(ids)):
        logits, states = step(ids[t], states)
        out.append(logits)
    return out


CELLS = pytest.mark.parametrize("cell", [LSTMCell(), LayerNormLSTMCell()], ids=lambda c: c.name)


@CELLS
@pytest.mark.parametrize("busy", [False, True])
@pytest.mark.parametrize("B", [1, 5])
@pytest.mark.parametrize("layers", [1, 3])
def test_compiled_step_equals_numpy_step(
    kernels: ModuleType, monkeypatch: pytest.MonkeyPatch, B: int, layers: int, busy: bool, cell: Cell
) -> None:
    """30 steps carried through the state, one stream (B = 1) and a batch (as beam search runs).

    busy: made inside threads.busy_cores(), as while training runs, one stream's products are compiled too.
    """
    vocab = Vocab(tuple("abcdefghij"))
    model = Model(cell, vocab, 24, layers, seed=7)
    for name, value in model.params.items():  # larger weights than the initial ones: saturated LSTM gates too
        value *= 4.0 if name.startswith("layers.") and cell.name == "lstm" else 1.0  # (LN's see normalised sums)
    ids = np.random.default_rng(2).integers(0, 10, (30, B))
    compiled = run_steps(model, ids, True, monkeypatch, busy)
    reference = run_steps(model, ids, False, monkeypatch)
    for a, b in zip(compiled, reference, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=2e-5)
    logits, _, _ = model.forward(ids, model.initial_state(B))
    np.testing.assert_allclose(np.stack(compiled), logits, rtol=0, atol=2e-5)


def test_tanh_approximation_within_4e_7_and_edge_values(kernels: ModuleType) -> None:
    x = np.concatenate([np.linspace(-20, 20, 40_001), [np.inf, -np.inf, 0.0, 1e-30, 7.9, 7.91]]).astype(np.float32)
    got = np.array([kernels.tanh32(v) for v in x], dtype=np.float64)
    np.testing.assert_allclose(got, np.tanh(x.astype(np.float64)), rtol=0, atol=4e-7)
    assert np.isnan(kernels.tanh32(np.float32(np.nan)))


def test_the_layer_normalised_step_gives_each_row_the_bits_it_has_alone() -> None:
    """The compiled step sums four rows' normalisations side by side and the rest one by one: a row's numbers are
    still those it gets alone (B = 1), bit for bit, whatever the batch (--streams, beam search, a training chunk)."""
    ln = jit.load(LN_KERNELS)
    assert ln is not None
    rng = np.random.default_rng(5)
    B, H = 7, 24  # a group of four and three rows after it
    rows = [rng.normal(0, 2, (B, 4 * H)), rng.normal(0, 3, (B, 4 * H)) + rng.normal(0, 5, (B, 1)),
            rng.normal(1, 1, 4 * H), rng.normal(0, 2, (B, H)), rng.normal(1, 1, H), rng.normal(0, 1, H)]
    z_in, rec, g_h, c_prev, g_c, b_c = (a.astype(np.float32) for a in rows)

    def step(b: slice) -> list[np.ndarray]:
        n = len(range(B)[b])
        out = [np.empty((n, k), np.float32) for k in (4 * H, 4 * H, 1, H, H, 1, H, H)]
        ln.forward_step(z_in[b], rec[b], g_h, c_prev[b], g_c, b_c, *out)
        return out

    together = step(slice(None))
    for r in range(B):
        for all_rows, alone in zip(together, step(slice(r, r + 1)), strict=True):
            assert all_rows[r].tobytes() == alone[0].tobytes()


@pytest.mark.parametrize("with_bias", [True, False])  # training passes the bias; generation has folded it in
@pytest.mark.parametrize("compiled", [True, False])
def test_gates_follow_the_lstm_equations(kernels: ModuleType, compiled: bool, with_bias: bool) -> None:
    """c = f⊙c + i⊙g and h = o⊙tanh(c) from the ½-scaled σ inputs, against numpy in float64; both step functions."""
    gates = kernels if compiled else lstm_gates
    rng = np.random.default_rng(3)
    B, H, V = 4, 8, 5
    z = rng.normal(0, 3, (B, 4 * H)).astype(np.float32)
    table = rng.normal(0, 1, (V, 4 * H)).astype(np.float32)
    ids = np.array([4, 0, 2, 2])
    c = rng.normal(0, 2, (B, H)).astype(np.float32)
    h_out, c_out, tanh_c = np.empty_like(c), np.empty_like(c), np.empty_like(c)
    bias = rng.normal(0, 1, 4 * H).astype(np.float32) if with_bias else None
    a = (z + table[ids] + (0 if bias is None else bias)).astype(np.float64)
    gates.forward_step(z, table[ids], bias, c, c_out, tanh_c, h_out)

    def sigmoid(u: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-2 * u))  # σ(2u): the σ columns come in halved

    i, f, g, o = sigmoid(a[:, :H]), sigmoid(a[:, H : 2 * H]), np.tanh(a[:, 2 * H : 3 * H]), sigmoid(a[:, 3 * H :])
    c_new = f * c + i * g
    np.testing.assert_allclose(c_out, c_new, rtol=0, atol=2e-6)
    np.testing.assert_allclose(tanh_c, np.tanh(c_new), rtol=0, atol=2e-6)
    np.testing.assert_allclose(h_out, o * np.tanh(c_new), rtol=0, atol=2e-6)
    np.testing.assert_allclose(z, np.concatenate([i, f, g, o], axis=1), rtol=0, atol=2e-6)  # kept for backward


@CELLS
def test_float64_models_keep_the_exact_numpy_step(cell: Cell) -> None:
    """The kernels are float32; a float64 model's step still equals its forward pass to 1e-12."""
    vocab = Vocab(tuple("abcdef"))
    model = Model(cell, vocab, 12, 2, seed=1, dtype=np.float64)
    ids = np.random.default_rng(4).integers(0, 6, (10, 2))
    logits, _, _ = model.forward(ids, model.initial_state(2))
    step, states = model.stepper(), model.initial_state(2)
    for t in range(10):
        step_logits, states = step(ids[t], states)
        np.testing.assert_allclose(step_logits, logits[t], rtol=0, atol=1e-12)


def test_turned_off_missing_or_broken_kernels_mean_numpy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RNNPLAY_JIT", "0")
    assert jit.load(LSTM_KERNELS) is None
    monkeypatch.setenv("RNNPLAY_JIT", "1")
    assert jit.load("rnnplay_no_such_kernels") is None
    (tmp_path / "rnnplay_broken_kernels.py").write_text("def warm_up():\n    raise RuntimeError('LLVM says no')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert jit.load("rnnplay_broken_kernels") is None
    sys.modules.pop("rnnplay_broken_kernels", None)


def test_disable_turns_the_kernels_off_for_the_process(kernels: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jit, "_disabled", False)
    assert jit.load(LSTM_KERNELS) is kernels
    jit.disable()
    assert jit.load(LSTM_KERNELS) is None


def lstm_pass(cell: Cell, x: np.ndarray, params: dict, state: tuple, dh_seq: np.ndarray, dstate: tuple,
              compiled: bool, monkeypatch: pytest.MonkeyPatch) -> list[np.ndarray]:  # fmt: skip
    """Everything one forward and one backward pass of an LSTM cell give, kernels on or off."""
    with monkeypatch.context() as m:
        m.setenv("RNNPLAY_JIT", "1" if compiled else "0")
        h_seq, (h_T, c_T), cache = cell.forward(params, x, state)
        dx, grads, (dh0, dc0) = cell.backward(params, cache, dh_seq, dstate)
    return [h_seq, h_T, c_T, *(() if dx is None else (dx,)), *(grads[k] for k in sorted(grads)), dh0, dc0]


@CELLS
@pytest.mark.parametrize("ids_input", [True, False])
def test_compiled_training_step_equals_numpy(monkeypatch: pytest.MonkeyPatch, ids_input: bool, cell: Cell) -> None:
    """Forward outputs, final state, every gradient and dx/dstate: the kernels against the numpy code."""
    assert jit.load(LSTM_KERNELS) is not None and jit.load(LN_KERNELS) is not None
    rng = np.random.default_rng(11)
    T, B, I, H = 9, 3, 7, 16
    params = {k: v * 3 for k, v in cell.init_params(I, H, rng).items()}  # saturated gates too
    x = rng.integers(0, I, (T, B)) if ids_input else rng.normal(0, 1, (T, B, I)).astype(np.float32)
    state = tuple(rng.normal(0, 1, (B, H)).astype(np.float32) for _ in range(2))
    dh_seq = rng.normal(0, 1, (T, B, H)).astype(np.float32)
    dstate = tuple(rng.normal(0, 1, (B, H)).astype(np.float32) for _ in range(2))
    compiled = lstm_pass(cell, x, params, state, dh_seq, dstate, True, monkeypatch)
    reference = lstm_pass(cell, x, params, state, dh_seq, dstate, False, monkeypatch)
    assert len(compiled) == len(reference) == len(params) + 5 + (0 if ids_input else 1)  # dx only for vectors
    for a, b in zip(compiled, reference, strict=True):
        if cell.name == "lstm":
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-5)
        else:  # dividing by σ spreads float32 rounding over a row; both paths sit as close to a float64 run
            assert np.abs(a - b).max() <= 1e-4 * np.abs(b).max()


def test_the_gate_maths_is_chosen_once_per_sequence_and_per_stepper(
    kernels: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Compiled for float32, numpy for float64 or RNNPLAY_JIT=0; a sequence's backward and a stepper keep it."""
    assert gate_maths(np.float32) is kernels
    assert gate_maths(np.float64) is lstm_gates
    assert ln_gate_maths(np.float32) is jit.load(LN_KERNELS) is not None
    assert ln_gate_maths(np.float64) is layernorm_gates
    monkeypatch.setenv("RNNPLAY_JIT", "0")
    assert gate_maths(np.float32) is lstm_gates
    assert ln_gate_maths(np.float32) is layernorm_gates
    monkeypatch.setenv("RNNPLAY_JIT", "1")
    cell = LSTMCell()
    params = cell.init_params(5, 8, np.random.default_rng(0))
    state = (np.zeros((2, 8), np.float32), np.zeros((2, 8), np.float32))
    _, _, cache = cell.forward(params, np.zeros((3, 2), np.int64), state)
    stepper = cell.prepare_step(params, True)
    monkeypatch.setenv("RNNPLAY_JIT", "0")  # too late for both
    assert cache.gates is kernels and stepper.gates is kernels
    assert cell.prepare_step(params, True).gates is lstm_gates


@CELLS
def test_one_stepper_serves_several_batch_sizes(
    kernels: ModuleType, monkeypatch: pytest.MonkeyPatch, cell: Cell
) -> None:
    """Buffers and the product are made per B: one stream off BLAS (cores busy), three through it, then one again."""
    vocab = Vocab(tuple("abcdefghij"))
    model = Model(cell, vocab, 16, 2, seed=3)
    with threads.busy_cores():
        compiled = model.stepper()
    monkeypatch.setenv("RNNPLAY_JIT", "0")
    reference = model.stepper()
    rng = np.random.default_rng(5)
    for B in (1, 3, 1):
        ids, states = rng.integers(0, 10, (4, B)), model.initial_state(B)
        ours, theirs = states, states
        for t in range(4):
            got, ours = compiled(ids[t], ours)
            want, theirs = reference(ids[t], theirs)
            np.testing.assert_allclose(got, want, rtol=0, atol=2e-5)
