"""The GRU cell (Cho et al. 2014), written the way PyTorch's ``nn.GRU`` computes it.

Gate order in every weight and bias is **r, z, n** (reset, update, new), and the
input and hidden biases are kept apart, exactly as in PyTorch, so weights can be
copied across one to one::

    [a_r, a_z, a_n] = x_t@W_xh + b_xh                W_xh: (I, 3H)
    [u_r, u_z, u_n] = h_{t-1}@W_hh + b_hh            W_hh: (H, 3H)
    r = σ(a_r + u_r)        z = σ(a_z + u_z)
    n = tanh(a_n + r ⊙ u_n)                          the reset gate scales only the hidden part
    h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}  =  n + z ⊙ (h_{t-1} - n)

The state is h alone (``state_size = 1``). For the first layer x_t is a
character id and ``x_t@W_xh`` is row x_t of W_xh (:func:`rnnplay.core.ops.project_inputs`).

Backward (⊙ elementwise, "·" matrix product), one step, given dh = dL/dh_t::

    dn   = dh ⊙ (1 - z)                 dz = dh ⊙ (h_{t-1} - n)
    da_n = dn ⊙ (1 - n²)                                          tanh' = 1 - tanh²
    dr   = da_n ⊙ u_n                   du_n = da_n ⊙ r
    da_r = dr ⊙ r(1-r)                  da_z = dz ⊙ z(1-z)        σ' = σ(1-σ)
    input side:  dA = [da_r, da_z, da_n]       hidden side:  dU = [da_r, da_z, du_n]
    dh_{t-1} = dh ⊙ z + dU·W_hhᵀ

and over the whole sequence ``dW_xh = Σ_t x_tᵀ·dA_t``, ``dW_hh = Σ_t h_{t-1}ᵀ·dU_t``,
``db_xh = Σ_t dA_t``, ``db_hh = Σ_t dU_t``: each one large product over all T·B rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from rnnplay.core.cells.base import Params, State, uniform_init
from rnnplay.core.ops import project_inputs, project_inputs_backward, sigmoid


class GRUCell:
    name = "gru"
    state_size = 1  # (h,)

    def init_params(
        self, input_size: int, hidden_size: int, rng: np.random.Generator, dtype: Any = np.float32
    ) -> Params:
        H = hidden_size
        return {
            "W_xh": uniform_init(rng, (input_size, 3 * H), H, dtype),
            "W_hh": uniform_init(rng, (H, 3 * H), H, dtype),
            "b_xh": uniform_init(rng, (3 * H,), H, dtype),
            "b_hh": uniform_init(rng, (3 * H,), H, dtype),
        }

    def _gates(self, a: np.ndarray, h: np.ndarray, params: Params) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One step from a = x_t@W_xh + b_xh (B, 3H) and h_{t-1}: returns (r‖z (B, 2H), n (B, H), u_n (B, H))."""
        H = h.shape[1]
        u = h @ params["W_hh"]
        u += params["b_hh"]
        rz = a[:, : 2 * H] + u[:, : 2 * H]
        sigmoid(rz, out=rz)  # [r, z]
        u_n = u[:, 2 * H :]
        n = np.tanh(a[:, 2 * H :] + rz[:, :H] * u_n)
        return rz, n, u_n

    def forward(self, params: Params, x: np.ndarray, state: State) -> tuple[np.ndarray, State, Any]:
        T = x.shape[0]
        (h0,) = state
        B, H = h0.shape
        dtype = params["W_hh"].dtype
        a = project_inputs(x, params["W_xh"])  # (T, B, 3H): x_t@W_xh for every t at once
        a += params["b_xh"]
        hs = np.empty((T + 1, B, H), dtype=dtype)  # hs[t+1] = h_t; hs[0] = carried-in state
        rzs = np.empty((T, B, 2 * H), dtype=dtype)
        ns = np.empty((T, B, H), dtype=dtype)
        u_ns = np.empty((T, B, H), dtype=dtype)
        hs[0] = h0
        for t in range(T):
            rzs[t], ns[t], u_ns[t] = self._gates(a[t], hs[t], params)
            z = rzs[t, :, H:]
            np.subtract(hs[t], ns[t], out=hs[t + 1])
            hs[t + 1] *= z
            hs[t + 1] += ns[t]  # h_t = n + z ⊙ (h_{t-1} - n)
        return hs[1:], (hs[T],), (x, hs, rzs, ns, u_ns)

    def backward(
        self, params: Params, cache: Any, dh_seq: np.ndarray, dstate: State | None
    ) -> tuple[np.ndarray | None, Params, State]:
        x, hs, rzs, ns, u_ns = cache
        T, B, H = dh_seq.shape
        dA = np.empty((T, B, 3 * H), dtype=hs.dtype)  # dL/d(x_t@W_xh + b_xh)
        dU = np.empty((T, B, 3 * H), dtype=hs.dtype)  # dL/d(h_{t-1}@W_hh + b_hh)
        W_hh_T = params["W_hh"].T
        dh = np.zeros((B, H), dtype=hs.dtype) if dstate is None else dstate[0].copy()
        for t in range(T - 1, -1, -1):
            dh += dh_seq[t]
            r, z, n = rzs[t, :, :H], rzs[t, :, H:], ns[t]
            da_r, da_z, da_n = dA[t, :, :H], dA[t, :, H : 2 * H], dA[t, :, 2 * H :]
            np.multiply(dh, 1.0 - z, out=da_n)  # dn = dh ⊙ (1 - z)
            da_n *= 1.0 - n * n  # da_n = dn ⊙ (1 - n²)
            np.multiply(da_n, u_ns[t], out=da_r)  # dr = da_n ⊙ u_n
            da_r *= r * (1.0 - r)
            np.multiply(dh, hs[t] - n, out=da_z)  # dz = dh ⊙ (h_{t-1} - n)
            da_z *= z * (1.0 - z)
            dU[t, :, : 2 * H] = dA[t, :, : 2 * H]
            np.multiply(da_n, r, out=dU[t, :, 2 * H :])  # du_n = da_n ⊙ r
            dh *= z  # dh_{t-1} = dh ⊙ z + dU·W_hhᵀ
            dh += dU[t] @ W_hh_T
        dU2 = dU.reshape(T * B, 3 * H)
        dW_xh, dx = project_inputs_backward(x, params["W_xh"], dA)
        grads = {
            "W_xh": dW_xh,
            "W_hh": hs[:-1].reshape(T * B, H).T @ dU2,
            "b_xh": dA.reshape(T * B, 3 * H).sum(axis=0),
            "b_hh": dU2.sum(axis=0),
        }
        return dx, grads, (dh,)

    def step(self, params: Params, x: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        (h,) = state
        a = project_inputs(x, params["W_xh"])
        a += params["b_xh"]
        rz, n, _ = self._gates(a, h, params)
        h_new = n + rz[:, h.shape[1] :] * (h - n)
        return h_new, (h_new,)
