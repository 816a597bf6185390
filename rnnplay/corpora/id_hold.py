"""Which texts' id files a running rnnplay uses: a shared ``flock`` on ``SHA.lock`` beside them.

A process that finds or builds a text's ids (:func:`hold`) takes a shared lock on that text's lock
file before it reads the sidecar or renames its ids into place, and keeps it while it uses them: until
the corpus is released (:meth:`Hold.release`; a session's training releases its corpus when it ends),
or the process ends (the system lets a lock go when its process dies, killed or not). Uses of one text
in one process share one lock, let go with the last. ``rnnplay corpus cache --prune``
removes a text's files only under the exclusive lock (:func:`take`), which it cannot get while any
process holds the shared one: an id file a training maps, or that a build has just renamed into
place and is about to map, stays where it is. A prune removes the lock file too, while it holds it;
a process that opened that file before it went finds, once it has the lock, that the name now
leads elsewhere or nowhere, and opens it again.

A file being written in the cache (a build's part file, ``.tmp-PID-….part``; a memo's) is held the same way, by its
writer, exclusively (:func:`new_held`, :func:`held_anew`): it is being written while any process holds it, and left
by a killed writer when none does (:func:`in_use`, :func:`remove_unheld`). The PID in its name is no proof either
way: a process of another PID namespace (a container) or of another machine that shares the cache sees a live
writer's PID as gone, and the system may give a dead writer's PID to a new process. A lock is seen by every process
that sees the file; over NFS only as far as the server's locking goes (``flock`` there is best effort).
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import tempfile
import threading
from contextlib import suppress
from pathlib import Path

HELD: dict[Path, list[int]] = {}  # lock file -> [the descriptor this process holds it by, the uses not released]
ATTEMPTS = 100  # times a lock file removed under the caller is opened again
_GUARD = threading.Lock()  # HELD, from the app's threads


class Hold:
    """One use of a text's ids in this process (see the module); :meth:`release` once it is no longer read."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path  # None: nothing held (released, or a cache where no lock file can be made)

    def release(self) -> None:
        """This use is over: the lock is let go with the text's last use in the process (a second call does nothing)."""
        path, self.path = self.path, None
        if path is None:
            return
        with _GUARD:
            entry = HELD.get(path)
            if entry is not None:
                entry[1] -= 1
                if entry[1] <= 0:
                    del HELD[path]
                    os.close(entry[0])


def lock_path(folder: Path, sha256: str) -> Path:
    return folder / f"{sha256}.lock"


def hold(folder: Path, sha256: str) -> Hold:
    """Hold the text ``sha256``'s lock file in ``folder`` shared, until the use returned is released.

    Waits while a prune removes the text's files. A cache where no lock file can be made (it cannot be written)
    is no error: nothing can be pruned from it either.
    """
    path = lock_path(folder, sha256)
    with _GUARD:
        if path not in HELD:
            fd = None
            with suppress(OSError):
                fd = _locked(path, fcntl.LOCK_SH)
            if fd is None:
                return Hold()
            HELD[path] = [fd, 0]
        HELD[path][1] += 1
    return Hold(path)


def take(path: Path) -> int | None:
    """The descriptor of lock file ``path`` held exclusively (a prune's), or None while a process holds it (or it
    cannot be taken)."""
    try:
        return _locked(path, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # held, or a name that is no lock file of ours (a link: never opened through)
        return None


def in_use(path: Path) -> bool:
    """Whether a process holds lock file (or part file) ``path`` now (without making one where there is none)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)  # a FIFO: not waited on
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def new_held(folder: Path, prefix: str, suffix: str) -> tuple[int, Path]:
    """A new file in ``folder`` (as ``tempfile.mkstemp`` names it), held exclusively by its writer until the
    descriptor returned is closed: a prune anywhere leaves it alone. An OSError if it cannot be made."""
    for _ in range(ATTEMPTS):
        fd, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=folder)
        if (path := _held_by(fd, Path(name), fcntl.LOCK_EX)) is not None:
            return fd, path
    raise OSError(errno.ENOENT, "a new file was removed as soon as it was made", str(folder))


def held_anew(path: Path) -> int | None:
    """The descriptor of ``path`` (made if missing, never through a link), held exclusively and emptied: a file
    this process writes again under a name of its own (a memo's part file). None where it cannot be made."""
    try:
        fd = _locked(path, fcntl.LOCK_EX)
    except OSError:
        return None
    if fd is not None:
        try:
            os.ftruncate(fd, 0)  # what a killed writer of the same PID left
        except OSError:
            os.close(fd)
            return None
    return fd


def remove_unheld(folder: Path, name: str) -> bool:
    """Remove the part file ``name`` from ``folder`` (never through a link) if no process holds it, under its
    exclusive lock, so that a writer that makes it at that moment makes another; whether it was removed."""
    try:
        where = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=where)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            mine, named = os.fstat(fd), os.stat(name, dir_fd=where, follow_symlinks=False)
            if (mine.st_dev, mine.st_ino) != (named.st_dev, named.st_ino) or not stat.S_ISREG(mine.st_mode):
                return False
            os.unlink(name, dir_fd=where)
            return True
        finally:
            os.close(fd)
    except OSError:  # held (being written), gone, or no file of ours
        return False
    finally:
        os.close(where)


def _locked(path: Path, how: int) -> int | None:
    """A descriptor of ``path`` (made if missing, never through a link) locked ``how``, its name still leading to
    it; None when the name keeps being removed under us (ATTEMPTS times)."""
    for _ in range(ATTEMPTS):
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
        if _held_by(fd, path, how) is not None:
            return fd
    return None


def _held_by(fd: int, path: Path, how: int) -> Path | None:
    """``path`` once ``fd`` holds its lock ``how`` and the name still leads to ``fd``'s file; else None, and ``fd``
    closed (a prune removed the name meanwhile)."""
    try:
        fcntl.flock(fd, how)
        mine, named = os.fstat(fd), os.stat(path, follow_symlinks=False)
        if (mine.st_dev, mine.st_ino) == (named.st_dev, named.st_ino):
            return path
    except FileNotFoundError:
        pass
    except BaseException:
        os.close(fd)
        raise
    os.close(fd)
    return None
