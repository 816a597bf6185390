"""What every chunk of a training step derives from the same weights, made once per step.

The chunks of a step (:mod:`rnnplay.core.parallel_step`) each run the model's forward
and backward on the same weights, and each would make the same arrays from them: the
weights under this step's DropConnect masks (W ⊙ m), the LSTM's gate-scaled weights
(s ⊙ W), and the packed right-hand sides of the products (:class:`.products.Operand`).
Made once and read by every chunk, they cost one copy instead of one per chunk, and
the chunks running at the same moment share one set of them in the processor's
caches instead of each streaming its own.

A step opens a :class:`StepMemo` and each chunk's thread runs :func:`sharing` it;
code that derives an array calls :func:`once`. Outside a step (validation, scoring,
generation) :func:`once` simply makes the value. The value of a key is whatever its
first maker returned: the makers are pure functions of their inputs, so which chunk
made it changes nothing, and a seed's run repeats bit for bit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import numpy as np

Value = TypeVar("Value")
_current = threading.local()


def identity(item: object) -> tuple[Any, ...]:
    """What names ``item`` as an input: an array by its memory, layout and type; anything else by its id."""
    if isinstance(item, np.ndarray):
        return (item.__array_interface__["data"][0], item.shape, item.strides, item.dtype.str)
    return (id(item),)


class StepMemo:
    """The values made during one step, by (tag, inputs). It holds the inputs too, so none of the memory or ids
    its keys name can be reused by another array while the step runs."""

    def __init__(self) -> None:
        self._values: dict[tuple[Any, ...], tuple[Any, tuple[object, ...]]] = {}
        self._lock = threading.RLock()  # a maker may ask for another value (a packed operand of a scaled weight)

    def get(self, tag: str, make: Callable[[], Value], inputs: tuple[object, ...]) -> Value:
        """The value of ``tag`` for ``inputs``, made by ``make`` the first time it is asked for."""
        key = (tag, *(identity(item) for item in inputs))
        with self._lock:  # the others wait for the first chunk's copy: they would need it next anyway
            if key not in self._values:
                self._values[key] = (make(), inputs)
            return self._values[key][0]


@contextmanager
def sharing(memo: StepMemo | None) -> Iterator[None]:
    """This thread's :func:`once` reads and fills ``memo`` until the block ends (None: no sharing)."""
    before = getattr(_current, "memo", None)
    _current.memo = memo
    try:
        yield
    finally:
        _current.memo = before


def once(tag: str, make: Callable[[], Value], *inputs: object) -> Value:
    """``make()``, made once per step for the same ``tag`` and ``inputs`` (the arrays or objects it reads)."""
    memo: StepMemo | None = getattr(_current, "memo", None)
    return make() if memo is None else memo.get(tag, make, inputs)
