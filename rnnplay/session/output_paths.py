"""Where a training writes, checked before its first step and held while it runs.

:func:`check_output_path` refuses, in one line and before any work, a path that is a
folder, a device, a file that is not a checkpoint, or in a folder that cannot take a file
(no permission, a read-only mount, a full disk: :func:`why_unwritable` writes a real
probe). :class:`OutputLock` keeps a second training off the same ``--out``, and
:func:`still_locked`, before each save, keeps it off when the lock file went with its folder.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import math
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rnnplay.core.errors import RnnplayError, file_size_limit
from rnnplay.folders import nearest_folder
from rnnplay.models.library import lock_file

if TYPE_CHECKING:
    from rnnplay.core.trainer import Trainer


def check_output_path(path: str | os.PathLike[str], what: str, *, checkpoint: bool = False,
                      example: str = "model.npz") -> Path:
    """``path`` expanded, once a file has been created and removed where it will go: a bad path fails now.

    Refused in one line: an empty name, a folder, something that is not a regular file, a
    file marked immutable or append-only, a folder nobody can write to (or a file where a
    folder should be), and, for checkpoints, an existing file that is not one (rnnplay never
    overwrites a user's other files).
    Missing folders are fine (saving creates them); nothing is left behind.
    """
    text = os.fspath(path)
    if not text.strip() or "\0" in text:
        raise RnnplayError(f"{what} path {text!r} is not a file name: name a file, e.g. {example}")
    target = Path(os.path.expanduser(text))
    if text.startswith("~") and str(target) == text:
        raise RnnplayError(f"{what} path {text}: no such user's home folder; write the path out in full")
    try:
        mode: int | None = target.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):  # nothing there yet (a file in the way is said below)
        mode = None
    except OSError as err:  # a name too long, a loop of links, a folder we may not look into
        raise RnnplayError(f"cannot write {what} {text}: {err.strerror or err}; choose another path") from None
    if text.endswith(("/", os.sep)) or (mode is not None and stat.S_ISDIR(mode)):
        raise RnnplayError(f"{what} path {text} is a folder: name a file in it, e.g. {target / example}")
    if mode is not None and not stat.S_ISREG(mode):
        raise RnnplayError(f"{what} path {text} is not a regular file: choose another name")
    if checkpoint and mode is not None and not _is_checkpoint_or_empty(target):
        raise RnnplayError(f"{what} path {text} is a file that is not an rnnplay checkpoint; rnnplay will not "
                           "overwrite it: choose another name")
    if mode is not None and _sealed(target):
        raise RnnplayError(f"{what} path {text} is marked immutable or append-only (chattr +i or +a), so "
                           f"a save cannot replace it: clear the mark with chattr -i -a {text}, or choose another name")
    _write_test(target, what, text)
    return target


def _sealed(path: Path) -> bool:
    """Whether the file at ``path`` refuses to be written whoever asks (``chattr +i`` or ``+a``): opening it for
    writing, without truncating, fails with EPERM. Permission bits say EACCES, and do not stop a save, which
    renames a new file over the old one."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)))
    except OSError as err:
        return err.errno == errno.EPERM
    return False


def _is_checkpoint_or_empty(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            head = f.read(4)
    except OSError:
        return False
    return head in (b"", b"PK\x03\x04")  # every .npz is a zip file


def _write_test(target: Path, what: str, text: str) -> None:
    """Create and remove a file named as a save's temporary file is, in the nearest folder that exists (so a
    probe a killed run left in the checkpoint's folder is removed by the next save there)."""
    why = why_unwritable(target.parent, prefix=f".{target.name}.{os.getpid()}.")
    if why is not None:
        raise RnnplayError(f"cannot write {what} {text}: {why[0]}; {why[1]}")


def check_room(outputs: list[tuple[Path, str, bool]], size: int) -> None:
    """One line now, not when a checkpoint is due hours later, if ``outputs`` ((path, how the user names it, whether
    the run may save it more than once) each getting a checkpoint of about ``size`` bytes) will not fit in the free
    space where they go. A save writes its new file beside the old one before it replaces it, so while a save
    replaces the run's own earlier one the disk holds both: one more ``size`` on top of the files the outputs end as
    (a file there before the run frees its own size once replaced, and holds it until then)."""
    needed: dict[int, list[int]] = {}  # by disk: the bytes the outputs' files add, the most one save holds besides
    for path, key, again in outputs:
        folder = nearest_folder(path.parent)
        try:
            free, disk = shutil.disk_usage(folder).free, os.stat(folder).st_dev
        except OSError:  # the writability check before this one says what is wrong with the folder
            continue
        old = _freed_by_replacing(path)
        files, beside = needed.setdefault(disk, [0, 0])
        needed[disk] = [files + max(0, size - old), max(beside, size if again else min(old, size))]
        if sum(needed[disk]) > free:
            need = sum(needed[disk])
            takes = (f"a checkpoint of this run takes about {size:,} bytes" if need == size else
                     f"the checkpoints of this run take about {need:,} bytes on that disk" +
                     (" (a save writes the new file beside the one it replaces)" if needed[disk][1] else ""))
            raise RnnplayError(f"{key} {path}: {takes}, and only {free:,} are free in {folder}; free some space or "
                               "choose another folder")


def _freed_by_replacing(path: Path) -> int:
    """The bytes the file at ``path`` gives back once a save replaces it: its size, unless another name links it."""
    try:
        info = os.stat(path)
    except OSError:
        return 0
    return info.st_size if stat.S_ISREG(info.st_mode) and info.st_nlink == 1 else 0


def saves_again(trainer: Trainer, every: int) -> bool:
    """Whether a run saving a checkpoint every ``every`` steps (0: only at its end) may save before its last one,
    which then replaces it: under a --time budget alone it may, under a steps or epochs budget if that ends at or
    past the next multiple of ``every``."""
    c = trainer.config
    ends = [c.steps] if c.steps is not None else []
    if c.epochs is not None:
        ends.append(trainer.step + math.ceil((c.epochs - trainer.epoch) * trainer.batcher.batches_per_epoch))
    return every > 0 and (not ends or min(ends) >= (trainer.step // every + 1) * every)


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether ``a`` and ``b`` name one file (the same path, a link to it, or a hard link)."""
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):  # one of them does not exist (or is not a valid path): not the same file
        return False


def why_unwritable(folder: Path, prefix: str = ".rnnplay-probe.") -> tuple[str, str] | None:
    """None once a file ``prefix…tmp`` was created, written a byte and removed in ``folder`` or the nearest folder
    above it that exists (saving creates the rest); else (why not, what to do). A real file, not the permission
    bits: root writes past them, and a read-only mount refuses whatever they say; the byte finds a full disk,
    where an empty file can still be made."""
    folder = nearest_folder(folder)
    if not os.path.isdir(folder):
        return f"{folder} is a file, not a folder", "choose another path"
    try:
        fd, probe = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=folder)
        try:
            os.write(fd, b"\n")
            os.fsync(fd)  # a file system that reserves space only when the data goes out says so here
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as err:
        return err.strerror or str(err), out_of_room_hint(err, "choose a folder you can write to")
    return None


def out_of_room_hint(err: OSError, otherwise: str) -> str:
    """What to do about ``err``: free some space when the disk or a quota is full, raise the file-size limit when
    that was reached (``ulimit -f``), else ``otherwise``."""
    if err.errno == errno.EFBIG:
        return file_size_limit("choose another folder")
    full = err.errno in (errno.ENOSPC, errno.EDQUOT)
    return "free some space or choose another folder" if full else otherwise


class LockHeld(RnnplayError):
    """Another run holds the lock on an output: ``holder`` (one of HOLDERS) of process ``pid``."""

    def __init__(self, message: str, pid: str, holder: str) -> None:
        super().__init__(message)
        self.pid, self.holder = pid, holder


HOLDERS = ("training", "sweep", "save", "export", "conversation")  # what may hold an output's lock, as its file says


class OutputLock:
    """``OUT.lock``, locked and holding this process's PID and what it is (a training, a sweep, …), while it writes
    OUT. With OUT a symbolic link, the lock is beside the file the link leads to (:func:`lock_file`).

    A second run on the same OUT refuses in one line, naming the PID. The lock is an
    ``flock``, which the system lets go when its process dies, so a lock left by a
    killed run (its PID dead) is simply taken over. The file at OUT when the lock is taken (or none) is the only
    one a save may replace, until the save's own (:meth:`keep`, :func:`saved_to`).
    """

    held: ClassVar[dict[Path, OutputLock]] = {}  # this process's locks, by their lock file's path

    def __init__(self, out: str | os.PathLike[str], key: str = "--out", holder: str = "training",
                 fix: str = "choose another --out folder") -> None:
        self.out = Path(out)
        self.fix = fix  # what to do when the lock file cannot be written
        self.path = lock_file(out)
        self.key = key  # how the user names this output, for the advice when another run holds it
        self.holder = holder  # one of HOLDERS
        self.wrote: tuple[int, ...] | None = None  # the file a save may replace (identity): () for none; None: any
        self._file: Any = None

    def __enter__(self) -> OutputLock:
        self._take()
        self.wrote = identity(self.out)
        OutputLock.held[self.path] = self
        return self

    def keep(self) -> None:
        """Hold the lock again if its file was removed (with its folder, say) since it was taken: otherwise a second
        run could take the output meanwhile, and the next save would replace that run's checkpoint. When another run
        holds it by now, or another file took the place of the one this run saved last, a one-line error says so
        (and the save goes to its rescue copy)."""
        if not self._is_ours():
            if self._file is not None:
                with contextlib.suppress(OSError):
                    self._file.close()
                self._file = None
            try:
                self._take()
            except LockHeld as err:
                raise RnnplayError(f"{self.path} was removed while this run trained, and {err}") from None
            except RnnplayError:
                pass  # nothing holds it, but it cannot be made (nor, likely, the checkpoint): the save says why
        if self.wrote is not None and identity(self.out) not in ((), self.wrote):
            what = "was replaced by another file" if self.wrote else "was created by another program"
            raise RnnplayError(f"{self.out} {what} while this run trained; that file is kept")

    def _is_ours(self) -> bool:
        """Whether the file at ``path`` is the one this run holds locked."""
        try:
            return self._file is not None and os.path.samestat(os.fstat(self._file.fileno()), os.lstat(self.path))
        except OSError:
            return False

    def _take(self) -> None:
        """Create (with its folder), lock and fill the lock file, or a one-line error."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            while self._file is None:
                self._file = self._try_lock()
            self._file.truncate(0)
            self._file.write(f"{os.getpid()} {self.holder}\n")
            self._file.flush()
        except OSError as err:
            self._let_go()  # locked but not written (a full disk): leave nothing behind
            raise RnnplayError(f"cannot write the lock file {self.path}: {err.strerror or err}; "
                               f"{out_of_room_hint(err, self.fix)}") from None

    def _try_lock(self) -> Any:
        """The locked lock file; None when it was removed meanwhile (try again); an error when another run holds it,
        or when the name is taken by something else (a link, a FIFO), which is never opened through or emptied."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
        except OSError as err:
            if err.errno != errno.ELOOP:
                raise
            fd = None
        if fd is None or not stat.S_ISREG(os.fstat(fd).st_mode):
            if fd is not None:
                os.close(fd)
            what = "a symbolic link" if fd is None else "not a regular file"
            raise RnnplayError(f"{self.path} is {what}, not a lock file of rnnplay's: remove it if no training runs "
                               f"there, or choose another {self.key}")
        f = os.fdopen(fd, "a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            pid, holder = _holder(f.read(100))
            f.close()
            raise LockHeld(f"another {holder} (PID {pid}) is writing {self.out}: wait for it to end, "
                           f"or choose another {self.key}", pid, holder) from None
        same = os.path.exists(self.path) and os.path.samestat(os.fstat(f.fileno()), os.stat(self.path))
        if not same:  # the holder removed it between our open and our lock: lock the new one
            f.close()
            return None
        return f

    def __exit__(self, *exc: object) -> None:
        OutputLock.held.pop(self.path, None)
        self._let_go()

    def _let_go(self) -> None:
        """Remove the lock file (if it is still this run's: not another's that took its name), then close it (which
        unlocks it); a close that cannot flush is let pass."""
        if self._file is None:
            return
        if self._is_ours():
            with contextlib.suppress(OSError):
                self.path.unlink()
        with contextlib.suppress(OSError):
            self._file.close()
        self._file = None


def _holder(text: str) -> tuple[str, str]:
    """(PID, what holds it) as a lock file says: ``PID HOLDER``; a PID alone (an earlier rnnplay's) is a training's.
    Only digits and the words of HOLDERS are shown."""
    words = text.split()
    pid = words[0] if words and words[0].isdigit() else "?"
    return pid[:20], words[1] if len(words) > 1 and words[1] in HOLDERS else "training"


def lock_outputs(*outputs: tuple[Path | None, str], holder: str = "training") -> contextlib.ExitStack:
    """An :class:`OutputLock` on each ``(path, key)`` given (a None path: none), held together until the stack is
    closed; when one cannot be taken, none is held. A run locks its best checkpoint as well as its regular one, so
    that no other run writes either while it trains."""
    with contextlib.ExitStack() as stack:
        for path, key in outputs:
            if path is not None:
                stack.enter_context(OutputLock(path, key, holder))
        return stack.pop_all()


def holding(out: str | os.PathLike[str], key: str, holder: str) -> contextlib.AbstractContextManager[Any]:
    """The lock on ``out`` for one save (``/save``, ``export``), unless this process holds it already (a save of
    the training that locked it): a live training's output is refused in one line, never written over."""
    return contextlib.nullcontext() if lock_file(out) in OutputLock.held else OutputLock(out, key, holder)


def let_go_of_all() -> None:
    """Remove every lock file this process holds: for a process that leaves at once (``os._exit``), a step that
    never returns left behind, so that no lock file stays to puzzle the user."""
    for lock in list(OutputLock.held.values()):
        lock.__exit__()


def still_locked(out: str | os.PathLike[str]) -> None:
    """Before a save to ``out``: if this process locked it (:class:`OutputLock`), the lock is still held
    (:meth:`OutputLock.keep`) and the file there is the one this run saved last, or a one-line error says what
    took its place."""
    lock = OutputLock.held.get(lock_file(out))
    if lock is not None:
        lock.keep()


def saved_to(out: str | os.PathLike[str]) -> None:
    """After a save to ``out``: the file there is this run's (:func:`still_locked` checks it before the next)."""
    lock = OutputLock.held.get(lock_file(out))
    if lock is not None:  # () when moved away the moment it was written: what is there later cannot be told from ours
        lock.wrote = identity(out) or None


def identity(path: Path | str) -> tuple[int, ...]:
    """What tells the file at ``path`` from another: device, inode, size and time of its last write (an inode
    number is given again to a file made after one is deleted); () when nothing is there, or out of reach (the save
    says what is wrong)."""
    try:
        info = os.stat(path)
    except OSError:
        return ()
    return info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns
