"""bfloat16 products on AMX tiles (Intel Advanced Matrix Extensions), for :mod:`.bf16_kernels` where the CPU has them.

An AMX core holds eight tile registers of up to 16 rows × 64 bytes, and one
instruction, ``tdpbf16ps``, multiplies two of them into a third::

    C[m][n] += Σ_{k<16} a[m][2k]·b[k][2n] + a[m][2k+1]·b[k][2n+1]      (16 × 16 float32 sums)

A: 16 rows of A × 16 words of bfloat16 pairs; B: 16 words of k × 16 columns, each
word a pair (B[2k, n], B[2k+1, n]). Those are the layouts :mod:`.bf16_kernels` already
makes — :func:`~.bf16_kernels.prepare`'s rows of A in words, and
:func:`~.bf16_kernels.pack`'s blocks of 16 columns, k by k — so a tile of A is 16 rows
of words read ``lda`` bytes apart and a tile of B 16 consecutive words of k in one block.
One instruction does 8,192 multiply-adds, where ``vdpbf16ps`` does 32.

A micro-kernel (LLVM IR, the ``llvm.x86`` AMX intrinsics) keeps a block of C of one or
two row tiles × one or two column tiles in tile registers for the whole of k, 16
words at a time::

    for k in 0, 16, … kk-16:
        A_r = A[16r … 16r+15, k … k+15]       one tile per row tile
        B_c = B[block c][k … k+15]            one tile per column tile
        C_rc = tdpbf16ps(C_rc, A_r, B_c)

Each sum runs over k in the same order whatever the rows beside it, so a row's result
does not depend on how the rows are chunked, as with the other kernels. The last rows
(M not a multiple of 16) take a tile configured with fewer rows; a product whose k
is not a multiple of 16 words runs on the ``vdpbf16ps`` kernels instead.

Linux hands AMX's state to a process only when it asks (``arch_prctl``,
``ARCH_REQ_XCOMP_PERM``); without that the first instruction raises SIGILL, so
:func:`plan_on_tiles` asks first and answers None when it is refused.
"""

from __future__ import annotations

import ctypes

import numpy as np

from rnnplay.core.tile_kernels import CONFIG_BYTES, MICRO_ARGUMENTS, addresses, compile_ir, cpu_features, plan_row

SYS_ARCH_PRCTL, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA = 158, 0x1023, 18  # x86-64 Linux
TILE_ROWS, TILE_WORDS = 16, 16  # a tile: up to 16 rows of 64 bytes (16 words of bfloat16 pairs, 16 float32)
SHAPES = ((2, 2), (2, 1), (1, 2), (1, 1))  # (row tiles, column tiles) of the micro-kernels
DECLARATIONS = """declare void @llvm.x86.ldtilecfg(ptr)
declare void @llvm.x86.tilezero(i8 immarg)
declare void @llvm.x86.tileloadd64(i8 immarg, ptr, i64)
declare void @llvm.x86.tdpbf16ps(i8 immarg, i8 immarg, i8 immarg)
declare void @llvm.x86.tilestored64(i8 immarg, ptr, i64)"""


def tile_config(rows: int) -> np.ndarray:
    """The 64-byte tile configuration (palette 1) of the micro-kernels: C tiles 0–3 and A tiles 4–5 of ``rows``
    rows, B tiles 6–7 of 16; every row 64 bytes."""
    config = np.zeros(CONFIG_BYTES, dtype=np.uint8)
    config[0] = 1  # palette 1
    config[16:32].view(np.uint16)[:] = 64  # bytes per row of tiles 0–7
    config[48:56] = [rows] * 6 + [TILE_WORDS] * 2
    return config


def micro_kernel_ir(row_tiles: int, column_tiles: int) -> str:
    """LLVM IR of ``amx_{R}x{C}(C, A, B, kk, lda, ldc, bstride, config)``: C = A·B on R×C tiles (byte strides)."""
    pairs = [(r, c) for r in range(row_tiles) for c in range(column_tiles)]
    lines = [
        f"define void @amx_{row_tiles}x{column_tiles}({MICRO_ARGUMENTS}) {{",
        "entry:",
        "  call void @llvm.x86.ldtilecfg(ptr %config)",
        *(f"  call void @llvm.x86.tilezero(i8 {2 * r + c})" for r, c in pairs),
        "  %arows = mul i64 %lda, 16",
        "  br label %loop",
        "loop:",
        "  %k = phi i64 [0, %entry], [%knext, %loop]",
        "  %aoff = mul i64 %k, 4",
        "  %boff = mul i64 %k, 64",
    ]
    for r in range(row_tiles):
        lines += [f"  %ar{r} = mul i64 %arows, {r}", f"  %ai{r} = add i64 %aoff, %ar{r}",
                  f"  %ap{r} = getelementptr i8, ptr %A, i64 %ai{r}",
                  f"  call void @llvm.x86.tileloadd64(i8 {4 + r}, ptr %ap{r}, i64 %lda)"]
    for c in range(column_tiles):
        lines += [f"  %bc{c} = mul i64 %bstride, {c}", f"  %bi{c} = add i64 %boff, %bc{c}",
                  f"  %bp{c} = getelementptr i8, ptr %B, i64 %bi{c}",
                  f"  call void @llvm.x86.tileloadd64(i8 {6 + c}, ptr %bp{c}, i64 64)"]
    lines += [f"  call void @llvm.x86.tdpbf16ps(i8 {2 * r + c}, i8 {4 + r}, i8 {6 + c})" for r, c in pairs]
    lines += [f"  %knext = add i64 %k, {TILE_WORDS}", "  %done = icmp uge i64 %knext, %kk",
              "  br i1 %done, label %store, label %loop", "store:"]
    for r, c in pairs:
        lines += [f"  %cr{r}{c} = mul i64 %ldc, {TILE_ROWS * r}", f"  %ci{r}{c} = add i64 %cr{r}{c}, {64 * c}",
                  f"  %cp{r}{c} = getelementptr i8, ptr %C, i64 %ci{r}{c}",
                  f"  call void @llvm.x86.tilestored64(i8 {2 * r + c}, ptr %cp{r}{c}, i64 %ldc)"]
    return "\n".join([*lines, "  ret void", "}"])


def amx_permitted() -> bool:
    """Whether this CPU has AMX with bfloat16 and Linux lets this process use its tiles (asking once)."""
    if not {"amx-tile", "amx-bf16"} <= cpu_features():
        return False
    libc = ctypes.CDLL(None)
    return libc.syscall(SYS_ARCH_PRCTL, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0  # granted, or already


_kept: list[object] = []  # the compiled kernels' code and their tile configurations live as long as the process


def plan_on_tiles(fallback: np.ndarray) -> np.ndarray | None:
    """A plan for :func:`.tile_kernels.walk`: its products on AMX tiles, on ``fallback``'s row 0 (the ``vdpbf16ps``
    kernels' plan) where k is not a multiple of 16 words; None where AMX cannot run."""
    if not amx_permitted():
        return None
    engine = compile_ir("\n".join([DECLARATIONS, *(micro_kernel_ir(r, c) for r, c in SHAPES)]))
    configs = np.stack([tile_config(rows) for rows in range(TILE_ROWS + 1)])  # [rows]: a config of that many rows
    _kept.extend([engine, configs])
    micro = addresses(engine, [f"amx_{r}x{c}" for r, c in SHAPES])
    tiles = plan_row(micro, tall=2 * TILE_ROWS, short=TILE_ROWS, in_bytes=True, k_step=TILE_WORDS,
                     configs=configs.ctypes.data)
    return np.stack([tiles, fallback[0]])
