"""Would float32 products made of three bfloat16 products (bf16x3) run faster than the float32 kernels?

    python benchmarks/split_bfloat16.py [--hidden 256 512] [--repeats 200]

A float32 number x splits into two bfloat16 ones, x ≈ hi + lo with hi = x rounded down
to bfloat16 and lo = bf16(x − hi), which keep 16 bits of its 24-bit mantissa. Then

    a·W ≈ a_hi·W_hi + a_hi·W_lo + a_lo·W_hi        (a_lo·W_lo, about 2⁻¹⁶ of it, dropped)

is three bfloat16 products with float32 sums: the way some libraries emulate float32
on matrix units that multiply bfloat16 only (AMX here). The three can also be one
product with K three times as long, [a_hi | a_hi | a_lo]·[W_hi; W_lo; W_hi], whose
sums stay in the tiles ("as one" below). It would keep a float32
training (``--precision float32``) near float32's accuracy on AMX's speed, if three
bfloat16 products cost less than one float32 product. This prints, for the shapes of
a training step (rnnplay/core/products.py: a chunk's per-step products h·W_hh of 8
and 16 streams, and all 1,600 rows of a chunk at once), the time of one float32
product on the packed kernels, one bfloat16 product, bf16x3 as three products (with
its splitting and sums) and as one, on one thread, and the largest error against
float64 of float32 and of bf16x3.
"""

from __future__ import annotations

import numpy as np
from product_speed import ROWS, best_seconds, sizes_and_repeats
from threadpoolctl import threadpool_limits

from rnnplay.core import products


def high_half(x: np.ndarray) -> np.ndarray:
    """x with the low 16 bits of each float32 cleared: exactly a bfloat16 number (hi)."""
    return (x.view(np.uint32) & np.uint32(0xFFFF0000)).view(np.float32)


def three_products(a: np.ndarray, w: np.ndarray):
    """A call computing a·W as bf16x3 (see the module) into its own output, and that output."""
    bf16 = products.kernels("bfloat16")
    w_hi = high_half(w)
    packed_hi, packed_lo = bf16.pack(w_hi), bf16.pack(w - w_hi)
    out, part = (np.empty((a.shape[0], w.shape[1]), dtype=np.float32) for _ in range(2))

    def call() -> None:
        a_hi = high_half(a)
        prepared_hi = bf16.prepare(a_hi)
        bf16.product(prepared_hi, packed_hi, out)
        bf16.product(prepared_hi, packed_lo, part)
        out.__iadd__(part)
        bf16.product(bf16.prepare(a - a_hi), packed_hi, part)
        out.__iadd__(part)

    return call, out


def one_long_product(a: np.ndarray, w: np.ndarray):
    """A call computing a·W as bf16x3 in one bfloat16 product of K three times as long (see the module)."""
    bf16 = products.kernels("bfloat16")
    w_hi = high_half(w)
    packed = bf16.pack(np.concatenate([w_hi, w - w_hi, w_hi]))
    out = np.empty((a.shape[0], w.shape[1]), dtype=np.float32)
    a_long = np.empty((a.shape[0], 3 * a.shape[1]), dtype=np.float32)
    k = a.shape[1]

    def call() -> None:
        a_long[:, :k] = high_half(a)
        a_long[:, k:2 * k] = a_long[:, :k]
        np.subtract(a, a_long[:, :k], out=a_long[:, 2 * k:])
        bf16.product(bf16.prepare(a_long), packed, out)

    return call, out


def one_product(a: np.ndarray, w: np.ndarray, precision: str):
    """A call computing a·W on the training step's kernels of ``precision`` into its own output, and that output."""
    compiled = products.kernels(precision)
    packed = compiled.pack(w)
    out = np.empty((a.shape[0], w.shape[1]), dtype=np.float32)
    return (lambda: compiled.product(compiled.prepare(a), packed, out)), out


def main() -> None:
    args = sizes_and_repeats(__doc__)
    if products.kernels("float32") is None or not products.bf16_available():
        raise SystemExit("this needs both kinds of kernels (a CPU with AVX512_BF16, numba on): nothing to compare here")
    rng = np.random.default_rng(0)
    print(f"{'product (one thread)':<30}{'float32 µs':>12}{'bfloat16 µs':>13}{'bf16x3 µs':>11}{'as one µs':>11}"
          f"{'best/float32':>14}{'error float32':>15}{'error bf16x3':>14}")
    with threadpool_limits(1, user_api="blas"):
        for H in args.hidden:
            w = (rng.standard_normal((H, 4 * H)) / np.sqrt(H)).astype(np.float32)
            for rows in (8, 16, ROWS):
                a = rng.standard_normal((rows, H)).astype(np.float32)
                repeats = args.repeats if rows < ROWS else max(5, args.repeats // 20)
                exact = a.astype(np.float64) @ w
                seconds, errors = [], []
                for call, out in (one_product(a, w, "float32"), one_product(a, w, "bfloat16"), three_products(a, w),
                                  one_long_product(a, w)):
                    seconds.append(best_seconds(call, repeats))
                    call()
                    errors.append(float(np.abs(out - exact).max()))
                label = f"H={H}, {rows:,} rows"
                print(f"{label:<30}{seconds[0] * 1e6:>12.1f}{seconds[1] * 1e6:>13.1f}{seconds[2] * 1e6:>11.1f}"
                      f"{seconds[3] * 1e6:>11.1f}{min(seconds[2:]) / seconds[0]:>14.2f}{errors[0]:>15.1e}"
                      f"{max(errors[2:]):>14.1e}")


if __name__ == "__main__":
    main()
