"""bfloat16 products on AMX tiles (rnnplay.core.amx_tiles): exact sums of the rounded inputs for every row count,
the vdpbf16ps kernels where k does not fill a tile, and chunks that fill the tiles. Skipped where the CPU (or the
system) gives no AMX."""

from __future__ import annotations

import numpy as np
import pytest

from rnnplay.core import amx_tiles, parallel_step, products
from rnnplay.core.cells import LSTMCell
from rnnplay.core.model import Model
from rnnplay.core.vocab import Vocab

kernels = products.kernels("bfloat16")
on_tiles = kernels is not None and products.rows_filling_tiles("bfloat16") is not None
pytestmark = pytest.mark.skipif(not on_tiles, reason="no AMX with bfloat16 here (or numba is off)")


def rounded(x: np.ndarray) -> np.ndarray:
    """x rounded to bfloat16 (ties to even) and widened to float64, written apart from the kernels."""
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint32)) << 16).view(np.float32).astype(np.float64)


def tile_product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.full((a.shape[0], b.shape[1]), np.nan, dtype=np.float32)  # a row or column left unwritten stays NaN
    kernels.product(kernels.prepare(a), kernels.pack(b), out)
    return out


@pytest.mark.parametrize("M", [1, 8, 15, 16, 17, 31, 32, 33, 48, 50])
@pytest.mark.parametrize(("K", "N"), [(32, 16), (63, 48), (96, 32), (256, 1024)])
def test_every_row_and_column_is_the_float32_sum_of_the_rounded_products(M: int, K: int, N: int) -> None:
    rng = np.random.default_rng(M * K + N)
    a = rng.standard_normal((M, K), dtype=np.float32)
    b = rng.standard_normal((K, N), dtype=np.float32)
    exact, scale = rounded(a) @ rounded(b), np.abs(rounded(a)) @ np.abs(rounded(b))
    got = tile_product(a, b)
    assert np.all(np.abs(got - exact) <= K * np.finfo(np.float32).eps * scale)  # NaN (unwritten) fails too


def test_the_tiles_sum_otherwise_than_vdpbf16ps_and_k_short_of_a_tile_runs_vdpbf16ps() -> None:
    rng = np.random.default_rng(3)
    b = rng.standard_normal((64, 32), dtype=np.float32)
    a = rng.standard_normal((24, 64), dtype=np.float32)
    words, packed = kernels.prepare(a), kernels.pack(b)
    dot = np.empty((24, 32), dtype=np.float32)
    kernels._COMPILED.product(words, packed, dot)
    assert not np.array_equal(tile_product(a, b), dot)  # the tiles ran: their sums round in another order
    short = a[:, :40]  # 20 words of k: not a multiple of 16
    kernels._COMPILED.product(kernels.prepare(short), kernels.pack(b[:40]), dot)
    np.testing.assert_array_equal(tile_product(short, b[:40]), dot)


def test_a_bfloat16_lstm_takes_chunks_that_fill_the_tiles_and_float32_keeps_its_own() -> None:
    model = Model(LSTMCell(), Vocab.from_text("abcdef"), 128, 2)  # products past SMALL_STEP
    assert parallel_step.chunk_size(model) == parallel_step.NARROW_CHUNK
    model.products = "bfloat16"
    assert parallel_step.chunk_size(model) == amx_tiles.TILE_ROWS


def test_a_step_on_the_tiles_repeats_bit_for_bit_whatever_the_workers() -> None:
    vocab = Vocab.from_text("abcdefghijklmnopqrstuvwxyz .,\n")
    model = Model(LSTMCell(), vocab, 64, 2, seed=1)
    model.products = "bfloat16"
    rng = np.random.default_rng(2)
    inputs, targets = rng.integers(0, vocab.size, (20, 40)), rng.integers(0, vocab.size, (20, 40))
    states = model.initial_state(40)
    one = parallel_step.loss_and_grads(model, inputs, targets, states, workers=1)
    three = parallel_step.loss_and_grads(model, inputs, targets, states, workers=3)
    model.products = "float32"
    float32 = parallel_step.loss_and_grads(model, inputs, targets, states, workers=2)
    assert one[0] == three[0] and one[0] == pytest.approx(float32[0], rel=1e-2)
    for name, g in float32[1].items():
        np.testing.assert_array_equal(three[1][name], one[1][name], err_msg=name)
        assert np.linalg.norm(one[1][name] - g) <= 0.05 * np.linalg.norm(g), name
