"""How fast one core multiplies the matrices a training step is made of, against its own peak.

    python benchmarks/product_speed.py [--hidden 256 512] [--repeats 200]

A training chunk (rnnplay/core/parallel_step.py) runs on one BLAS thread, and its
time is nearly all matrix products of two kinds (docs/training.md, "Where a step's
time goes"): one per time step, h (b×H) · W_hh (H×4H) for the chunk's b streams,
which cannot be batched because h_t needs h_{t-1}; and products over all T·b rows at
once (input projections and weight gradients). This prints GFLOP/s of each on one
thread, for b = 8, 16 (rnnplay's chunk), 32 and 64 streams and for T·b = 1,600 rows,
beside the one-thread peak (the best of square 1,024 products). Together with the
phase shares of step_phases.py they bound how fast a step of this shape can get.
Each row also times the product as a training step runs it (rnnplay/core/products.py):
"packed" is float32 on W packed once (rnnplay/core/f32_kernels.py, CPUs with
AVX-512 or AVX2; a step uses it for the per-step products and for those over all rows on a
weight, x·W_xh and dz·W_xhᵀ), "bfloat16" is ``--precision
bfloat16`` (CPUs with AVX512_BF16: W packed once, the left side rounded at every
call), both still over the float32 peak.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Callable

import numpy as np
from threadpoolctl import threadpool_limits

from rnnplay.core import products

STREAMS = (8, 16, 32, 64)
ROWS = 1600  # T·b for T = 100 and a chunk of 16 streams


def gflops(a: np.ndarray, b: np.ndarray, repeats: int, precision: str | None = None) -> float:
    """GFLOP/s of ``a @ b`` into a fixed output, by numpy's BLAS (``precision`` None) or by a training step's kernels
    of ``precision``: the best of ``repeats`` calls after a few warm-ups."""
    out = np.empty((a.shape[0], b.shape[1]), dtype=np.float32)
    with products.precision(precision) if precision else contextlib.nullcontext():
        operand = products.Operand(b)
        best = best_seconds(lambda: operand.times(a, out), repeats)
    return 2.0 * a.shape[0] * a.shape[1] * b.shape[1] / best / 1e9


def best_seconds(call: Callable[[], object], repeats: int) -> float:
    """The shortest of ``repeats`` timed calls of ``call``, after five untimed ones."""
    for _ in range(5):
        call()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best


def sizes_and_repeats(description: str) -> argparse.Namespace:
    """``--hidden`` sizes and ``--repeats`` from the command line of a product benchmark, checked."""
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hidden", type=int, nargs="+", default=[256, 512], help="hidden sizes H (default 256 512)")
    ap.add_argument("--repeats", type=int, default=200, help="timed calls per product; the best counts (default 200)")
    args = ap.parse_args()
    if args.repeats < 1 or min(args.hidden) < 1:
        raise SystemExit("--repeats and --hidden must be at least 1")
    return args


def main() -> None:
    args = sizes_and_repeats(__doc__)
    rng = np.random.default_rng(0)
    with threadpool_limits(1, user_api="blas"):
        square = rng.random((1024, 1024), dtype=np.float32)
        peak = gflops(square, square, max(5, args.repeats // 20))
        kinds = [p for p in products.PRECISIONS if products.kernels(p) is not None]
        names = {"float32": "packed", "bfloat16": "bfloat16"}
        print(f"one BLAS thread; peak (square 1,024 products): {peak:.1f} GFLOP/s")
        print(f"{'product':<34}" + "".join(f"{name:>10}{'% of peak':>11}" for name in ["BLAS", *map(names.get, kinds)]))
        for H in args.hidden:
            W = rng.random((H, 4 * H), dtype=np.float32)
            rows = [(f"H={H}: per step, {b} streams", rng.random((b, H), dtype=np.float32), args.repeats)
                    for b in STREAMS]  # fmt: skip
            rows.append((f"H={H}: all {ROWS:,} rows at once", rng.random((ROWS, H), dtype=np.float32),
                         max(5, args.repeats // 20)))
            for label, a, repeats in rows:
                speeds = [gflops(a, W, repeats, kind) for kind in [None, *kinds]]
                print(f"{label:<34}" + "".join(f"{speed:>10.1f}{speed / peak:>11.0%}" for speed in speeds))
        missing = [names[p] for p in products.PRECISIONS if p not in kinds]
        if missing:
            print(f"(no {' or '.join(missing)} column: this CPU lacks AVX2 and FMA or AVX512_BF16, or numba is off)")


if __name__ == "__main__":
    main()
