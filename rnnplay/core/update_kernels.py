"""Adam's step and the weight average, compiled: one pass over each weight (loaded only by :mod:`rnnplay.core.jit`).

numpy computes Adam's step for a weight of n numbers as a dozen whole-array passes, each
with an array of n temporaries (:class:`rnnplay.core.optim.Adam`), then checks the new
values for finiteness in three more; the weight average takes two more passes and a copy
(:mod:`rnnplay.core.averaging`). Here each is one loop over the numbers, doing per
element what numpy does per array, in the same order, in float32, with no fused
multiply-add (no ``fastmath``), so the results are numpy's, bit for bit::

    adam:     m' = β1·m + (1-β1)·g         v' = β2·v + (1-β2)·(g·g)
              θ' = θ - (r·m') / (√v'·q + ε)  [- lr·λ·θ]      r = lr/(1-β1ᵗ), q = 1/√(1-β2ᵗ), λ the weight decay
    average:  θ̄ ← d·θ̄ + (1-d)·θ;  the model's weights ← θ̄

Each function takes flat (1-D) float32 arrays, so a caller can hand it a share of every
weight (:mod:`rnnplay.core.pieces`) and run the shares on several cores at once.
"""

from __future__ import annotations

import numba
import numpy as np

SETTINGS = {"cache": True, "nogil": True, "error_model": "numpy"}  # no fastmath: numpy's roundings exactly
f32 = np.float32
EPS = f32(1e-8)


@numba.njit(**SETTINGS)
def adam(p: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, new_p: np.ndarray, new_m: np.ndarray,
         new_v: np.ndarray, betas: np.ndarray, rate: float, root: float, decay: float) -> bool:  # fmt: skip
    """new_p, new_m, new_v from p, g, m, v (the formulas of the module; ``betas`` [β1, 1-β1, β2, 1-β2], each
    rounded to float32 from the float64 number; ``rate`` r, ``root`` q, ``decay`` lr·λ, 0 for none; every
    scalar float32). Returns whether every new value is finite."""
    beta1, keep1, beta2, keep2 = betas[0], betas[1], betas[2], betas[3]
    finite = True
    for k in range(p.shape[0]):
        mk = beta1 * m[k]
        mk += keep1 * g[k]
        vk = beta2 * v[k]
        vk += keep2 * (g[k] * g[k])
        denom = np.sqrt(vk)
        denom *= root
        denom += EPS
        step = rate * mk
        step /= denom
        pk = p[k] - step
        if decay != 0:
            pk -= decay * p[k]
        new_p[k], new_m[k], new_v[k] = pk, mk, vk
        finite &= np.isfinite(pk) & np.isfinite(mk) & np.isfinite(vk)
    return finite


@numba.njit(**SETTINGS)
def average(avg: np.ndarray, raw: np.ndarray, model: np.ndarray, d: float, rest: float) -> None:
    """avg ← d·avg + rest·raw (``rest`` = 1 - d as float32), and model ← avg."""
    for k in range(avg.shape[0]):
        a = d * avg[k]
        a += rest * raw[k]
        avg[k] = a
        model[k] = a


def warm_up() -> None:
    """Compile (or load from numba's disk cache) for float32 arrays and scalars, and check one step of each."""
    ones = np.ones(4, dtype=f32)
    new = [np.empty(4, dtype=f32) for _ in range(3)]
    one = f32(1.0)
    if not adam(ones, ones, ones * 0, ones * 0, *new, np.full(4, 0.5, dtype=f32), one, one, f32(0.0)):
        raise RuntimeError("the compiled Adam step calls a finite step non-finite")
    if not (np.array_equal(new[1], ones * 0.5) and np.array_equal(new[2], ones * 0.5)):
        raise RuntimeError("the compiled Adam step disagrees with its definition")
    avg, model = ones * 2, np.empty(4, dtype=f32)
    average(avg, ones * 0, model, f32(0.5), f32(0.5))
    if not (np.array_equal(avg, ones) and np.array_equal(model, ones)):
        raise RuntimeError("the compiled weight average disagrees with its definition")
