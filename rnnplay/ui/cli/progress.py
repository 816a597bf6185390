"""A progress bar on stderr for slow corpus loads (downloads, big folders).

On a terminal it redraws one line in place, at most ten times a second; when
stderr is a file or a pipe it prints a single line once the work is done.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

WIDTH = 30


def amount(n: float, unit: str) -> str:
    """'1.1 MB' for bytes, '12 files' for anything else."""
    if unit != "B":
        return f"{n:,.0f} {unit}"
    if n < 1000:
        return f"{n:.0f} B"
    for prefix in "kMG":
        n /= 1000
        if n < 1000 or prefix == "G":
            break
    return f"{n:.1f} {prefix}B"


class ProgressBar:
    """A :class:`rnnplay.corpora.Progress` callback: ``downloading x [#####.....] 45% 0.5 MB / 1.1 MB``."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.last_draw = 0.0

    def __call__(self, label: str, done: int, total: int | None, unit: str = "B") -> None:
        finished = total is not None and done >= total
        now = time.monotonic()
        if not finished and (not self.tty or now - self.last_draw < 0.1):
            return
        self.last_draw = now
        if total:
            filled = round(WIDTH * min(done / total, 1.0))
            line = (f"{label} [{'#' * filled}{'.' * (WIDTH - filled)}] {100 * done / total:3.0f}% "
                    f"{amount(done, unit)} / {amount(total, unit)}")
        else:
            line = f"{label} {amount(done, unit)}"
        if self.tty:
            self.stream.write("\r" + line + ("\n" if finished else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
