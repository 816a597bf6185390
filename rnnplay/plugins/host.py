"""Finding, loading and checking plugins.

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
than :data:`SLOW_PLUGIN_SECONDS` is named while it is still running (plugin code
cannot be stopped safely, so it is waited for).

A plugin that raises KeyboardInterrupt or SystemExit (or any BaseException) while
importing or inside a hook fails like any other; a Ctrl-C the user presses during
loading still interrupts.

Hook implementations run in registration order (built-ins first, then installed
plugins), and the first object registered under a name keeps it.
"""

from __future__ import annotations

import difflib
import importlib
import os
import pkgutil
import re
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext, redirect_stdout, suppress
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

import pluggy

from rnnplay.core.errors import RnnplayError
from rnnplay.plugins import hookspecs

BUILTIN = "rnnplay"
SLOW_PLUGIN_SECONDS = 3.0  # a plugin's import or hook running longer than this gets it named on stderr
BUNDLED_PLUGINS = Path(__file__).resolve().parents[2] / "plugins"  # the examples, in a checkout of rnnplay
MAX_NAME = 64  # characters in the name of a cell, sampler, loader or command
Warn = Callable[[str], None]

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


def is_word(name: object) -> bool:
    """A usable name: 1 to MAX_NAME letters, digits, '-' or '_' (what --cell, --sampler and /commands take)."""
    return isinstance(name, str) and 0 < len(name) <= MAX_NAME and all(c.isalnum() or c in "-_" for c in name)


def is_alias(alias: object) -> bool:
    """Another name for a slash command: 1 to MAX_NAME printable characters, no spaces ('?' is one)."""
    return (isinstance(alias, str) and 0 < len(alias) <= MAX_NAME and alias.isprintable()
            and not any(c.isspace() for c in alias))


def suggest_plugin(name: str, installed: list[str]) -> str:
    """' (did you mean 'rnnplay-gru'?)' for the installed plugin closest to ``name``, compared without 'rnnplay-'."""
    short = {normalize(d).removeprefix("rnnplay-"): d for d in installed}
    close = difflib.get_close_matches(normalize(name).removeprefix("rnnplay-"), list(short), n=1, cutoff=0.5)
    return f" (did you mean {short[close[0]]!r}?)" if close else ""


def contract_problem(kind_hook: str, obj: Any) -> str | None:
    """Why ``obj`` cannot be registered through ``kind_hook``, or None when it fits."""
    _, attrs, methods = KINDS[kind_hook]
    missing = [a for a in attrs if not hasattr(obj, a)] + [m for m in methods if not callable(getattr(obj, m, None))]
    if missing:
        return f"{type(obj).__name__} lacks {', '.join(missing)}"
    name = obj.name
    if not is_word(name):
        return (f"{type(obj).__name__}.name must be a word of 1 to {MAX_NAME} letters, digits, '-' or '_', "
                f"got {printable(repr(name))}")
    if kind_hook == "register_cells" and not (isinstance(obj.state_size, int) and obj.state_size >= 1):
        return f"cell {name!r}: state_size must be an int >= 1"
    if kind_hook != "register_cells" and not (isinstance(obj.help, str) and len(obj.help.splitlines()) <= 1):
        return f"{name!r}: help must be a one-line string"
    if kind_hook == "register_samplers" and not isinstance(obj.params, dict):
        return f"sampler {name!r}: params must be a dict of Param"
    if kind_hook == "register_commands" and not (isinstance(obj.aliases, tuple | list) and
                                                 all(is_alias(a) for a in obj.aliases)):
        return f"command {name!r}: aliases must be a tuple of names (no spaces, like 'q' or '?')"
    return None


def normalize(dist: str) -> str:
    """A distribution name as PEP 503 compares them: 'RNNPlay_GRU' and 'rnnplay-gru' are the same."""
    return re.sub(r"[-_.]+", "-", dist).lower()


def one_line(err: BaseException) -> str:
    """'ValueError: bad thing', cut to one line of at most 200 characters, control characters escaped."""
    text = str(err).strip()
    return printable((f"{err.__class__.__name__}: {text}" if text else err.__class__.__name__).splitlines()[0][:200])


def printable(text: str) -> str:
    """``text`` with control characters (a terminal escape sequence from plugin code, say) written as escapes."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def import_error(err: BaseException) -> str:
    """Why a plugin could not be imported, in words that do not blame the user's keyboard."""
    if isinstance(err, KeyboardInterrupt):
        return "it raised KeyboardInterrupt while importing (no Ctrl-C was pressed)"
    if isinstance(err, SystemExit):
        return f"it called sys.exit({err.code!r}) while importing"
    return f"could not be imported: {one_line(err)}"


def bundled_plugin_folder(dist: str) -> Path | None:
    """The folder of ``dist`` among the example plugins of an rnnplay checkout (``plugins/rnnplay-gru``), if any."""
    folder = BUNDLED_PLUGINS / normalize(dist)
    return folder if (folder / "pyproject.toml").is_file() else None


def install_command(dist: str) -> str:
    """The command that installs ``dist``: from rnnplay's checkout for the unpublished examples, else by name."""
    folder = bundled_plugin_folder(dist)
    if folder is None:
        return f"`rnnplay plugins install {dist}`"
    try:
        shown = f"./{folder.relative_to(Path.cwd())}"
    except (ValueError, OSError):  # not below the current folder, or the current folder is gone
        shown = str(folder)
    return f"`rnnplay plugins install {shown}`"


def skip_hint(others: list[str]) -> str:
    """How to leave one plugin out: the RNNPLAY_LOAD_PLUGINS value that loads only ``others``."""
    if others:
        return f"`RNNPLAY_LOAD_PLUGINS={','.join(others)}` skips it"
    return "`RNNPLAY_LOAD_PLUGINS=` (empty: no plugins) skips it"


def plugin_prints_to_stderr() -> AbstractContextManager[object]:
    """While plugins load, what they print goes to stderr: it must not mix with rnnplay's own output on stdout."""
    return nullcontext() if sys.stderr is None else redirect_stdout(sys.stderr)  # stderr closed: leave stdout be


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


class UserInterrupts:
    """Tells a Ctrl-C the user pressed from a KeyboardInterrupt that plugin code raised by itself.

    While entered (in the main thread, where signals arrive), SIGINT goes through a handler that
    notes the press, then does what the previous handler did; on leaving, the previous handler is
    put back unless another was set meanwhile. A note left in place by someone else's restore
    still forwards every press to the handler it wrapped.
    """

    def __init__(self) -> None:
        self.pressed = False
        self._previous: Callable[[int, FrameType | None], Any] = signal.default_int_handler
        self._installed = False
        self._depth = 0  # entered again from inside (a nested use): one note, put back by the outermost exit

    def __enter__(self) -> UserInterrupts:
        self._depth += 1
        if self._depth > 1:
            return self
        self.pressed = False
        if threading.current_thread() is threading.main_thread():
            previous = signal.getsignal(signal.SIGINT)
            if callable(previous):  # with SIG_IGN or SIG_DFL a Ctrl-C never becomes a KeyboardInterrupt
                self._previous = previous
                signal.signal(signal.SIGINT, self._note)
                self._installed = True
        return self

    def _note(self, signum: int, frame: FrameType | None) -> None:
        self.pressed = True
        self._previous(signum, frame)

    def __exit__(self, *exc: object) -> None:
        self._depth -= 1
        if self._depth > 0:
            return
        main = threading.current_thread() is threading.main_thread()  # a generator may be closed elsewhere
        if self._installed and main and signal.getsignal(signal.SIGINT) == self._note:
            signal.signal(signal.SIGINT, self._previous)
        self._installed = False

    def reraise_if_pressed(self, err: BaseException) -> None:
        """Raise ``err`` again when it is the user's Ctrl-C, which must still interrupt."""
        if isinstance(err, KeyboardInterrupt) and self.pressed:
            raise err


class PluginHost:
    """The plugin manager plus the registries the rest of rnnplay reads.

    ``warn`` hears, as they happen, what a user should know while plugins load (a slow import
    or hook, a name in RNNPLAY_LOAD_PLUGINS that is not installed); :func:`get_host` prints them.
    """

    def __init__(self, load_entry_points: bool = True, warn: Warn | None = None) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.registries: dict[str, dict[str, Registered]] = {kind: {} for kind, _, _ in KINDS.values()}
        self.failures: list[PluginFailure] = []
        self.warnings: list[str] = []  # what was slow but did not fail (an import or a hook)
        self.skipped: list[str] = []  # installed plugins RNNPLAY_LOAD_PLUGINS leaves out
        self.plugins: dict[str, PluginInfo] = {BUILTIN: PluginInfo(BUILTIN, _version(BUILTIN))}
        self._dist: dict[str, str] = {}  # pluggy plugin name -> distribution
        self._modules: dict[str, str] = {BUILTIN: BUILTIN}  # top-level module -> distribution, to read tracebacks
        self._warn = warn
        self._interrupts = UserInterrupts()
        self._loading: list[str] = []  # the entry-point plugins being loaded (normalised), for skip hints
        from rnnplay import builtin

        with self._interrupts, plugin_prints_to_stderr():
            for module in pkgutil.iter_modules(builtin.__path__):  # every module in rnnplay/builtin is a plugin
                self._add(importlib.import_module(f"{builtin.__name__}.{module.name}"),
                          f"{BUILTIN}.{module.name}", BUILTIN)
            if load_entry_points:
                self._load_entry_points()
            for hook in KINDS:
                self._call(hook)

    # -- loading -------------------------------------------------------------------
    def _load_entry_points(self) -> None:
        found, unreadable = find_entry_points()
        self.failures += unreadable
        chosen = found
        allowed = os.environ.get("RNNPLAY_LOAD_PLUGINS")
        if allowed is not None:
            wanted = {normalize(n.strip()): n.strip() for n in allowed.split(",") if n.strip()}
            chosen = [f for f in found if normalize(f.dist) in wanted]
            self.skipped = sorted({f.dist for f in found} - {f.dist for f in chosen})
            self._name_unknown(wanted, sorted({f.dist for f in found}))
        self._loading = sorted({normalize(f.dist) for f in chosen})
        for entry in chosen:
            dist = entry.dist
            try:
                with self._watch(dist, f"importing plugin {dist}"):
                    plugin = entry.ep.load()
            except BaseException as err:  # a broken plugin must never take the app down, whatever it raises
                self._interrupts.reraise_if_pressed(err)
                self._fail(dist, import_error(err))
                continue
            self.plugins.setdefault(dist, PluginInfo(dist, entry.version))
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
    def _watch(self, dist: str, what: str) -> Iterator[None]:
        """Say ``what`` is going on if it still is after SLOW_PLUGIN_SECONDS (plugin code cannot be stopped safely).

        ``what`` is "importing plugin X" or "running plugin X's register_cells hook"; the note ends with
        the RNNPLAY_LOAD_PLUGINS value that leaves ``dist`` out.
        """
        hint = skip_hint([n for n in self._loading if n != normalize(dist)])
        said = threading.Event()

        def still_running() -> None:
            said.set()
            self._say(f"still {what} after {SLOW_PLUGIN_SECONDS:g} s (slow); {hint}")

        timer = threading.Timer(SLOW_PLUGIN_SECONDS, still_running)
        timer.daemon = True
        start = time.monotonic()
        timer.start()
        try:
            yield
        finally:
            timer.cancel()
            timer.join()
            seconds = time.monotonic() - start
            if seconds >= SLOW_PLUGIN_SECONDS:
                self.warnings.append(f"{what} took {seconds:.0f} s (slow); {hint}")
                if not said.is_set():  # the timer thread did not get to run in time
                    self._say(self.warnings[-1])

    def _say(self, message: str) -> None:
        if self._warn is not None:
            self._warn(message)

    def _add(self, plugin: object, name: str, dist: str) -> bool:
        """Register ``plugin`` with pluggy, reporting a hook that rnnplay does not know or cannot call."""
        unknown = [a for a in dir(plugin) if a not in KINDS and self.pm.parse_hookimpl_opts(plugin, a) is not None]
        if unknown:
            self._fail(dist, f"implements {', '.join(unknown)}, which is not an rnnplay hook "
                             f"(the hooks are {', '.join(KINDS)})")
        try:
            self.pm.register(plugin, name=name)
        except (ValueError, pluggy.PluginValidationError) as err:
            self._fail(dist, f"could not be registered: {err}")
            return False
        self._dist[name] = dist
        self._remember_module(plugin, dist)
        return True

    def _fail(self, plugin: str, reason: str) -> None:
        if not any(f.plugin == plugin and f.reason == reason for f in self.failures):
            self.failures.append(PluginFailure(plugin, reason))

    def register(self, plugin: object, name: str) -> None:
        """Register ``plugin`` (a module or object with hook implementations) now, as if it were installed.

        For applications that embed rnnplay and for tests; installed plugins are found through entry points.
        """
        self.plugins.setdefault(name, PluginInfo(name, "?"))
        with self._interrupts, plugin_prints_to_stderr():
            if self._add(plugin, name, name):
                for hook in KINDS:
                    self._call(hook, only=name)

    def _call(self, hook: str, only: str | None = None) -> None:
        # get_hookimpls() is in registration order: built-ins first, so a name they own stays theirs.
        for impl in getattr(self.pm.hook, hook).get_hookimpls():
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
            with watch:
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
        kind = KINDS[hook][0]
        registry = self.registries[kind]
        try:
            problem = contract_problem(hook, obj)
        except Exception as err:  # a property that raises while being checked
            problem = f"checking {type(obj).__name__} raised {one_line(err)}"
        if problem is None and obj.name in registry:
            label = kind[:-1].replace("_", " ")
            problem = f"{label} name {obj.name!r} is already taken by {registry[obj.name].plugin}"
        if problem is not None:
            self._fail(plugin, problem)
            return
        registry[obj.name] = Registered(obj, plugin)
        self.plugins[plugin].provides.setdefault(kind, []).append(obj.name)
        self._remember_module(obj, plugin)

    def _remember_module(self, obj: object, dist: str) -> None:
        top = _top_module(obj)
        if top:
            self._modules.setdefault(top, dist)

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
        passes through unchanged (it is already a user message), and so do GeneratorExit and a
        Ctrl-C the user pressed; anything else, SystemExit and a KeyboardInterrupt the plugin
        raised by itself included, becomes ``the sampler 'top-k'
        (from rnnplay-foo) failed while generating: ValueError: ...; report it to the authors
        of rnnplay-foo, or `rnnplay plugins uninstall rnnplay-foo```. When the traceback runs
        through another plugin's code (a plugin cell stepped by a built-in sampler), that plugin
        is the one named. Built-ins are blamed as rnnplay itself (a bug to report).
        """
        with UserInterrupts() as keys:
            try:
                yield
            except (RnnplayError, GeneratorExit, MemoryError):
                raise
            except BaseException as err:
                keys.reraise_if_pressed(err)
                raise self._blamed(err, kind, name, doing) from err

    def _blamed(self, err: BaseException, kind: str, name: str, doing: str) -> RnnplayError:
        """The one line for ``err``, raised by plugin code while ``doing`` with the ``kind`` object ``name``."""
        entry = self.registries[kind].get(name)
        owner = entry.plugin if entry is not None else "?"
        culprit = self._innermost_plugin(err) or owner
        label = kind[:-1].replace("_", " ")
        fix = ("this is a bug in rnnplay: please report it" if culprit == BUILTIN
               else f"report it to the authors of {culprit}, or `rnnplay plugins uninstall {culprit}`")
        what = (f"the {label} {name!r} (from {owner}) failed while {doing}" if culprit == owner
                else f"the plugin {culprit} failed while {doing} (with the {label} {name!r} from {owner})")
        return RnnplayError(f"{what}: {one_line(err)}; {fix}")

    def _innermost_plugin(self, err: BaseException) -> str | None:
        """The installed plugin whose code raised ``err`` (the innermost of its traceback), if any did."""
        culprit = None
        for frame, _ in traceback.walk_tb(err.__traceback__):
            dist = self._modules.get(str(frame.f_globals.get("__name__", "")).partition(".")[0])
            if dist is not None and dist != BUILTIN:
                culprit = dist
        return culprit

    def cell_plugin(self, name: str) -> str | None:
        """The distribution that provides cell ``name`` (None for built-ins), for checkpoints."""
        entry = self.cells.get(name)
        return None if entry is None or entry.plugin == BUILTIN else entry.plugin

    def resolve_cell(self, name: str, plugin: str | None) -> Any:
        """The cell a checkpoint names; if it is missing, say which distribution to install."""
        if name in self.cells:
            return self.cells[name].obj
        if not plugin:
            raise RnnplayError(f"this model uses the cell {name!r}, which no installed plugin provides")
        failure = next((f for f in self.failures if normalize(f.plugin) == normalize(plugin)), None)
        if failure is not None:
            raise RnnplayError(f"this model uses the cell {name!r} from {failure}; see `rnnplay plugins`")
        if any(normalize(p) == normalize(plugin) for p in self.skipped):
            raise RnnplayError(f"this model uses the cell {name!r} from the plugin {plugin}, which "
                               f"RNNPLAY_LOAD_PLUGINS leaves out: add {plugin} to it, or unset it")
        if any(normalize(p) == normalize(plugin) for p in self.plugins):
            raise RnnplayError(
                f"this model uses the cell {name!r}, which the installed {plugin} does not provide: "
                f"run `rnnplay plugins install -U {plugin}`"
            )
        bundled = bundled_plugin_folder(plugin) is not None
        where = " (an example plugin of rnnplay, not on the package index yet)" if bundled else ""
        raise RnnplayError(f"this model uses the cell {name!r} from the plugin {plugin}, which is not installed: "
                           f"run {install_command(plugin)}{where}")


def _top_module(obj: object) -> str:
    """The top-level package an object, class or module comes from: 'rnnplay_gru' for rnnplay_gru.cell.GRUCell().

    '' for the standard library's, whose frames must not be taken for the plugin's.
    """
    if isinstance(obj, ModuleType):
        module = obj.__name__
    else:
        module = obj.__module__ if isinstance(obj, type) else type(obj).__module__
    top = str(module).partition(".")[0]
    return "" if top in sys.stdlib_module_names else top


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


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "?"

