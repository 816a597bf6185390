"""Where rnnplay keeps files on this machine (platformdirs: the XDG folders on Linux).

- ``data_dir()``: the model library, the input history, rescued checkpoints.
- ``cache_dir()``: downloaded corpora; ``$RNNPLAY_CACHE_DIR`` overrides it.

Imports nothing of rnnplay, so every layer may use it.
"""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_cache_path, user_data_path


def data_dir() -> Path:
    """rnnplay's own files: $XDG_DATA_HOME/rnnplay (~/.local/share/rnnplay) on Linux."""
    return user_data_path("rnnplay", appauthor=False)


def cache_dir() -> Path:
    """Downloads: $RNNPLAY_CACHE_DIR, else $XDG_CACHE_HOME/rnnplay (~/.cache/rnnplay) on Linux."""
    if os.environ.get("RNNPLAY_CACHE_DIR"):
        return Path(os.environ["RNNPLAY_CACHE_DIR"]).expanduser()
    return user_cache_path("rnnplay", appauthor=False)


def nearest_folder(folder: Path) -> Path:
    """``folder``, or the nearest folder above it that exists (saving creates the rest)."""
    while not os.path.exists(folder) and folder != folder.parent:  # Path.exists raises past an unsearchable folder
        folder = folder.parent
    return folder
