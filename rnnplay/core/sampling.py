"""The plainest generation loop: prime, then sample with a temperature.

The samplers (greedy, top-k, top-p, beam, …) live in rnnplay.builtin and are
richer; this function is what the trainer uses for its occasional samples.

    p = softmax(y / T)        T → 0 approaches argmax, T = 1 is the model's own distribution
"""

from __future__ import annotations

import numpy as np

from .model import Model
from .ops import softmax


def prime(model: Model, ids: np.ndarray) -> tuple[np.ndarray, list]:
    """Run the seed ids (n,) through the model: (logits after the last one, states)."""
    states = model.initial_state(1)
    logits = None
    for i in ids:
        logits, states = model.step(np.array([i]), states)
    if logits is None:
        raise ValueError("prime needs at least one character")
    return logits[0], states


def sample_text(model: Model, seed_ids: np.ndarray, length: int, temperature: float, rng: np.random.Generator) -> str:
    logits, states = prime(model, seed_ids)
    out = []
    for _ in range(length):
        p = softmax(logits.astype(np.float64) / temperature)
        i = int(rng.choice(len(p), p=p))
        out.append(i)
        logits, states = model.step(np.array([i]), states)
        logits = logits[0]
    return model.vocab.decode(out)
