"""Writing a file whole or not at all: a temporary file beside it, renamed over it once written.

A full disk, a Ctrl-C or a crash while writing then leaves the file as it was (the
earlier checkpoint, plot, transcript or results) or absent, never empty or cut short;
the rename is atomic within one file system. The temporary file is
``.<name>.<pid>.<random>.tmp``: one left by a process that was killed mid-write is
removed by the next write to the same name, while another running process's write
in progress is left alone.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from rnnplay.core.errors import RnnplayError


def write_atomically(
    path: Path,
    write: Callable[[IO[bytes]], Any],
    fix: str | None = "free some space or fix the folder",
    put: Callable[[Path, Path], Any] = os.replace,
) -> None:
    """``write(file)`` into a temporary file beside ``path``, then ``put(temporary, path)``: whole or absent.

    ``put`` is a rename over ``path`` unless the caller gives one that refuses to replace (a checkpoint's).
    An OSError on the way is one line, ``cannot write PATH: REASON; FIX`` (no ``; FIX`` when ``fix`` is None),
    and the temporary file is gone; any other error passes through, the temporary file gone as well.
    A ``path`` that is a symbolic link is written through: its target gets the new file, and the link stays.
    """
    if os.path.islink(path):  # `--out link.npz` to a checkpoint kept elsewhere: a new file in its place strands it
        path = Path(os.path.realpath(path))
    try:
        remove_stale_temporaries(path)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")
        try:
            as_plainly_opened(fd)
            with os.fdopen(fd, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            put(Path(tmp), path)
            _fsync_folder(path.parent)
        except BaseException:
            with contextlib.suppress(OSError):  # the folder itself may be gone: the write's error is the one to tell
                os.unlink(tmp)
            raise
    except OSError as err:
        raise RnnplayError(f"cannot write {path}: {err.strerror or err}" + (f"; {fix}" if fix else "")) from None


class NameTaken(RnnplayError):
    """A new file's name was taken by another program while it was written (:func:`put_new`)."""


def put_new(tmp: Path, path: Path) -> None:
    """``tmp`` renamed to ``path`` if no file is there (``write_atomically``'s ``put`` for a file that must not
    replace another): a hard link fails when the name is taken, where a rename would replace it. On a file system
    without hard links, the check and the rename are two steps."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    except OSError:  # no hard links here (some network and FAT file systems)
        if not os.path.lexists(path):
            os.replace(tmp, path)
            return
    else:
        tmp.unlink()
        return
    raise NameTaken(f"not saving {path}: another program created it meanwhile; it is kept as it is: save under "
                    "another name")


def as_plainly_opened(fd: int) -> None:
    """Give the file ``fd`` the permissions a plain ``open`` would (0666 less the umask): mkstemp makes it 0600, and a
    checkpoint or a cached corpus renamed into place would be unreadable to the user's group."""
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Remove the temporary files of earlier writes to ``path`` whose process is gone (killed mid-write).

    One whose process still runs belongs to a write in progress (two runs saving to the same path) and is
    left alone.
    """
    own = re.compile(re.escape(f".{path.name}.") + r"(\d{1,10})\.[^.]+\.tmp")
    removed = []
    with os.scandir(path.parent) as entries:
        for entry in entries:
            match = own.fullmatch(entry.name)
            if match and not process_alive(int(match.group(1))):
                Path(entry.path).unlink(missing_ok=True)
                removed.append(Path(entry.path))
    return removed


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs (another user's counts: it cannot be signalled, but it runs)."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # gone, or an id no process can have
        return False
    except PermissionError:
        return True
    return True


def _fsync_folder(folder: Path) -> None:
    """The rename itself made durable, where the file system lets a folder be fsynced."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
