"""A real limit on the size of the files this process writes (``ulimit -f``), for the few lines of a test.

Past the limit a write fails with EFBIG ("File too large"), as it fails with ENOSPC on a
full disk: Python ignores SIGXFSZ, so the OSError reaches the code under test. Keep the
block short: pytest's captured output is a file too.
"""

from __future__ import annotations

import contextlib
import resource
from collections.abc import Iterator


@contextlib.contextmanager
def files_no_larger_than(limit: int) -> Iterator[None]:
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
