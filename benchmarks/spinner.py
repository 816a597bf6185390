"""One core kept busy by another process, for the benchmarks' "busy machine" columns.

The spinner is a second Python process in a plain loop, like ``yes > /dev/null``; it
stops when the block ends, or when the process that started it is gone. It imports
nothing but ``os``, so a benchmark can use it before it sets its BLAS threads.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator

SPIN = "import os\nparent = os.getppid()\nwhile os.getppid() == parent:\n    for _ in range(100_000): pass"
SPINNER = [sys.executable, "-c", SPIN]  # keeps a core busy until stopped, or until its parent is gone


@contextlib.contextmanager
def one_core_busy(own_session: bool = False) -> Iterator[None]:
    """Another process keeps one core busy while the body runs (in a session of its own with ``own_session``)."""
    spinner = subprocess.Popen(SPINNER, start_new_session=own_session)
    try:
        yield
    finally:
        spinner.kill()
        spinner.wait()
