"""bfloat16 products (rnnplay/core/products.py, bf16_kernels.py): rounding, products, the switch, training with them.

The kernels need a CPU with AVX512_BF16; their tests skip elsewhere. The one-line refusal of
``--precision bfloat16`` where it cannot run is tested everywhere (``RNNPLAY_JIT=0`` turns it off).
No timings here: the speed is in docs/training.md (benchmarks/train_throughput.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from rnnplay.core import parallel_step, products
from rnnplay.core.cells import LayerNormLSTMCell, LSTMCell, RNNCell
from rnnplay.core.cells.base import Cell
from rnnplay.core.model import Model
from rnnplay.core.vocab import Vocab
from rnnplay.models.bundled import load_model

needs_bf16 = pytest.mark.skipif(not products.bf16_available(), reason="this CPU has no AVX512_BF16 (or numba is off)")
SMALL = ["--layers", "2", "--hidden", "32", "--batch-size", "16", "--seq-length", "20"]


def rounded(x: np.ndarray) -> np.ndarray:
    """x rounded to bfloat16 and widened back to float64, written independently of the kernels (ties to even)."""
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    keep = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return (keep.astype(np.uint32) << 16).view(np.float32).astype(np.float64)


def kernel_product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with products.precision("bfloat16"):
        return products.product(a, b)


@needs_bf16
def test_rounding_to_bfloat16_is_to_nearest_with_ties_to_even_and_keeps_nan_and_inf() -> None:
    k = products.kernels("bfloat16")
    low = np.float32(1.0).view(np.uint32)
    values = np.array([1.0, -2.5, 0.0, np.inf, -np.inf, np.nan,
                       (low + 0x8000).view(np.float32),  # halfway between 1 and the next bfloat16: to even, 1
                       (low + 0x18000).view(np.float32),  # halfway above an odd last bit: up
                       (low + 0x8001).view(np.float32)], dtype=np.float32)  # fmt: skip
    words = k.prepare(values.reshape(1, -1))[0]
    halves = np.stack([words & 0xFFFF, words >> 16], axis=1).ravel()[: len(values)]
    back = (halves.astype(np.uint32) << 16).view(np.float32)
    np.testing.assert_array_equal(back[:5], values[:5])
    assert np.isnan(back[5])
    assert back[6] == 1.0
    assert back[7].view(np.uint32) == low + 0x20000
    assert back[8].view(np.uint32) == low + 0x10000


@needs_bf16
@pytest.mark.parametrize(("M", "K", "N"), [(32, 256, 1024), (9, 33, 48), (1, 1, 16), (17, 64, 16), (40, 7, 80)])
def test_the_product_is_float32_sums_of_the_rounded_inputs(M: int, K: int, N: int) -> None:
    rng = np.random.default_rng(M * K + N)
    a = rng.standard_normal((M, K), dtype=np.float32)
    b = rng.standard_normal((K, N), dtype=np.float32)
    exact = rounded(a) @ rounded(b)  # the products of bfloat16 numbers are exact in float32; only the sums round
    scale = np.abs(rounded(a)) @ np.abs(rounded(b))
    got = kernel_product(a, b)
    assert got.dtype == np.float32 and got.shape == (M, N)
    assert np.all(np.abs(got - exact) <= 4 * K * np.finfo(np.float32).eps * scale)
    assert not np.allclose(got, a @ b, rtol=1e-6, atol=0)  # it did round: not numpy's float32 product


@needs_bf16
def test_products_fall_back_to_float32_outside_the_switch_and_where_the_kernels_do_not_fit() -> None:
    rng = np.random.default_rng(6)
    a = rng.standard_normal((8, 32), dtype=np.float32)
    b = rng.standard_normal((32, 48), dtype=np.float32)
    np.testing.assert_array_equal(products.product(a, b), a @ b)  # off by default
    with products.precision("bfloat16"):
        assert not np.array_equal(products.product(a, b), a @ b)
        np.testing.assert_array_equal(products.product(a, b[:, :40]), a @ b[:, :40])  # N not a multiple of 16
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        np.testing.assert_array_equal(products.product(a64, b64), a64 @ b64)  # float64: the gradient checks
        np.testing.assert_array_equal(products.product_tn(a.T.copy(), b), kernel_product(a, b))
        strided = np.empty((48, 8), dtype=np.float32).T  # an out the kernels cannot write as one block
        np.testing.assert_array_equal(products.Operand(b).times(a, strided), a @ b)
        elsewhere: list[np.ndarray] = []
        thread = threading.Thread(target=lambda: elsewhere.append(products.product(a, b)))
        thread.start()
        thread.join()
    np.testing.assert_array_equal(elsewhere[0], a @ b)  # the switch is this thread's alone
    with products.precision("float32"):
        np.testing.assert_array_equal(products.product(a, b), a @ b)


@needs_bf16
@pytest.mark.parametrize(("cell", "tolerance"), [(LSTMCell(), 0.02), (RNNCell(), 0.02), (LayerNormLSTMCell(), 0.1)],
                         ids=["lstm", "rnn", "lnlstm"])  # fmt: skip
def test_a_bfloat16_step_follows_the_float32_gradients(cell: Cell, tolerance: float) -> None:
    """Within a few percent; the layer-normalised cell magnifies the rounding (docs/training.md)."""
    vocab = Vocab.from_text("abcdefghijklmnopqrstuvwxyz .,\n")
    model = Model(cell, vocab, 32, 2, seed=1)
    rng = np.random.default_rng(2)
    inputs, targets = rng.integers(0, vocab.size, (12, 40)), rng.integers(0, vocab.size, (12, 40))
    states = model.initial_state(40)
    loss32, grads32, _ = parallel_step.loss_and_grads(model, inputs, targets, states, workers=2)
    model.products = "bfloat16"
    loss16, grads16, _ = parallel_step.loss_and_grads(model, inputs, targets, states, workers=2)
    again = parallel_step.loss_and_grads(model, inputs, targets, states, workers=3)
    assert loss16 == pytest.approx(loss32, rel=1e-3)
    for name, g in grads32.items():
        assert np.linalg.norm(grads16[name] - g) <= tolerance * np.linalg.norm(g), name
        np.testing.assert_array_equal(again[1][name], grads16[name], err_msg=name)  # any worker count, same bits
    assert any(not np.array_equal(grads16[n], g) for n, g in grads32.items())  # the products did change


def run_train(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rnnplay", "train", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})})  # fmt: skip


@needs_bf16
def test_training_in_bfloat16_learns_records_its_precision_and_resumes_in_float32(
    small_file: Path, tmp_path: Path
) -> None:
    r = run_train(str(small_file), *SMALL, "--steps", "60", "--precision", "bfloat16", "--out", "m.npz", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    ckpt = load_model(tmp_path / "m.npz")
    assert ckpt.training["config"]["precision"] == "bfloat16"
    final = r.stdout.strip().splitlines()[-1]
    assert final.startswith("final: train loss ")
    assert float(final.split("train loss ")[1].split()[0]) < 2.9, final  # below the unigram's ~3.1
    r = run_train(str(small_file), "--resume", "m.npz", "--steps", "70", "--precision", "float32", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "precision bfloat16 -> float32" in r.stdout + r.stderr
    assert load_model(tmp_path / "m.npz").training["config"]["precision"] == "float32"


def test_bfloat16_where_it_cannot_run_is_one_line_before_any_step(small_file: Path, tmp_path: Path) -> None:
    r = run_train(str(small_file), *SMALL, "--steps", "5", "--precision", "bfloat16", "--out", "m.npz", cwd=tmp_path,
                  env={"RNNPLAY_JIT": "0"})  # fmt: skip
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "RNNPLAY_JIT=0 turns them off: unset it" in lines[0], r.stderr  # the cause here
    assert "precision float32" in lines[0]
    assert not (tmp_path / "m.npz").exists()


def test_an_unknown_precision_is_refused_with_the_choices(small_file: Path, tmp_path: Path) -> None:
    r = run_train(str(small_file), *SMALL, "--steps", "5", "--precision", "half", cwd=tmp_path)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "float32" in r.stderr and "bfloat16" in r.stderr
