"""Layer normalisation (Ba, Kiros & Hinton 2016) over the last axis, forward and backward.

For one row a of n values::

    μ = mean(a)     σ = √(mean((a - μ)²) + ε)     â = (a - μ) / σ
    y = γ ⊙ â + β

Backward, given dy (and writing dâ = dy ⊙ γ)::

    dγ = Σ_rows dy ⊙ â          dβ = Σ_rows dy
    da = (dâ - mean(dâ) - â ⊙ mean(dâ ⊙ â)) / σ

The forward keeps â and 1/σ of every row, which is all the backward needs.
"""

from __future__ import annotations

import numpy as np

EPS = 1e-5  # ε under the square root: rows of (nearly) equal values stay finite


def normalise(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(â, 1/σ) of every row of ``a``: the normalised rows and their inverse deviations (shape (..., 1))."""
    centred = a - a.mean(axis=-1, keepdims=True)
    inv_sigma = 1.0 / np.sqrt((centred * centred).mean(axis=-1, keepdims=True) + EPS)
    return centred * inv_sigma, inv_sigma


def normalise_backward(d_hat: np.ndarray, hat: np.ndarray, inv_sigma: np.ndarray) -> np.ndarray:
    """da from dâ (the gradient with respect to the normalised rows), â and 1/σ."""
    mean_d = d_hat.mean(axis=-1, keepdims=True)
    mean_dh = (d_hat * hat).mean(axis=-1, keepdims=True)
    return (d_hat - mean_d - hat * mean_dh) * inv_sigma


def rows_sum(a: np.ndarray) -> np.ndarray:
    """Σ over every axis but the last (a gain's or a bias's gradient from per-row terms)."""
    return a.reshape(-1, a.shape[-1]).sum(axis=0)
