"""Where a sweep writes (:mod:`rnnplay.session.sweep`), and how it keeps off the files of other runs.

The folder is made and proved writable before any trial starts, and refused when it already holds a file the
sweep writes. While the sweep runs it holds the locks of ``results.json`` and ``best.npz``
(:class:`~rnnplay.session.output_paths.OutputLock`, as a training holds its ``--out``), so another sweep or a
training is refused those names; ``best.npz`` is replaced only while it is the copy this sweep wrote last.
A trial's checkpoint is a new file, written under that name's lock and put in place only if the name is free
(:func:`~rnnplay.core.atomic_write.put_new`): when a training writes that name, or another program made a file
of it, the checkpoint takes the next free name, and a note says so.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from rnnplay.core.atomic_write import NameTaken, put_new, write_atomically
from rnnplay.core.errors import RnnplayError, counted
from rnnplay.folders import data_dir
from rnnplay.models.library import free_path
from rnnplay.session.output_paths import (
    LockHeld,
    OutputLock,
    lock_outputs,
    out_of_room_hint,
    saved_to,
    still_locked,
    why_unwritable,
)

BEST, RESULTS = "best.npz", "results.json"


@contextlib.contextmanager
def output_dir(path: str | None, names: list[str] | None = None) -> Iterator[Path]:
    """The sweep's folder (default ``sweep-YYYYmmdd-HHMMSS``), made and proved writable now, its results and best
    checkpoint locked while the sweep runs; removed again if it is still empty at the end (the sweep stopped before
    any trial ended). One that already holds a file the sweep writes (results.json, best.npz, or one of ``names``,
    its trials' checkpoints) is refused: it would be replaced."""
    folder = Path(os.path.expanduser(path or time.strftime("sweep-%Y%m%d-%H%M%S")))
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        why = (err.strerror or str(err), out_of_room_hint(err, "choose a folder you can write to"))
    else:
        why = why_unwritable(folder, prefix=".probe-")  # a byte, so that a full disk is refused now too
    if why is not None:
        with contextlib.suppress(OSError):
            folder.rmdir()  # if this made it (empty)
        raise RnnplayError(f"cannot write to --out {folder}: {why[0]}; {why[1]}")
    try:  # two sweeps into one folder, or a training's --out best.npz, replaced each other's files
        with lock_outputs((folder / RESULTS, "--out"), (folder / BEST, "--out"), holder="sweep"):
            _refuse_taken(folder, [RESULTS, BEST, *(names or [])])  # once locked: none can come after the check
            yield folder
    finally:
        with contextlib.suppress(OSError):
            folder.rmdir()  # only if empty


def _refuse_taken(folder: Path, names: list[str]) -> None:
    if taken := [n for n in names if os.path.lexists(folder / n)]:
        more = f" (and {counted(len(taken) - 1, 'other file')} it writes)" if len(taken) > 1 else ""
        raise RnnplayError(f"--out {folder} already holds {taken[0]}{more}, which this sweep would replace: choose "
                           "another folder")


def keep_checkpoint(folder: Path, name: str, checkpoint: bytes, notes: list[str]) -> Path:
    """Write a trial's checkpoint as a new file ``folder/name.npz`` (under the next free name when a training
    writes that one, or a file took it, with a note); when that fails (a full disk, the folder gone), into
    rnnplay's data folder as a training's rescue copy is. Where it went."""
    path = folder / f"{name}.npz"
    try:
        try:
            return _write_new(path, checkpoint)
        except (LockHeld, NameTaken) as err:
            other = _write_new(free_path(path), checkpoint)
            who = (f"another {err.holder} (PID {err.pid}) writes {path}" if isinstance(err, LockHeld) else
                   f"another program made {path} while the sweep ran (it is kept as it is)")
            notes.append(f"{who}, so this trial's checkpoint is {other}")
            return other
    except RnnplayError as err:
        rescue = data_dir() / "rescued" / f"{folder.name}-{name}.npz"
        try:
            with contextlib.suppress(OSError):  # a folder that cannot be made: the write says why
                rescue.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(rescue, lambda f: f.write(checkpoint))
        except RnnplayError as again:
            raise RnnplayError(f"{err}; the rescue copy failed too ({again})") from None
        notes.append(f"{err}; kept {name} in {rescue} instead")
        return rescue


def _write_new(path: Path, checkpoint: bytes) -> Path:
    """``checkpoint`` written to ``path`` under its lock, only if no file is there; LockHeld or NameTaken if not."""
    with OutputLock(path, "--out", "sweep"):
        write_atomically(path, lambda f: f.write(checkpoint), put=put_new)
    return path


def copy_best(folder: Path, checkpoint: Path) -> None:
    """``best.npz`` made a copy of ``checkpoint``: only over the copy this sweep wrote last (or none), or one line."""
    best = folder / BEST
    still_locked(best)  # another file in its place: kept, and said
    with checkpoint.open("rb") as source:
        write_atomically(best, lambda f: shutil.copyfileobj(source, f))
    saved_to(best)
