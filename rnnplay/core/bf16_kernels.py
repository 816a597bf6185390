"""Matrix products in bfloat16 with float32 sums, on CPUs with AVX512_BF16 (loaded only by :mod:`rnnplay.core.jit`).

bfloat16 keeps float32's 8-bit exponent and 7 of its 23 mantissa bits, so a float32
becomes one by rounding away its low 16 bits (to nearest, ties to even)::

    bf16(x) = (bits(x) + 0x7FFF + ((bits(x) >> 16) & 1)) >> 16        (NaN stays NaN)

``vdpbf16ps`` multiplies 32 pairs of bfloat16 and adds each pair's two products into
one of 16 float32 lanes, twice a float32 FMA's multiply-adds per instruction::

    acc[j] += a[2j]·b[2j] + a[2j+1]·b[2j+1]                         j = 0 … 15

So C = A·B (A: M×K, B: K×N, float32 in and out) is computed with K taken in pairs:
row r of A becomes ⌈K/2⌉ 32-bit words, word k holding (A[r,2k], A[r,2k+1]) (:func:`prepare`);
B is packed once into blocks of 16 columns, word (k, j) of a block holding
(B[2k,j], B[2k+1,j]) (:func:`pack`). The tiles and their walk are
:mod:`rnnplay.core.tile_kernels`'; the loop body here broadcasts one word of A per row
and takes its dot with one vector of 16 words of B per column block (LLVM IR: numba
has no bfloat16 type).

Only the products' inputs are rounded: every sum, and everything that is not a
product, stays float32.
"""

from __future__ import annotations

import functools

import numba
import numpy as np

from rnnplay.core.amx_tiles import TILE_ROWS, plan_on_tiles
from rnnplay.core.tile_kernels import SETTINGS, Compiled, check_product, cpu_features, loop_body, walk

KINDS = frozenset({"step", "weight", "batched"})  # every product (rnnplay.core.products): each gains alike


def has_bf16_dot() -> bool:
    """Whether this CPU has AVX512_BF16 (``vdpbf16ps``), as LLVM sees it."""
    return "avx512bf16" in cpu_features()


def pair_dot(r: int, c: int) -> str:
    """acc[r][c] + the dots of a_r's and b_c's pairs (``vdpbf16ps``)."""
    return (f"  %sum{r}_{c} = call <16 x float> @llvm.x86.avx512bf16.dpbf16ps.512(<16 x float> %acc{r}_{c}, "
            f"<32 x bfloat> %a{r}, <32 x bfloat> %b{c})")


if not has_bf16_dot():
    raise ImportError("this CPU has no AVX512_BF16 dot products")  # jit.load answers None: float32 products
_COMPILED = Compiled(functools.partial(loop_body, b_vector="<32 x bfloat>", a_word="i32", a_vector="<32 x bfloat>",
                                       step=pair_dot),
                     "declare <16 x float> @llvm.x86.avx512bf16.dpbf16ps.512(<16 x float>, "
                     "<32 x bfloat>, <32 x bfloat>)")
_ON_TILES = plan_on_tiles(_COMPILED.plan)  # None where the CPU or the system gives us no AMX
PLAN = _COMPILED.plan if _ON_TILES is None else _ON_TILES  # tile_kernels.walk(PLAN, backwards, prepare(A), …)
ROWS_FILLING_TILES = None if _ON_TILES is None else TILE_ROWS  # rnnplay.core.products.rows_filling_tiles


def product(a_words: np.ndarray, b_packed: np.ndarray, out: np.ndarray) -> None:
    """out = A·B (``a_words``: :func:`prepare`'s A; ``b_packed``: :func:`pack`'s B; N a multiple of 16)."""
    walk(PLAN, False, a_words, b_packed, out)


@numba.njit(inline="always", **SETTINGS)
def to_bf16(bits: np.uint32) -> np.uint32:
    """The bfloat16 nearest the float32 with these bits (ties to even; a NaN stays a quiet NaN)."""
    if bits & np.uint32(0x7FFFFFFF) > np.uint32(0x7F800000):
        return (bits >> np.uint32(16)) | np.uint32(0x40)
    return (bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)


@numba.njit(inline="always", **SETTINGS)
def pair(low: np.uint32, high: np.uint32) -> np.uint32:
    """One 32-bit word of two bfloat16: ``low`` the even k, ``high`` the odd one."""
    return to_bf16(low) | (to_bf16(high) << np.uint32(16))


@numba.njit(cache=True, **SETTINGS)
def prepare(a: np.ndarray) -> np.ndarray:
    """Rows of A (M×K float32, C order) as M × ⌈K/2⌉ words of bfloat16 pairs, the last padded with 0."""
    bits = a.view(np.uint32)
    M, K = bits.shape
    out = np.empty((M, (K + 1) // 2), dtype=np.uint32)
    for r in range(M):
        for k in range(K // 2):
            out[r, k] = pair(bits[r, 2 * k], bits[r, 2 * k + 1])
        if K % 2:
            out[r, K // 2] = to_bf16(bits[r, K - 1])
    return out


@numba.njit(cache=True, **SETTINGS)
def pack(b: np.ndarray) -> np.ndarray:
    """B (K×N float32, any order, copied to C order first; N a multiple of 16) as N/16 blocks of ⌈K/2⌉ × 16 words.

    Word [j/16, k, j%16] holds (B[2k,j], B[2k+1,j]); an odd K's last word holds (B[K-1,j], 0).
    """
    bits = np.ascontiguousarray(b).view(np.uint32)
    K, N = bits.shape
    kp = (K + 1) // 2
    out = np.zeros((N // 16, kp, 16), dtype=np.uint32)
    for k in range(K // 2):
        for block in range(N // 16):
            for i in range(16):
                j = block * 16 + i
                out[block, k, i] = pair(bits[2 * k, j], bits[2 * k + 1, j])
    if K % 2:
        for j in range(N):
            out[j // 16, kp - 1, j % 16] = to_bf16(bits[K - 1, j])
    return out


def warm_up() -> None:
    """Compile the numba loops and check one small product against float32 arithmetic (to bfloat16's rounding)."""
    check_product(prepare, pack, product, tolerance=0.05, what="the bfloat16 product")
    pack(np.zeros((16, 16), dtype=np.float32).T)  # a transposed weight's view, compiled here rather than in a step
    if _ON_TILES is not None:  # k of 16 words or more: the tiles (the first product ran vdpbf16ps)
        check_product(prepare, pack, product, tolerance=0.05, what="the bfloat16 product on AMX tiles", rows=33,
                      depth=64)
