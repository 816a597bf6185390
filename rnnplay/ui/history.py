"""The input history that the app and the REPL share, kept across runs.

One file, in prompt-toolkit's ``FileHistory`` format (so the REPL reads it with
prompt-toolkit itself): each entry is a ``# <time>`` line, then its lines each
prefixed with ``+``, then a blank line. A multi-line seed is one entry.

``$RNNPLAY_HISTORY_FILE`` names the file (default: ``history`` in rnnplay's
data folder); ``RNNPLAY_NOHISTORY=1`` keeps nothing, as Ollama's ``OLLAMA_NOHISTORY``.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from rnnplay.folders import data_dir, nearest_folder

MAX_ENTRIES = 1000  # what a front end loads at start
MAX_BYTES = 4 << 20  # what is read of the file at most: its end (a history file grows without a bound)


def history_path() -> Path | None:
    """The history file, or None when ``RNNPLAY_NOHISTORY`` is set to anything but '' or '0'."""
    if os.environ.get("RNNPLAY_NOHISTORY", "") not in ("", "0"):
        return None
    return Path(os.environ.get("RNNPLAY_HISTORY_FILE") or data_dir() / "history")


def load_history(path: Path | None = None, limit: int = MAX_ENTRIES, exact: bool = False) -> list[str]:
    """The last ``limit`` entries, oldest first ([] when there is no file, or history is off).

    ``exact``: bytes that are not UTF-8 (a file name typed in another encoding, kept as the terminal sent it) come
    back as the lone surrogates they were typed as, so that the line recalled names the same file; else as U+FFFD.
    """
    path = path or history_path()
    if path is None:
        return []
    try:
        with regular_file(path, os.O_RDONLY) as f:
            size = os.fstat(f.fileno()).st_size
            f.seek(max(0, size - MAX_BYTES))  # the last entries are the ones kept
            text = f.read(MAX_BYTES).decode("utf-8", errors="surrogateescape" if exact else "replace")
    except OSError:
        return []
    entries: list[str] = []
    lines: list[str] = []
    for line in text.splitlines():
        if line.startswith("+"):
            lines.append(line[1:])
        elif lines:
            entries.append("\n".join(lines))
            lines = []
    if lines:
        entries.append("\n".join(lines))
    return entries[-limit:]


def append_history(entry: str, path: Path | None = None) -> str | None:
    """Add one entry; None when it was kept, else why not (the entry is skipped: a history is a convenience)."""
    path = path or history_path()
    if path is None or not entry.strip():
        return None
    stamp = datetime.datetime.now().isoformat(sep=" ", timespec="seconds")
    text = f"\n# {stamp}\n" + "".join(f"+{line}\n" for line in entry.split("\n"))
    try:
        data = text.encode("utf-8", errors="surrogateescape")  # a name's bytes that are not UTF-8 kept as typed
    except UnicodeEncodeError:  # a surrogate no byte stands for ('\ud800'): '?' then, and the entry still kept
        data = text.encode("utf-8", errors="replace")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with regular_file(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT) as f:
            f.write(data)
    except OSError as err:
        return err.strerror or str(err)
    return None


def unwritable(path: Path) -> str | None:
    """Why entries could not be added to the history file ``path`` (None: they can), found without writing one:
    the file itself, or, before it exists, the nearest folder above it that does."""
    if not os.path.exists(path):
        folder = nearest_folder(path.parent)
        ok = folder.is_dir() and os.access(folder, os.W_OK | os.X_OK, effective_ids=True)
        return None if ok else f"the folder {folder} cannot be written"
    try:
        with regular_file(path, os.O_WRONLY | os.O_APPEND):
            return None
    except OSError as err:
        return err.strerror or str(err)


def not_kept(path: Path, reason: str) -> str:
    """The one warning line for a history file that cannot be written."""
    return (f"the input history will not be kept: cannot write {path} ({reason}); make it writable, or set "
            "RNNPLAY_HISTORY_FILE to a file you can write (RNNPLAY_NOHISTORY=1 keeps none)")


@contextlib.contextmanager
def regular_file(path: Path, flags: int) -> Iterator[BinaryIO]:
    """``path`` opened without waiting (a named pipe with no writer would block the app forever) and only if it
    is a regular file: a FIFO, a device (``/dev/zero`` would never end) or a folder raises OSError."""
    fd = os.open(path, flags | os.O_NONBLOCK, 0o666)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path} is not a regular file")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb" if flags & (os.O_WRONLY | os.O_RDWR) == 0 else "ab") as f:
        yield f
