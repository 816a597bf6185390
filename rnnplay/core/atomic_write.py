"""Writing a file whole or not at all: a temporary file beside it, renamed over it once written.

A full disk, a Ctrl-C or a crash while writing then leaves the file as it was (the
earlier plot, transcript or results) or absent, never empty or cut short; the rename
is atomic within one file system. Checkpoints have their own such writer, which can
also refuse to replace (:mod:`rnnplay.core.checkpoint`).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from rnnplay.core.errors import RnnplayError


def write_atomically(
    path: Path, write: Callable[[IO[bytes]], Any], fix: str = "free some space or fix the folder"
) -> None:
    """``write(file)`` into a temporary file beside ``path``, then renamed over it: ``path`` is whole or absent.

    An OSError on the way is one line, ``cannot write PATH: REASON; FIX``, and the temporary file is gone.
    """
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(fd, 0o666 & ~umask)  # mkstemp makes 0600; the file gets the permissions a plain open gives
            with os.fdopen(fd, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError as err:
        raise RnnplayError(f"cannot write {path}: {err.strerror or err}; {fix}") from None
