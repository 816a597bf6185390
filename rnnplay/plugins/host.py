"""Loading plugins: the host that finds them, calls their hooks and fills the registries.

Plugins are distributions with an entry point in the ``rnnplay`` group. Each is
loaded on its own and each of its hook implementations is called on its own, so
a plugin that fails to import, raises inside a hook, registers a name that is
already taken, or registers an object that breaks its contract is recorded in
:attr:`PluginHost.failures` (once, by distribution name, with the reason) and
skipped, while everything else keeps working.

``RNNPLAY_LOAD_PLUGINS`` (comma-separated distribution names) limits which
third-party plugins load; set to an empty string, none do. Built-ins always load.
A name it gives that no installed plugin has is recorded as a failure (and said
on stderr by :func:`get_host`), and a plugin whose import or hook takes longer
than :func:`~rnnplay.plugins.slow_plugins.slow_plugin_seconds` (3 s, or ``$RNNPLAY_SLOW_PLUGIN_SECONDS``) is
named while it is still running (plugin code cannot be stopped safely, so it is waited for).

A plugin that raises KeyboardInterrupt or SystemExit (or any BaseException) while
importing or inside a hook fails like any other; a Ctrl-C the user presses during
loading still interrupts, and a SIGTERM or SIGHUP still ends the command. One that ends
the process outright (``os._exit``) cannot be caught: a watcher process
(:class:`~rnnplay.plugins.last_words.LastWords`) names it and says what to do.

Hook implementations run in registration order (built-ins first, then installed
plugins), and the first object registered under a name keeps it.

The built-ins are the modules of the package :data:`BUILTIN_PACKAGE`, found by name like any
installed plugin's module: the plugin layer does not import the layer above it.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext, suppress
from typing import Any

import pluggy

from rnnplay.core.errors import RnnplayError, flat, printable
from rnnplay.core.plugin_record import installed_version
from rnnplay.plugins import hookspecs
from rnnplay.plugins.contracts import HOOK_KINDS, contract_problem, hook_argument_problem
from rnnplay.plugins.discovery import (
    Found,
    bundled_plugin_folder,
    chosen_entry_points,
    find_entry_points,
    install_command,
    normalize,
    suggest_plugin,
)
from rnnplay.plugins.interrupts import UserInterrupts, plugin_prints_to_stderr
from rnnplay.plugins.last_words import LastWords
from rnnplay.plugins.problems import PluginFailure, ended_while, import_error, one_line, skip_hint
from rnnplay.plugins.registries import BUILTIN, PluginInfo, Registered, Registries, label
from rnnplay.plugins.slow_plugins import slow_plugin_seconds

__all__ = [  # besides what is defined here, the names the layers above import from the host
    "BUILTIN", "PluginFailure", "PluginHost", "Registered", "bundled_plugin_folder", "get_host", "install_command",
    "normalize", "printable", "reset_host",
]

BUILTIN_PACKAGE = "rnnplay.builtin"  # every module in it is a plugin
Warn = Callable[[str], None]


class PluginHost(Registries):
    """The plugin manager plus the registries the rest of rnnplay reads.

    ``warn`` hears, as they happen, what a user should know while plugins load (a slow import
    or hook, a name in RNNPLAY_LOAD_PLUGINS that is not installed); :func:`get_host` prints them.
    """

    def __init__(self, load_entry_points: bool = True, warn: Warn | None = None) -> None:
        super().__init__()
        self._slow_after = slow_plugin_seconds()  # a value that is no number of seconds: one line, before any import
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.warnings: list[str] = []  # what was slow but did not fail (an import or a hook)
        self.plugins[BUILTIN] = PluginInfo(BUILTIN, installed_version(BUILTIN))
        self._dist: dict[str, str] = {}  # pluggy plugin name -> distribution
        self._warn = warn
        self._interrupts = UserInterrupts()
        self._loading: list[str] = []  # the entry-point plugins being loaded (normalised), for skip hints
        self._last_words = LastWords()  # names the plugin that ends the process outright (os._exit) as it loads
        builtin = importlib.import_module(BUILTIN_PACKAGE)
        with self._interrupts, plugin_prints_to_stderr(), self._last_words:
            chosen = self._choose_entry_points() if load_entry_points else []
            if chosen:
                self._last_words.start()  # now, to be ready by their first import
            for module in pkgutil.iter_modules(builtin.__path__):
                self._add(importlib.import_module(f"{BUILTIN_PACKAGE}.{module.name}"),
                          f"{BUILTIN}.{module.name}", BUILTIN)
            self._load_entry_points(chosen)
            for hook in HOOK_KINDS:
                self._call(hook)

    # -- loading -------------------------------------------------------------------
    def _choose_entry_points(self) -> list[Found]:
        """The entry points to load, those that cannot be read and the names RNNPLAY_LOAD_PLUGINS gives wrong
        recorded as failures."""
        found, unreadable = find_entry_points()
        self.failures += unreadable
        chosen, wanted = chosen_entry_points(found)
        if wanted is not None:
            self.skipped = sorted({f.dist for f in found} - {f.dist for f in chosen})
            self._name_unknown(wanted, sorted({f.dist for f in found}))
        self._loading = sorted({normalize(f.dist) for f in chosen})
        return chosen

    def _load_entry_points(self, chosen: list[Found]) -> None:
        for entry in chosen:
            dist = entry.dist
            try:
                with (self._watch(dist, f"importing plugin {dist}", f" (entry point {entry.ep.name})"),
                      self._keep_cwd(dist, "while importing")):
                    plugin = entry.ep.load()
            except BaseException as err:  # a broken plugin must never take the app down, whatever it raises
                self._interrupts.reraise_if_pressed(err)
                self._fail(dist, import_error(err))
                continue
            self.plugins.setdefault(dist, PluginInfo(dist, entry.version, installed=True))
            self._add(plugin, dist if dist not in self._dist else f"{dist}:{entry.ep.name}", dist)

    def _name_unknown(self, wanted: dict[str, str], installed: list[str]) -> None:
        """Record each name in RNNPLAY_LOAD_PLUGINS that no installed plugin has, and say so in one line."""
        known = {normalize(d) for d in installed} | {BUILTIN}
        unknown = [printable(name) for key, name in wanted.items() if key not in known]
        if not unknown:
            return
        listing = ", ".join(installed) or "none"
        for name in unknown:
            self._fail(name, f"not installed, but RNNPLAY_LOAD_PLUGINS names it{suggest_plugin(name, installed)}; "
                             f"installed plugins: {listing}")
        named = [name + suggest_plugin(name, installed) for name in unknown[:10]]
        shown = ", ".join(named) + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")
        self._say(f"RNNPLAY_LOAD_PLUGINS names {shown}, which {'is' if len(unknown) == 1 else 'are'} not installed; "
                  f"installed plugins: {listing}")

    @contextmanager
    def _watch(self, dist: str, what: str, detail: str = "") -> Iterator[None]:
        """Say ``what`` is going on if it still is after :func:`slow_plugin_seconds` (plugin code cannot be stopped
        safely), and, through the watcher of :class:`LastWords`, if the process ends in it (``os._exit``).

        ``what`` is "importing plugin X" or "running plugin X's register_cells hook"; the note ends with
        the RNNPLAY_LOAD_PLUGINS value that leaves ``dist`` out. ``detail`` is for the line said if it ends.
        """
        hint = skip_hint([n for n in self._loading if n != normalize(dist)])
        said = threading.Event()

        def still_running() -> None:
            said.set()
            self._say(f"still {what} after {self._slow_after:g} s (slow); {hint}")

        timer = threading.Timer(self._slow_after, still_running)
        timer.daemon = True
        start = time.monotonic()
        timer.start()
        try:
            self._last_words.say_if_ended(ended_while(what + detail, dist, hint))
            yield
        finally:
            self._last_words.clear()
            timer.cancel()
            timer.join()
            seconds = time.monotonic() - start
            if seconds >= self._slow_after:
                self.warnings.append(f"{what} took {seconds:.0f} s (slow); {hint}")
                if not said.is_set():  # the timer thread did not get to run in time
                    self._say(self.warnings[-1])

    @contextmanager
    def _keep_cwd(self, dist: str, when: str) -> Iterator[None]:
        """Put back the working folder if plugin code changed it: every relative path the user gave depends on it."""
        try:
            before = os.getcwd()
        except OSError:  # the working folder is gone already: nothing to keep
            yield
            return
        try:
            yield
        finally:
            with suppress(OSError):
                if os.getcwd() != before:
                    os.chdir(before)
                    self._fail(dist, f"changed the working folder {when} (rnnplay changed it back); "
                                     "report it to its authors")

    def _say(self, message: str) -> None:
        if self._warn is not None:
            self._warn(message)

    def _add(self, plugin: object, name: str, dist: str) -> bool:
        """Register ``plugin`` with pluggy, reporting a hook that rnnplay does not know or cannot call."""
        unknown = [a for a in dir(plugin)
                   if a not in HOOK_KINDS and self.pm.parse_hookimpl_opts(plugin, a) is not None]
        if unknown:
            self._fail(dist, f"implements {', '.join(unknown)}, which is not an rnnplay hook "
                             f"(the hooks are {', '.join(HOOK_KINDS)})")
        bare = [h for h in HOOK_KINDS if callable(getattr(plugin, h, None)) and self.pm.parse_hookimpl_opts(plugin, h)
                is None]  # pluggy calls only what @hookimpl marks: the plugin loaded with no hook and no word
        if bare:
            self._fail(dist, f"its {', '.join(bare)} is not marked @hookimpl, so rnnplay never calls it: put "
                             f"@hookimpl (from rnnplay.plugins import hookimpl) on the line above `def {bare[0]}`")
        try:
            self.pm.register(plugin, name=name)
        except (ValueError, pluggy.PluginValidationError) as err:
            said = flat(err)  # pluggy's message spans lines; its second half says what is wrong
            self._fail(dist, hook_argument_problem(plugin) or f"could not be registered: {printable(said[:300])}")
            return False
        self._dist[name] = dist
        self.remember_module(plugin, dist)
        return True

    def _fail(self, plugin: str, reason: str) -> None:
        if not any(f.plugin == plugin and f.reason == reason for f in self.failures):
            self.failures.append(PluginFailure(plugin, reason))

    def register(self, plugin: object, name: str) -> None:
        """Register ``plugin`` (a module or object with hook implementations) now, as if it were installed.

        For applications that embed rnnplay and for tests; installed plugins are found through entry points.
        """
        if not isinstance(name, str) or not name.strip() or not name.isprintable() or len(name) > 100:
            raise RnnplayError(f"a plugin is registered under a name, such as 'rnnplay-myplugin', not {name!r}")
        if name in self._dist or name in self.plugins:
            raise RnnplayError(f"a plugin named {name!r} is already registered: give this one another name")
        self.plugins.setdefault(name, PluginInfo(name, "?"))
        with self._interrupts, plugin_prints_to_stderr():
            if self._add(plugin, name, name):
                for hook in HOOK_KINDS:
                    self._call(hook, only=name)

    def _call(self, hook: str, only: str | None = None) -> None:
        # In registration order (built-ins first, so a name they own stays theirs), whatever tryfirst or
        # trylast a plugin's hookimpl asks for: pluggy would move a trylast one before the built-ins.
        order = {name: i for i, name in enumerate(self._dist)}
        for impl in sorted(getattr(self.pm.hook, hook).get_hookimpls(), key=lambda impl: order[impl.plugin_name]):
            if only is not None and impl.plugin_name != only:
                continue
            plugin = self._dist[impl.plugin_name]
            staged = self._run_hook(impl, hook, plugin)
            if staged is None:
                continue
            info = self.plugins[plugin]
            if hook not in info.hooks:
                info.hooks.append(hook)
            for obj in staged:
                self._keep(hook, obj, plugin)

    def _run_hook(self, impl: pluggy.HookImpl, hook: str, plugin: str) -> list[Any] | None:
        """What one plugin's hook registers, or None when it raises (recorded as that plugin's failure)."""
        staged: list[Any] = []
        watch = nullcontext() if plugin == BUILTIN else self._watch(plugin, f"running plugin {plugin}'s {hook} hook")
        try:
            with watch, self._keep_cwd(plugin, f"in its {hook} hook"):
                returned = impl.function(register=staged.append)
        except BaseException as err:  # even SystemExit: one plugin's hook must not end the program
            self._interrupts.reraise_if_pressed(err)
            self._fail(plugin, f"{hook} raised {one_line(err)}")
            return None
        if returned is not None:
            self._fail(plugin, f"{hook} returned {type(returned).__name__} (it is ignored): "
                               "a hook calls register(obj) for each object and returns None")
        return staged

    def _keep(self, hook: str, obj: Any, plugin: str) -> None:
        """Put ``obj`` in its registry, or record why it cannot be."""
        kind = HOOK_KINDS[hook]
        registry = self.registries[kind]
        try:
            problem = contract_problem(hook, obj)
        except Exception as err:  # a property that raises while being checked
            problem = f"checking {type(obj).__name__} raised {one_line(err)}"
        if problem is None and obj.name in registry:
            problem = f"{label(kind)} name {obj.name!r} is already taken by {registry[obj.name].plugin}"
        if problem is None and kind == "commands":
            problem = self._command_name_taken(obj)
        if problem is not None:
            self._fail(plugin, problem)
            return
        registry[obj.name] = Registered(obj, plugin)
        self.plugins[plugin].provides.setdefault(kind, []).append(obj.name)
        self.remember_module(obj, plugin)

    def _command_name_taken(self, command: Any) -> str | None:
        """Why ``command``'s name or an alias would take over another command's name or alias (/exit, /?), or None."""
        taken = {alias: r.plugin for r in self.commands.values() for alias in r.obj.aliases}
        taken.update({name: r.plugin for name, r in self.commands.items()})
        aliases = list(command.aliases)
        for name in [command.name, *aliases]:
            if name in taken:
                return f"command {command.name!r}: /{name} is already taken by {taken[name]}"
        if len(set(aliases)) != len(aliases) or command.name in aliases:
            return f"command {command.name!r}: an alias is given twice"
        return None


_host: PluginHost | None = None
_lock = threading.RLock()  # re-entrant, so that a plugin calling get_host() while it loads fails instead of hanging
_building = False


def get_host() -> PluginHost:
    """The process-wide plugin host, built on first use; what goes wrong while loading is said on stderr."""
    global _host, _building
    with _lock:
        if _host is None:
            if _building:
                raise RnnplayError("get_host() was called while the plugins were loading; "
                                   "a plugin gets what it needs through its hooks, not at import")
            _building = True
            try:
                _host = PluginHost(warn=warn_on_stderr)
            finally:
                _building = False
        return _host


def loaded_host() -> PluginHost | None:
    """The process-wide plugin host if it is built already, else None (nothing is loaded by asking)."""
    return _host


def warn_on_stderr(message: str) -> None:
    """One 'rnnplay: warning:' line (the app has not taken the screen yet while plugins load).

    A warning that cannot be shown (stderr closed, or a broken pipe) must not stop the command.
    """
    if sys.stderr is None:  # started with stderr closed; print(file=None) would write to stdout
        return
    with suppress(OSError, ValueError):
        print(f"rnnplay: warning: {message}", file=sys.stderr, flush=True)


def reset_host() -> None:
    """Forget the loaded plugins (after installing one, or in tests)."""
    global _host
    with _lock:
        _host = None
