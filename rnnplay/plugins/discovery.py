"""Finding installed plugins: the entry points of the ``rnnplay`` group and the distributions behind them.

Distribution names are compared as PEP 503 does (``RNNPlay_GRU`` is ``rnnplay-gru``), and a plugin
that is not installed is answered with the command that installs it — from rnnplay's checkout for
the example plugins under ``plugins/``, which are not on the package index.
"""

from __future__ import annotations

import difflib
import os
from contextlib import suppress
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from rnnplay.core.plugin_record import Provider, normalize, shell_quoted
from rnnplay.plugins import hookspecs
from rnnplay.plugins.problems import PluginFailure, one_line

__all__ = ["normalize"]  # besides what is defined here: the PEP 503 comparison of names, from the core

BUNDLED_PLUGINS = Path(__file__).resolve().parents[2] / "plugins"  # the examples, in a checkout of rnnplay


def suggest_plugin(name: str, installed: list[str]) -> str:
    """' (did you mean 'rnnplay-gru'?)' for the installed plugin closest to ``name``, compared without 'rnnplay-'."""
    short = {normalize(d).removeprefix("rnnplay-"): d for d in installed}
    close = difflib.get_close_matches(normalize(name).removeprefix("rnnplay-"), list(short), n=1, cutoff=0.5)
    return f" (did you mean {short[close[0]]!r}?)" if close else ""


def bundled_plugin_folder(dist: str) -> Path | None:
    """The folder of ``dist`` among the example plugins of an rnnplay checkout (``plugins/rnnplay-gru``), if any."""
    folder = BUNDLED_PLUGINS / normalize(dist)
    return folder if os.path.isfile(folder / "pyproject.toml") else None


def install_command(dist: str) -> str:
    """The command that installs ``dist``: from rnnplay's checkout for the unpublished examples, else by name."""
    folder = bundled_plugin_folder(dist)
    return f"`rnnplay plugins install {dist if folder is None else shown_path(folder)}`"


def shown_path(path: Path) -> str:
    """``path`` as the user can give it from the current folder: ``./plugins/rnnplay-gru`` below it, else whole."""
    try:
        return f"./{path.relative_to(Path.cwd())}"
    except (ValueError, OSError):  # not below the current folder, or the current folder is gone
        return str(path)


def install_hint(dist: str, provider: Provider | None = None) -> str:
    """How to install ``dist`` for a model that needs it: by name only if it is published, which rnnplay cannot know
    (an unpublished plugin is installed from its source folder), pinned to ``provider``'s version (the one the model
    was saved with) when the checkpoint recorded it; an example plugin of rnnplay from its folder."""
    if bundled_plugin_folder(dist) is not None:
        return f"run {install_command(dist)} (an example plugin of rnnplay, not on the package index yet)"
    wanted = shell_quoted(provider.requirement) if provider is not None else dist
    return (f"install the plugin that provides it (`rnnplay plugins install {wanted}` if it is published, or "
            "`rnnplay plugins install PATH` from its source folder)")


@dataclass
class Found:
    """One entry point of the ``rnnplay`` group and the distribution it comes from."""

    dist: str
    version: str
    ep: metadata.EntryPoint


def dist_label(dist: metadata.Distribution) -> str:
    """The name of a distribution whose metadata may be broken, or where it is."""
    with suppress(Exception):
        if dist.name:
            return str(dist.name)
    return f"a package in {dist.locate_file('')}"


def find_entry_points() -> tuple[list[Found], list[PluginFailure]]:
    """Every entry point of the ``rnnplay`` group, and the distributions whose metadata cannot be read.

    Read one distribution at a time (the first of a name on sys.path wins, as for importlib's own
    ``entry_points()``), so that one broken install — an undecodable entry_points.txt, a METADATA
    without a name or version — is reported instead of stopping every command.
    """
    found: list[Found] = []
    unreadable: list[PluginFailure] = []
    seen: set[str] = set()
    for dist in metadata.distributions():
        name = None
        try:
            eps = [ep for ep in dist.entry_points if ep.group == hookspecs.PROJECT]
            if not eps:
                continue
            name = dist.name
            version = dist.version
            if not name:
                raise ValueError("its METADATA has no Name")
        except Exception as err:
            unreadable.append(PluginFailure(name or dist_label(dist),
                                            f"its installed metadata cannot be read ({one_line(err)}); reinstall it"))
            continue
        if normalize(name) in seen:
            continue
        seen.add(normalize(name))
        found += [Found(name, version or "?", ep) for ep in eps]
    return found, unreadable


def chosen_entry_points(found: list[Found]) -> tuple[list[Found], dict[str, str] | None]:
    """The entry points ``RNNPLAY_LOAD_PLUGINS`` lets load (all when it is not set), and the names it gives
    (normalised -> as given; None when it is not set)."""
    allowed = os.environ.get("RNNPLAY_LOAD_PLUGINS")
    if allowed is None:
        return found, None
    wanted = {normalize(n.strip()): n.strip() for n in allowed.split(",") if n.strip()}
    return [f for f in found if normalize(f.dist) in wanted], wanted
