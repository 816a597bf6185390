"""Finding, loading and checking plugins.

Plugins are distributions with an entry point in the ``rnnplay`` group. Each is
loaded on its own and each of its hook implementations is called on its own, so
a plugin that fails to import, raises inside a hook, registers a name that is
already taken, or registers an object that breaks its contract is recorded in
:attr:`PluginHost.failures` (once, by distribution name, with the reason) and
skipped, while everything else keeps working.

``RNNPLAY_LOAD_PLUGINS`` (comma-separated distribution names) limits which
third-party plugins load; set to an empty string, none do. Built-ins always load.

Hook implementations run in registration order (built-ins first, then installed
plugins), and the first object registered under a name keeps it.
"""

from __future__ import annotations

import difflib
import importlib
import os
import pkgutil
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from . import hookspecs
from .errors import RnnplayError

BUILTIN = "rnnplay"

# hook name -> (kind, attributes every registered object must have, the callable ones); see docs/plugins.md
KINDS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "register_cells": ("cells", ("name", "state_size"), ("init_params", "forward", "backward", "step")),
    "register_samplers": ("samplers", ("name", "help", "params"), ("generate",)),
    "register_corpus_loaders": ("corpus_loaders", ("name", "help"), ("load",)),
    "register_commands": ("commands", ("name", "help", "usage", "aliases"), ("run",)),
}


@dataclass
class Registered:
    obj: Any
    plugin: str  # distribution name ("rnnplay" for built-ins)


@dataclass
class PluginInfo:
    name: str
    version: str
    hooks: list[str] = field(default_factory=list)
    provides: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class PluginFailure:
    plugin: str
    reason: str

    def __str__(self) -> str:
        return f"plugin {self.plugin} skipped: {self.reason}"


def suggest(name: str, choices: list[str]) -> str:
    """' (did you mean 'x'?)' for the closest choice, or ''."""
    close = difflib.get_close_matches(name, choices, n=2, cutoff=0.5)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""


def contract_problem(kind_hook: str, obj: Any) -> str | None:
    """Why ``obj`` cannot be registered through ``kind_hook``, or None when it fits."""
    _, attrs, methods = KINDS[kind_hook]
    missing = [a for a in attrs if not hasattr(obj, a)] + [m for m in methods if not callable(getattr(obj, m, None))]
    if missing:
        return f"{type(obj).__name__} lacks {', '.join(missing)}"
    name = getattr(obj, "name", None)
    if not isinstance(name, str) or not name or not all(c.isalnum() or c in "-_" for c in name):
        return f"{type(obj).__name__}.name must be a non-empty word of letters, digits, '-' or '_', got {name!r}"
    if kind_hook == "register_cells" and not (isinstance(obj.state_size, int) and obj.state_size >= 1):
        return f"cell {name!r}: state_size must be an int >= 1"
    if kind_hook != "register_cells" and not isinstance(obj.help, str):
        return f"{name!r}: help must be a one-line string"
    if kind_hook == "register_samplers" and not isinstance(obj.params, dict):
        return f"sampler {name!r}: params must be a dict of Param"
    if kind_hook == "register_commands" and not isinstance(obj.aliases, tuple | list):
        return f"command {name!r}: aliases must be a tuple of names"
    return None


def normalize(dist: str) -> str:
    """A distribution name as PEP 503 compares them: 'RNNPlay_GRU' and 'rnnplay-gru' are the same."""
    return re.sub(r"[-_.]+", "-", dist).lower()


class PluginHost:
    """The plugin manager plus the registries the rest of rnnplay reads."""

    def __init__(self, load_entry_points: bool = True) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.registries: dict[str, dict[str, Registered]] = {kind: {} for kind, _, _ in KINDS.values()}
        self.failures: list[PluginFailure] = []
        self.plugins: dict[str, PluginInfo] = {BUILTIN: PluginInfo(BUILTIN, _version(BUILTIN))}
        self._dist: dict[str, str] = {}  # pluggy plugin name -> distribution
        from . import builtin

        for module in pkgutil.iter_modules(builtin.__path__):  # every module in rnnplay/builtin is a plugin
            self._add(importlib.import_module(f"{builtin.__name__}.{module.name}"), f"{BUILTIN}.{module.name}", BUILTIN)
        if load_entry_points:
            self._load_entry_points()
        for hook in KINDS:
            self._call(hook)

    # -- loading -------------------------------------------------------------------
    def _load_entry_points(self) -> None:
        allowed = os.environ.get("RNNPLAY_LOAD_PLUGINS")
        allow = None if allowed is None else {normalize(n.strip()) for n in allowed.split(",") if n.strip()}
        for ep in metadata.entry_points(group=hookspecs.PROJECT):
            dist = ep.dist.name if ep.dist is not None else ep.name
            if allow is not None and normalize(dist) not in allow:
                continue
            try:
                plugin = ep.load()
            except (Exception, SystemExit) as err:  # a broken plugin must never take the app down
                self._fail(dist, f"could not be imported: {err.__class__.__name__}: {err}")
                continue
            self.plugins.setdefault(dist, PluginInfo(dist, ep.dist.version if ep.dist is not None else "?"))
            self._add(plugin, dist if dist not in self._dist else f"{dist}:{ep.name}", dist)

    def _add(self, plugin: object, name: str, dist: str) -> bool:
        """Register ``plugin`` with pluggy, reporting a hook that rnnplay does not know or cannot call."""
        marker = f"{hookspecs.PROJECT}_impl"  # what @hookimpl sets on a function
        unknown = [a for a in dir(plugin) if a not in KINDS and hasattr(getattr(plugin, a, None), marker)]
        if unknown:
            self._fail(dist, f"implements {', '.join(unknown)}, which is not an rnnplay hook "
                             f"(the hooks are {', '.join(KINDS)})")
        try:
            self.pm.register(plugin, name=name)
        except (ValueError, pluggy.PluginValidationError) as err:
            self._fail(dist, f"could not be registered: {err}")
            return False
        self._dist[name] = dist
        return True

    def _fail(self, plugin: str, reason: str) -> None:
        if not any(f.plugin == plugin and f.reason == reason for f in self.failures):
            self.failures.append(PluginFailure(plugin, reason))

    def register(self, plugin: object, name: str) -> None:
        """Register ``plugin`` (a module or object with hook implementations) now, as if it were installed.

        For applications that embed rnnplay and for tests; installed plugins are found through entry points.
        """
        self.plugins.setdefault(name, PluginInfo(name, "?"))
        if self._add(plugin, name, name):
            for hook in KINDS:
                self._call(hook, only=name)

    def _call(self, hook: str, only: str | None = None) -> None:
        kind = KINDS[hook][0]
        registry = self.registries[kind]
        # get_hookimpls() is in registration order: built-ins first, so a name they own stays theirs.
        for impl in getattr(self.pm.hook, hook).get_hookimpls():
            if only is not None and impl.plugin_name != only:
                continue
            plugin = self._dist[impl.plugin_name]
            staged: list[Any] = []
            try:
                impl.function(register=staged.append)
            except Exception as err:
                self._fail(plugin, f"{hook} raised {err.__class__.__name__}: {err}")
                continue
            info = self.plugins[plugin]
            if hook not in info.hooks:
                info.hooks.append(hook)
            for obj in staged:
                problem = contract_problem(hook, obj)
                if problem is None and obj.name in registry:
                    label = kind[:-1].replace("_", " ")
                    problem = f"{label} name {obj.name!r} is already taken by {registry[obj.name].plugin}"
                if problem is not None:
                    self._fail(plugin, problem)
                    continue
                registry[obj.name] = Registered(obj, plugin)
                info.provides.setdefault(kind, []).append(obj.name)

    # -- lookups -------------------------------------------------------------------
    @property
    def cells(self) -> dict[str, Registered]:
        return self.registries["cells"]

    @property
    def samplers(self) -> dict[str, Registered]:
        return self.registries["samplers"]

    @property
    def corpus_loaders(self) -> dict[str, Registered]:
        return self.registries["corpus_loaders"]

    @property
    def commands(self) -> dict[str, Registered]:
        return self.registries["commands"]

    def get(self, kind: str, name: str) -> Any:
        registry = self.registries[kind]
        if name in registry:
            return registry[name].obj
        label = kind[:-1].replace("_", " ")
        failed = sorted({f.plugin for f in self.failures})
        hint = f"; plugins that failed to load: {', '.join(failed)} (see `rnnplay plugins`)" if failed else ""
        raise RnnplayError(
            f"unknown {label} {name!r}{suggest(name, list(registry))}; available: {', '.join(sorted(registry))}{hint}"
        )

    def cell(self, name: str) -> Any:
        return self.get("cells", name)

    @contextmanager
    def blame(self, kind: str, name: str, doing: str) -> Iterator[None]:
        """Turn an exception raised inside plugin code into one line that names its package.

        ``with host.blame("samplers", "top-k", "generating"): ...`` — an :class:`RnnplayError`
        passes through unchanged (it is already a user message), and so does
        KeyboardInterrupt; anything else becomes ``the sampler 'top-k' (from rnnplay-foo)
        failed while generating: ValueError: ...; report it to rnnplay-foo's authors, or
        uninstall it``. Built-ins are blamed as rnnplay itself (a bug to report).
        """
        try:
            yield
        except (RnnplayError, KeyboardInterrupt, MemoryError):
            raise
        except Exception as err:
            entry = self.registries[kind].get(name)
            dist = entry.plugin if entry is not None else "?"
            label = kind[:-1].replace("_", " ")
            what = f"{err.__class__.__name__}: {err}".splitlines()[0][:200]
            fix = ("this is a bug in rnnplay: please report it" if dist == BUILTIN
                   else f"report it to the authors of {dist}, or `rnnplay plugins uninstall {dist}`")
            raise RnnplayError(f"the {label} {name!r} (from {dist}) failed while {doing}: {what}; {fix}") from err

    def cell_plugin(self, name: str) -> str | None:
        """The distribution that provides cell ``name`` (None for built-ins), for checkpoints."""
        entry = self.cells.get(name)
        return None if entry is None or entry.plugin == BUILTIN else entry.plugin

    def resolve_cell(self, name: str, plugin: str | None) -> Any:
        """The cell a checkpoint names; if it is missing, say which distribution to install."""
        if name in self.cells:
            return self.cells[name].obj
        failure = next((f for f in self.failures if plugin and normalize(f.plugin) == normalize(plugin)), None)
        if failure is not None:
            raise RnnplayError(f"this model uses the cell {name!r} from {failure}; see `rnnplay plugins`")
        if plugin and any(normalize(p) == normalize(plugin) for p in self.plugins):
            raise RnnplayError(
                f"this model uses the cell {name!r}, which the installed {plugin} does not provide: "
                f"run `rnnplay plugins install -U {plugin}`"
            )
        if plugin:
            raise RnnplayError(
                f"this model uses the cell {name!r} from the plugin {plugin}, which is not installed: "
                f"run `rnnplay plugins install {plugin}`"
            )
        raise RnnplayError(f"this model uses the cell {name!r}, which no installed plugin provides")


_host: PluginHost | None = None
_lock = threading.Lock()


def get_host() -> PluginHost:
    """The process-wide plugin host, built on first use."""
    global _host
    with _lock:
        if _host is None:
            _host = PluginHost()
        return _host


def reset_host() -> None:
    """Forget the loaded plugins (after installing one, or in tests)."""
    global _host
    with _lock:
        _host = None


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "?"

