"""A training step's matrix products: on right-hand sides packed once, and in bfloat16 where asked (``--precision``).

The cells ask for their products here — :func:`operand` for the right-hand side of
the per-time-step products (W_hh over a sequence: ``operand(W).times(h, out)``, packed
once a step for all of its chunks, :mod:`.step_memo`),
:func:`product` and :func:`product_tn` for the products over all T·B rows — and a
per-thread switch (:func:`precision`), which a chunk of a training step turns on while
it runs its forward and backward, says how they run. A product is of one of three
kinds, and a kernel module declares the kinds it runs (its ``KINDS``):

- ``step``: h·W_hh and dz·W_hhᵀ at each time step, W packed once a step;
- ``weight``: over all T·B rows on a weight (x·W_xh, dz·W_xhᵀ), W packed once a step;
- ``batched``: over all T·B rows on a chunk's own array (xᵀ·dz for a weight's
  gradient), packed for that one product.

And the precisions:

- **float32** (the default): the ``step`` and ``weight`` products on the packed
  kernels (:mod:`rnnplay.core.f32_kernels`, CPUs with AVX-512 or AVX2), where BLAS would pack
  W again at every call; the ``batched`` ones stay numpy's, since packing their
  right-hand side for one product costs what the kernels gain on it.
- **bfloat16**: mixed precision as PyTorch's autocast does it on CPUs with
  AVX512_BF16 (:mod:`rnnplay.core.bf16_kernels`): a product's inputs are rounded to
  bfloat16 (8 bits of mantissa), its sums are float32, and the weights, the
  optimizer, the gate maths and the loss stay float32. Every product runs there, on
  AMX tiles where the CPU has them (:mod:`rnnplay.core.amx_tiles`).

Outside the switch (validation, scoring, generation, on other threads or on the same
one outside a chunk), and whenever the kernels cannot run — an array that is not
float32, a product's N not a multiple of 16, no numba, ``RNNPLAY_JIT=0``, a CPU
without the instructions — every product is numpy's float32 one. How much faster the
kernels run at a training step's sizes is measured in docs/training.md
(benchmarks/product_speed.py).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

import numpy as np

from rnnplay.core import jit, step_memo

KERNELS = {"float32": "rnnplay.core.f32_kernels", "bfloat16": "rnnplay.core.bf16_kernels"}
PRECISIONS = tuple(KERNELS)  # of a training step's products
_switch = threading.local()


def kernels(precision: str) -> ModuleType | None:
    """The compiled products of ``precision``, or None where they cannot run (see the module)."""
    return jit.load(KERNELS[precision])


def rows_filling_tiles(precision: str) -> int | None:
    """The rows that fill the tiles of the kernels running products in ``precision``, where they have a say
    (AMX's 16: :mod:`rnnplay.core.amx_tiles`); None elsewhere."""
    compiled = kernels(precision)
    return getattr(compiled, "ROWS_FILLING_TILES", None) if compiled is not None else None


def bf16_available() -> bool:
    """Whether ``--precision bfloat16`` can run here."""
    return kernels("bfloat16") is not None


def why_bf16_unavailable() -> str:
    """What keeps bfloat16 from running here, and what to do, in words for a one-line error, the setting named as
    the user gives it (``--precision float32`` on the command line, ``precision=float32`` in /train)."""
    from rnnplay.core.train_config import setting_name  # here: train_config takes PRECISIONS from this module

    name = setting_name("precision")
    given = f"{name}{'' if name.endswith('=') else ' '}"
    if not jit.enabled():
        return (f"{given}bfloat16 runs on compiled kernels, and RNNPLAY_JIT=0 turns them off: unset it, or train "
                f"in float32 ({given}float32, the default)")
    return (f"{given}bfloat16 needs a CPU with AVX512_BF16 dot products (and numba); this one has none: train in "
            f"float32 ({given}float32, the default)")


@contextmanager
def precision(name: str) -> Iterator[None]:
    """This thread's products in precision ``name`` ("float32" or "bfloat16") until the block ends."""
    before = getattr(_switch, "kernels", None)
    _switch.kernels = kernels(name)
    try:
        yield
    finally:
        _switch.kernels = before


def _active(*arrays: np.ndarray, n: int, kind: str) -> ModuleType | None:
    """The kernels when this thread's switch is on, they run products of ``kind`` ("step", "weight" or "batched":
    see the module), every array is float32 and N (``n``) is a multiple of 16."""
    compiled = getattr(_switch, "kernels", None)
    if compiled is None or kind not in compiled.KINDS or n % 16 or any(a.dtype != np.float32 for a in arrays):
        return None
    return compiled


class Operand:
    """The right-hand side B of many products A·B (W_hh over a sequence), packed once for this thread's kernels."""

    def __init__(self, b: np.ndarray, *, kind: str = "step") -> None:
        self.b = b
        compiled = _active(b, n=b.shape[1], kind=kind)
        self.kernels = compiled  # the kernel module its products run on, or None: numpy's
        self.packed = compiled.pack(b) if compiled is not None else None  # b in any layout: W_hhᵀ as a view
        # A's rows as the kernels read them: its C-order rows themselves (float32), or a compiled conversion
        self.prepare = None if compiled is None or getattr(compiled, "ROWS_AS_GIVEN", False) else compiled.prepare

    def times(self, a: np.ndarray, out: np.ndarray) -> np.ndarray:
        """out = a·B (a: (M, K)); the kernels write ``out`` as one C-order block, numpy any other.

        A float32 product is one compiled call: a second one, ``prepare`` returning its C-order A as it is, let
        the interpreter's lock go and waited for it again, at every time step of the vanilla RNN's loops in
        Python, which ran slower on the kernels than on BLAS for it (docs/training.md).
        """
        if self.kernels is None or not out.flags.c_contiguous:
            return np.matmul(a, self.b, out=out)
        rows = np.ascontiguousarray(a)
        self.kernels.product(rows if self.prepare is None else self.prepare(rows), self.packed, out)
        return out


def operand(b: np.ndarray, *, kind: str = "step") -> Operand:
    """``Operand(b, kind=kind)`` of a weight, packed once per training step for all of the step's chunks
    (:mod:`.step_memo`)."""
    compiled = getattr(_switch, "kernels", None)
    tag = f"operand of {getattr(compiled, '__name__', 'numpy')}, {kind}"
    return step_memo.once(tag, lambda: Operand(b, kind=kind), b)


def product(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None, *, weight: bool = False) -> np.ndarray:
    """a·b, once (a: (M, K), b: (K, N)), into ``out`` (M, N) if given.

    ``weight``: b is a weight, the same for every chunk of a step, so it is packed once a
    step (:func:`operand`); a chunk's own b (a gradient) is packed for this call alone.
    """
    kind = "weight" if weight else "batched"
    if _active(a, b, n=b.shape[1], kind=kind) is None:
        return np.matmul(a, b, out=out)
    result = np.empty((a.shape[0], b.shape[1]), dtype=np.float32) if out is None else out
    return (operand(b, kind=kind) if weight else Operand(b, kind=kind)).times(a, result)


def product_tn(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """xᵀ·y (x: (R, M), y: (R, N)): a weight gradient summed over all R = T·B rows."""
    if _active(x, y, n=y.shape[1], kind="batched") is None:
        return x.T @ y
    return product(np.ascontiguousarray(x.T), y)
