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

Each step costs the LSTM's products plus three normalisations. The elementwise
part of a step is :mod:`.layernorm_gates` (numpy, the reference) or, for float32
when numba loads, :mod:`.layernorm_kernels` (the same step compiled, one call);
what the cell buys per step and costs per minute is measured in docs/training.md.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, NamedTuple

import numpy as np

from rnnplay.core import jit, products, threads
from rnnplay.core.cells import layernorm_gates, lstm
from rnnplay.core.cells.base import Params, State, state_grads
from rnnplay.core.cells.layer_norm import rows_sum
from rnnplay.core.cells.layernorm_step import LayerStep, input_side
from rnnplay.core.cells.lstm import LSTMCell
from rnnplay.core.ops import is_ids, project_inputs_backward

KERNELS = "rnnplay.core.cells.layernorm_kernels"  # the compiled step, float32 (rnnplay.core.jit)


def gate_maths(dtype: Any) -> ModuleType:
    """The compiled step (:mod:`.layernorm_kernels`) for float32 when it loads, else the numpy reference."""
    return jit.for_dtype(KERNELS, dtype, layernorm_gates)


class Cache(NamedTuple):
    """What forward keeps for backward: per step, the outputs of :func:`.layernorm_gates.forward_step`."""

    x: np.ndarray
    x_hat: np.ndarray  # (T, B, 4H): LN(x@W_xh) before its gain
    x_inv: np.ndarray  # (T, B, 1): its 1/σ
    hs: np.ndarray  # (T+1, B, H): h_0 … h_T
    cs: np.ndarray  # (T+1, B, H): c_0 … c_T
    acts: np.ndarray  # (T, B, 4H): [i, f, g, o]
    rec_hat: np.ndarray  # (T, B, 4H): LN(h_{t-1}@W_hh) before its gain
    rec_inv: np.ndarray  # (T, B, 1)
    c_hat: np.ndarray  # (T, B, H): LN(c_t) before its gain
    c_inv: np.ndarray  # (T, B, 1)
    tanh_u: np.ndarray  # (T, B, H): tanh(γ_c ⊙ LN(c_t) + β_c)
    gates: ModuleType


class LayerNormLSTMCell:
    name = "lnlstm"
    state_size = 2  # (h, c)
    kernels = KERNELS  # what its steps load first (jit.preload_for, as the app opens a model)

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
        gates = gate_maths(params["W_hh"].dtype)
        z_in, x_hat, x_inv = input_side(params, x, gates)
        h0, c0 = state
        (T, B, G), H = z_in.shape, h0.shape[1]
        dtype = z_in.dtype
        hs, cs = np.empty((T + 1, B, H), dtype=dtype), np.empty((T + 1, B, H), dtype=dtype)
        hs[0], cs[0] = h0, c0
        acts, rec_hat = np.empty((T, B, G), dtype=dtype), np.empty((T, B, G), dtype=dtype)
        c_hat, tanh_u = np.empty((T, B, H), dtype=dtype), np.empty((T, B, H), dtype=dtype)
        rec_inv, c_inv = np.empty((T, B, 1), dtype=dtype), np.empty((T, B, 1), dtype=dtype)
        rec = np.empty((B, G), dtype=dtype)
        W_hh = products.operand(params["W_hh"])  # packed once a step for this thread's kernels, if any
        for t in range(T):
            W_hh.times(hs[t], out=rec)
            gates.forward_step(z_in[t], rec, params["g_h"], cs[t], params["g_c"], params["b_c"], acts[t],
                               rec_hat[t], rec_inv[t], cs[t + 1], c_hat[t], c_inv[t], tanh_u[t], hs[t + 1])
        cache = Cache(x, x_hat, x_inv, hs, cs, acts, rec_hat, rec_inv, c_hat, c_inv, tanh_u, gates)
        return hs[1:], (hs[T], cs[T]), cache

    def backward(
        self, params: Params, cache: Any, dh_seq: np.ndarray, dstate: State | None
    ) -> tuple[np.ndarray | None, Params, State]:
        x, x_hat, x_inv, hs, cs, acts, rec_hat, rec_inv, c_hat, c_inv, tanh_u, gates = cache
        T, B, H = dh_seq.shape
        W_hh_T = products.operand(params["W_hh"].T)
        dz, dr = np.empty_like(acts), np.empty_like(acts)
        du = np.empty_like(tanh_u)
        dh, dc = state_grads(dstate, 2, (B, H), hs.dtype)
        for t in range(T - 1, -1, -1):
            dh += dh_seq[t]
            gates.backward_step(acts[t], rec_hat[t], rec_inv[t], cs[t], c_hat[t], c_inv[t], tanh_u[t], params["g_h"],
                                params["g_c"], dh, dc, du[t], dz[t], dr[t])  # fmt: skip
            W_hh_T.times(dr[t], out=dh)  # to h_{t-1}
        d_in, (d_g_x, d_g_h, d_b_h) = np.empty_like(dz), (np.empty(4 * H, dz.dtype) for _ in range(3))
        gates.sequence_grads(*(a.reshape(T * B, -1) for a in (dz, x_hat, x_inv, rec_hat)), params["g_x"],
                             d_in.reshape(T * B, 4 * H), d_g_x, d_g_h, d_b_h)  # fmt: skip
        dW_xh, dx = project_inputs_backward(x, params["W_xh"], d_in)
        grads = {
            "W_xh": dW_xh,
            "W_hh": products.product_tn(hs[:-1].reshape(T * B, H), dr.reshape(T * B, 4 * H)),
            "b_h": d_b_h,
            "g_x": d_g_x,
            "g_h": d_g_h,
            "g_c": rows_sum(du * c_hat),
            "b_c": rows_sum(du),
        }
        return dx, grads, (dh, dc)

    def prepare_step(self, params: Params, input_ids: bool) -> LayerStep:
        """A step function for a stream of generation steps (:class:`.layernorm_step.LayerStep`).

        The gate maths is chosen here, once, as for the LSTM (:meth:`.LSTMCell.prepare_step`): compiled for
        float32 when it loads, and while training runs in the same process one stream's products are compiled too.
        """
        dtype = params["W_hh"].dtype
        gates = gate_maths(dtype)
        one_core = gates is not layernorm_gates and threads.cores_busy()
        return LayerStep(params, input_ids, gates, lstm.gate_maths(dtype).product_one if one_core else None)

    def step(self, params: Params, x: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        """One step (generation runs many through one :meth:`prepare_step`)."""
        return self.prepare_step(params, is_ids(x))(x, state)
