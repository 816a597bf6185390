"""Min-p sampling for rnnplay (Nguyen et al. 2024, "Turning Up the Heat: Min-p Sampling").

Keep every character whose probability is at least ``min_p`` times the top one,
then sample among them at temperature T::

    keep = { i : p_i ≥ min_p · max_j p_j }        p = softmax(y), the model's own probabilities
    P(i) ∝ exp(y_i / T)  for i in keep

p_i / p_max = exp(y_i - max y), so the test needs no normalisation. Unlike top-p,
the cut adapts to the model's confidence: when one character is near certain
almost nothing else survives; when many are plausible, many stay. Because the cut
is made on the model's probabilities before the temperature, a high T makes the
kept characters more even without letting in the unlikely tail.
"""

from __future__ import annotations

import numpy as np
from rnnplay.core.sampler import TEMPERATURE, Param, StepSampler, draw, tempered
from rnnplay.plugins import Register, hookimpl

__all__ = ["MinPSampler", "register_samplers"]


class MinPSampler(StepSampler):
    name = "min-p"
    help = "sample among characters at least min_p times as likely as the likeliest"
    params = {  # noqa: RUF012 - read-only declaration
        "min_p": Param("min_p", float, 0.1, "keep p_i >= min_p·p_max (0 keeps all, 1 only the top)", min=0.0, max=1.0),
        "temperature": TEMPERATURE.params["temperature"],
    }

    def choose(self, logits: np.ndarray, rng: np.random.Generator, min_p: float = 0.1, temperature: float = 0.7) -> int:
        keep = np.flatnonzero(tempered(logits, 1.0) >= min_p)  # exp(y_i - max y) = p_i / p_max
        return int(keep[draw(tempered(logits[keep], temperature), rng)])


@hookimpl
def register_samplers(register: Register) -> None:
    register(MinPSampler())
