"""The LSTM's generation step, its gates as one compiled loop (numba, loaded through :mod:`rnnplay.core.jit`).

The same maths as the numpy code of :meth:`LSTMCell.prepare_step`, on the same
prepared weights (σ columns pre-scaled by ½, so σ(z) = ½·tanh(z/2) + ½ becomes
½·tanh(z') + ½). BLAS computes each stream's products; :func:`gates` does the rest
for all B streams in one call instead of a dozen numpy ones::

    z' = products + table[r]            table[r]: the ids layer's scaled row W_xh[id] + b,
                                        or the layers above's scaled bias (r = 0)
    i, f, o = ½·tanh(z'_i,f,o) + ½      g = tanh(z'_g)
    c_t = f⊙c_{t-1} + i⊙g               h_t = o⊙tanh(c_t)

(A compiled product for one stream was tried too, as dot products of W_inᵀ's rows
four at a time: on a quiet machine 15–25% slower than BLAS's two threads at H = 256
and twice as slow at H = 512; only when another process keeps the second core busy
is it 2–4 times faster, because BLAS's second thread then waits for that core.)

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


def warm_up() -> None:
    """Compile (or load from the disk cache) the kernel for the types rnnplay uses."""
    z, table, c = np.zeros((1, 8), f32), np.zeros((2, 8), f32), np.zeros((1, 2), f32)
    gates(z, table, np.zeros(1, np.int64), c, np.empty_like(c), np.empty_like(c))
