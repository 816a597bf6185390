"""The Sampler contract: how the next character is picked, with declared parameters.

A sampler is any object with::

    name: str                       "top-k"
    help: str                       one line
    params: dict[str, Param]        name -> type, default, bounds, one-line help
    def generate(self, stepper, logits, state, length, rng, **params) -> Iterator[int]

``stepper(ids (B,), state) -> (logits (B, V), state)`` runs the model one step
for B streams at once (beam search runs its beams as one batch); ``logits`` (V,)
are the scores for the first character, after the seed primed ``state`` (a
batch of one). ``generate`` yields ``length`` character ids, one at a time.
``state`` is a nested list/tuple of arrays whose first axis is the batch, so
:func:`take_rows` can pick, reorder or repeat streams.

Most samplers only choose one id from one logit vector: subclass
:class:`StepSampler` and write ``choose``. The helpers here carry the maths they
share::

    p_i ∝ exp((y_i - max y) / T)          temperature T: T → 0 is argmax, T = 1 the model itself
    i = min{ j : Σ_{m ≤ j} w_m > u·Σ w }   one draw from weights w, u ~ U[0, 1)

The temperature sampler itself uses the Gumbel-max trick, which needs no softmax::

    i = argmax_j (y_j/T + G_j) = argmax_j (y_j + T·G_j),   G_j = -log E_j, E_j ~ Exp(1)

picks j with probability exactly softmax(y/T)_j (G is standard Gumbel noise). The
noise does not depend on the logits, so a stream draws it for many characters at
once and each character costs one add and one argmax.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np

from rnnplay.core.errors import RnnplayError
from rnnplay.core.params import Param, did_you_mean

Stepper = Callable[[np.ndarray, Any], tuple[np.ndarray, Any]]


@runtime_checkable
class Sampler(Protocol):
    """Turns a model's logits into characters (docs/samplers.md). A plugin's sampler needs every member but one:

    ``needs_chars`` is optional, and False when a sampler does not set it. When True, ``generate``
    also receives ``chars=``, the model's alphabet as a string, to match text (beam search's ``end``).
    """

    name: str  # what --sampler and /sampler take
    help: str  # one line
    params: dict[str, Param]
    needs_chars: bool = False

    def generate(
        self, stepper: Stepper, logits: np.ndarray, state: Any, length: int, rng: np.random.Generator, **params: Any
    ) -> Iterator[int]: ...


def parse_assignments(items: list[str]) -> dict[str, str]:
    """['width=4', 'alpha=0.6'] -> {'width': '4', 'alpha': '0.6'}."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise RnnplayError(f"expected key=value, got {item!r} (for example temperature=0.8)")
        out[key.strip()] = value
    return out


def resolve_params(sampler: Sampler, given: Mapping[str, Any]) -> dict[str, Any]:
    """Every parameter of ``sampler``: the given ones parsed (strings, as typed) or checked, the rest defaulted.

    An unknown name is answered with the closest valid names.
    """
    params = sampler.params
    for name in given:
        if name not in params:
            hint = did_you_mean(name, list(params))
            valid = ", ".join(params) or "none"
            raise RnnplayError(f"sampler {sampler.name!r} has no parameter {name!r}{hint}; its parameters: {valid}")
    values = {name: p.default for name, p in params.items()}
    for name, value in given.items():
        p = params[name]
        values[name] = p.parse(value) if isinstance(value, str) else p.check(value)
    return values


def take_rows(state: Any, rows: np.ndarray) -> Any:
    """The streams ``rows`` of a batched state (a nested list/tuple of (B, ...) arrays)."""
    if isinstance(state, list | tuple):
        return type(state)([take_rows(s, rows) for s in state])
    return state[rows]


# -- the maths per-step samplers share ------------------------------------------------
def tempered(logits: np.ndarray, temperature: float) -> np.ndarray:
    """Unnormalised probabilities w_i = exp((y_i - max y) / T); the largest is 1."""
    w = logits - logits.max()
    if temperature != 1.0:
        w /= temperature
    return np.exp(w, out=w)


def draw(weights: np.ndarray, rng: np.random.Generator) -> int:
    """One index i with probability w_i / Σ w (inverse CDF: cumsum, then a binary search)."""
    c = weights.cumsum()
    return min(int(c.searchsorted(rng.random() * c[-1], side="right")), len(c) - 1)  # the min guards NaN logits


class StepSampler(Sampler):
    """Base for samplers that pick each character from the current logits alone (a :class:`Sampler`).

    Subclasses set ``name``, ``help``, ``params`` and write
    ``choose(logits (V,), rng, **params) -> int``.
    """

    name: str
    help: str
    params: dict[str, Param]

    def choose(self, logits: np.ndarray, rng: np.random.Generator, **params: Any) -> int:
        raise NotImplementedError

    def generate(
        self, stepper: Stepper, logits: np.ndarray, state: Any, length: int, rng: np.random.Generator, **params: Any
    ) -> Iterator[int]:
        if length < 1:
            return
        choose = self.choose
        i = choose(logits, rng, **params)
        yield i
        for _ in range(length - 1):
            batch_logits, state = stepper(np.array([i]), state)
            i = choose(batch_logits[0], rng, **params)
            yield i


def gumbel_noise(rng: np.random.Generator, shape: tuple[int, ...], temperature: float, dtype: Any) -> np.ndarray:
    """T·G for the Gumbel-max trick: G = -log E, E ~ Exp(1), so argmax(y + T·G) ~ softmax(y / T)."""
    with np.errstate(divide="ignore"):  # E = 0 (probability ~1e-300) gives G = +inf: that pick, harmlessly
        noise = np.log(rng.standard_exponential(shape))
    noise *= -temperature
    return noise.astype(dtype, copy=False)


class TemperatureSampler(StepSampler):
    """p ∝ exp(y / T): the model's own distribution sharpened (T < 1) or flattened (T > 1).

    Drawn by the Gumbel-max trick (module docstring): ``generate`` draws the noise
    for up to ``NOISE_ROWS`` characters at a time, the same numbers in the same
    order as one ``choose`` per character, so both give the same text for one seed.
    """

    name = "temperature"
    help = "sample from softmax(logits / T)"
    params = {  # noqa: RUF012 - read-only declaration
        "temperature": Param("temperature", float, 0.7, "T: below 1 is safer, above 1 wilder", min=0.0, min_open=True,
                             max=100.0, instead="greedy", hint="for the most likely character every time, "
                             "{sampler}; at 100 every character is already about equally likely")
    }
    NOISE_ROWS = 256

    def choose(self, logits: np.ndarray, rng: np.random.Generator, temperature: float = 0.7) -> int:
        return int((logits + gumbel_noise(rng, logits.shape, temperature, logits.dtype)).argmax())

    def generate(
        self,
        stepper: Stepper,
        logits: np.ndarray,
        state: Any,
        length: int,
        rng: np.random.Generator,
        temperature: float = 0.7,
    ) -> Iterator[int]:
        i = -1  # no character picked yet
        for start in range(0, length, self.NOISE_ROWS):
            rows = min(self.NOISE_ROWS, length - start)
            for row in gumbel_noise(rng, (rows, len(logits)), temperature, logits.dtype):
                if i >= 0:
                    batch_logits, state = stepper(np.array([i]), state)
                    logits = batch_logits[0]
                i = int((logits + row).argmax())
                yield i


TEMPERATURE = TemperatureSampler()
