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
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

STREAMS = (8, 16, 32, 64)
ROWS = 1600  # T·b for T = 100 and a chunk of 16 streams


def gflops(a: np.ndarray, b: np.ndarray, repeats: int) -> float:
    """GFLOP/s of ``a @ b`` into a fixed output: the best of ``repeats`` calls after a few warm-up calls."""
    out = np.empty((a.shape[0], b.shape[1]), dtype=np.float32)
    for _ in range(5):
        np.matmul(a, b, out=out)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        np.matmul(a, b, out=out)
        best = min(best, time.perf_counter() - start)
    return 2.0 * a.shape[0] * a.shape[1] * b.shape[1] / best / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hidden", type=int, nargs="+", default=[256, 512], help="hidden sizes H (default 256 512)")
    ap.add_argument("--repeats", type=int, default=200, help="timed calls per product; the best counts (default 200)")
    args = ap.parse_args()
    if args.repeats < 1 or min(args.hidden) < 1:
        raise SystemExit("--repeats and --hidden must be at least 1")
    rng = np.random.default_rng(0)
    with threadpool_limits(1, user_api="blas"):
        square = rng.random((1024, 1024), dtype=np.float32)
        peak = gflops(square, square, max(5, args.repeats // 20))
        print(f"one BLAS thread; peak (square 1,024 products): {peak:.1f} GFLOP/s")
        print(f"{'product':<34}{'GFLOP/s':>9}{'% of peak':>11}")
        for H in args.hidden:
            W = rng.random((H, 4 * H), dtype=np.float32)
            for b in STREAMS:
                speed = gflops(rng.random((b, H), dtype=np.float32), W, args.repeats)
                print(f"{f'H={H}: per step, {b} streams':<34}{speed:>9.1f}{speed / peak:>10.0%}")
            speed = gflops(rng.random((ROWS, H), dtype=np.float32), W, max(5, args.repeats // 20))
            print(f"{f'H={H}: all {ROWS:,} rows at once':<34}{speed:>9.1f}{speed / peak:>10.0%}")


if __name__ == "__main__":
    main()
