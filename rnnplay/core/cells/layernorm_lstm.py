"""The layer-normalised LSTM (Ba, Kiros & Hinton 2016, section 3.1), an optional cell: ``--cell lnlstm``.

The LSTM of :mod:`.lstm` with each sum normalised before it is used, so the
gates see inputs of the same scale whatever the weights grow to. ``LN`` is
:mod:`.layer_norm` over a row's units, with a gain γ (and a bias β on the cell)::

    z_t = LN(x_t@W_xh; γ_x) + LN(h_{t-1}@W_hh; γ_h) + b_h        z: [z_i, z_f, z_g, z_o], (B, 4H)
    i = σ(z_i)   f = σ(z_f)   g = tanh(z_g)   o = σ(z_o)
    c_t = f ⊙ c_{t-1} + i ⊙ g
    h_t = o ⊙ tanh(LN(c_t; γ_c, β_c))

Gate order i, f, g, o as in :mod:`.lstm`; the gains start at 1, β_c at 0 and the
forget gate's bias at 1. The two sums' own biases would only add to b_h, so they
are left out.

One corner: LN of a row whose units are all equal is 0 with a derivative of 1/√ε.
A zero state meeting a zero input row (a character dropped by embedding dropout
right after a reset) gives such a cell state, and that step's gradient is then
large enough for the clipping to scale the whole step's update away.

Backward (⊙ elementwise; LN⁻ is :func:`.layer_norm.normalise_backward`; u_t the
argument of the last tanh)::

    dh    = dL/dh_t + dr_{t+1}·W_hhᵀ
    do    = dh ⊙ tanh(u_t)                              du = dh ⊙ o ⊙ (1 - tanh²(u_t))
    dc    = dc_{t+1} ⊙ f_{t+1} + LN⁻(du ⊙ γ_c)
    dz    = [dc ⊙ g ⊙ i(1-i),  dc ⊙ c_{t-1} ⊙ f(1-f),  dc ⊙ i ⊙ (1-g²),  do ⊙ o(1-o)]
    dr_t  = LN⁻(dz ⊙ γ_h)                              (to the recurrent product h_{t-1}@W_hh)
    dW_hh = Σ_t h_{t-1}ᵀ·dr_t      dW_xh = Σ_t x_tᵀ·LN⁻(dz_t ⊙ γ_x)      db_h = Σ_t dz_t
    dγ_h  = Σ dz ⊙ LN(h@W_hh)      dγ_x = Σ dz ⊙ LN(x@W_xh)      dγ_c = Σ du ⊙ LN(c)      dβ_c = Σ du

Each step costs the LSTM's products plus three normalisations, in numpy (no
compiled kernel): what it buys per step and costs per minute is measured in
docs/training.md.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from rnnplay.core.cells.base import Params, State, state_grads
from rnnplay.core.cells.layer_norm import normalise, normalise_backward, rows_sum
from rnnplay.core.cells.lstm import LSTMCell
from rnnplay.core.ops import project_inputs, project_inputs_backward, sigmoid


class Step(NamedTuple):
    """One time step's values, as forward keeps them for backward."""

    acts: np.ndarray  # (B, 4H): [i, f, g, o]
    rec_hat: np.ndarray  # (B, 4H): LN(h_{t-1}@W_hh) before its gain
    rec_inv: np.ndarray  # (B, 1): its 1/σ
    c: np.ndarray  # (B, H): c_t
    c_hat: np.ndarray  # (B, H): LN(c_t) before its gain
    c_inv: np.ndarray  # (B, 1)
    tanh_u: np.ndarray  # (B, H): tanh(γ_c ⊙ LN(c_t) + β_c)
    h: np.ndarray  # (B, H): h_t


def lstm_step(params: Params, z_in: np.ndarray, h: np.ndarray, c: np.ndarray) -> Step:
    """One step from the input side of the gates, ``z_in = LN(x_t@W_xh; γ_x) + b_h``, and the state (h, c)."""
    H = h.shape[-1]
    rec_hat, rec_inv = normalise(h @ params["W_hh"])
    acts = z_in + rec_hat * params["g_h"]
    sigmoid(acts[:, : 2 * H], out=acts[:, : 2 * H])  # i, f
    np.tanh(acts[:, 2 * H : 3 * H], out=acts[:, 2 * H : 3 * H])  # g
    sigmoid(acts[:, 3 * H :], out=acts[:, 3 * H :])  # o
    i, f, g, o = (acts[:, k * H : (k + 1) * H] for k in range(4))
    c_new = f * c + i * g
    c_hat, c_inv = normalise(c_new)
    tanh_u = np.tanh(c_hat * params["g_c"] + params["b_c"])
    return Step(acts, rec_hat, rec_inv, c_new, c_hat, c_inv, tanh_u, o * tanh_u)


def input_side(params: Params, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(LN(x@W_xh; γ_x) + b_h, LN(x@W_xh), its 1/σ) for every position of ``x`` at once."""
    x_hat, x_inv = normalise(project_inputs(x, params["W_xh"]))
    return x_hat * params["g_x"] + params["b_h"], x_hat, x_inv


class Cache(NamedTuple):
    x: np.ndarray
    x_hat: np.ndarray  # (T, B, 4H)
    x_inv: np.ndarray  # (T, B, 1)
    hs: np.ndarray  # (T+1, B, H): h_0 … h_T
    cs: np.ndarray  # (T+1, B, H): c_0 … c_T
    steps: list[Step]


class LayerNormLSTMCell:
    name = "lnlstm"
    state_size = 2  # (h, c)

    def init_params(
        self, input_size: int, hidden_size: int, rng: np.random.Generator, dtype: Any = np.float32
    ) -> Params:
        """The LSTM's weights and biases (its forget bias at 1), and the gains at 1 and β_c at 0."""
        H = hidden_size
        return {
            **LSTMCell().init_params(input_size, hidden_size, rng, dtype),
            "g_x": np.ones(4 * H, dtype=dtype),
            "g_h": np.ones(4 * H, dtype=dtype),
            "g_c": np.ones(H, dtype=dtype),
            "b_c": np.zeros(H, dtype=dtype),
        }

    def forward(self, params: Params, x: np.ndarray, state: State) -> tuple[np.ndarray, State, Any]:
        z_in, x_hat, x_inv = input_side(params, x)
        h, c = state
        T = z_in.shape[0]
        hs = np.empty((T + 1, *h.shape), dtype=h.dtype)
        cs = np.empty((T + 1, *c.shape), dtype=c.dtype)
        hs[0], cs[0] = h, c
        steps = []
        for t in range(T):
            step = lstm_step(params, z_in[t], hs[t], cs[t])
            hs[t + 1], cs[t + 1] = step.h, step.c
            steps.append(step)
        return hs[1:], (hs[T], cs[T]), Cache(x, x_hat, x_inv, hs, cs, steps)

    def backward(
        self, params: Params, cache: Any, dh_seq: np.ndarray, dstate: State | None
    ) -> tuple[np.ndarray | None, Params, State]:
        x, x_hat, x_inv, hs, cs, steps = cache
        T, B, H = dh_seq.shape
        W_hh_T = params["W_hh"].T
        dz = np.empty((T, B, 4 * H), dtype=hs.dtype)
        dr = np.empty((T, B, 4 * H), dtype=hs.dtype)
        du = np.empty((T, B, H), dtype=hs.dtype)
        dh, dc = state_grads(dstate, 2, (B, H), hs.dtype)
        for t in range(T - 1, -1, -1):
            s = steps[t]
            i, f, g, o = (s.acts[:, k * H : (k + 1) * H] for k in range(4))
            dh = dh + dh_seq[t]
            du[t] = dh * o * (1.0 - s.tanh_u * s.tanh_u)
            dc = dc + normalise_backward(du[t] * params["g_c"], s.c_hat, s.c_inv)
            dz[t, :, :H] = dc * g * i * (1.0 - i)
            dz[t, :, H : 2 * H] = dc * cs[t] * f * (1.0 - f)
            dz[t, :, 2 * H : 3 * H] = dc * i * (1.0 - g * g)
            dz[t, :, 3 * H :] = dh * s.tanh_u * o * (1.0 - o)
            dc = dc * f
            dr[t] = normalise_backward(dz[t] * params["g_h"], s.rec_hat, s.rec_inv)
            dh = dr[t] @ W_hh_T
        rec_hat = np.stack([s.rec_hat for s in steps])
        c_hat = np.stack([s.c_hat for s in steps])
        dW_xh, dx = project_inputs_backward(x, params["W_xh"], normalise_backward(dz * params["g_x"], x_hat, x_inv))
        grads = {
            "W_xh": dW_xh,
            "W_hh": hs[:-1].reshape(T * B, H).T @ dr.reshape(T * B, 4 * H),
            "b_h": rows_sum(dz),
            "g_x": rows_sum(dz * x_hat),
            "g_h": rows_sum(dz * rec_hat),
            "g_c": rows_sum(du * c_hat),
            "b_c": rows_sum(du),
        }
        return dx, grads, (dh, dc)

    def step(self, params: Params, x: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        """One step for generation: x is (B,) ids or (B, I) vectors."""
        z_in, _, _ = input_side(params, x)
        s = lstm_step(params, z_in, *state)
        return s.h, (s.h, s.c)
