"""The vanilla (Elman) RNN cell, exactly as in min-char-rnn.

Column-vector maths, as usually written::

    h_t = tanh(W_xh·x_t + W_hh·h_{t-1} + b_h)

The code works on a batch of row vectors, so every weight is stored transposed
(``W_xh`` has shape (I, H)) and the same line reads ``h_t = tanh(x_t@W_xh +
h_{t-1}@W_hh + b_h)``. For the first layer x_t is a character id, and
``x_t@W_xh`` is row x_t of W_xh. The softmax head (``y_t = W_hy·h_t + b_y``,
``p_t = softmax(y_t)``) lives in :mod:`rnnplay.core.model`, shared by all cells.

Backward, with ``dz_t = dL/d(pre-activation)``::

    dh_t   = dL/dh_t (from above) + dz_{t+1}·W_hhᵀ
    dz_t   = dh_t ⊙ (1 - h_t²)                       tanh' = 1 - tanh²
    dW_hh  = Σ_t h_{t-1}ᵀ·dz_t      dW_xh = Σ_t x_tᵀ·dz_t      db_h = Σ_t dz_t

The two weight gradients are each one large matrix product over all T·B rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnplay.core import products
from rnnplay.core.cells.base import Params, State, state_grads, uniform_init
from rnnplay.core.ops import project_inputs, project_inputs_backward


class RNNCell:
    name = "rnn"
    state_size = 1

    def init_params(
        self, input_size: int, hidden_size: int, rng: np.random.Generator, dtype: Any = np.float32
    ) -> Params:
        H = hidden_size
        return {
            "W_xh": uniform_init(rng, (input_size, H), H, dtype),
            "W_hh": uniform_init(rng, (H, H), H, dtype),
            "b_h": np.zeros(H, dtype=dtype),
        }

    def forward(self, params: Params, x: np.ndarray, state: State) -> tuple[np.ndarray, State, Any]:
        dtype = params["W_hh"].dtype
        W_hh = products.operand(params["W_hh"])  # packed once a step for this thread's kernels, if any
        T = x.shape[0]
        (h0,) = state
        B, H = h0.shape
        hs = np.empty((T + 1, B, H), dtype=dtype)  # hs[t+1] = h_t; hs[0] = carried-in state
        hs[0] = h0
        z = hs[1:]
        project_inputs(x, params["W_xh"], out=z)  # x_t@W_xh for every t at once
        z += params["b_h"]
        rec = np.empty((B, H), dtype=dtype)
        for t in range(T):
            W_hh.times(hs[t], out=rec)
            z[t] += rec
            np.tanh(z[t], out=z[t])
        return hs[1:], (hs[T],), (x, hs)

    def backward(
        self, params: Params, cache: Any, dh_seq: np.ndarray, dstate: State | None
    ) -> tuple[np.ndarray | None, Params, State]:
        x, hs = cache
        W_hh_T = products.operand(params["W_hh"].T)
        T, B, H = dh_seq.shape
        dz = 1.0 - hs[1:] * hs[1:]  # tanh'(z_t) for all t, then scaled in place by dh_t below
        (dh_next,) = state_grads(dstate, 1, (B, H), dz.dtype)
        for t in range(T - 1, -1, -1):
            dh_next += dh_seq[t]
            dz[t] *= dh_next
            W_hh_T.times(dz[t], out=dh_next)
        dz2 = dz.reshape(T * B, H)
        dW_xh, dx = project_inputs_backward(x, params["W_xh"], dz)
        grads = {
            "W_xh": dW_xh,
            "W_hh": products.product_tn(hs[:-1].reshape(T * B, H), dz2),
            "b_h": dz2.sum(axis=0),
        }
        return dx, grads, (dh_next,)

    def step(self, params: Params, x: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        z = project_inputs(x, params["W_xh"])
        z += state[0] @ params["W_hh"]
        z += params["b_h"]
        h = np.tanh(z, out=z)
        return h, (h,)
