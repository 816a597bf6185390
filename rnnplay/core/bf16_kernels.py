"""Matrix products in bfloat16 with float32 sums, on CPUs with AVX512_BF16 (loaded only by :mod:`rnnplay.core.jit`).

bfloat16 keeps float32's 8-bit exponent and 7 of its 23 mantissa bits, so a float32
becomes one by rounding away its low 16 bits (to nearest, ties to even)::

    bf16(x) = (bits(x) + 0x7FFF + ((bits(x) >> 16) & 1)) >> 16        (NaN stays NaN)

``vdpbf16ps`` multiplies 32 pairs of bfloat16 and adds each pair's two products into
one of 16 float32 lanes, twice a float32 FMA's multiply-adds per instruction::

    acc[j] += a[2j]·b[2j] + a[2j+1]·b[2j+1]                         j = 0 … 15

So C = A·B (A: M×K, B: K×N, float32 in and out) is computed with K taken in pairs:
row r of A becomes ⌈K/2⌉ 32-bit words, word k holding (A[r,2k], A[r,2k+1]) (:func:`pairs`);
B is packed once into blocks of 16 columns, word (k, j) of a block holding
(B[2k,j], B[2k+1,j]) (:func:`pack`). A micro-kernel keeps a tile of C (8 rows × 32
columns, fewer at the edges) in registers and, for each pair of k, broadcasts one word
of A per row and loads one vector of 16 words of B per 16 columns. The micro-kernels
are written in LLVM IR below (numba has no bfloat16 type) and compiled by llvmlite,
which numba brings; :func:`product` walks the tiles.

Only the products' inputs are rounded: every sum, and everything that is not a
product, stays float32. Each element of C is summed in the same order whatever M,
N or the tile it falls in, so the result does not depend on how rows are chunked.
"""

from __future__ import annotations

import ctypes

import llvmlite.binding as llvm
import numba
import numpy as np

SETTINGS = {"nogil": True, "error_model": "numpy"}
ROWS, COLUMN_BLOCKS = 8, 2  # the main micro-kernel's tile: 8 rows × 2·16 columns, 16 accumulators
TILES = ((ROWS, COLUMN_BLOCKS), (ROWS, 1), (1, COLUMN_BLOCKS), (1, 1))  # the last rows and columns


def has_bf16_dot() -> bool:
    """Whether this CPU has AVX512_BF16 (``vdpbf16ps``), as LLVM sees it."""
    return "+avx512bf16" in llvm.get_host_cpu_features().flatten().split(",")


def micro_kernel_ir(rows: int, blocks: int) -> str:
    """LLVM IR of ``micro_{rows}x{blocks}(C, A, B, kp, lda, ldc, bstride)``: one rows×(16·blocks) tile of C = A·B.

    C: float32, row stride ``ldc``; A: rows of ``lda`` words of bfloat16 pairs; B: the
    first column block of a :func:`pack` (``bstride`` words apart); ``kp`` pairs of k.
    """
    acc = [(r, c) for r in range(rows) for c in range(blocks)]
    lines = [
        f"define void @micro_{rows}x{blocks}(ptr %C, ptr %A, ptr %B, i64 %kp, i64 %lda, i64 %ldc, i64 %bstride) {{",
        "entry:",
        *(f"  %arow{r} = mul i64 {r}, %lda" for r in range(rows)),
        *(f"  %bcol{c} = mul i64 {c}, %bstride" for c in range(blocks)),
        "  br label %loop",
        "loop:",
        "  %k = phi i64 [0, %entry], [%knext, %loop]",
        *(f"  %acc{r}_{c} = phi <16 x float> [zeroinitializer, %entry], [%sum{r}_{c}, %loop]" for r, c in acc),
        *pair_of_k_ir(rows, blocks),
        "  %knext = add i64 %k, 1",
        "  %done = icmp eq i64 %knext, %kp",
        "  br i1 %done, label %store, label %loop",
        "store:",
    ]
    for r, c in acc:
        lines += [
            f"  %crow{r}_{c} = mul i64 {r}, %ldc",
            f"  %ci{r}_{c} = add i64 %crow{r}_{c}, {16 * c}",
            f"  %cp{r}_{c} = getelementptr float, ptr %C, i64 %ci{r}_{c}",
            f"  store <16 x float> %sum{r}_{c}, ptr %cp{r}_{c}, align 4",
        ]
    return "\n".join([*lines, "  ret void", "}"])


def pair_of_k_ir(rows: int, blocks: int) -> list[str]:
    """The loop body for pair ``%k``: a vector of B per column block, a broadcast word of A per row, their dots."""
    lines = ["  %boff = mul i64 %k, 16"]
    for c in range(blocks):
        lines += [
            f"  %bi{c} = add i64 %boff, %bcol{c}",
            f"  %bp{c} = getelementptr i32, ptr %B, i64 %bi{c}",
            f"  %b{c} = load <32 x bfloat>, ptr %bp{c}, align 4",
        ]
    for r in range(rows):
        lines += [
            f"  %ai{r} = add i64 %arow{r}, %k",
            f"  %ap{r} = getelementptr i32, ptr %A, i64 %ai{r}",
            f"  %aw{r} = load i32, ptr %ap{r}, align 4",
            f"  %av{r} = insertelement <16 x i32> poison, i32 %aw{r}, i32 0",
            f"  %as{r} = shufflevector <16 x i32> %av{r}, <16 x i32> poison, <16 x i32> zeroinitializer",
            f"  %a{r} = bitcast <16 x i32> %as{r} to <32 x bfloat>",
        ]
        lines += [
            f"  %sum{r}_{c} = call <16 x float> @llvm.x86.avx512bf16.dpbf16ps.512("
            f"<16 x float> %acc{r}_{c}, <32 x bfloat> %a{r}, <32 x bfloat> %b{c})"
            for c in range(blocks)
        ]
    return lines


def compile_micro_kernels() -> tuple[llvm.ExecutionEngine, dict[tuple[int, int], int]]:
    """Compile every tile of TILES for this CPU; the engine (keep it alive) and each kernel's address."""
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    features = llvm.get_host_cpu_features().flatten()
    machine = llvm.Target.from_default_triple().create_target_machine(
        cpu=llvm.get_host_cpu_name(), features=features, opt=3
    )
    declaration = (
        "declare <16 x float> @llvm.x86.avx512bf16.dpbf16ps.512(<16 x float>, <32 x bfloat>, <32 x bfloat>)"
    )
    module = llvm.parse_assembly("\n".join([declaration, *(micro_kernel_ir(r, b) for r, b in TILES)]))
    module.verify()
    engine = llvm.create_mcjit_compiler(module, machine)
    engine.finalize_object()
    return engine, {(r, b): engine.get_function_address(f"micro_{r}x{b}") for r, b in TILES}


if not has_bf16_dot():
    raise ImportError("this CPU has no AVX512_BF16 dot products")  # jit.load answers None: float32 products
_ENGINE, _ADDRESSES = compile_micro_kernels()
_SIGNATURE = ctypes.CFUNCTYPE(None, *[ctypes.c_int64] * 7)  # addresses of C, A, B; kp, lda, ldc, bstride
micro_8x2, micro_8x1, micro_1x2, micro_1x1 = (_SIGNATURE(_ADDRESSES[tile]) for tile in TILES)


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
def pairs(a: np.ndarray) -> np.ndarray:
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
    """B (K×N float32, C order; N a multiple of 16) as N/16 blocks of ⌈K/2⌉ × 16 words.

    Word [j/16, k, j%16] holds (B[2k,j], B[2k+1,j]); an odd K's last word holds (B[K-1,j], 0).
    """
    bits = b.view(np.uint32)
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


@numba.njit(**SETTINGS)  # not cached: the micro-kernels' addresses are this process's
def product(a_pairs: np.ndarray, b_packed: np.ndarray, out: np.ndarray) -> None:
    """out = A·B from :func:`pairs` of A (M × kp words) and :func:`pack` of B; N a multiple of 16."""
    M, kp = a_pairs.shape
    N = out.shape[1]
    bstride = kp * 16  # words from one block of 16 columns to the next
    a0, b0, c0 = np.int64(a_pairs.ctypes.data), np.int64(b_packed.ctypes.data), np.int64(out.ctypes.data)
    i = 0
    while i < M:
        rows = ROWS if i + ROWS <= M else 1
        pa, pc = a0 + 4 * i * kp, c0 + 4 * i * N
        j = 0
        while j < N:
            blocks = COLUMN_BLOCKS if j + 16 * COLUMN_BLOCKS <= N else 1
            pb, pcj = b0 + 4 * (j // 16) * bstride, pc + 4 * j
            if rows == ROWS:
                if blocks == COLUMN_BLOCKS:
                    micro_8x2(pcj, pa, pb, kp, kp, N, bstride)
                else:
                    micro_8x1(pcj, pa, pb, kp, kp, N, bstride)
            elif blocks == COLUMN_BLOCKS:
                micro_1x2(pcj, pa, pb, kp, kp, N, bstride)
            else:
                micro_1x1(pcj, pa, pb, kp, kp, N, bstride)
            j += 16 * blocks
        i += rows


def warm_up() -> None:
    """Compile the numba loops and check one small product against float32 arithmetic on the rounded inputs."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((ROWS + 1, 5), dtype=np.float32)
    b = rng.standard_normal((5, 48), dtype=np.float32)
    out = np.empty((ROWS + 1, 48), dtype=np.float32)
    product(pairs(a), pack(b), out)
    if not np.allclose(out, a @ b, rtol=0.05, atol=0.05):
        raise RuntimeError("the bfloat16 product disagrees with float32 arithmetic")
