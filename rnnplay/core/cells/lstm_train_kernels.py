"""The LSTM's training step, its elementwise part as compiled loops (numba, loaded through :mod:`rnnplay.core.jit`).

The same maths as the numpy code of :meth:`LSTMCell.forward` and
:meth:`LSTMCell.backward` (the module docstring of :mod:`.lstm` has it), one call
per time step instead of about a dozen numpy calls forward and twenty backward on
(B, H) arrays; BLAS still does every matrix product. Forward, with z = x_t@W_xh
already in ``a`` (unscaled weights here)::

    z += h_{t-1}@W_hh + b               (the product arrives as ``rec``)
    i, f, o = σ(z) = ½·tanh(z/2) + ½    g = tanh(z)         a ← [i, f, g, o], kept for backward
    c_t = f⊙c_{t-1} + i⊙g               h_t = o⊙tanh(c_t)

Backward, for one step (dh arrives from above and from the step after)::

    dc    = dc_{t+1}⊙f_{t+1} + dh ⊙ o ⊙ (1 - tanh²(c_t))
    dz_o  = dh ⊙ tanh(c_t) ⊙ o(1-o)     dz_i = dc ⊙ g ⊙ i(1-i)
    dz_f  = dc ⊙ c_{t-1} ⊙ f(1-f)        dz_g = dc ⊙ i ⊙ (1-g²)

tanh is :func:`.lstm_kernels.tanh32` (|error| < 4e-7).
"""

from __future__ import annotations

import numba
import numpy as np

from rnnplay.core.cells.lstm_kernels import HALF, SETTINGS, f32, tanh32

ONE = f32(1.0)


@numba.njit(**SETTINGS)
def forward_gates(
    a: np.ndarray, rec: np.ndarray, bias: np.ndarray, c_prev: np.ndarray,
    c_out: np.ndarray, tanh_c_out: np.ndarray, h_out: np.ndarray,
) -> None:  # fmt: skip
    """One forward step for B streams: a (B, 4H) holds x_t@W_xh and becomes [i, f, g, o]."""
    for b in range(a.shape[0]):
        forward_row(a[b], rec[b], bias, c_prev[b], c_out[b], tanh_c_out[b], h_out[b])


@numba.njit(inline="always", **SETTINGS)
def forward_row(
    a: np.ndarray, rec: np.ndarray, bias: np.ndarray, c_prev: np.ndarray,
    c_out: np.ndarray, tanh_c_out: np.ndarray, h_out: np.ndarray,
) -> None:  # fmt: skip
    """One stream of :func:`forward_gates`.

    Each loop writes one array: LLVM vectorises a loop only when it can rule out
    overlaps between what it writes and what it reads, and gives up past a few arrays.
    """
    H = c_prev.shape[0]
    sigma_gates(a[: 2 * H], rec[: 2 * H], bias[: 2 * H])  # i, f
    sigma_gates(a[3 * H :], rec[3 * H :], bias[3 * H :])  # o
    i, f, g, o = a[:H], a[H : 2 * H], a[2 * H : 3 * H], a[3 * H :]
    rec_g, bias_g = rec[2 * H : 3 * H], bias[2 * H : 3 * H]
    for j in range(H):
        g[j] = tanh32(g[j] + rec_g[j] + bias_g[j])
    for j in range(H):
        c_out[j] = f[j] * c_prev[j] + i[j] * g[j]  # c_t = f⊙c_{t-1} + i⊙g
    for j in range(H):
        tanh_c_out[j] = tanh32(c_out[j])
    for j in range(H):
        h_out[j] = o[j] * tanh_c_out[j]  # h_t = o⊙tanh(c_t)


@numba.njit(inline="always", **SETTINGS)
def sigma_gates(a: np.ndarray, rec: np.ndarray, bias: np.ndarray) -> None:
    """a ← σ(a + rec + bias), σ(z) = ½·tanh(z/2) + ½."""
    for j in range(a.shape[0]):
        a[j] = HALF * tanh32(HALF * (a[j] + rec[j] + bias[j])) + HALF


@numba.njit(**SETTINGS)
def backward_gates(
    a: np.ndarray, tanh_c: np.ndarray, c_prev: np.ndarray, dh_from_above: np.ndarray,
    dh: np.ndarray, dc: np.ndarray, dz: np.ndarray,
) -> None:  # fmt: skip
    """One backward step for B streams: dz (B, 4H) from dh + dh_from_above and dc.

    dh becomes dh + dh_from_above (the caller then overwrites it with dz·W_hhᵀ) and
    dc becomes dc⊙f, the gradient that flows on to c_{t-1}.
    """
    for b in range(a.shape[0]):
        backward_row(a[b], tanh_c[b], c_prev[b], dh_from_above[b], dh[b], dc[b], dz[b])


@numba.njit(inline="always", **SETTINGS)
def backward_row(
    a: np.ndarray, tanh_c: np.ndarray, c_prev: np.ndarray, dh_from_above: np.ndarray,
    dh: np.ndarray, dc: np.ndarray, dz: np.ndarray,
) -> None:  # fmt: skip
    """One stream of :func:`backward_gates`, one written array per loop (see :func:`forward_row`)."""
    H = dc.shape[0]
    i, f, g, o = a[:H], a[H : 2 * H], a[2 * H : 3 * H], a[3 * H :]
    dz_i, dz_f, dz_g, dz_o = dz[:H], dz[H : 2 * H], dz[2 * H : 3 * H], dz[3 * H :]
    for j in range(H):
        dh[j] += dh_from_above[j]
    for j in range(H):  # dc += dh ⊙ o ⊙ (1 - tanh²(c_t))
        dc[j] += dh[j] * o[j] * (ONE - tanh_c[j] * tanh_c[j])
    for j in range(H):
        dz_i[j] = dc[j] * g[j] * i[j] * (ONE - i[j])
    for j in range(H):
        dz_f[j] = dc[j] * c_prev[j] * f[j] * (ONE - f[j])
    for j in range(H):
        dz_g[j] = dc[j] * i[j] * (ONE - g[j] * g[j])
    for j in range(H):
        dz_o[j] = dh[j] * tanh_c[j] * o[j] * (ONE - o[j])
    for j in range(H):
        dc[j] *= f[j]  # on to c_{t-1}


def warm_up() -> None:
    """Compile (or load from the disk cache) both kernels for the types training uses."""
    a, bias, s = np.zeros((1, 8), f32), np.zeros(8, f32), np.zeros((1, 2), f32)
    forward_gates(a, a.copy(), bias, s, s.copy(), s.copy(), s.copy())
    backward_gates(a, s, s.copy(), s.copy(), s.copy(), s.copy(), a.copy())
