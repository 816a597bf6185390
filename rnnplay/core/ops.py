"""Small numerical building blocks shared by cells, the model and samplers.

Inputs to the first layer are character ids. ``W·onehot(x)`` is just row ``x`` of
``W`` (a gather), and its gradient is a scatter-add of the output gradient into
those rows; no one-hot matrix is ever built.
"""

from __future__ import annotations

import numpy as np

from rnnplay.core import jit, products

SCATTER_KERNELS = "rnnplay.core.scatter_kernels"  # scatter_add_rows compiled, for float32 (rnnplay.core.jit)


def is_ids(x: np.ndarray) -> bool:
    """True when ``x`` holds character ids (an integer array) rather than vectors."""
    return x.dtype.kind in "iu"  # np.issubdtype says the same, with more work per call


def project_inputs(x: np.ndarray, W: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``x·W`` for a whole sequence at once: a row gather for ids, one product for vectors (:mod:`.products`'s).

    x: (..., ) ids or (..., I) vectors; W: (I, G), a weight (packed once a step where products are). Returns
    (..., G).
    """
    if is_ids(x):
        return np.take(W, x, axis=0, out=out)
    if out is not None and not out.flags.c_contiguous:  # no flat view of it to write into
        return np.matmul(x, W, out=out)
    I, G = W.shape
    flat = products.product(x.reshape(-1, I), W, out=None if out is None else out.reshape(-1, G), weight=True)
    return flat.reshape(*x.shape[:-1], G)


def project_inputs_backward(
    x: np.ndarray, W: np.ndarray, dZ: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None]:
    """Gradients of ``Z = x·W``: ``dW = xᵀ·dZ`` (scatter-add for ids) and ``dx = dZ·Wᵀ``.

    Returns (dW, dx); dx is None for ids, which have no gradient.
    """
    G = W.shape[1]
    dZ2 = dZ.reshape(-1, G)
    if is_ids(x):
        return scatter_add_rows(W.shape[0], x.ravel(), dZ2), None
    x2 = x.reshape(-1, W.shape[0])
    return products.product_tn(x2, dZ2), products.product(dZ2, W.T, weight=True).reshape(x.shape)


def scatter_add_rows(n_rows: int, ids: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``out[ids[k]] += values[k]`` for every k, as an (n_rows, G) array.

    For float32 values in C order, one compiled pass over the rows (:mod:`.scatter_kernels`).
    Otherwise the ids are sorted once; each run of equal ids is then one contiguous block
    of rows, summed with a single ``sum(axis=0)``: faster than ``np.add.at`` or
    ``np.add.reduceat`` on a training batch's ids (docs/performance.md). Both add each
    row's values in the order of k: the same sums.
    """
    compiled = jit.load(SCATTER_KERNELS) if values.dtype == np.float32 and values.flags.c_contiguous else None
    if compiled is not None:
        return compiled.scatter_add_rows(n_rows, ids.astype(np.intp, copy=False), values)
    out = np.zeros((n_rows, values.shape[1]), dtype=values.dtype)
    if len(ids) == 0:
        return out
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    sorted_values = values[order]
    bounds = np.flatnonzero(sorted_ids[1:] != sorted_ids[:-1]) + 1
    starts = np.r_[0, bounds].tolist()
    ends = np.r_[bounds, len(ids)].tolist()
    for start, end in zip(starts, ends, strict=True):
        out[sorted_ids[start]] = sorted_values[start:end].sum(axis=0)
    return out


def sigmoid(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """σ(x) = 1 / (1 + e^-x), computed as ½·(1 + tanh(x/2)): one transcendental call, no overflow."""
    out = np.multiply(x, 0.5, out=out)
    np.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


def log_softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """log p = y - max(y) - log Σ exp(y - max(y)), stable for any logits."""
    shifted = logits - logits.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """p_i = exp(y_i) / Σ_j exp(y_j), shifted by max(y) so it never overflows."""
    e = np.exp(logits - logits.max(axis=axis, keepdims=True))
    e /= e.sum(axis=axis, keepdims=True)
    return e
