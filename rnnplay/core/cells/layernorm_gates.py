"""One time step of the layer-normalised LSTM's elementwise maths, in numpy: the reference.

:mod:`.layernorm_kernels` computes the same formulas with the same arguments,
compiled with numba for float32, as one call per step; :mod:`.layernorm_lstm` picks
one of the two per sequence and runs BLAS's product of each step itself. Every
output is written into an array the caller owns (its slice of the sequence's
buffers), so neither path allocates per step.

Forward, given the input side ``z_in = LN(x_t@W_xh; γ_x) + b_h`` and the product
``rec = h_{t-1}@W_hh``::

    z = z_in + γ_h ⊙ LN(rec)        i, f, o = σ(z_i,f,o)   g = tanh(z_g)
    c_t = f ⊙ c_{t-1} + i ⊙ g        h_t = o ⊙ tanh(u_t),   u_t = γ_c ⊙ LN(c_t) + β_c

Backward, given dh (from above and from the step after) and dc (from the step
after, f_{t+1} ⊙ dc_{t+1}), with LN⁻ :func:`.layer_norm.normalise_backward`::

    du = dh ⊙ o ⊙ (1 - tanh²(u_t))      dc ← dc + LN⁻(du ⊙ γ_c)
    dz = [dc ⊙ g ⊙ i(1-i),  dc ⊙ c_{t-1} ⊙ f(1-f),  dc ⊙ i ⊙ (1-g²),  dh ⊙ tanh(u_t) ⊙ o(1-o)]
    dr = LN⁻(dz ⊙ γ_h)                  dc ← dc ⊙ f    (for step t-1)

Two more functions work on every row of a sequence at once, before and after the
steps: :func:`input_forward` normalises the input side a = x@W_xh of all T steps,
and :func:`sequence_grads` takes the dz of all T steps to the input side's
gradient and the gains' and bias's sums, reading dz once.
"""

from __future__ import annotations

import numpy as np

from rnnplay.core.cells.layer_norm import normalise, normalise_backward
from rnnplay.core.ops import sigmoid


def forward_step(
    z_in: np.ndarray, rec: np.ndarray, g_h: np.ndarray, c_prev: np.ndarray, g_c: np.ndarray, b_c: np.ndarray,
    acts: np.ndarray, rec_hat: np.ndarray, rec_inv: np.ndarray, c: np.ndarray, c_hat: np.ndarray,
    c_inv: np.ndarray, tanh_u: np.ndarray, h: np.ndarray,
) -> None:  # fmt: skip
    """Fill ``acts`` with [i, f, g, o], the normalised ``rec`` and its 1/σ, c_t, LN(c_t) and its 1/σ, tanh(u_t), h_t."""
    H = c.shape[-1]
    rec_hat[...], rec_inv[...] = normalise(rec)
    np.multiply(rec_hat, g_h, out=acts)
    acts += z_in
    sigmoid(acts[:, : 2 * H], out=acts[:, : 2 * H])  # i, f
    np.tanh(acts[:, 2 * H : 3 * H], out=acts[:, 2 * H : 3 * H])  # g
    sigmoid(acts[:, 3 * H :], out=acts[:, 3 * H :])  # o
    i, f, g, o = (acts[:, k * H : (k + 1) * H] for k in range(4))
    np.multiply(f, c_prev, out=c)
    c += i * g
    c_hat[...], c_inv[...] = normalise(c)
    np.tanh(c_hat * g_c + b_c, out=tanh_u)
    np.multiply(o, tanh_u, out=h)


def backward_step(
    acts: np.ndarray, rec_hat: np.ndarray, rec_inv: np.ndarray, c_prev: np.ndarray, c_hat: np.ndarray,
    c_inv: np.ndarray, tanh_u: np.ndarray, g_h: np.ndarray, g_c: np.ndarray, dh: np.ndarray, dc: np.ndarray,
    du: np.ndarray, dz: np.ndarray, dr: np.ndarray,
) -> None:  # fmt: skip
    """Fill ``du``, ``dz`` and ``dr`` (the gradient of ``rec``), and turn ``dc`` into f ⊙ dc_t for the step before."""
    H = dh.shape[-1]
    i, f, g, o = (acts[:, k * H : (k + 1) * H] for k in range(4))
    np.multiply(dh * o, 1.0 - tanh_u * tanh_u, out=du)
    dc += normalise_backward(du * g_c, c_hat, c_inv)
    dz[:, :H] = dc * g * i * (1.0 - i)
    dz[:, H : 2 * H] = dc * c_prev * f * (1.0 - f)
    dz[:, 2 * H : 3 * H] = dc * i * (1.0 - g * g)
    dz[:, 3 * H :] = dh * tanh_u * o * (1.0 - o)
    dc *= f
    dr[...] = normalise_backward(dz * g_h, rec_hat, rec_inv)


def input_forward(a: np.ndarray, g_x: np.ndarray, b_h: np.ndarray, x_hat: np.ndarray, x_inv: np.ndarray) -> None:
    """Turn the rows of ``a = x@W_xh`` into z_in = γ_x ⊙ LN(a) + b_h in place; fill LN(a) and its 1/σ (N, 1)."""
    x_hat[...], x_inv[...] = normalise(a)
    np.multiply(x_hat, g_x, out=a)
    a += b_h


def sequence_grads(
    dz: np.ndarray, x_hat: np.ndarray, x_inv: np.ndarray, rec_hat: np.ndarray, g_x: np.ndarray, d_in: np.ndarray,
    d_g_x: np.ndarray, d_g_h: np.ndarray, d_b_h: np.ndarray,
) -> None:  # fmt: skip
    """From rows of dz: d_in = LN⁻(dz ⊙ γ_x), the gradient of x@W_xh; dγ_x = Σ dz ⊙ x̂, dγ_h = Σ dz ⊙ r̂, db_h = Σ dz."""
    d_in[...] = normalise_backward(dz * g_x, x_hat, x_inv)
    d_g_x[...], d_g_h[...], d_b_h[...] = (dz * x_hat).sum(axis=0), (dz * rec_hat).sum(axis=0), dz.sum(axis=0)
