"""A training step's dropout, drawn for the whole batch before the forward pass.

Four kinds, each inverted (a kept value is scaled by 1/keep, so nothing changes at
evaluation, where there is no dropout), each off at rate 0:

* **output** (char-rnn, Zaremba et al. 2014): each layer's output h_t, between the
  layers and before the head, a fresh mask for every (t, stream, unit): (T, B, H).
* **locked** (variational, Gal & Ghahramani 2016; AWD-LSTM's LockedDropout): the same
  output rate, but one mask per (stream, unit), the same at every time step: (1, B, H),
  broadcast over T. A unit dropped for a stream stays dropped for the whole sequence.
* **weight drop** (DropConnect on the recurrent weights, Wan et al. 2013; AWD-LSTM,
  Merity et al. 2017): one mask on each layer's W_hh per step, shared by every stream
  and time step. With W' = W_hh⊙m the layer runs on W', and dL/dW_hh = m ⊙ dL/dW'.
* **embedding** (AWD-LSTM's embedding dropout): whole rows of the first layer's W_xh
  (one row per character: its embedding) dropped per step, so every occurrence of a
  dropped character in the batch reads as nothing; a (V, 1) mask on W_xh, m ⊙ dL/dW' back.

The output masks keep the streams on axis 1, so a step cut into chunks of streams
takes each chunk's columns (:meth:`Masks.streams`); the weight masks belong to the
whole batch and go to every chunk as they are. Masks are drawn in a fixed order
(outputs layer by layer, then the weights layer by layer), so a seed gives the same
masks however the step is split.

The output masks, one value per character of the batch and unit, are kept as booleans
(a byte, not four) and drawn a time step at a time (no float array of the batch's
size), from the same numbers in the same order as float masks drawn whole: the same
seed trains the same weights, bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from rnnplay.core.errors import RnnplayError

Params = dict[str, np.ndarray]
DROPOUT_KINDS = ("step", "locked")  # the output masks: a new one every time step, or one for the whole sequence


class Masks(NamedTuple):
    """One step's masks: ``outputs[i]`` the units kept in layer i's output (booleans, or None), ``weights[i]``
    {weight name: mask}; ``scale``, 1/keep in the model's dtype, what a kept output is multiplied by.

    The output masks are the large ones, one value per character of the batch and unit: kept
    as booleans, a quarter of the floats they stand for, and applied by :meth:`dropped`.
    """

    outputs: list[np.ndarray | None]
    weights: list[Params]
    scale: Any = 1.0

    def streams(self, part: slice) -> Masks:
        """The masks of the streams ``part``: the output masks' columns (axis 1); the weight masks are shared."""
        return Masks([None if m is None else m[:, part] for m in self.outputs], self.weights, self.scale)

    def dropped(self, i: int, x: np.ndarray) -> np.ndarray:
        """``x`` (T, B, H) times layer i's output mask (``scale`` where kept, else 0), as a new array.

        x·kept is x or ±0 exactly, so (x·kept)·scale has the bits of x times the float mask.
        """
        kept = self.outputs[i]
        if kept is None:
            return x
        out = x * kept
        out *= self.scale
        return out


def no_masks(num_layers: int) -> Masks:
    """No dropout anywhere (evaluation, or every rate 0)."""
    return Masks([None] * num_layers, [{} for _ in range(num_layers)])


@dataclass(frozen=True)
class Dropout:
    """The rates of a model's training noise (all 0: none)."""

    output: float = 0.0
    locked: bool = False  # the output masks: one per (stream, unit) for the whole sequence
    weight: float = 0.0  # DropConnect on each layer's W_hh
    embedding: float = 0.0  # whole rows of layer 0's W_xh

    def __post_init__(self) -> None:
        for name in ("output", "weight", "embedding"):
            rate = getattr(self, name)
            if not 0.0 <= rate < 1.0:
                raise RnnplayError(f"{name} dropout must be in [0, 1), got {rate}")

    @property
    def active(self) -> bool:
        return self.output > 0 or self.weight > 0 or self.embedding > 0

    def draw(self, rng: np.random.Generator | None, T: int, B: int, H: int, layers: list[Params],
             dtype: Any) -> Masks:  # fmt: skip
        """The masks of one step of T characters for B streams of H units per layer (none without ``rng``)."""
        if rng is None or not self.active:
            return no_masks(len(layers))
        shape = (1 if self.locked else T, B, H)
        outputs = [kept_units(rng, shape, self.output) if self.output > 0 else None for _ in layers]
        weights: list[Params] = [{} for _ in layers]
        for i, layer in enumerate(layers):
            if self.weight > 0:
                weights[i]["W_hh"] = keep_mask(rng, needs(layer, "W_hh", "weight drop").shape, self.weight, dtype)
        if self.embedding > 0:
            rows = needs(layers[0], "W_xh", "embedding dropout").shape[0]
            weights[0]["W_xh"] = keep_mask(rng, (rows, 1), self.embedding, dtype)
        return Masks(outputs, weights, (np.ones(1, dtype) / (1.0 - self.output))[0])


def kept_units(rng: np.random.Generator, shape: tuple[int, ...], rate: float) -> np.ndarray:
    """Booleans of ``shape``, True with probability 1 - rate: the numbers :func:`keep_mask` draws, drawn a
    slice of axis 0 at a time (the generator's stream is the same in pieces), so no float array of the
    whole shape is ever made."""
    kept = np.empty(shape, dtype=bool)
    for t in range(shape[0]):
        np.less(rng.random(shape[1:], dtype=np.float32), 1.0 - rate, out=kept[t])
    return kept


def keep_mask(rng: np.random.Generator, shape: tuple[Any, ...], rate: float, dtype: Any) -> np.ndarray:
    """An inverted dropout mask: 1/keep where kept (probability keep = 1 - rate), else 0."""
    keep = 1.0 - rate
    mask = (rng.random(shape, dtype=np.float32) < keep).astype(dtype)
    mask /= keep
    return mask


def needs(layer: Params, name: str, what: str) -> np.ndarray:
    """The layer's weight ``name``, or a one-line error: a plugin's cell may name its weights otherwise."""
    if name not in layer:
        raise RnnplayError(f"{what} needs a cell with a {name} weight; this cell has {', '.join(layer)}: "
                           f"set {what} to 0")
    return layer[name]


def masked(layer: Params, weights: Params) -> Params:
    """The layer's parameters with each masked weight replaced by W⊙m (the same dict when there is none)."""
    if not weights:
        return layer
    return {**layer, **{name: layer[name] * m for name, m in weights.items()}}


def mask_grads(grads: Params, weights: Params) -> None:
    """dL/dW = m ⊙ dL/dW' for each masked weight, in place."""
    for name, m in weights.items():
        grads[name] *= m
