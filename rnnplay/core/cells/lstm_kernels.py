"""The LSTM step of :mod:`.lstm_gates`, compiled (numba, loaded only through :mod:`rnnplay.core.jit`).

:func:`forward_step` and :func:`backward_step` take the same arguments as their
numpy references in :mod:`.lstm_gates` and compute the same formulas, for float32,
as one call per time step instead of a dozen numpy calls forward and twenty
backward; BLAS still computes every matrix product. Forward, on the ½-scaled
pre-activations (σ(z) = ½·tanh(z/2) + ½, the weights already halved on the σ
columns)::

    z' = a + rec (+ bias)                i, f, o = ½·tanh(z'_i,f,o) + ½    g = tanh(z'_g)
    c_t = f⊙c_{t-1} + i⊙g                h_t = o⊙tanh(c_t)

Backward, one step (dh arrives from above and from the step after)::

    dc    = dc_{t+1}⊙f_{t+1} + dh ⊙ o ⊙ (1 - tanh²(c_t))
    dz_o  = dh ⊙ tanh(c_t) ⊙ o(1-o)     dz_i = dc ⊙ g ⊙ i(1-i)
    dz_f  = dc ⊙ c_{t-1} ⊙ f(1-f)        dz_g = dc ⊙ i ⊙ (1-g²)

:func:`product_one` is the one piece with no numpy twin, because numpy's is
``np.matmul``: one stream's product as dot products of Wᵀ's contiguous rows, on
the calling thread alone. Generation uses it in place of BLAS while training runs
in the same process (:func:`rnnplay.core.threads.cores_busy`) and BLAS's threads
would wait on the training's for the cores.

tanh is computed as x·P(x²)/Q(x²) on [-7.9, 7.9] and ±1 beyond, Eigen's float32
rational approximation (|error| < 4e-7; numpy's float32 tanh is within 6e-8).
Plain arithmetic, so LLVM vectorises it; ``math.tanh`` would be a libm call per
element, which does not vectorise.
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
HALF, ONE, CLAMP = f32(0.5), f32(1.0), f32(7.90531110763549805)
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


@numba.njit(**SETTINGS)
def forward_step(
    a: np.ndarray, rec: np.ndarray, bias: np.ndarray | None, c_prev: np.ndarray,
    c_out: np.ndarray, tanh_c_out: np.ndarray, h_out: np.ndarray,
) -> None:  # fmt: skip
    """:func:`.lstm_gates.forward_step`: ``a`` (B, 4H) becomes [i, f, g, o] of z' = a + rec + bias.

    numba compiles a bias of None as a type of its own, the addition left out.
    """
    for b in range(a.shape[0]):
        if bias is not None:
            add_to(a[b], bias)
        forward_row(a[b], rec[b], c_prev[b], c_out[b], tanh_c_out[b], h_out[b])


@numba.njit(inline="always", **SETTINGS)
def add_to(a: np.ndarray, v: np.ndarray) -> None:
    """a += v."""
    for j in range(a.shape[0]):
        a[j] += v[j]


@numba.njit(inline="always", **SETTINGS)
def forward_row(
    a: np.ndarray, rec: np.ndarray, c_prev: np.ndarray, c_out: np.ndarray, tanh_c_out: np.ndarray, h_out: np.ndarray,
) -> None:  # fmt: skip
    """One stream of :func:`forward_step`.

    Each loop writes one array: LLVM vectorises a loop only when it can rule out
    overlaps between what it writes and what it reads, and gives up past a few arrays.
    """
    H = c_prev.shape[0]
    sigma_gates(a[: 2 * H], rec[: 2 * H])  # i, f
    sigma_gates(a[3 * H :], rec[3 * H :])  # o
    i, f, g, o = a[:H], a[H : 2 * H], a[2 * H : 3 * H], a[3 * H :]
    rec_g = rec[2 * H : 3 * H]
    for j in range(H):
        g[j] = tanh32(g[j] + rec_g[j])
    for j in range(H):
        c_out[j] = f[j] * c_prev[j] + i[j] * g[j]  # c_t = f⊙c_{t-1} + i⊙g
    for j in range(H):
        tanh_c_out[j] = tanh32(c_out[j])
    for j in range(H):
        h_out[j] = o[j] * tanh_c_out[j]  # h_t = o⊙tanh(c_t)


@numba.njit(inline="always", **SETTINGS)
def sigma_gates(a: np.ndarray, rec: np.ndarray) -> None:
    """a ← σ(z) = ½·tanh(z') + ½ with z' = a + rec = z/2."""
    for j in range(a.shape[0]):
        a[j] = HALF * tanh32(a[j] + rec[j]) + HALF


@numba.njit(**SETTINGS)
def backward_step(
    a: np.ndarray, tanh_c: np.ndarray, c_prev: np.ndarray, dh_from_above: np.ndarray,
    dh: np.ndarray, dc: np.ndarray, dz: np.ndarray,
) -> None:  # fmt: skip
    """:func:`.lstm_gates.backward_step`: dz (B, 4H) from dh + dh_from_above and dc; dc becomes dc⊙f."""
    for b in range(a.shape[0]):
        backward_row(a[b], tanh_c[b], c_prev[b], dh_from_above[b], dh[b], dc[b], dz[b])


@numba.njit(inline="always", **SETTINGS)
def backward_row(
    a: np.ndarray, tanh_c: np.ndarray, c_prev: np.ndarray, dh_from_above: np.ndarray,
    dh: np.ndarray, dc: np.ndarray, dz: np.ndarray,
) -> None:  # fmt: skip
    """One stream of :func:`backward_step`, one written array per loop (see :func:`forward_row`)."""
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
def product_one(v: np.ndarray, W_T: np.ndarray, out: np.ndarray) -> None:
    """out = v@W for one stream, v (1, K) and out (1, N), from W_T = Wᵀ (N, K) in C order, N a multiple of 4."""
    v0, z = v[0], out[0]
    for j in range(0, W_T.shape[0], 4):
        z[j], z[j + 1], z[j + 2], z[j + 3] = dot4(W_T[j], W_T[j + 1], W_T[j + 2], W_T[j + 3], v0)


def warm_up() -> None:
    """Compile (or load from the disk cache) every kernel for the types rnnplay uses."""
    a, s = np.zeros((1, 8), f32), np.zeros((1, 2), f32)
    forward_step(a, a.copy(), a[0].copy(), s, s.copy(), s.copy(), s.copy())  # training
    forward_step(a, a.copy(), None, s, s.copy(), s.copy(), s.copy())  # generation
    backward_step(a, s, s.copy(), s.copy(), s.copy(), s.copy(), a.copy())
    product_one(s, np.zeros((8, 2), f32), a)
