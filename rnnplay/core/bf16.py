"""A training step's matrix products in bfloat16 with float32 sums, where the CPU has them (``--precision bfloat16``).

Mixed precision as PyTorch's autocast does it on CPUs with AVX512_BF16: the inputs of
a product are rounded to bfloat16 (8 bits of mantissa), every product's sum is
float32, and the weights, the optimizer, the gate maths and the loss stay float32.
The products, :mod:`rnnplay.core.bf16_kernels`, do twice the multiply-adds per
instruction of float32's; how much faster than numpy's BLAS they run at a training
step's sizes is measured in docs/training.md (benchmarks/product_speed.py).

The switch is per thread (:func:`products`): a chunk of a training step turns it on
while it runs its forward and backward, so validation, scoring and generation — on
other threads, or on the same one outside the chunk — keep float32 products. The
cells ask through :class:`Operand`, :func:`product` and :func:`product_tn`, which
fall back to numpy's float32 products when the switch is off, the array is not
float32, a product's N is not a multiple of 16, or the CPU has no AVX512_BF16.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

import numpy as np

from rnnplay.core import jit

KERNELS = "rnnplay.core.bf16_kernels"
PRECISIONS = ("float32", "bfloat16")  # of a training step's products
_switch = threading.local()


def kernels() -> ModuleType | None:
    """The compiled bfloat16 products, or None on a CPU without AVX512_BF16 (or without numba, or ``RNNPLAY_JIT=0``)."""
    return jit.load(KERNELS)


def available() -> bool:
    """Whether ``--precision bfloat16`` can run here."""
    return kernels() is not None


def why_unavailable() -> str:
    """What keeps bfloat16 from running here, and what to do, in words for a one-line error."""
    if not jit.enabled():
        return ("precision bfloat16 runs on compiled kernels, and RNNPLAY_JIT=0 turns them off: unset it, or train "
                "with precision float32")
    return ("precision bfloat16 needs a CPU with AVX512_BF16 dot products (and numba); this one has none: train with "
            "precision float32")


@contextmanager
def products(precision: str) -> Iterator[None]:
    """This thread's products in ``precision`` ("float32" or "bfloat16") until the block ends."""
    before = getattr(_switch, "kernels", None)
    _switch.kernels = kernels() if precision == "bfloat16" else None
    try:
        yield
    finally:
        _switch.kernels = before


def _active(*arrays: np.ndarray, n: int) -> ModuleType | None:
    """The kernels when this thread's switch is on, every array is float32 and N (``n``) is a multiple of 16."""
    compiled = getattr(_switch, "kernels", None)
    if compiled is None or n % 16 or any(a.dtype != np.float32 for a in arrays):
        return None
    return compiled


class Operand:
    """The right-hand side B of many products A·B (W_hh over a sequence), rounded and packed once when this
    thread's products are bfloat16."""

    def __init__(self, b: np.ndarray) -> None:
        self.b = b
        compiled = _active(b, n=b.shape[1])
        self._compiled = compiled
        self._packed = compiled.pack(np.ascontiguousarray(b)) if compiled is not None else None

    def times(self, a: np.ndarray, out: np.ndarray) -> np.ndarray:
        """out = a·B (a: (M, K)); the kernels write ``out`` as one C-order block, numpy any other."""
        if self._compiled is None or not out.flags.c_contiguous:
            return np.matmul(a, self.b, out=out)
        self._compiled.product(self._compiled.pairs(np.ascontiguousarray(a)), self._packed, out)
        return out


def product(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """a·b, once (a: (M, K), b: (K, N)), into ``out`` (M, N) if given."""
    if _active(a, b, n=b.shape[1]) is None:
        return np.matmul(a, b, out=out)
    return Operand(b).times(a, np.empty((a.shape[0], b.shape[1]), dtype=np.float32) if out is None else out)


def product_tn(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """xᵀ·y (x: (R, M), y: (R, N)): a weight gradient summed over all R = T·B rows."""
    if _active(x, y, n=y.shape[1]) is None:
        return x.T @ y
    return product(np.ascontiguousarray(x.T), y)
