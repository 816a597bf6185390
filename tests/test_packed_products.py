"""float32 per-step products on W packed once (rnnplay/core/f32_kernels.py, tile_kernels.py, through products.py).

The kernels need a CPU with AVX-512, or AVX2 and FMA; their tests skip elsewhere, where every product is numpy's.
No timings here: the speed is in docs/training.md (benchmarks/product_speed.py, train_throughput.py).
"""

from __future__ import annotations

import threading
import tracemalloc

import numpy as np
import pytest

from rnnplay.core import parallel_step, products
from rnnplay.core.cells import LayerNormLSTMCell, LSTMCell, RNNCell
from rnnplay.core.cells.base import Cell
from rnnplay.core.model import Model
from rnnplay.core.vocab import Vocab

needs_packed = pytest.mark.skipif(products.kernels("float32") is None,
                                  reason="this CPU has no AVX-512 or AVX2 (or no numba)")


def packed_product(a: np.ndarray, b: np.ndarray, precision: str = "float32") -> np.ndarray:
    out = np.empty((a.shape[0], b.shape[1]), dtype=np.float32)
    with products.precision(precision):
        return products.Operand(b).times(a, out)


@needs_packed
@pytest.mark.parametrize(("M", "K", "N"), [(32, 256, 1024), (64, 1024, 256), (9, 33, 48), (1, 1, 16), (17, 64, 16),
                                           (40, 7, 80)])  # fmt: skip
def test_the_packed_product_is_a_float32_sum_of_the_exact_products(M: int, K: int, N: int) -> None:
    rng = np.random.default_rng(M * K + N)
    a = rng.standard_normal((M, K), dtype=np.float32)
    b = rng.standard_normal((K, N), dtype=np.float32)
    exact = a.astype(np.float64) @ b.astype(np.float64)
    scale = np.abs(a.astype(np.float64)) @ np.abs(b.astype(np.float64))
    got = packed_product(a, b)
    assert got.dtype == np.float32 and got.shape == (M, N)
    assert np.all(np.abs(got - exact) <= K * np.finfo(np.float32).eps * scale)  # K roundings of a running sum at most


@pytest.mark.parametrize("precision", [pytest.param("float32", marks=needs_packed), pytest.param(
    "bfloat16", marks=pytest.mark.skipif(not products.bf16_available(), reason="this CPU has no AVX512_BF16"))])
def test_each_row_comes_out_the_same_whatever_rows_surround_it(precision: str) -> None:
    rng = np.random.default_rng(5)
    a = rng.standard_normal((37, 96), dtype=np.float32)
    b = rng.standard_normal((96, 64), dtype=np.float32)
    whole = packed_product(a, b, precision)
    parts = np.concatenate([packed_product(a[lo:hi], b, precision) for lo, hi in ((0, 16), (16, 32), (32, 37))])
    np.testing.assert_array_equal(parts, whole)  # so the chunked step's result does not depend on the chunks
    np.testing.assert_array_equal(packed_product(a, b.T.copy().T, precision), whole)  # a transposed W packs alike


@needs_packed
@pytest.mark.parametrize("N", [16, 32, 48, 1024])  # one block, one strip of two, two strips the last narrower, many
def test_walking_w_s_column_blocks_from_the_last_gives_the_same_bits(N: int) -> None:
    f32_kernels = products.kernels("float32")
    from rnnplay.core.tile_kernels import walk  # numba's: only where the kernels load
    rng = np.random.default_rng(N)
    a = rng.standard_normal((9, 40), dtype=np.float32)
    packed = f32_kernels.pack(rng.standard_normal((40, N), dtype=np.float32))
    forwards, backwards = np.empty((9, N), dtype=np.float32), np.full((9, N), np.nan, dtype=np.float32)
    f32_kernels.product(a, packed, forwards)
    walk(f32_kernels.PLAN, True, a, packed, backwards)  # the time loops turn at every step (lstm_loops)
    np.testing.assert_array_equal(backwards, forwards)


@needs_packed
def test_a_transposed_weight_is_packed_from_its_view_without_a_copy_first() -> None:
    W = np.random.default_rng(3).standard_normal((64, 256), dtype=np.float32)
    with products.precision("float32"):
        products.Operand(W.T)  # compiled for a transposed view before the count
        tracemalloc.start()
        try:
            operand = products.Operand(W.T)  # W_hhᵀ of the backward loop, dz·W_xhᵀ: a view of the weight
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < W.nbytes * 3 // 2  # the packed array, and no C-order copy of Wᵀ beside it (slow at H = 512)
        out = np.empty((5, 64), dtype=np.float32)
        a = np.ones((5, 256), dtype=np.float32)
        np.testing.assert_array_equal(operand.times(a, out), packed_product(a, np.ascontiguousarray(W.T)))


@needs_packed
def test_a_float32_step_packs_its_weights_and_leaves_a_chunks_own_arrays_to_blas() -> None:
    rng = np.random.default_rng(6)
    a = rng.standard_normal((8, 32), dtype=np.float32)
    b = rng.standard_normal((32, 48), dtype=np.float32)
    out = np.empty((8, 48), dtype=np.float32)
    assert products.Operand(b).kernels is None  # off by default: validation, scoring, generation
    with products.precision("float32"):
        assert products.Operand(b).kernels is products.kernels("float32")
        np.testing.assert_array_equal(products.product(a, b), a @ b)  # b a chunk's own array: numpy's BLAS
        np.testing.assert_array_equal(products.product_tn(a.T.copy(), b), a @ b)
        weight = products.product(a, b, weight=True)  # b a weight, packed once a step: the kernels
        np.testing.assert_array_equal(weight, packed_product(a, b))
        np.testing.assert_array_equal(products.Operand(b[:, :40]).times(a, out[:, :40].copy()), a @ b[:, :40])
        assert products.Operand(b.astype(np.float64)).kernels is None  # float64: the gradient checks
        strided = np.empty((48, 8), dtype=np.float32).T  # an out the kernels cannot write as one block
        numpy_strided = np.matmul(a, b, out=np.empty((48, 8), dtype=np.float32).T)  # OpenBLAS's bits for that layout
        np.testing.assert_array_equal(products.Operand(b).times(a, strided), numpy_strided)
        elsewhere: list[object] = []
        thread = threading.Thread(target=lambda: elsewhere.append(products.Operand(b).kernels))
        thread.start()
        thread.join()
    assert elsewhere == [None]  # the switch is this thread's alone


@needs_packed
def test_the_rnn_1x128_s_per_step_product_stays_on_the_kernels_as_one_compiled_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    f32_kernels = products.kernels("float32")
    prepared: list[np.ndarray] = []
    monkeypatch.setattr(f32_kernels, "prepare", lambda a: prepared.append(a) or a)
    rng = np.random.default_rng(8)
    W = rng.standard_normal((128, 128), dtype=np.float32)  # the vanilla RNN 1×128's W_hh
    h = rng.standard_normal((32, 128), dtype=np.float32)  # a chunk's 32 streams
    expected = np.empty((32, 128), dtype=np.float32)
    f32_kernels.product(h, f32_kernels.pack(W), expected)
    with products.precision("float32"):
        operand = products.operand(W)  # as the cell's loop over time asks for W_hh
        assert operand.kernels is f32_kernels  # the packed kernels at this size too, on AVX2 as on AVX-512
        np.testing.assert_array_equal(operand.times(h, np.empty_like(h)), expected)
        np.testing.assert_array_equal(operand.times(np.asfortranarray(h), np.empty_like(h)), expected)
    # prepare(h) is h: a second compiled call per time step let the interpreter's lock go and took it back, which
    # made the RNN's step slower on the kernels than on BLAS; without it the two ran level (docs/training.md)
    assert prepared == []


@needs_packed
@pytest.mark.parametrize("cell", [LSTMCell(), RNNCell(), LayerNormLSTMCell()], ids=["lstm", "rnn", "lnlstm"])
def test_a_step_on_packed_products_has_numpys_gradients_and_repeats_bit_for_bit(
    cell: Cell, monkeypatch: pytest.MonkeyPatch
) -> None:
    vocab = Vocab.from_text("abcdefghijklmnopqrstuvwxyz .,\n")
    model = Model(cell, vocab, 32, 2, seed=1)
    rng = np.random.default_rng(2)
    inputs, targets = rng.integers(0, vocab.size, (12, 40)), rng.integers(0, vocab.size, (12, 40))
    states = model.initial_state(40)
    packed = parallel_step.loss_and_grads(model, inputs, targets, states, workers=2)
    again = parallel_step.loss_and_grads(model, inputs, targets, states, workers=3)
    monkeypatch.setitem(products.KERNELS, "float32", "rnnplay.core.no_such_kernels")  # numpy's products
    loss, grads, _ = parallel_step.loss_and_grads(model, inputs, targets, states, workers=2)
    assert packed[0] == pytest.approx(loss, rel=1e-6)
    for name, g in grads.items():
        assert np.linalg.norm(packed[1][name] - g) <= 1e-4 * np.linalg.norm(g), name
        np.testing.assert_array_equal(again[1][name], packed[1][name], err_msg=name)  # any worker count, same bits


def test_the_float32_kernels_load_on_every_cpu_with_avx512_or_avx2_and_fma() -> None:
    pytest.importorskip("numba")
    from rnnplay.core.tile_kernels import cpu_features
    features = cpu_features()
    if not ("avx512f" in features or {"avx2", "fma"} <= features):
        pytest.skip("this CPU has neither AVX-512 nor AVX2 with FMA")
    assert products.kernels("float32") is not None  # not numpy's products and Python's loops over time


@needs_packed
def test_the_tile_fits_the_cpu_s_registers() -> None:
    tile_shape = products.kernels("float32").tile_shape
    assert tile_shape({"avx512f", "avx2", "fma"}) == (8, 2)  # 16 accumulators of AVX-512's 32 registers
    assert tile_shape({"avx2", "fma", "avx"}) == (4, 1)  # 8 of AVX2's 16: 4 rows × 16 lanes in two registers each
    with pytest.raises(ImportError):
        tile_shape({"avx2", "avx"})  # no FMA: numpy's products


@needs_packed
@pytest.mark.parametrize("shape", [(8, 2), (4, 1), (3, 2), (5, 1)])  # AVX-512's, AVX2's, and two more
def test_every_tile_shape_gives_the_same_bits_whichever_way_it_walks(shape: tuple[int, int]) -> None:
    f32_kernels = products.kernels("float32")
    from rnnplay.core.tile_kernels import walk
    kernels = f32_kernels.compiled(*shape)  # alive while its plan's addresses are called
    for M, K, N in [(1, 1, 16), (7, 37, 48), (13, 5, 80), (17, 64, 32), (9, 33, 96)]:  # tall, short; strips ± a block
        rng = np.random.default_rng(M * K * N)
        a, b = rng.standard_normal((M, K), dtype=np.float32), rng.standard_normal((K, N), dtype=np.float32)
        packed = f32_kernels.pack(b)
        reference = np.empty((M, N), dtype=np.float32)
        f32_kernels.product(a, packed, reference)  # this CPU's own tile
        for backwards in (False, True):
            out = np.full((M, N), np.nan, dtype=np.float32)  # a column no tile writes stays NaN
            walk(kernels.plan, backwards, a, packed, out)
            np.testing.assert_array_equal(out, reference, err_msg=f"{M}x{K}x{N}, backwards={backwards}")
    # so a run trained on an AVX-512 host goes on with the same products' bits here, and the other way round
