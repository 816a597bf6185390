"""Matrix products C = A·B on a right-hand side packed once, in micro-kernels of LLVM IR (loaded by the kernel modules).

A training step multiplies the same W_hh by a new h at every time step. BLAS packs
both operands again at each call; here B is packed once per sequence, into blocks of
16 columns stored k by k (a :func:`pack` of the kernel module), and each call only
walks the tiles. A micro-kernel keeps a tile of C — ``rows`` × 16·``blocks`` float32,
in ``rows·blocks`` vectors of 16 lanes — in registers for the whole of k::

    for k in 0 … kk-1:                         (kk: k's count in A's words)
        b_c = B[block c][k][0:16]              one vector load per column block
        a_r = broadcast(A[r, k])               one word of A per row
        acc[r][c] = step(acc[r][c], a_r, b_c)  an FMA, or bfloat16 pairs' dot
    C[r, 16c : 16c+16] = acc[r][c]

``step`` is the kernel module's (:mod:`.f32_kernels`, :mod:`.bf16_kernels`). Every
element of C is summed over k in the same order whatever M, N or the tile it falls
in, so a row's result does not depend on how the rows are chunked.

The tile's shape is the kernel module's, for its CPU's registers (:class:`Compiled`'s
``rows`` and ``blocks``), and its plan carries it to :func:`walk`. AVX-512 has 32
registers of 16 float32: 8 rows × 2 blocks is 16 accumulators. AVX2 has 16 of 8 float32,
and LLVM splits a vector of 16 lanes into two of them: 4 rows × 1 block is 8 accumulators,
beside B's two halves and A's broadcast word (8 rows × 2 blocks would need 32 and spill).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import llvmlite.binding as llvm
import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core.typing import Signature
from numba.extending import intrinsic

SETTINGS = {"nogil": True, "error_model": "numpy"}
ROWS, COLUMN_BLOCKS = 8, 2  # the main micro-kernel's tile by default (AVX-512): 8 rows × 2·16 columns
# A plan's row (:func:`plan_row`): the micro-kernels' addresses, tall and a strip wide first as in :func:`tiles`, …
TALL_TWO, TALL_ONE, SHORT_TWO, SHORT_ONE, TALL, SHORT, UNIT, K_STEP, CONFIGS, STRIP = range(10)  # … then plan_row's
CONFIG_BYTES = 64  # a tile configuration (amx_tiles), one for each count of rows from CONFIGS on
MICRO_ARGUMENTS = "ptr %C, ptr %A, ptr %B, i64 %kk, i64 %lda, i64 %ldc, i64 %bstride, ptr %config"  # :func:`walk`'s
StepIR = Callable[[int, int], list[str]]  # (rows, blocks) -> the loop body for word %k, defining %sum{r}_{c}


def cpu_features() -> set[str]:
    """This CPU's features as LLVM names them (``avx512f``, ``avx512bf16``, …)."""
    return {f[1:] for f in llvm.get_host_cpu_features().flatten().split(",") if f.startswith("+")}


def tiles(rows: int, blocks: int) -> tuple[tuple[int, int], ...]:
    """The (rows, column blocks) of the micro-kernels of a ``rows`` × ``blocks`` tile, in a plan's order: the tile,
    one block wide (a strip's last columns), one row high (the last rows), both."""
    return (rows, blocks), (rows, 1), (1, blocks), (1, 1)


def micro_kernel_ir(rows: int, blocks: int, step: StepIR) -> str:
    """LLVM IR of ``micro_{rows}x{blocks}(C, A, B, kk, lda, ldc, bstride, config)``: one rows×(16·blocks) tile of
    C = A·B.

    C: float32, row stride ``ldc``; A: rows of ``lda`` 32-bit words; B: the first column
    block of a pack (``bstride`` words apart); ``kk`` words of k; ``config`` unused (the
    arguments of :func:`walk`'s micro-kernels). ``step`` writes the body.
    """
    acc = [(r, c) for r in range(rows) for c in range(blocks)]
    lines = [
        f"define void @micro_{rows}x{blocks}({MICRO_ARGUMENTS}) {{",
        "entry:",
        *(f"  %arow{r} = mul i64 {r}, %lda" for r in range(rows)),
        *(f"  %bcol{c} = mul i64 {c}, %bstride" for c in range(blocks)),
        "  br label %loop",
        "loop:",
        "  %k = phi i64 [0, %entry], [%knext, %loop]",
        *(f"  %acc{r}_{c} = phi <16 x float> [zeroinitializer, %entry], [%sum{r}_{c}, %loop]" for r, c in acc),
        "  %boff = mul i64 %k, 16",
        *step(rows, blocks),
        "  %knext = add i64 %k, 1",
        "  %done = icmp eq i64 %knext, %kk",
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


def loop_body(rows: int, blocks: int, *, b_vector: str, a_word: str, a_vector: str,
              step: Callable[[int, int], str]) -> list[str]:
    """The loop body for word %k: B's vector (of type ``b_vector``) per column block, A's word at %ap{r} (of type
    ``a_word``) in all 16 lanes as %a{r} (of type ``a_vector``), and ``step(r, c)``, the instruction defining
    %sum{r}_{c}. A kernel module gives the last four (``functools.partial``) to make its :data:`StepIR`."""
    bitcast = a_vector != f"<16 x {a_word}>"  # the same 32 bits as another type: a pair of bfloat16 in each lane
    lines = []
    for c in range(blocks):
        lines += [f"  %bi{c} = add i64 %boff, %bcol{c}", f"  %bp{c} = getelementptr i32, ptr %B, i64 %bi{c}",
                  f"  %b{c} = load {b_vector}, ptr %bp{c}, align 4"]
    for r in range(rows):
        splat = f"%as{r}" if bitcast else f"%a{r}"
        lines += [
            f"  %ai{r} = add i64 %arow{r}, %k", f"  %ap{r} = getelementptr i32, ptr %A, i64 %ai{r}",
            f"  %aw{r} = load {a_word}, ptr %ap{r}, align 4",
            f"  %av{r} = insertelement <16 x {a_word}> poison, {a_word} %aw{r}, i32 0",
            f"  {splat} = shufflevector <16 x {a_word}> %av{r}, <16 x {a_word}> poison, <16 x i32> zeroinitializer",
        ]
        if bitcast:
            lines.append(f"  %a{r} = bitcast <16 x {a_word}> %as{r} to {a_vector}")
        lines += [step(r, c) for c in range(blocks)]
    return lines


class Compiled:
    """The micro-kernels of a ``rows`` × ``blocks`` tile (:func:`tiles`) compiled for this CPU from ``step``, and
    their ``plan`` for :func:`walk` (two rows of :func:`plan_row`, the same)."""

    def __init__(self, step: StepIR, declarations: str, rows: int = ROWS, blocks: int = COLUMN_BLOCKS) -> None:
        shapes = tiles(rows, blocks)  # with one block the tall tile's strip is its one block: compiled once
        source = [declarations, *(micro_kernel_ir(r, b, step) for r, b in dict.fromkeys(shapes))]
        self.engine = compile_ir("\n".join(source))
        row = plan_row(addresses(self.engine, [f"micro_{r}x{b}" for r, b in shapes]), tall=rows, short=1,
                       blocks=blocks)
        self.plan = np.stack([row, row])

    def product(self, a_words: np.ndarray, b_packed: np.ndarray, out: np.ndarray) -> None:
        """out = A·B (``a_words``: the kernel module's ``prepare(A)``; ``b_packed``: its ``pack(B)``)."""
        walk(self.plan, False, a_words, b_packed, out)


def compile_ir(source: str) -> llvm.ExecutionEngine:
    """LLVM IR compiled for this CPU; keep the engine alive as long as its functions are called."""
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    machine = llvm.Target.from_default_triple().create_target_machine(
        cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten(), opt=3
    )
    module = llvm.parse_assembly(source)
    module.verify()
    engine = llvm.create_mcjit_compiler(module, machine)
    engine.finalize_object()
    return engine


def addresses(engine: llvm.ExecutionEngine, names: list[str]) -> list[int]:
    """The addresses of the compiled functions ``names`` of ``engine`` (alive as long as it is)."""
    return [engine.get_function_address(name) for name in names]


def plan_row(micro: list[int], *, tall: int, short: int, in_bytes: bool = False, k_step: int = 1,
             configs: int = 0, blocks: int = COLUMN_BLOCKS) -> np.ndarray:  # fmt: skip
    """A row of a plan for :func:`walk`: the micro-kernels at ``micro`` (in the order of :func:`tiles`: ``tall`` rows
    × a strip of ``blocks`` column blocks (1 or 2), × one block; ``short`` rows × a strip, × one), their strides in
    32-bit words (or bytes: ``in_bytes``), for k a multiple of ``k_step`` words; ``configs`` the address of tile
    configurations of 0, 1, … ``short`` rows (``CONFIG_BYTES`` each), whose last argument they take (0: none, for
    kernels that take none)."""
    return np.array([*micro, tall, short, 4 if in_bytes else 1, k_step, configs, blocks], dtype=np.int64)


@numba.njit(cache=True, **SETTINGS)
def walk(plan: np.ndarray, backwards: bool, a_words: np.ndarray, b_packed: np.ndarray, out: np.ndarray) -> None:
    """out = A·B, N a multiple of 16, through the micro-kernels of ``plan``'s row 0 (:func:`plan_row`), or of row 1
    where k is not a multiple of row 0's ``k_step`` words; C's strips of column blocks from the last to the first
    when ``backwards``. Cached on disk: the micro-kernels, compiled in each process, come as addresses, with their
    tile's rows and strip width (numba's cache is keyed on the CPU as well: another CPU's is not loaded).

    The column blocks are the outer loop, so a block of B stays in cache while every row tile uses it.
    A B larger than the core's cache, met again at the next call (W_hh at every time step), is
    streamed in full each time when every call walks it the same way; calls that turn around at
    each end find its last blocks still in cache (docs/training.md). Every element is the same
    sum either way, each tile being summed alone.
    """
    M, kk = a_words.shape
    N = out.shape[1]
    p = plan[0] if kk % plan[0, K_STEP] == 0 else plan[1]
    tall, short, scale = p[TALL], p[SHORT], p[UNIT]
    lda, ldc, bstride = scale * kk, scale * N, scale * 16 * kk  # a row of A, of C; a block of 16 columns of B
    a0, b0, c0 = np.int64(a_words.ctypes.data), np.int64(b_packed.ctypes.data), np.int64(out.ctypes.data)
    full = p[CONFIGS] + CONFIG_BYTES * short
    width = 16 * p[STRIP]
    strips = -(-N // width)  # of p[STRIP] blocks of 16 columns (1 or 2), the last one maybe a block narrower
    for q in range(strips):
        j = width * (strips - 1 - q if backwards else q)
        two = j + width <= N
        pb = b0 + 64 * kk * (j // 16)
        i = 0
        while i < M:
            pa, pc = a0 + 4 * i * kk, c0 + 4 * (i * N + j)
            if i + tall <= M:
                call_micro(p[TALL_TWO] if two else p[TALL_ONE], pc, pa, pb, kk, lda, ldc, bstride, full)
                i += tall
            else:
                config = p[CONFIGS] + CONFIG_BYTES * min(short, M - i)  # the last rows: maybe fewer than short
                call_micro(p[SHORT_TWO] if two else p[SHORT_ONE], pc, pa, pb, kk, lda, ldc, bstride, config)
                i += short


@intrinsic
def call_micro(typingctx: Any, address: types.Integer, c: types.Integer, a: types.Integer, b: types.Integer,
               kk: types.Integer, lda: types.Integer, ldc: types.Integer, bstride: types.Integer,
               config: types.Integer) -> tuple[Signature, Any]:  # fmt: skip
    """``micro(C, A, B, kk, lda, ldc, bstride, config)``, the micro-kernel at ``address``: eight 64-bit integers."""
    signature = types.none(address, c, a, b, kk, lda, ldc, bstride, config)

    def codegen(context: Any, builder: Any, signature: Signature, args: tuple) -> Any:
        kind = ir.FunctionType(ir.VoidType(), [ir.IntType(64)] * 8)
        values = [context.cast(builder, v, t, types.int64) for v, t in zip(args[1:], signature.args[1:], strict=True)]
        builder.call(builder.inttoptr(args[0], kind.as_pointer()), values)
        return context.get_dummy_value()

    return signature, codegen


def check_product(prepare: Callable[[np.ndarray], np.ndarray], pack: Callable[[np.ndarray], np.ndarray],
                  product: Callable[[np.ndarray, np.ndarray, np.ndarray], None], tolerance: float, what: str,
                  rows: int = ROWS + 1, depth: int = 5) -> None:  # fmt: skip
    """A kernel module's warm-up: compile its loops on a small product (``rows`` × ``depth`` by ``depth`` × 48:
    every kind of tile of ``rows`` - 1 rows or fewer), and compare it with numpy's float32 product; ``RuntimeError``
    (the module does not load) when it disagrees."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((rows, depth), dtype=np.float32)
    b = rng.standard_normal((depth, 48), dtype=np.float32)
    out = np.empty((rows, 48), dtype=np.float32)
    product(prepare(a), pack(b), out)
    if not np.allclose(out, a @ b, rtol=tolerance, atol=tolerance):
        raise RuntimeError(f"{what} disagrees with float32 arithmetic")
