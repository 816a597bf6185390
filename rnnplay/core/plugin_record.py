"""Which installed distributions a checkpoint's model needs: the ``plugins`` table of its metadata.

``{"cell": {"name": "rnnplay-gru", "version": "0.1.0"}}`` says the cell came from the pip distribution
rnnplay-gru 0.1.0 when the model was saved; a built-in cell, or one from a plugin registered in code rather
than installed, has no entry. Read from a file that may be hostile, so every value is checked before it is
used: a name as PEP 508 spells one, a version of PEP 440's characters, each bounded in length.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from rnnplay.core.errors import RnnplayError, printable

ROLES = ("cell",)  # what a model needs from a plugin; other keys (a later rnnplay's) are ignored
DIST_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,98}[A-Za-z0-9])?")  # PEP 508, at most 100 characters
DIST_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9.!+_-]{0,63}")  # PEP 440's characters, at most 64
MAX_ENTRIES = 16


def normalize(dist: str) -> str:
    """A distribution name as PEP 503 compares them: 'RNNPlay_GRU' and 'rnnplay-gru' are the same."""
    return re.sub(r"[-_.]+", "-", dist).lower()


def installed_version(dist: str) -> str:
    """The installed version of ``dist``, or '?'."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "?"


def shell_quoted(text: str) -> str:
    """``text`` in single quotes, as a POSIX shell reads it back unchanged ('rnnplay-gru==0.1.0')."""
    return "'" + text.replace("'", "'\\''") + "'"


@dataclass(frozen=True)
class Provider:
    """The pip distribution a part of the model came from, as installed when the model was saved."""

    name: str
    version: str

    @property
    def requirement(self) -> str:
        """'rnnplay-gru==0.1.0', what pip installs it by."""
        return f"{self.name}=={self.version}"


def plugins_meta(providers: dict[str, Provider]) -> dict[str, dict[str, str]]:
    """The ``plugins`` table as saved: each role's provider as ``{"name", "version"}``."""
    return {role: {"name": p.name, "version": p.version} for role, p in providers.items()}


def read_providers(meta: dict[str, Any], bad: str) -> dict[str, Provider]:
    """The ``plugins`` table of ``meta`` (none in a checkpoint saved before rnnplay recorded it), checked; one line
    starting with ``bad`` when it is not a table of names and versions, or names another plugin than
    ``cell_plugin``."""
    table = meta.get("plugins")
    if table is None:
        return {}
    if not isinstance(table, dict) or len(table) > MAX_ENTRIES:
        raise RnnplayError(f"{bad}: bad metadata (plugins is not a table of at most {MAX_ENTRIES} entries)")
    providers = {role: _provider(role, table[role], bad) for role in ROLES if role in table}
    plugin, cell = meta.get("cell_plugin"), providers.get("cell")
    if cell is not None and not (isinstance(plugin, str) and normalize(plugin) == normalize(cell.name)):
        raise RnnplayError(f"{bad}: bad metadata (plugins.cell names {cell.name}, but cell_plugin "
                           f"{printable(str(plugin)[:40])}); the file is damaged or was not written by rnnplay")
    return providers


def _provider(role: str, entry: Any, bad: str) -> Provider:
    name = entry.get("name") if isinstance(entry, dict) else None
    version = entry.get("version") if isinstance(entry, dict) else None
    if isinstance(name, str) and isinstance(version, str) and DIST_NAME.fullmatch(name) \
            and DIST_VERSION.fullmatch(version):
        return Provider(name, version)
    shown = printable(str(entry)[:60]) + ("…" if len(str(entry)) > 60 else "")
    raise RnnplayError(f"{bad}: bad metadata (plugins.{role} is not a distribution's name and version, such as "
                       f'{{"name": "rnnplay-gru", "version": "0.1.0"}}: {shown})')
