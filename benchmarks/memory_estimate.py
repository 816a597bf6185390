"""The memory a run's estimate predicts against the peak a real run reaches.

    python benchmarks/memory_estimate.py [CORPUS]

Each row runs ``rnnplay train CORPUS … --steps 2`` in a fresh process, as a user
would. Inside it, :func:`rnnplay.session.memory_room.check_memory` is wrapped to note
the estimate and the resident memory at the moment of the check; at exit the process
reports its peak resident memory (``ru_maxrss``). The predicted peak is the two added:
the check refuses a run whose estimate is more than the limit less the resident memory.
Needs ../shared/corpora/tinyshakespeare.txt (or a corpus given).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from tempfile import TemporaryDirectory

SIZES = [  # (cell, layers, hidden, batch, seq)
    ("lstm", 1, 128, 64, 100), ("rnn", 1, 128, 64, 100), ("lstm", 2, 256, 64, 100), ("lstm", 2, 256, 256, 100),
    ("lstm", 2, 256, 64, 400), ("lstm", 2, 512, 64, 100), ("lstm", 2, 512, 256, 100), ("lstm", 2, 512, 64, 400),
    ("lstm", 2, 512, 256, 400),
]
CHILD = """
import atexit, resource, sys
from rnnplay.corpora.memory import resident_memory
from rnnplay.session import memory_room
check = memory_room.check_memory
def noted(need, config):
    print(f"@estimate {need.total} {resident_memory()}", file=sys.stderr)
    return check(need, config)
for module in ("training_runs", "resume"):
    setattr(__import__(f"rnnplay.session.{module}", fromlist=["x"]), "check_memory", noted)
atexit.register(lambda: print(f"@peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}", file=sys.stderr))
from rnnplay.ui.cli import main
sys.exit(main(sys.argv[1:]))
"""


def measure(corpus: str, cell: str, layers: int, hidden: int, batch: int, seq: int) -> tuple[int, int, int]:
    """(estimate, resident at the check, peak) in bytes."""
    with TemporaryDirectory() as folder:
        command = [sys.executable, "-c", CHILD, "train", corpus, "--cell", cell, "--layers", str(layers), "--hidden",
                   str(hidden), "--batch-size", str(batch), "--seq-length", str(seq), "--steps", "2", "--val-every",
                   "0", "--val-max-chars", "2000", "--out", str(Path(folder) / "m.npz")]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    noted = {line.split()[0]: [int(x) for x in line.split()[1:]] for line in done.stderr.splitlines()
             if line.startswith("@")}
    if done.returncode or "@estimate" not in noted:
        raise SystemExit(f"{cell} {layers}x{hidden} B{batch} T{seq} failed: {done.stderr[-500:]}")
    return noted["@estimate"][0], noted["@estimate"][1], noted["@peak"][0]


def main() -> None:
    corpus = sys.argv[1] if len(sys.argv) > 1 else "../shared/corpora/tinyshakespeare.txt"
    print("| model | batch × seq | estimate | resident at the check | predicted peak | measured peak | predicted / "
          "measured |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for cell, layers, hidden, batch, seq in SIZES:
        need, held, peak = measure(corpus, cell, layers, hidden, batch, seq)
        mb = 1 << 20
        print(f"| {cell} {layers}×{hidden} | {batch} × {seq} | {need / mb:,.0f} MiB | {held / mb:,.0f} MiB | "
              f"{(need + held) / mb:,.0f} MiB | {peak / mb:,.0f} MiB | {(need + held) / peak:.2f} |", flush=True)


if __name__ == "__main__":
    main()
