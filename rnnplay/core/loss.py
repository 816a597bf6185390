"""Softmax cross-entropy, the loss every number in rnnplay is quoted in.

For logits y (N, V) and targets k (N,)::

    p = softmax(y)
    L = -(1/N) Σ_n log p[n, k_n]          nats per character
    dL/dy = (p - onehot(k)) / N

Bits per character are nats / ln 2. A uniform guess over V characters scores
ln V nats (ln 65 = 4.174 on tiny shakespeare).
"""

from __future__ import annotations

import math

import numpy as np

from rnnplay.core.ops import log_softmax


def cross_entropy(logits: np.ndarray, targets: np.ndarray) -> float:
    """Mean cross-entropy in nats of ``targets`` (N,) under ``logits`` (N, V)."""
    logp = log_softmax(logits.astype(np.float64, copy=False))
    return float(-logp[np.arange(len(targets)), targets].mean())


def cross_entropy_with_grad(logits: np.ndarray, targets: np.ndarray) -> tuple[float, np.ndarray]:
    """(mean loss in nats, dL/dlogits) for logits (N, V) and targets (N,)."""
    N = len(targets)
    rows = np.arange(N)
    shifted = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(shifted)
    sums = probs.sum(axis=1, keepdims=True)
    loss = float(np.mean(np.log(sums[:, 0]) - shifted[rows, targets]))
    probs /= sums
    probs[rows, targets] -= 1.0
    probs /= N
    return loss, probs


def bits_per_char(nats: float) -> float:
    return nats / math.log(2.0)
