"""How long this process has been running, from the kernel's record of its start, not from an import.

``rnnplay train --time N`` promises a command that returns in about N seconds, so its budget's clock starts when
the process starts: before Python's own start-up and the imports, which ``time.monotonic()`` taken in Python cannot
see and which take long on a starved machine. Linux keeps the start in ``/proc/self/stat`` (field 22, in clock
ticks since boot) and the time since boot in ``CLOCK_BOOTTIME`` (the clock that start is counted on); where either
is missing (not Linux), the age is counted from this module's import instead, the earliest moment known.
"""

from __future__ import annotations

import os
import time

_IMPORTED = time.monotonic()
START_FIELD = 19  # the process's start time among the fields after the command name's closing parenthesis


def _kernel_age() -> float | None:
    """Seconds since the kernel started this process, or None where /proc or CLOCK_BOOTTIME is not there."""
    try:
        with open("/proc/self/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()  # the name in parentheses may hold spaces and ')'
        started = int(fields[START_FIELD]) / os.sysconf("SC_CLK_TCK")
        return max(0.0, time.clock_gettime(time.CLOCK_BOOTTIME) - started)
    except (OSError, ValueError, IndexError, AttributeError):  # AttributeError: no CLOCK_BOOTTIME here
        return None


def process_age() -> float:
    """Seconds since this process started (its start-up and imports included, where the system says when)."""
    age = _kernel_age()
    return age if age is not None else time.monotonic() - _IMPORTED
