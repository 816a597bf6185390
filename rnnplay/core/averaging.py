"""Weight averaging: an exponential moving average of the weights, for evaluation and export.

After each committed step t (the optimizer's count), with θ the weights the optimizer
moves and θ̄ their average::

    d_t = min(d, (1 + t) / (10 + t))
    θ̄  ← d_t·θ̄ + (1 - d_t)·θ

The warm start (d_t small at first; TensorFlow's ExponentialMovingAverage with
``num_updates``) keeps the random initial weights from lingering in the average: early
on it follows θ closely, and its window widens to about t/9 steps until it reaches
1/(1 - d). θ̄ sits nearer the middle of the valley the noisy steps rattle across
(Polyak & Juditsky 1992), so it usually scores lower than the last θ.

Between steps the model holds θ̄ — so validation, samples, the final score and the
saved weights are the average's — and this object holds θ; a step computes its
gradients on θ (:meth:`WeightAverage.raw_weights` copies θ in for the step and θ̄ back
after), so any gradient function reading the model's weights works unchanged. A
checkpoint keeps θ̄ as the model's parameters and θ as the training state's ``raw``
slot (:data:`SLOT`), so a resumed run continues both exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from rnnplay.core import jit, pieces
from rnnplay.core.optim import UPDATE_KERNELS

Arrays = dict[str, np.ndarray]
SLOT = "raw"  # the training state's arrays opt/raw/<name>: θ, the weights the optimizer moves


class WeightAverage:
    """θ (:attr:`raw`) and θ̄ (:attr:`average`) of the model ``params`` (which hold θ̄ between steps)."""

    def __init__(self, decay: float, params: Arrays) -> None:
        self.decay = decay
        self.params = params  # the model's own arrays: θ̄ between steps, θ during one
        self.raw = {k: v.copy() for k, v in params.items()}
        self.average = {k: v.copy() for k, v in params.items()}

    @contextmanager
    def raw_weights(self) -> Iterator[None]:
        """The model holds θ inside the block, θ̄ again after it (however it ends)."""
        copy_into(self.params, self.raw)
        try:
            yield
        finally:
            self.averaged()

    def averaged(self) -> None:
        """The model holds θ̄ again, as after :meth:`raw_weights` (a save while a step that never returns holds θ)."""
        copy_into(self.params, self.average)

    def update(self, t: int) -> None:
        """θ̄ ← d_t·θ̄ + (1 - d_t)·θ after step ``t`` (θ already moved), and the model's weights with it."""
        d = min(self.decay, (1.0 + t) / (10.0 + t))
        arrays = (self.average, self.raw, self.params)
        kernels = jit.load(UPDATE_KERNELS) if pieces.eligible(*(a.values() for a in arrays)) else None
        if kernels is None:
            for name, avg in self.average.items():
                avg *= d
                avg += (1.0 - d) * self.raw[name]
            copy_into(self.params, self.average)
            return
        d32, rest = np.float32(d), np.float32(1.0 - d)  # as numpy rounds them for float32 arrays

        def one_piece(piece: pieces.Piece) -> None:  # the same sums in one pass, on every core (pieces)
            for name, avg in self.average.items():
                kernels.average(piece.of(avg), piece.of(self.raw[name]), piece.of(self.params[name]), d32, rest)

        pieces.run(one_piece, sum(a.size for a in self.average.values()))

    def state_arrays(self) -> Arrays:
        """θ, for a checkpoint (θ̄ is the model's parameters)."""
        return dict(self.raw)

    def load(self, raw: Arrays | None) -> None:
        """Take θ back from a checkpoint (None: it had none, so θ starts at the model's weights), θ̄ from the model."""
        copy_into(self.average, self.params)
        copy_into(self.raw, raw if raw is not None else self.params)


def copy_into(target: Arrays, source: Arrays) -> None:
    """Every array of ``target`` overwritten in place with ``source``'s (the model's views stay valid)."""
    for name, a in target.items():
        np.copyto(a, source[name])
