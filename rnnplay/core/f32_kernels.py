"""float32 products on a right-hand side packed once, for the per-time-step products of training (AVX-512 or AVX2).

At every time step a training chunk multiplies a few dozen rows by W_hh (forward) and
by W_hhᵀ (backward): products too small for BLAS to reach its peak, because each call
packs W again. Here W is packed once per sequence (:func:`pack`: blocks of 16 columns,
k by k) and each step runs the tiles of :mod:`rnnplay.core.tile_kernels`, whose loop
body is one FMA per row and column block::

    acc[r][c] = fma(broadcast(A[r, k]), B[block c][k][0:16], acc[r][c])

A is used as it is (:func:`prepare`: its rows, C order). Each element of C is a plain
sum over k in order, so it is the same whichever rows are computed with it. The
products over all T·B rows on a weight (x·W_xh, dz·W_xhᵀ) run here too, on W packed
once a step; those on a chunk's own array (xᵀ·dz) stay numpy's (``KINDS``, see
:mod:`rnnplay.core.products`; docs/training.md measures both).
The FMA on 16 lanes is one AVX-512 instruction, or two on AVX2's 8 lanes, with the same
rounding: the bits are the same on either. Only the tile's shape differs (:data:`TILE_SHAPES`,
for each CPU's registers: :mod:`rnnplay.core.tile_kernels`).
Loaded only by :mod:`rnnplay.core.jit`, and only on CPUs with AVX-512, or AVX2 and FMA.
"""

from __future__ import annotations

import functools

import numba
import numpy as np

from rnnplay.core.tile_kernels import SETTINGS, Compiled, check_product, cpu_features, loop_body

KINDS = frozenset({"step", "weight"})  # the products that run here (rnnplay.core.products); "batched": BLAS
# prepare(A) of an A in C order is A itself: a caller holding one skips the call (rnnplay.core.products.Operand)
ROWS_AS_GIVEN = True
# (rows, column blocks of 16) of the main tile, by the first of the CPU's features found: 16 accumulators of AVX-512's
# 32 registers; 8 of AVX2's 16 (each vector of 16 lanes is two of its registers), as many as its FMAs need in flight
TILE_SHAPES = {"avx512f": (8, 2), "avx2": (4, 1)}


def fma(r: int, c: int) -> str:
    """acc[r][c] + a_r·b_c, rounded once."""
    return (f"  %sum{r}_{c} = call <16 x float> @llvm.fma.v16f32(<16 x float> %a{r}, <16 x float> %b{c}, "
            f"<16 x float> %acc{r}_{c})")


def tile_shape(features: set[str]) -> tuple[int, int]:
    """The main tile's (rows, column blocks) on a CPU with ``features``; ImportError (jit.load answers None: numpy's
    products) on one with neither AVX-512 nor AVX2 and FMA."""
    if "avx512f" in features:
        return TILE_SHAPES["avx512f"]
    if {"avx2", "fma"} <= features:
        return TILE_SHAPES["avx2"]
    raise ImportError("this CPU has neither AVX-512 nor AVX2 with FMA")


def compiled(rows: int, blocks: int) -> Compiled:
    """The float32 micro-kernels of a ``rows`` × ``blocks`` tile compiled for this CPU: any shape runs on it (the
    same bits), those of TILE_SHAPES fit its registers."""
    return Compiled(functools.partial(loop_body, b_vector="<16 x float>", a_word="float", a_vector="<16 x float>",
                                      step=fma),
                    "declare <16 x float> @llvm.fma.v16f32(<16 x float>, <16 x float>, <16 x float>)", rows, blocks)


_COMPILED = compiled(*tile_shape(cpu_features()))
PLAN = _COMPILED.plan  # tile_kernels.walk(PLAN, backwards, prepare(A), pack(B), out), as the time loops call it
product = _COMPILED.product  # product(prepare(A), pack(B), out): out = A·B; N a multiple of 16


@numba.njit(cache=True, **SETTINGS)
def prepare(a: np.ndarray) -> np.ndarray:
    """A's rows as the kernels read them: M × K float32 (as given) in C order, a copy only if it is not."""
    return np.ascontiguousarray(a)


@numba.njit(cache=True, **SETTINGS)
def pack(b: np.ndarray) -> np.ndarray:
    """B (K×N float32, any order; N a multiple of 16) as N/16 blocks of K × 16: [j/16, k, j%16] holds B[k, j].

    A transposed weight (W_hhᵀ) is packed from its view, with no C-order copy of it first: at H = 512
    numpy's transposing copy of 4 MB took ten times as long as packing from the view (docs/training.md).
    """
    K, N = b.shape
    out = np.empty((N // 16, K, 16), dtype=np.float32)
    for block in range(N // 16):
        for k in range(K):
            for i in range(16):
                out[block, k, i] = b[k, block * 16 + i]
    return out


def warm_up() -> None:
    """Compile the numba loops and check one small product against numpy's."""
    check_product(prepare, pack, product, tolerance=1e-4, what="the packed float32 product")
    pack(np.zeros((16, 16), dtype=np.float32).T)  # a transposed weight's view, compiled here rather than in a step
