"""The memory a run's estimate predicts against what a real run takes: its peak, and the address space it needs.

    python benchmarks/memory_estimate.py [CORPUS] [--resident | --address-space]

Each run is ``rnnplay train CORPUS … --steps 2`` in a fresh process, as a user would run it, with a fresh
numba cache (``NUMBA_CACHE_DIR``): the first run after an install, which compiles every kernel, is the
one with the highest peak. Inside it, :func:`rnnplay.session.memory_room.check_memory` is wrapped to note
the estimate, the resident memory and the address space mapped at the moment of the check.

The first table (``--resident``) runs each size with ``--threads`` 1, 2 and auto (8 workers on 2
cores) and compares the peak resident memory (``ru_maxrss``) with the estimate plus the resident
memory at the check: the check refuses a run whose estimate is more than the limit less that.

The second (``--address-space``, ``--threads auto``) finds, by bisection under ``ulimit -v``, the lowest limit the check
accepts and the lowest limit at which the run trains (its check's refusal noted and ignored, so that
what the check sets aside for the step's arrays still holds): the first should be at or a little
above the second. Needs ../shared/corpora/tinyshakespeare.txt (or a corpus given).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from tempfile import TemporaryDirectory

MIB = 1 << 20
SIZES = [  # (cell, layers, hidden, batch, seq)
    ("lstm", 1, 64, 16, 100), ("lstm", 1, 64, 64, 100), ("lstm", 1, 128, 64, 100), ("rnn", 1, 128, 64, 100),
    ("lstm", 2, 256, 16, 100), ("lstm", 2, 256, 64, 100), ("lstm", 2, 256, 256, 100), ("lstm", 2, 512, 16, 100),
    ("lstm", 2, 512, 64, 100), ("lstm", 2, 512, 256, 100),
]
THREADS = ["1", "2", "auto"]
LIMITED = [("lstm", 1, 64, 64, 100), ("lstm", 2, 256, 64, 100), ("lstm", 2, 256, 256, 100), ("lstm", 2, 512, 64, 100)]
CHILD = """
import atexit, os, resource, sys
from rnnplay.core.errors import RnnplayError
from rnnplay.corpora.memory import resident_memory
from rnnplay.session import memory_room
check = memory_room.check_memory
def mapped(key="VmSize"):
    return next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith(key + ":"))
def noted(need, config, *more):
    print(f"@estimate {need.total} {resident_memory()} {mapped()} {need.mapped}", file=sys.stderr)
    try:
        warning = check(need, config, *more)
    except RnnplayError:
        if os.environ.get("MODE") != "past the check":
            raise
        return None
    if os.environ.get("MODE") == "check only":
        os._exit(0)
    return warning
for module in ("training_runs", "resume"):
    setattr(__import__(f"rnnplay.session.{module}", fromlist=["x"]), "check_memory", noted)
atexit.register(lambda: print(f"@peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}", file=sys.stderr))
from rnnplay.ui.cli import main
sys.exit(main(sys.argv[1:]))
"""


def run(corpus: str, size: tuple[str, int, int, int, int], threads: str, limit: int | None = None,
        mode: str = "") -> tuple[int, dict[str, list[int]]]:
    """(exit code, the child's noted figures) of one training run of ``size``, under ``limit`` bytes if given.
    ``mode``: "check only" (exit 0 when the check accepts the run), "past the check" (a refusal ignored)."""
    cell, layers, hidden, batch, seq = size
    with TemporaryDirectory() as folder:
        command = [sys.executable, "-c", CHILD, "train", corpus, "--cell", cell, "--layers", str(layers), "--hidden",
                   str(hidden), "--batch-size", str(batch), "--seq-length", str(seq), "--steps", "2", "--val-every",
                   "0", "--val-max-chars", "2000", "--threads", threads, "--out", str(Path(folder) / "m.npz")]
        env = {**os.environ, "NUMBA_CACHE_DIR": str(Path(folder) / "numba"), "MODE": mode}
        limited = (lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, limit))) if limit else None
        done = subprocess.run(command, capture_output=True, text=True, check=False, env=env, preexec_fn=limited)
    noted = {line.split()[0]: [int(x) for x in line.split()[1:]] for line in done.stderr.splitlines()
             if line.startswith("@")}
    if limit is None and (done.returncode or "@estimate" not in noted):
        raise SystemExit(f"{name(size)} --threads {threads} failed: {done.stderr[-500:]}")
    return done.returncode, noted


def name(size: tuple[str, int, int, int, int]) -> str:
    cell, layers, hidden, batch, seq = size
    return f"{cell} {layers}×{hidden} | {batch} × {seq}"


def resident_table(corpus: str) -> None:
    print("| model | batch × seq | threads | estimate | resident at the check | predicted peak | measured peak | "
          "predicted / measured |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for size in SIZES:
        for threads in THREADS:
            _, noted = run(corpus, size, threads)
            need, held, peak = noted["@estimate"][0], noted["@estimate"][1], noted["@peak"][0]
            print(f"| {name(size)} | {threads} | {need / MIB:,.0f} MiB | {held / MIB:,.0f} MiB | "
                  f"{(need + held) / MIB:,.0f} MiB | {peak / MIB:,.0f} MiB | {(need + held) / peak:.2f} |", flush=True)


def lowest(passes: Callable[[int], bool], low: int = 250, high: int = 1274, step: int = 8) -> int:
    """The lowest limit in MiB (to ``step``) at which ``passes``, by bisection between ``low`` and ``high``."""
    while high - low > step:
        middle = (low + high) // 2
        low, high = (low, middle) if passes(middle) else (middle, high)
    return high


def address_space_table(corpus: str) -> None:
    print("| model | batch × seq | threads | mapped at the check | estimate (mapped) | lowest limit the check "
          "accepts | lowest limit the run passes | accepted / passes |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for size in LIMITED:
        print(address_row(corpus, size, "auto"), flush=True)


def address_row(corpus: str, size: tuple[str, int, int, int, int], threads: str) -> str:
    """The table's row for ``size`` on ``threads``: the two lowest limits, bisected."""
    accepted = lowest(lambda mib: run(corpus, size, threads, mib * MIB, "check only")[0] == 0)
    found: dict[str, list[int]] = {}

    def passes(mib: int) -> bool:
        code, noted = run(corpus, size, threads, mib * MIB, "past the check")
        found.update(noted)
        return code == 0

    trains = lowest(passes)
    at_check, mapped = found["@estimate"][2:4]
    return (f"| {name(size)} | {threads} | {at_check / MIB:,.0f} MiB | {mapped / MIB:,.0f} MiB | {accepted:,} MiB | "
            f"{trains:,} MiB | {accepted / trains:.2f} |")


def main() -> None:
    args = [arg for arg in sys.argv[1:] if not arg.startswith("--")]
    corpus = args[0] if args else "../shared/corpora/tinyshakespeare.txt"
    if "--address-space" not in sys.argv:
        resident_table(corpus)
    if "--resident" not in sys.argv:
        address_space_table(corpus)


if __name__ == "__main__":
    main()
