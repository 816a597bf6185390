"""One LSTM time step's gate maths in numpy: the reference that training and generation both run.

Gate order i, f, g, o (:mod:`.lstm` has the equations). Every nonlinearity is a
tanh, σ included, through σ(z) = ½·tanh(z/2) + ½. With s = ½ on the σ columns
(i, f, o) and 1 on g, and k = ½ on the σ columns and 0 on g, all 4H gates are::

    [i, f, g, o] = s⊙tanh(s⊙z) + k

The callers scale the weights and the bias by s once (:func:`scale`), per sequence
in training and per stepper in generation, so a step receives s⊙z ready made, in
parts: s⊙z = a + rec + bias. Training passes the input's product as ``a``, the
recurrent one as ``rec`` and s⊙b as ``bias``; generation folds the bias into ``rec``
and passes None.

:mod:`.lstm_kernels` compiles the same two functions, with the same arguments, for
float32; :func:`rnnplay.core.cells.lstm.gate_maths` picks one of the two once per
sequence or stepper.
"""

from __future__ import annotations

import functools
from typing import Any, Protocol

import numpy as np


class GateMaths(Protocol):
    """This module, or its compiled twin :mod:`.lstm_kernels`."""

    def forward_step(
        self, a: np.ndarray, rec: np.ndarray, bias: np.ndarray | None, c_prev: np.ndarray,
        c_out: np.ndarray, tanh_c_out: np.ndarray, h_out: np.ndarray,
    ) -> None: ...  # fmt: skip

    def backward_step(
        self, a: np.ndarray, tanh_c: np.ndarray, c_prev: np.ndarray, dh_from_above: np.ndarray,
        dh: np.ndarray, dc: np.ndarray, dz: np.ndarray,
    ) -> None: ...  # fmt: skip


@functools.lru_cache(maxsize=32)
def scale(H: int, dtype: Any) -> tuple[np.ndarray, np.ndarray]:
    """(s, k): s = ½ and k = ½ on the σ gates i, f, o; s = 1 and k = 0 on g."""
    s = np.full(4 * H, 0.5, dtype=dtype)
    k = np.full(4 * H, 0.5, dtype=dtype)
    s[2 * H : 3 * H], k[2 * H : 3 * H] = 1.0, 0.0
    return s, k


def forward_step(
    a: np.ndarray, rec: np.ndarray, bias: np.ndarray | None, c_prev: np.ndarray,
    c_out: np.ndarray, tanh_c_out: np.ndarray, h_out: np.ndarray,
) -> None:  # fmt: skip
    """One step for B streams: ``a`` (B, 4H) becomes [i, f, g, o] of s⊙z = a + rec + bias (4H,).

    Writes c_t into ``c_out``, tanh(c_t) into ``tanh_c_out`` and h_t into ``h_out``
    (all (B, H)); backward reads ``a`` and ``tanh_c_out`` again.
    """
    H = c_prev.shape[1]
    s, k = scale(H, a.dtype)
    a += rec
    if bias is not None:
        a += bias
    np.tanh(a, out=a)
    a *= s
    a += k  # a = [i, f, g, o] = s⊙tanh(s⊙z) + k
    i, f, g, o = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
    np.multiply(f, c_prev, out=c_out)
    np.multiply(i, g, out=tanh_c_out)
    c_out += tanh_c_out  # c_t = f⊙c_{t-1} + i⊙g
    np.tanh(c_out, out=tanh_c_out)
    np.multiply(o, tanh_c_out, out=h_out)  # h_t = o⊙tanh(c_t)


def backward_step(
    a: np.ndarray, tanh_c: np.ndarray, c_prev: np.ndarray, dh_from_above: np.ndarray,
    dh: np.ndarray, dc: np.ndarray, dz: np.ndarray,
) -> None:  # fmt: skip
    """One step back for B streams: dz = dL/dz (B, 4H) from the step's [i, f, g, o] in ``a``.

    ``dh`` (B, H) arrives as dz_{t+1}·W_hhᵀ and becomes dL/dh_t = dh + dh_from_above
    (the caller then overwrites it with dz·W_hhᵀ, for h_{t-1}); ``dc`` arrives as
    dc_{t+1}⊙f_{t+1} and leaves as dc⊙f, for c_{t-1}.
    """
    H = dc.shape[1]
    i, f, g, o = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
    dz_i, dz_f, dz_g, dz_o = dz[:, :H], dz[:, H : 2 * H], dz[:, 2 * H : 3 * H], dz[:, 3 * H :]
    tmp = np.empty_like(dc)
    dh += dh_from_above
    np.multiply(tanh_c, tanh_c, out=tmp)  # dc += dh ⊙ o ⊙ (1 - tanh²(c_t))
    np.subtract(1.0, tmp, out=tmp)
    tmp *= o
    tmp *= dh
    dc += tmp
    _times_slope(np.multiply(dh, tanh_c, out=dz_o), o, tmp)  # dz_o = dh ⊙ tanh(c_t) ⊙ o(1-o)
    _times_slope(np.multiply(dc, g, out=dz_i), i, tmp)  # dz_i = dc ⊙ g ⊙ i(1-i)
    _times_slope(np.multiply(dc, c_prev, out=dz_f), f, tmp)  # dz_f = dc ⊙ c_{t-1} ⊙ f(1-f)
    np.multiply(g, g, out=tmp)  # dz_g = dc ⊙ i ⊙ (1-g²)
    np.subtract(1.0, tmp, out=tmp)
    tmp *= i
    np.multiply(dc, tmp, out=dz_g)
    dc *= f  # on to c_{t-1}


def _times_slope(d: np.ndarray, sig: np.ndarray, tmp: np.ndarray) -> None:
    """d ⊙= σ(1-σ), σ'(z) written with σ's value (tmp: scratch of d's shape)."""
    np.subtract(1.0, sig, out=tmp)
    tmp *= sig
    d *= tmp
