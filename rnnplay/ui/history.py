"""The input history that the app and the REPL share, kept across runs.

One file, in prompt-toolkit's ``FileHistory`` format (so the REPL reads it with
prompt-toolkit itself): each entry is a ``# <time>`` line, then its lines each
prefixed with ``+``, then a blank line. A multi-line seed is one entry.

``$RNNPLAY_HISTORY_FILE`` names the file (default: ``history`` in rnnplay's
data folder); ``RNNPLAY_NOHISTORY=1`` keeps nothing, as Ollama's ``OLLAMA_NOHISTORY``.
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path

from rnnplay.folders import data_dir

MAX_ENTRIES = 1000  # what a front end loads at start


def history_path() -> Path | None:
    """The history file, or None when ``RNNPLAY_NOHISTORY`` is set to anything but '' or '0'."""
    if os.environ.get("RNNPLAY_NOHISTORY", "") not in ("", "0"):
        return None
    return Path(os.environ.get("RNNPLAY_HISTORY_FILE") or data_dir() / "history")


def load_history(path: Path | None = None, limit: int = MAX_ENTRIES) -> list[str]:
    """The last ``limit`` entries, oldest first ([] when there is no file, or history is off)."""
    path = path or history_path()
    if path is None:
        return []
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
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


def append_history(entry: str, path: Path | None = None) -> None:
    """Add one entry; a history that cannot be written is skipped without a word (it is a convenience)."""
    path = path or history_path()
    if path is None or not entry.strip():
        return
    stamp = datetime.datetime.now().isoformat(sep=" ", timespec="seconds")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as f:
            f.write(f"\n# {stamp}\n" + "".join(f"+{line}\n" for line in entry.split("\n")))
    except OSError:
        pass
