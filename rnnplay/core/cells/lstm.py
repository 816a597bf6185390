"""The LSTM cell (Hochreiter & Schmidhuber 1997, with a forget gate).

Gate order in every weight and bias is **i, f, g, o** (input, forget, cell
candidate, output), the same as PyTorch's ``nn.LSTM``::

    [z_i, z_f, z_g, z_o] = x_t@W_xh + h_{t-1}@W_hh + b_h     W_xh: (I, 4H), W_hh: (H, 4H)
    i = σ(z_i)   f = σ(z_f)   g = tanh(z_g)   o = σ(z_o)
    c_t = f ⊙ c_{t-1} + i ⊙ g
    h_t = o ⊙ tanh(c_t)

The forget-gate bias starts at 1 so a fresh cell remembers by default.

Speed: numpy's tanh is several times slower than its exp on this kind of CPU,
so every nonlinearity is written with one ``exp``::

    σ(z)    = 1 / (1 + e^(-z))
    tanh(z) = 2·σ(2z) - 1

The weights are pre-scaled once per sequence (by -1 for the σ gates, -2 for g),
so a step costs one matmul, one exp over all 4H gate columns and a few in-place
ufuncs on arrays that stay in cache. With float32 weights and numba at hand, the
elementwise part of each step, forward and backward, is one compiled call instead
(:mod:`.lstm_train_kernels`, the same formulas; ``RNNPLAY_JIT=0`` keeps this code).

Backward (⊙ elementwise; "·" matrix product)::

    dh    = dL/dh_t + dz_{t+1}·W_hhᵀ
    do    = dh ⊙ tanh(c_t)                          dz_o = do ⊙ o(1-o)
    dc    = dc_{t+1}⊙f_{t+1} + dh ⊙ o ⊙ (1 - tanh²(c_t))
    dz_i  = dc ⊙ g ⊙ i(1-i)     dz_f = dc ⊙ c_{t-1} ⊙ f(1-f)     dz_g = dc ⊙ i ⊙ (1-g²)

The backward step works on (B, H) slices of one time step at a time, which
stay in cache; the weight gradients are then one large matmul over all T·B rows.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from rnnplay.core import jit, threads
from rnnplay.core.cells.base import Params, State, StepFn, uniform_init
from rnnplay.core.ops import is_ids, project_inputs, project_inputs_backward

STEP_KERNELS = "rnnplay.core.cells.lstm_kernels"  # compiled gates for generation, float32 (rnnplay.core.jit)
TRAIN_KERNELS = "rnnplay.core.cells.lstm_train_kernels"  # ... and for training's forward and backward steps


def _exp_scale(H: int, dtype: Any) -> np.ndarray:
    """-1 for the σ gates (i, f, o) and -2 for g: exp(scale·z) is e^(-z) or e^(-2z)."""
    scale = np.full(4 * H, -1.0, dtype=dtype)
    scale[2 * H : 3 * H] = -2.0
    return scale


def _activate(a: np.ndarray, H: int) -> None:
    """In place: a = e^(-z) (e^(-2z) for g) becomes [σ(z_i), σ(z_f), tanh(z_g), σ(z_o)]."""
    a += 1.0
    np.reciprocal(a, out=a)  # σ(z) = 1/(1 + e^-z)
    g = a[:, 2 * H : 3 * H]
    g *= 2.0
    g -= 1.0  # tanh(z) = 2σ(2z) - 1


def _tanh(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    """tanh(x) = 2/(1 + e^(-2x)) - 1, with one exp."""
    np.multiply(x, -2.0, out=out)
    np.exp(out, out=out)
    out += 1.0
    np.divide(2.0, out, out=out)
    out -= 1.0
    return out


class LSTMCell:
    name = "lstm"
    state_size = 2  # (h, c)

    def init_params(
        self, input_size: int, hidden_size: int, rng: np.random.Generator, dtype: Any = np.float32
    ) -> Params:
        H = hidden_size
        b = np.zeros(4 * H, dtype=dtype)
        b[H : 2 * H] = 1.0  # forget gate open at the start
        return {
            "W_xh": uniform_init(rng, (input_size, 4 * H), H, dtype),
            "W_hh": uniform_init(rng, (H, 4 * H), H, dtype),
            "b_h": b,
        }

    def forward(self, params: Params, x: np.ndarray, state: State) -> tuple[np.ndarray, State, Any]:
        dtype = params["W_hh"].dtype
        T = x.shape[0]
        h0, c0 = state
        B, H = h0.shape
        kernels = jit.load(TRAIN_KERNELS) if dtype == np.float32 else None
        if kernels is None:  # numpy: exp(scale·z) is e^(-z) (σ gates) or e^(-2z) (g), see _activate
            scale = _exp_scale(H, dtype)
            W_xh, W_hh, b = params["W_xh"] * scale, params["W_hh"] * scale, params["b_h"] * scale
        else:  # compiled: the kernel takes z itself
            W_xh, W_hh, b = params["W_xh"], params["W_hh"], params["b_h"]
        gates = project_inputs(x, W_xh)  # (T, B, 4H): x_t@W_xh for every t (scaled for numpy)
        hs = np.empty((T + 1, B, H), dtype=dtype)
        cs = np.empty((T + 1, B, H), dtype=dtype)
        tanh_c = np.empty((T, B, H), dtype=dtype)
        hs[0], cs[0] = h0, c0
        rec = np.empty((B, 4 * H), dtype=dtype)
        ig = np.empty((B, H), dtype=dtype)
        with np.errstate(over="ignore"):  # e^(-z) = inf for very negative z gives σ = 0, as it should
            for t in range(T):
                a = gates[t]
                np.matmul(hs[t], W_hh, out=rec)
                if kernels is not None:  # the lines below, as one compiled loop
                    kernels.forward_gates(a, rec, b, cs[t], cs[t + 1], tanh_c[t], hs[t + 1])
                    continue
                a += rec
                a += b
                np.exp(a, out=a)
                _activate(a, H)  # a = [i, f, g, o]
                np.multiply(a[:, H : 2 * H], cs[t], out=cs[t + 1])
                np.multiply(a[:, :H], a[:, 2 * H : 3 * H], out=ig)
                cs[t + 1] += ig  # c_t = f⊙c_{t-1} + i⊙g
                _tanh(cs[t + 1], out=tanh_c[t])
                np.multiply(a[:, 3 * H :], tanh_c[t], out=hs[t + 1])  # h_t = o⊙tanh(c_t)
        return hs[1:], (hs[T], cs[T]), (x, hs, cs, tanh_c, gates)

    def backward(
        self, params: Params, cache: Any, dh_seq: np.ndarray, dstate: State | None
    ) -> tuple[np.ndarray | None, Params, State]:
        x, hs, cs, tanh_c, gates = cache
        T, B, H = dh_seq.shape
        dtype = hs.dtype
        dz = np.empty((T, B, 4 * H), dtype=dtype)
        W_hh_T = params["W_hh"].T
        if dstate is None:
            dh = np.zeros((B, H), dtype=dtype)
            dc = np.zeros((B, H), dtype=dtype)
        else:
            dh, dc = dstate[0].copy(), dstate[1].copy()
        tmp = np.empty((B, H), dtype=dtype)
        kernels = jit.load(TRAIN_KERNELS) if dtype == np.float32 else None
        for t in range(T - 1, -1, -1):
            a, d, tc = gates[t], dz[t], tanh_c[t]
            if kernels is not None:  # the lines below, as one compiled loop
                kernels.backward_gates(a, tc, cs[t], dh_seq[t], dh, dc, d)
                np.matmul(d, W_hh_T, out=dh)  # to h_{t-1}
                continue
            i, f, g, o = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
            dz_i, dz_f, dz_g, dz_o = d[:, :H], d[:, H : 2 * H], d[:, 2 * H : 3 * H], d[:, 3 * H :]
            dh += dh_seq[t]
            np.multiply(tc, tc, out=tmp)  # dc += dh ⊙ o ⊙ (1 - tanh²(c_t))
            np.subtract(1.0, tmp, out=tmp)
            tmp *= o
            tmp *= dh
            dc += tmp
            np.multiply(dh, tc, out=dz_o)  # dz_o = dh ⊙ tanh(c_t) ⊙ o(1-o)
            np.subtract(1.0, o, out=tmp)
            tmp *= o
            dz_o *= tmp
            np.multiply(dc, g, out=dz_i)  # dz_i = dc ⊙ g ⊙ i(1-i)
            np.subtract(1.0, i, out=tmp)
            tmp *= i
            dz_i *= tmp
            np.multiply(dc, cs[t], out=dz_f)  # dz_f = dc ⊙ c_{t-1} ⊙ f(1-f)
            np.subtract(1.0, f, out=tmp)
            tmp *= f
            dz_f *= tmp
            np.multiply(g, g, out=tmp)  # dz_g = dc ⊙ i ⊙ (1-g²)
            np.subtract(1.0, tmp, out=tmp)
            tmp *= i
            np.multiply(dc, tmp, out=dz_g)
            dc *= f  # to c_{t-1}
            np.matmul(d, W_hh_T, out=dh)  # to h_{t-1}
        dz2 = dz.reshape(T * B, 4 * H)
        dW_xh, dx = project_inputs_backward(x, params["W_xh"], dz)
        grads = {
            "W_xh": dW_xh,
            "W_hh": hs[:-1].reshape(T * B, H).T @ dz2,
            "b_h": dz2.sum(axis=0),
        }
        return dx, grads, (dh, dc)

    def prepare_step(self, params: Params, input_ids: bool) -> StepFn:
        """A step function for a stream of generation steps, its constants folded in once.

        At B=1 a step is a few matrix-vector products and a dozen ufuncs on short
        vectors, so numpy's cost per call is a large part of it; this keeps the calls
        few. One tanh covers all 4H gate columns, through σ(z) = ½·tanh(z/2) + ½:
        with s = ½ on the σ columns (i, f, o) and 1 on g, k = ½ on σ and 0 on g::

            a = s⊙tanh(s⊙z) + k = [i, f, g, o]

        and s is folded into the weights here, s⊙z = x@(s⊙W_xh) + h@(s⊙W_hh) + s⊙b;
        for ids, the bias joins the input rows: s⊙(W_xh[x] + b). A layer above the
        first makes its two products one, [x, h]@[s⊙W_xh; s⊙W_hh]: the same bytes, one
        call, and a product big enough for a second BLAS thread to help (2 MB at
        H = 256: 30 µs with two threads against 50 for two 1 MB ones). The weights are
        stored column-major (``W_in.T`` contiguous): BLAS then computes x@W_in as dot
        products of contiguous rows with x, 15–30% faster at one stream than adding up
        scaled rows. With float32 weights and numba at hand, the gates after the
        product are one compiled call (:mod:`.lstm_kernels`); while training runs in
        the same process (:func:`threads.busy_cores`), one stream's whole step is, its
        product included. The weights are copied now, so training that goes on
        meanwhile shows in the next prepared step.
        """
        W = params["W_hh"]
        H, dtype = W.shape[0], W.dtype
        s, k = _step_consts(H, dtype)
        if input_ids:  # the rows added to the products: s⊙(W_xh[id] + b) by character id, or s⊙b (row 0)
            table, W_in = (params["W_xh"] + params["b_h"]) * s, W * s
        else:
            table, W_in = (params["b_h"] * s)[None, :], np.concatenate([params["W_xh"], W]) * s
        I = W_in.shape[0] - H  # the input width (above the first layer)
        W_in = np.asfortranarray(W_in)
        kernels = jit.load(STEP_KERNELS) if dtype == np.float32 else None
        one_core = kernels is not None and threads.cores_busy()  # training runs beside us: keep off BLAS's threads
        W_T, no_input = W_in.T, np.zeros((1, 0), dtype)  # W_inᵀ in C order; the ids layer's empty x
        buffers: dict[int, tuple[Any, ...]] = {}  # B -> gate arrays, [x, h] buffer (None for ids), row 0s, views

        def step(x: np.ndarray, state: State) -> tuple[np.ndarray, State]:
            h, c = state
            B = h.shape[0]
            if B not in buffers:
                z = np.empty((B, 4 * H), dtype)
                xh = None if input_ids else np.empty((B, I + H), dtype)
                views = (z[:, :H], z[:, H : 2 * H], z[:, 2 * H : 3 * H], z[:, 3 * H :])
                buffers[B] = (z, xh, np.zeros(B, np.int64), *views)
            z, xh, row_zero, i, f, g, o = buffers[B]
            if one_core and B == 1:  # the whole step, products too, in one compiled call on one core
                h_new, c_new = np.empty_like(h), np.empty_like(c)
                ids, inputs = (x, no_input) if xh is None else (row_zero, x)
                kernels.step_one(table, ids, inputs, h, c, W_T, z[0], h_new, c_new)
                return h_new, (h_new, c_new)
            if xh is None:
                np.matmul(h, W_in, out=z)
            else:
                xh[:, :I] = x
                xh[:, I:] = h
                np.matmul(xh, W_in, out=z)
            rows = x if xh is None else row_zero
            if kernels is not None:  # the same maths as below, in one compiled loop
                h_new, c_new = np.empty_like(h), np.empty_like(c)
                kernels.gates(z, table, rows, c, h_new, c_new)
                return h_new, (h_new, c_new)
            z += table[rows]
            np.tanh(z, out=z)
            z *= s
            z += k  # z = [i, f, g, o]
            c_new = f * c
            c_new += i * g  # c_t = f⊙c_{t-1} + i⊙g
            h_new = np.tanh(c_new)
            h_new *= o  # h_t = o⊙tanh(c_t)
            return h_new, (h_new, c_new)

        return step

    def step(self, params: Params, x: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        """One step (generation runs many through one :meth:`prepare_step`)."""
        return self.prepare_step(params, is_ids(x))(x, state)


@functools.lru_cache(maxsize=32)
def _step_consts(H: int, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """(s, k) with s = ½ and k = ½ on the σ gates i, f, o; s = 1 and k = 0 on g."""
    s = np.full(4 * H, 0.5, dtype=dtype)
    k = np.full(4 * H, 0.5, dtype=dtype)
    s[2 * H : 3 * H], k[2 * H : 3 * H] = 1.0, 0.0
    return s, k
