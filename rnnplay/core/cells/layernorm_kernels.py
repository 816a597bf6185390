"""The layer-normalised LSTM step of :mod:`.layernorm_gates`, compiled (numba; loaded through :mod:`rnnplay.core.jit`).

:func:`forward_step` and :func:`backward_step` take the same arguments as their
numpy references and compute the same formulas for float32, one row (stream) at a
time: a normalisation is two passes over the row (its mean and variance, then the
normalised values), and every gate is one more pass, so a step is one call instead
of some forty numpy calls. :func:`forward_step` adds up the normalisations' sums of
four rows side by side (:func:`rows_mean_and_inv_sigma`), each in its own order.
:func:`input_forward` and :func:`sequence_grads` do the same for the whole
sequence's input side, before and after the steps, reading each row once where
numpy makes a temporary array per operation. σ(z) = ½·tanh(z/2) + ½
and tanh is the rational approximation of :mod:`.lstm_kernels` (|error| < 4e-7).
BLAS computes the products.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from rnnplay.core.cells.layer_norm import EPS
from rnnplay.core.cells.lstm_kernels import SETTINGS, SUMS, tanh32

f32 = np.float32
HALF, ONE = f32(0.5), f32(1.0)


@numba.njit(inline="always", **SETTINGS)
def sigmoid32(x: float) -> float:
    """σ(x) = ½·tanh(x/2) + ½."""
    return HALF * tanh32(HALF * x) + HALF


@numba.njit(inline="always", **SUMS)
def mean_and_inv_sigma(row: np.ndarray) -> tuple[float, float]:
    """(μ, 1/√(var + ε)) of one row."""
    n = row.shape[0]
    total = f32(0.0)
    for j in range(n):
        total += row[j]
    mean = total / n
    squares = f32(0.0)
    for j in range(n):
        d = row[j] - mean
        squares += d * d
    return mean, ONE / math.sqrt(squares / n + EPS)


@numba.njit(inline="always", **SETTINGS)
def rows_mean_and_inv_sigma(x: np.ndarray, mean: np.ndarray, inv: np.ndarray) -> None:
    """:func:`mean_and_inv_sigma` of every row of ``x`` into ``mean`` and ``inv`` (float64, as it returns them),
    four rows at a time: each row's sums are added in its own order as before, but four of them side by side, so
    one addition need not wait for the one before it (its latency) and the step takes a few times less on them."""
    n = x.shape[1]
    b = 0
    while b + 4 <= x.shape[0]:
        t0 = t1 = t2 = t3 = f32(0.0)
        for j in range(n):
            t0, t1, t2, t3 = t0 + x[b, j], t1 + x[b + 1, j], t2 + x[b + 2, j], t3 + x[b + 3, j]
        m0, m1, m2, m3 = t0 / n, t1 / n, t2 / n, t3 / n
        s0 = s1 = s2 = s3 = f32(0.0)
        for j in range(n):
            d0, d1, d2, d3 = x[b, j] - m0, x[b + 1, j] - m1, x[b + 2, j] - m2, x[b + 3, j] - m3
            s0, s1, s2, s3 = s0 + d0 * d0, s1 + d1 * d1, s2 + d2 * d2, s3 + d3 * d3
        mean[b], mean[b + 1], mean[b + 2], mean[b + 3] = m0, m1, m2, m3
        inv[b], inv[b + 1] = ONE / math.sqrt(s0 / n + EPS), ONE / math.sqrt(s1 / n + EPS)
        inv[b + 2], inv[b + 3] = ONE / math.sqrt(s2 / n + EPS), ONE / math.sqrt(s3 / n + EPS)
        b += 4
    for r in range(b, x.shape[0]):
        mean[r], inv[r] = mean_and_inv_sigma(x[r])


@numba.njit(**SETTINGS)
def forward_step(
    z_in: np.ndarray, rec: np.ndarray, g_h: np.ndarray, c_prev: np.ndarray, g_c: np.ndarray, b_c: np.ndarray,
    acts: np.ndarray, rec_hat: np.ndarray, rec_inv: np.ndarray, c: np.ndarray, c_hat: np.ndarray,
    c_inv: np.ndarray, tanh_u: np.ndarray, h: np.ndarray,
) -> None:  # fmt: skip
    """:func:`.layernorm_gates.forward_step`: each normalisation's sums for all rows first
    (:func:`rows_mean_and_inv_sigma`), then each row's passes, every gate a loop of its own (so SIMD lanes take
    it); each number computed by the same operations as one row at a time, the same bits."""
    B, H = c.shape
    means, invs = np.empty(B), np.empty(B)
    rows_mean_and_inv_sigma(rec, means, invs)
    for b in range(B):
        mean, inv = means[b], invs[b]
        rec_inv[b, 0] = inv
        a = acts[b]
        for j in range(4 * H):
            r = (rec[b, j] - mean) * inv
            rec_hat[b, j] = r
            a[j] = z_in[b, j] + r * g_h[j]
        for j in range(2 * H):
            a[j] = sigmoid32(a[j])  # i, f
        for j in range(2 * H, 3 * H):
            a[j] = tanh32(a[j])  # g
        for j in range(3 * H, 4 * H):
            a[j] = sigmoid32(a[j])  # o
        for j in range(H):
            c[b, j] = a[j] * a[2 * H + j] + a[H + j] * c_prev[b, j]  # i·g + f·c: fused as f·c + i·g was
    rows_mean_and_inv_sigma(c, means, invs)
    for b in range(B):
        mean, inv = means[b], invs[b]
        c_inv[b, 0] = inv
        for j in range(H):
            ch = (c[b, j] - mean) * inv
            c_hat[b, j] = ch
            tu = tanh32(ch * g_c[j] + b_c[j])
            tanh_u[b, j] = tu
            h[b, j] = acts[b, 3 * H + j] * tu


@numba.njit(**SUMS)
def backward_step(
    acts: np.ndarray, rec_hat: np.ndarray, rec_inv: np.ndarray, c_prev: np.ndarray, c_hat: np.ndarray,
    c_inv: np.ndarray, tanh_u: np.ndarray, g_h: np.ndarray, g_c: np.ndarray, dh: np.ndarray, dc: np.ndarray,
    du: np.ndarray, dz: np.ndarray, dr: np.ndarray,
) -> None:  # fmt: skip
    """:func:`.layernorm_gates.backward_step`."""
    H = dh.shape[1]
    for b in range(dh.shape[0]):
        mean_d, mean_dx = f32(0.0), f32(0.0)  # LN⁻ over the cell: mean(dâ), mean(dâ ⊙ â)
        for j in range(H):
            tu = tanh_u[b, j]
            d = dh[b, j] * acts[b, 3 * H + j] * (ONE - tu * tu)
            du[b, j] = d
            d_hat = d * g_c[j]
            mean_d += d_hat
            mean_dx += d_hat * c_hat[b, j]
        mean_d, mean_dx = mean_d / H, mean_dx / H
        for j in range(H):
            i, f, g, o = acts[b, j], acts[b, H + j], acts[b, 2 * H + j], acts[b, 3 * H + j]
            d = dc[b, j] + (du[b, j] * g_c[j] - mean_d - c_hat[b, j] * mean_dx) * c_inv[b, 0]
            dz[b, j] = d * g * i * (ONE - i)
            dz[b, H + j] = d * c_prev[b, j] * f * (ONE - f)
            dz[b, 2 * H + j] = d * i * (ONE - g * g)
            tu = tanh_u[b, j]
            dz[b, 3 * H + j] = dh[b, j] * tu * o * (ONE - o)
            dc[b, j] = d * f
        mean_d, mean_dx = f32(0.0), f32(0.0)  # LN⁻ over the gates
        for j in range(4 * H):
            d_hat = dz[b, j] * g_h[j]
            mean_d += d_hat
            mean_dx += d_hat * rec_hat[b, j]
        mean_d, mean_dx = mean_d / (4 * H), mean_dx / (4 * H)
        inv = rec_inv[b, 0]
        for j in range(4 * H):
            dr[b, j] = (dz[b, j] * g_h[j] - mean_d - rec_hat[b, j] * mean_dx) * inv


@numba.njit(**SUMS)
def input_forward(a: np.ndarray, g_x: np.ndarray, b_h: np.ndarray, x_hat: np.ndarray, x_inv: np.ndarray) -> None:
    """:func:`.layernorm_gates.input_forward`."""
    for r in range(a.shape[0]):
        mean, inv = mean_and_inv_sigma(a[r])
        x_inv[r, 0] = inv
        for j in range(a.shape[1]):
            x = (a[r, j] - mean) * inv
            x_hat[r, j] = x
            a[r, j] = x * g_x[j] + b_h[j]


@numba.njit(**SUMS)
def sequence_grads(
    dz: np.ndarray, x_hat: np.ndarray, x_inv: np.ndarray, rec_hat: np.ndarray, g_x: np.ndarray, d_in: np.ndarray,
    d_g_x: np.ndarray, d_g_h: np.ndarray, d_b_h: np.ndarray,
) -> None:  # fmt: skip
    """:func:`.layernorm_gates.sequence_grads`; the three sums over rows in float64."""
    G = dz.shape[1]
    sum_x, sum_h, sum_b = np.zeros(G), np.zeros(G), np.zeros(G)
    for r in range(dz.shape[0]):
        mean_d, mean_dx = f32(0.0), f32(0.0)  # LN⁻ over the input side: mean(dâ), mean(dâ ⊙ â)
        for j in range(G):
            d = dz[r, j]
            d_hat = d * g_x[j]
            mean_d += d_hat
            mean_dx += d_hat * x_hat[r, j]
            sum_x[j] += d * x_hat[r, j]
            sum_h[j] += d * rec_hat[r, j]
            sum_b[j] += d
        mean_d, mean_dx = mean_d / G, mean_dx / G
        inv = x_inv[r, 0]
        for j in range(G):
            d_in[r, j] = (dz[r, j] * g_x[j] - mean_d - x_hat[r, j] * mean_dx) * inv
    for j in range(G):
        d_g_x[j], d_g_h[j], d_b_h[j] = sum_x[j], sum_h[j], sum_b[j]


def warm_up() -> None:
    """Compile (or load from the disk cache) every kernel for float32."""
    z, s, one = np.zeros((1, 8), f32), np.zeros((1, 2), f32), np.zeros((1, 1), f32)
    g4, g1 = np.ones(8, f32), np.ones(2, f32)
    forward_step(z, z.copy(), g4, s, g1, g1.copy(), z.copy(), z.copy(), one, s.copy(), s.copy(), one.copy(),
                 s.copy(), s.copy())  # fmt: skip
    backward_step(z, z.copy(), one, s, s.copy(), one.copy(), s.copy(), g4, g1, s.copy(), s.copy(), s.copy(),
                  z.copy(), z.copy())  # fmt: skip
    input_forward(z.copy(), g4, g4.copy(), z.copy(), one.copy())
    sequence_grads(z, z.copy(), one, z.copy(), g4, z.copy(), g4.copy(), g4.copy(), g4.copy())
