"""A real limit on the size of the files this process writes (``ulimit -f``), for the few lines of a test; and a
real small disk (a tmpfs) for those that need the disk itself to fill up.

Past the limit a write fails with EFBIG ("File too large"), as it fails with ENOSPC on a
full disk: Python ignores SIGXFSZ, so the OSError reaches the code under test. Keep the
block short: pytest's captured output is a file too. The limit is not the disk: its free
space does not shrink, and other processes are not held to it; :func:`small_disk` is.
"""

from __future__ import annotations

import contextlib
import os
import resource
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def files_no_larger_than(limit: int) -> Iterator[None]:
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


@contextlib.contextmanager
def small_disk(folder: Path, size: str) -> Iterator[Path]:
    """``folder`` made a tmpfs of ``size`` (as mount's ``-o size=`` takes it: ``6m``, ``300k``), unmounted after;
    the test is skipped where mounting one is not allowed (it takes root)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system takes root")
    folder.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                      capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "--lazy", str(folder)], check=True)  # a process may still hold a file there
