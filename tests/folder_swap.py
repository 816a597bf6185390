"""A training's output folder replaced by a file, and put back, each in one step (Linux's renameat2 exchange).

Renaming the folder away and then writing a file in its place left a moment where the name was free, and a
periodic checkpoint saved then made the folder again (its parent is made as it saves): the file could not be
written (IsADirectoryError, once in CI).
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

AT_FDCWD, RENAME_EXCHANGE = -100, 2
_libc = ctypes.CDLL(None, use_errno=True)


def exchanged(a: Path, b: Path) -> None:
    """``a`` and ``b`` trade names in one step: neither name is free at any moment."""
    if _libc.renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), str(a))


def replaced_by_a_file(folder: Path, aside: Path) -> None:
    """``folder`` moves to ``aside`` and a file takes its name, in one step (the folder's files go with it)."""
    aside.write_text("a file where the folder was")
    exchanged(folder, aside)


def put_back(folder: Path, aside: Path) -> None:
    """The folder at ``aside`` back at ``folder`` in one step, the file that stood in for it removed."""
    exchanged(folder, aside)
    aside.unlink()
