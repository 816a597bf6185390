"""What can be told of a model's cell without importing any plugin: from the built-ins and the installed
distributions' metadata alone.

`rnnplay models` lists models from their metadata, and must neither wait for a slow plugin nor end with one
that calls ``os._exit`` on import; so it does not load plugins. A cell is taken as there when it is built in, or
when the distribution the checkpoint names as its plugin is installed with an entry point in the ``rnnplay``
group and ``RNNPLAY_LOAD_PLUGINS`` lets it load (whether it then loads, and still provides that cell, only
loading it tells: `rnnplay plugins` says). A plugin cell whose checkpoint names no plugin is missing when no
plugin could load at all, and otherwise "a plugin cell", unchecked.
"""

from __future__ import annotations

from rnnplay.plugins.discovery import chosen_entry_points, find_entry_points, normalize
from rnnplay.plugins.host import PluginHost


class CellsWithoutImport:
    """The built-in cells and the plugins that would load, read once, for many models."""

    def __init__(self) -> None:
        self.builtin = frozenset(PluginHost(load_entry_points=False).cells)
        chosen, _ = chosen_entry_points(find_entry_points()[0])
        self.loadable = frozenset(normalize(found.dist) for found in chosen)

    def need(self, cell: str, plugin: str | None) -> tuple[str | None, bool]:
        """The plugin to install (or let load) for ``cell`` from ``plugin`` ('?' when none is named and none could
        load), or None; and True when the cell's plugin is not named and some plugin could provide it."""
        if cell in self.builtin:
            return None, False
        if plugin:
            return (None, False) if normalize(plugin) in self.loadable else (plugin, False)
        return ("?", False) if not self.loadable else (None, True)
