"""The data folder's ``conversations/``: the recovery files of every session (``recovery.py``), looked over as a
session starts.

A session holds ``unsaved-….md.lock`` beside its file (an :class:`OutputLock`: an ``flock``, which the system lets
go when the process dies) from before the file is first written until its leaving line has reached the user
(:meth:`RecoveryFile.said`). So, as the next session starts (:func:`look_over`):

* a lock file that a live session holds: that session's file, never touched;
* a lock file that nothing holds: its session ended without naming the file (killed, a crash, a power loss, a
  terminal gone or that took nothing more as it left): said once, in one line, and the lock file removed;
* no lock file: a file whose line was said as its session left (or said already at a start): removed once it is
  older than :data:`KEEP_DAYS` or past the :data:`KEEP_FILES` newest, at a later start than the one that said it.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

from rnnplay.core.errors import RnnplayError, printable
from rnnplay.models.library import lock_file
from rnnplay.session.output_paths import LockHeld, OutputLock

KEEP_DAYS = 30  # a recovery file whose line was said is removed at a start once it is older than this
KEEP_FILES = 100  # ... or once this many newer ones are there
PATTERN = "unsaved-*.md"


def hold(path: Path) -> OutputLock | None:
    """The lock on recovery file ``path``'s name, taken where neither the file nor a lock file is there yet; None
    where either is (another session's, or one from before). An error when the folder cannot take the lock file."""
    if os.path.lexists(path) or os.path.lexists(lock_file(path)):
        return None
    lock = OutputLock(path, "the recovery file", "conversation", fix="fix that folder")
    try:
        return lock.__enter__()
    except LockHeld:
        return None


def look_over(folder: Path) -> list[Path]:
    """As a session starts: the recovery files whose session ended without naming them (now named: their lock files
    removed), and the old ones whose line was said removed. Nothing here stops a session: a file that cannot be
    looked at or removed is left as it is, for the next start."""
    try:
        files = sorted(folder.glob(PATTERN), key=lambda path: -_written(path))  # the newest first
        orphans = [lock for lock in folder.glob(f"{PATTERN}.lock") if not lock.with_suffix("").exists()]
    except OSError:
        return []
    for lock in orphans:  # a session gone after /transcript save removed its file: nothing to say
        _unsaid(lock.with_suffix(""))
    unsaid = [path for path in files if _unsaid(path)]
    said = [path for path in files if path not in unsaid and not os.path.lexists(lock_file(path))]
    old = time.time() - KEEP_DAYS * 86_400
    for n, path in enumerate(said):
        if n >= KEEP_FILES or _written(path) < old:
            with contextlib.suppress(OSError):
                path.unlink()
    return unsaid


def _written(path: Path) -> float:
    """When ``path`` was last written (0: gone meanwhile)."""
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _unsaid(path: Path) -> bool:
    """Whether recovery file ``path`` is there and its lock file was left by a session now gone; that lock file is
    removed (the file is said now)."""
    if not os.path.lexists(lock_file(path)):
        return False
    try:
        with OutputLock(path, "the recovery file", holder="conversation"):  # taken, then removed as it is let go
            return os.path.lexists(path)
    except (RnnplayError, OSError):  # held by a live session (LockHeld), or a folder that cannot be written
        return False


def recovered(paths: list[Path]) -> str | None:
    """The one line a session starts with when earlier sessions ended without naming their files; None if none."""
    if not paths:
        return None
    where = paths[0] if len(paths) == 1 else paths[0].parent
    many = len(paths) > 1
    return (f"{len(paths)} unsaved conversation{'s' * many} from {'sessions' if many else 'a session'} that ended "
            f"without saying so: {printable(str(where))}")
