"""The LSTM's generation step, its gates as one compiled loop (numba, loaded through :mod:`rnnplay.core.jit`).

The same maths as the numpy code of :meth:`LSTMCell.prepare_step`, on the same
prepared weights (σ columns pre-scaled by ½, so σ(z) = ½·tanh(z/2) + ½ becomes
½·tanh(z') + ½). BLAS computes each stream's products; :func:`gates` does the rest
for all B streams in one call instead of a dozen numpy ones::

    z' = products + table[r]            table[r]: the ids layer's scaled row W_xh[id] + b,
                                        or the layers above's scaled bias (r = 0)
    i, f, o = ½·tanh(z'_i,f,o) + ½      g = tanh(z'_g)
    c_t = f⊙c_{t-1} + i⊙g               h_t = o⊙tanh(c_t)

:func:`step_one` does a whole layer step for one stream in one call, its product as
dot products of W_inᵀ's contiguous rows with [x, h], four rows at a time, on one
core. On a quiet machine that is 15–25% slower than BLAS's two threads at H = 256 and
twice as slow at H = 512, so it is only used while training runs in the same process
(:func:`rnnplay.core.threads.busy_cores`): then BLAS's threads fight the training's for
the two cores and a one-stream step through BLAS gets 5–10 times slower, this one not.

tanh is computed as x·P(x²)/Q(x²) on [-7.9, 7.9] and ±1 beyond, Eigen's float32
rational approximation (|error| < 4e-7; numpy's float32 tanh is within 6e-8).
Plain arithmetic, so LLVM vectorises it; ``math.tanh`` would be a libm call per
element, five times slower.
"""

from __future__ import annotations

import numba
import numpy as np

# error_model="numpy": a division by zero gives inf rather than a Python exception
# check per element (the check stops vectorisation). fastmath "contract": a·b + c may
# become one fused multiply-add; NaN and inf keep their meaning.
SETTINGS = {"cache": True, "nogil": True, "error_model": "numpy", "fastmath": {"contract"}}
SUMS = {**SETTINGS, "fastmath": {"contract", "reassoc"}}  # a dot product may be summed in any order (SIMD lanes)
f32 = np.float32
HALF, CLAMP = f32(0.5), f32(7.90531110763549805)
P0, P1, P2, P3, P4, P5, P6 = (
    f32(-2.76076847742355e-16), f32(2.00018790482477e-13), f32(-8.60467152213735e-11),
    f32(5.12229709037114e-08), f32(1.48572235717979e-05), f32(6.37261928875436e-04), f32(4.89352455891786e-03),
)  # fmt: skip
Q0, Q1, Q2, Q3 = (
    f32(1.19825839466702e-06), f32(1.18534705686654e-04), f32(2.26843463243900e-03), f32(4.89352518554385e-03),
)  # fmt: skip


@numba.njit(inline="always", **SETTINGS)
def tanh32(x: float) -> float:
    """tanh(x) for float32 x, by the rational approximation (NaN stays NaN)."""
    x = CLAMP if x > CLAMP else (-CLAMP if x < -CLAMP else x)
    x2 = x * x
    p = ((((((P0 * x2 + P1) * x2 + P2) * x2 + P3) * x2 + P4) * x2 + P5) * x2 + P6) * x
    q = ((Q0 * x2 + Q1) * x2 + Q2) * x2 + Q3
    return p / q


@numba.njit(inline="always", **SETTINGS)
def cell(z: np.ndarray, add: np.ndarray, c: np.ndarray, h_out: np.ndarray, c_out: np.ndarray) -> None:
    """One stream's gates from z + add (4H,): c_out = f⊙c + i⊙g, h_out = o⊙tanh(c_out)."""
    H = c.shape[0]
    for j in range(H):
        i = HALF * tanh32(z[j] + add[j]) + HALF
        f = HALF * tanh32(z[H + j] + add[H + j]) + HALF
        g = tanh32(z[2 * H + j] + add[2 * H + j])
        o = HALF * tanh32(z[3 * H + j] + add[3 * H + j]) + HALF
        c_t = f * c[j] + i * g
        c_out[j] = c_t
        h_out[j] = o * tanh32(c_t)


@numba.njit(**SETTINGS)
def gates(
    z: np.ndarray, table: np.ndarray, ids: np.ndarray, c: np.ndarray, h_out: np.ndarray, c_out: np.ndarray
) -> None:
    """The gates of B streams from their products z (B, 4H) plus table[ids[b]]."""
    for b in range(z.shape[0]):
        cell(z[b], table[ids[b]], c[b], h_out[b], c_out[b])


@numba.njit(inline="always", **SUMS)
def dot4(r0: np.ndarray, r1: np.ndarray, r2: np.ndarray, r3: np.ndarray, v: np.ndarray) -> tuple:
    """(r0·v, r1·v, r2·v, r3·v): four rows against one vector, each v_k loaded once."""
    a0 = a1 = a2 = a3 = f32(0.0)
    for k in range(v.shape[0]):
        vk = v[k]
        a0 += r0[k] * vk
        a1 += r1[k] * vk
        a2 += r2[k] * vk
        a3 += r3[k] * vk
    return a0, a1, a2, a3


@numba.njit(**SUMS)
def step_one(
    table: np.ndarray, ids: np.ndarray, x: np.ndarray, h: np.ndarray, c: np.ndarray, W_T: np.ndarray,
    z: np.ndarray, h_out: np.ndarray, c_out: np.ndarray,
) -> None:  # fmt: skip
    """One stream's layer step: z = W_inᵀ·[x, h] (W_T = W_inᵀ in C order), then :func:`cell` with table[ids[0]]."""
    I = x.shape[1]
    x0, h0 = x[0], h[0]
    for j in range(0, W_T.shape[0], 4):
        r0, r1, r2, r3 = W_T[j], W_T[j + 1], W_T[j + 2], W_T[j + 3]
        a0, a1, a2, a3 = dot4(r0[:I], r1[:I], r2[:I], r3[:I], x0)
        b0, b1, b2, b3 = dot4(r0[I:], r1[I:], r2[I:], r3[I:], h0)
        z[j], z[j + 1], z[j + 2], z[j + 3] = a0 + b0, a1 + b1, a2 + b2, a3 + b3
    cell(z, table[ids[0]], c[0], h_out[0], c_out[0])


def warm_up() -> None:
    """Compile (or load from the disk cache) both kernels for the types rnnplay uses."""
    z, table, c, ids = np.zeros((1, 8), f32), np.zeros((2, 8), f32), np.zeros((1, 2), f32), np.zeros(1, np.int64)
    gates(z, table, ids, c, np.empty_like(c), np.empty_like(c))
    for I in (0, 2):  # the ids layer (no x) and a layer above it
        W_T = np.zeros((8, I + 2), f32)
        step_one(table, ids, np.zeros((1, I), f32), c, c, W_T, z[0], np.empty_like(c), np.empty_like(c))
