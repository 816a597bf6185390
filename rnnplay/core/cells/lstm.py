"""The LSTM cell (Hochreiter & Schmidhuber 1997, with a forget gate).

Gate order in every weight and bias is **i, f, g, o** (input, forget, cell
candidate, output), the same as PyTorch's ``nn.LSTM``::

    [z_i, z_f, z_g, z_o] = x_t@W_xh + h_{t-1}@W_hh + b_h     W_xh: (I, 4H), W_hh: (H, 4H)
    i = σ(z_i)   f = σ(z_f)   g = tanh(z_g)   o = σ(z_o)
    c_t = f ⊙ c_{t-1} + i ⊙ g
    h_t = o ⊙ tanh(c_t)

The forget-gate bias starts at 1 so a fresh cell remembers by default.

Backward (⊙ elementwise; "·" matrix product)::

    dh    = dL/dh_t + dz_{t+1}·W_hhᵀ
    do    = dh ⊙ tanh(c_t)                          dz_o = do ⊙ o(1-o)
    dc    = dc_{t+1}⊙f_{t+1} + dh ⊙ o ⊙ (1 - tanh²(c_t))
    dz_i  = dc ⊙ g ⊙ i(1-i)     dz_f = dc ⊙ c_{t-1} ⊙ f(1-f)     dz_g = dc ⊙ i ⊙ (1-g²)
    dW_xh = Σ_t x_tᵀ·dz_t       dW_hh = Σ_t h_{t-1}ᵀ·dz_t        db_h = Σ_t dz_t

One time step's gate maths is written once, in numpy, in :mod:`.lstm_gates` (σ
through tanh, on weights scaled once per sequence), and run by training (forward
and backward through time, here) and generation (:mod:`.lstm_step`) alike.
:mod:`.lstm_kernels` is the same step compiled with numba, for float32;
:func:`gate_maths` picks one of the two once per sequence or stepper. The loops
here do what is left: the matrix products, one per step, and the weight
gradients as one large product over all T·B rows, through :mod:`rnnplay.core.products`
(in a training step: on W_hh packed once per sequence, or in bfloat16; numpy's elsewhere).
Where those products and the gate maths are both compiled, :mod:`.lstm_loops` runs the
same loops over time as one compiled call each way (:func:`time_loops`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from rnnplay.core import jit, products, step_memo, threads
from rnnplay.core.cells import lstm_gates
from rnnplay.core.cells.base import Params, State, StepFn, state_grads, uniform_init
from rnnplay.core.cells.lstm_gates import GateMaths, scale
from rnnplay.core.cells.lstm_step import LayerStep
from rnnplay.core.ops import is_ids, project_inputs, project_inputs_backward

KERNELS = "rnnplay.core.cells.lstm_kernels"  # the compiled gate maths, float32 (rnnplay.core.jit)
LOOPS = "rnnplay.core.cells.lstm_loops"  # the loops over time compiled whole, on those and the products' kernels


def gate_maths(dtype: Any) -> GateMaths:
    """The compiled step (:mod:`.lstm_kernels`) for float32 when it loads, else the numpy reference."""
    return jit.for_dtype(KERNELS, dtype, lstm_gates)


def time_loops(gates: GateMaths, W: products.Operand) -> Any:
    """:mod:`.lstm_loops`' loops over time when the gate maths and ``W``'s products are both compiled, else None."""
    if gates is lstm_gates or W.kernels is None:
        return None
    loops = jit.load(LOOPS)
    return loops.for_kernels(W.kernels) if loops is not None else None


def scaled(W: np.ndarray, s: np.ndarray) -> np.ndarray:
    """W's columns times the gate scales s (``W * s``), made once a step for all its chunks."""
    return step_memo.once("gate-scaled", lambda: W * s, W)


class Cache(NamedTuple):
    """What forward keeps for backward; ``gates`` is the gate maths forward ran."""

    x: np.ndarray
    hs: np.ndarray  # (T+1, B, H): h_0 (carried in) … h_T
    cs: np.ndarray  # (T+1, B, H): c_0 … c_T
    tanh_c: np.ndarray  # (T, B, H): tanh(c_t)
    acts: np.ndarray  # (T, B, 4H): [i, f, g, o] of each step
    gates: GateMaths


class LSTMCell:
    name = "lstm"
    state_size = 2  # (h, c)
    kernels = KERNELS  # what its steps load first (jit.preload_for, as the app opens a model)

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
        gates = gate_maths(dtype)  # for this sequence, forward and backward
        s, _ = scale(H, dtype)
        W_hh = products.operand(scaled(params["W_hh"], s))  # packed once a step for this thread's kernels, if any
        acts = project_inputs(x, scaled(params["W_xh"], s))  # s⊙(x_t@W_xh) for every t, then [i, f, g, o]
        b = params["b_h"] * s
        hs = np.empty((T + 1, B, H), dtype=dtype)
        cs = np.empty((T + 1, B, H), dtype=dtype)
        tanh_c = np.empty((T, B, H), dtype=dtype)
        hs[0], cs[0] = h0, c0
        rec = np.empty((B, 4 * H), dtype=dtype)
        loops = time_loops(gates, W_hh)
        if loops is not None:  # the same loop, compiled whole
            loops.forward(acts, W_hh.packed, b, hs, cs, tanh_c, rec)
        else:
            for t in range(T):
                W_hh.times(hs[t], out=rec)  # s⊙(h_{t-1}@W_hh)
                gates.forward_step(acts[t], rec, b, cs[t], cs[t + 1], tanh_c[t], hs[t + 1])
        return hs[1:], (hs[T], cs[T]), Cache(x, hs, cs, tanh_c, acts, gates)

    def backward(
        self, params: Params, cache: Any, dh_seq: np.ndarray, dstate: State | None
    ) -> tuple[np.ndarray | None, Params, State]:
        x, hs, cs, tanh_c, acts, gates = cache
        T, B, H = dh_seq.shape
        dz = np.empty((T, B, 4 * H), dtype=hs.dtype)
        W_hh_T = products.operand(params["W_hh"].T)
        dh, dc = state_grads(dstate, 2, (B, H), hs.dtype)
        loops = time_loops(gates, W_hh_T)
        if loops is not None:
            loops.backward(acts, tanh_c, cs, np.ascontiguousarray(dh_seq), dh, dc, dz, W_hh_T.packed)
        else:
            for t in range(T - 1, -1, -1):
                gates.backward_step(acts[t], tanh_c[t], cs[t], dh_seq[t], dh, dc, dz[t])
                W_hh_T.times(dz[t], out=dh)  # to h_{t-1}
        dz2 = dz.reshape(T * B, 4 * H)
        dW_xh, dx = project_inputs_backward(x, params["W_xh"], dz)
        grads = {
            "W_xh": dW_xh,
            "W_hh": products.product_tn(hs[:-1].reshape(T * B, H), dz2),
            "b_h": dz2.sum(axis=0),
        }
        return dx, grads, (dh, dc)

    def compiled_loops(self, dtype: Any, precision: str, hidden_size: int) -> bool:
        """Whether a training step in ``precision`` runs this cell's loops over time compiled whole, both ways
        (:func:`time_loops`; the products' kernels take H and 4H columns in blocks of 16): the chunk size
        depends on it."""
        if hidden_size % 16 or gate_maths(dtype) is lstm_gates:
            return False
        kernels, loops = products.kernels(precision), jit.load(LOOPS)
        return kernels is not None and loops is not None and loops.for_kernels(kernels) is not None  # compiled now

    def prepare_step(self, params: Params, input_ids: bool) -> StepFn:
        """A step function for a stream of generation steps (:class:`.lstm_step.LayerStep`).

        The gate maths is chosen here, once: compiled for float32 when it loads. While
        training runs in the same process (:func:`threads.cores_busy`), one stream's
        product is compiled too, on the calling thread, off BLAS's threads.
        """
        gates = gate_maths(params["W_hh"].dtype)
        one_core = gates is not lstm_gates and threads.cores_busy()
        return LayerStep(params, input_ids, gates, gates.product_one if one_core else None)

    def step(self, params: Params, x: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        """One step (generation runs many through one :meth:`prepare_step`)."""
        return self.prepare_step(params, is_ids(x))(x, state)

