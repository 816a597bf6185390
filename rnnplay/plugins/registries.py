"""What the plugins registered, and the lookups the rest of rnnplay makes in it.

One registry per hook (``cells``, ``samplers``, ``corpus_loaders``, ``commands``), each a name ->
:class:`Registered`. A name nobody registered is answered with the closest ones and the plugins
that failed to load; an exception raised inside plugin code is turned into one line naming the
package to blame (:meth:`Registries.blame`); a checkpoint's cell that is missing is answered with
what to install.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, TypeVar

from rnnplay.core.ctrl_c import Terminated
from rnnplay.core.errors import RnnplayError
from rnnplay.core.params import did_you_mean
from rnnplay.core.plugin_record import Provider
from rnnplay.plugins.contracts import HOOK_KINDS
from rnnplay.plugins.discovery import install_hint, normalize, shell_quoted
from rnnplay.plugins.interrupts import UserInterrupts
from rnnplay.plugins.problems import PluginFailure, one_line, what_to_do

T = TypeVar("T")

BUILTIN = "rnnplay"  # the distribution name built-ins are registered under


@dataclass
class Registered:
    obj: Any
    plugin: str  # distribution name ("rnnplay" for built-ins)


@dataclass
class PluginInfo:
    name: str
    version: str
    installed: bool = False  # loaded from an installed distribution's entry point (not registered in code)
    hooks: list[str] = field(default_factory=list)
    provides: dict[str, list[str]] = field(default_factory=dict)


def label(kind: str) -> str:
    """'corpus loader' for the registry 'corpus_loaders'."""
    return kind[:-1].replace("_", " ")


class Registries:
    """The registries, the plugins they came from and the ones that failed; :class:`PluginHost` fills them."""

    def __init__(self) -> None:
        self.registries: dict[str, dict[str, Registered]] = {kind: {} for kind in HOOK_KINDS.values()}
        self.failures: list[PluginFailure] = []
        self.skipped: list[str] = []  # installed plugins RNNPLAY_LOAD_PLUGINS leaves out
        self.plugins: dict[str, PluginInfo] = {}
        self._modules: dict[str, str] = {BUILTIN: BUILTIN}  # top-level module -> distribution, to read tracebacks

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
        if kind not in self.registries:
            kinds = list(self.registries)
            raise RnnplayError(f"no plugin kind {kind!r}{did_you_mean(kind, kinds)}; the kinds are: {', '.join(kinds)}")
        registry = self.registries[kind]
        if name in registry:
            return registry[name].obj
        raise RnnplayError(
            f"unknown {label(kind)} {name!r}{did_you_mean(name, list(registry))}; "
            f"available: {', '.join(sorted(registry))}{self.failed_hint()}"
        )

    def failed_hint(self) -> str:
        """'; plugins that failed to load: X, Y (see `rnnplay plugins`)', where an unknown name may have gone; or ''."""
        failed = sorted({f.plugin for f in self.failures})
        return f"; plugins that failed to load: {', '.join(failed)} (see `rnnplay plugins`)" if failed else ""

    def cell(self, name: str) -> Any:
        return self.get("cells", name)

    def remember_module(self, obj: object, dist: str) -> None:
        """Note that code of ``obj``'s top-level package belongs to ``dist``, to blame it in tracebacks."""
        top = top_module(obj)
        if top:
            self._modules.setdefault(top, dist)

    @contextmanager
    def blame(self, kind: str, name: str, doing: str, cell: str | None = None) -> Iterator[None]:
        """Turn an exception raised inside plugin code into one line that names its package.

        ``with host.blame("samplers", "top-k", "generating"): ...`` — an :class:`RnnplayError`
        passes through unchanged (it is already a user message), and so do GeneratorExit and a
        Ctrl-C the user pressed; anything else, SystemExit and a KeyboardInterrupt the plugin
        raised by itself included, becomes ``the sampler 'top-k'
        (from rnnplay-foo) failed while generating: ValueError: ...; report it to the authors
        of rnnplay-foo, or `rnnplay plugins uninstall rnnplay-foo```. When the traceback runs
        through another plugin's code (a plugin cell stepped by a built-in sampler), that plugin
        is the one named. Built-ins are blamed as rnnplay itself (a bug to report), unless the work ran through
        ``cell`` from a plugin: a built-in sampler failing on what a plugin cell returned blames that plugin.
        """
        with UserInterrupts() as keys:
            try:
                yield
            except (RnnplayError, GeneratorExit, MemoryError, Terminated):  # Terminated: the user's SIGTERM
                raise
            except BaseException as err:
                keys.reraise_if_pressed(err)
                raise self._blamed(err, kind, name, doing, cell) from err

    def blamed(self, stream: Iterable[T], kind: str, name: str, doing: str, cell: str | None = None) -> Iterator[T]:
        """``stream``'s items, with what producing them raises blamed as :meth:`blame` does; what the code that
        takes each item raises (a front end showing it) is that code's own, and not blamed on a plugin."""
        with self.blame(kind, name, doing, cell):
            yield from stream

    def _blamed(self, err: BaseException, kind: str, name: str, doing: str, cell: str | None = None) -> RnnplayError:
        """The one line for ``err``, raised by plugin code while ``doing`` with the ``kind`` object ``name``."""
        entry = self.registries[kind].get(name)
        owner = entry.plugin if entry is not None else "?"
        culprit = self.plugin_in(err) or owner
        if culprit == BUILTIN and cell is not None:  # rnnplay's code failed on what a plugin cell gave it
            culprit = self.cell_plugin(cell) or culprit
        path = os.fsdecode(err.filename) if isinstance(err, OSError) and err.filename else ""
        if kind == "corpus_loaders" and culprit == owner and path and path[:40] in doing:  # the path the user typed
            return RnnplayError(f"the {label(kind)} {name!r} (from {owner}) could not read {path} while {doing}: "
                                f"{err.strerror or one_line(err)}; check the path")
        what = (f"the {label(kind)} {name!r} (from {owner}) failed while {doing}" if culprit == owner
                else f"the plugin {culprit} failed while {doing} (with the {label(kind)} {name!r} from {owner})")
        return RnnplayError(f"{what}: {one_line(err)}; {fix_for(culprit)}")

    def command_failure(self, name: str, err: BaseException, cell: str | None = None) -> str:
        """The one line for command /``name`` raising ``err``: blamed on the plugin whose code raised it, else on
        the plugin of ``cell``, the cell the model runs (a built-in /score on a cell whose scores are NaN), else on
        the command's own distribution."""
        entry = self.commands.get(name)
        owner = entry.plugin if entry is not None else "?"
        culprit = self.plugin_in(err)
        cell_plugin = self.cell_plugin(cell) if cell is not None else None
        if culprit is None and cell_plugin is not None and cell_plugin != owner:
            culprit, what = cell_plugin, f"/{name} failed with the cell {cell!r} from {cell_plugin}"
        elif culprit is not None and culprit != owner:
            what = f"/{name} failed in the plugin {culprit}"
        else:
            culprit, what = owner, f"/{name} (from {owner}) failed"
        return f"{what}: {one_line(err)}; {fix_for(culprit)}"

    def plugin_in(self, err: BaseException) -> str | None:
        """The installed plugin whose code raised ``err`` (the innermost of its traceback), if any did."""
        culprit = None
        for frame, _ in traceback.walk_tb(err.__traceback__):
            dist = self._modules.get(str(frame.f_globals.get("__name__", "")).partition(".")[0])
            if dist is not None and dist != BUILTIN:
                culprit = dist
        return culprit

    def who(self, kind: str, name: str) -> str:
        """"the cell 'stuck' from rnnplay-hang", or "the sampler 'beam' of rnnplay": what a line blames."""
        entry = self.registries[kind].get(name)
        owner = "of rnnplay" if entry is None or entry.plugin == BUILTIN else f"from {entry.plugin}"
        return f"/{name} ({owner})" if kind == "commands" else f"the {label(kind)} {name!r} {owner}"

    def cell_plugin(self, name: str) -> str | None:
        """The distribution that provides cell ``name`` (None for built-ins), for checkpoints."""
        entry = self.cells.get(name)
        return None if entry is None or entry.plugin == BUILTIN else entry.plugin

    def cell_provider(self, name: str) -> Provider | None:
        """The installed distribution and version that provide cell ``name``, for checkpoints; None for a built-in
        cell, or one from a plugin registered in code (no distribution to install)."""
        entry = self.cells.get(name)
        info = self.plugins.get(entry.plugin) if entry is not None else None
        if info is None or not info.installed or info.version == "?":
            return None
        return Provider(info.name, info.version)

    def resolve_cell(self, name: str, plugin: str | None, provider: Provider | None = None) -> Any:
        """The cell a checkpoint names; if it is missing, say which distribution to install (``provider``: the
        version the model was saved with, when the checkpoint recorded one).

        Another plugin's cell of the same name is not this model's (its weights would mean something else).
        """
        entry = self.cells.get(name)
        if entry is not None and (not plugin or normalize(entry.plugin) in (BUILTIN, normalize(plugin))):
            return entry.obj
        other = f" (the cell {name!r} loaded now is another, from {entry.plugin})" if entry is not None else ""
        if not plugin:
            raise RnnplayError(f"this model uses the cell {name!r}, which no installed plugin provides")
        failure = next((f for f in self.failures if normalize(f.plugin) == normalize(plugin)), None)
        if failure is not None:
            raise RnnplayError(f"this model uses the cell {name!r} from {failure}{other}; see `rnnplay plugins`")
        if any(normalize(p) == normalize(plugin) for p in self.skipped):
            raise RnnplayError(f"this model uses the cell {name!r} from the plugin {plugin}, which "
                               f"RNNPLAY_LOAD_PLUGINS leaves out{other}: add {plugin} to it, or unset it")
        installed = next((p for p in self.plugins.values() if normalize(p.name) == normalize(plugin)), None)
        if installed is not None:
            wanted = (f"`rnnplay plugins install {shell_quoted(provider.requirement)}` installs the version it was "
                      f"saved with" if provider is not None and provider.version != installed.version
                      else f"run `rnnplay plugins install -U {plugin}`")
            version = f" {installed.version}" if installed.version != "?" else ""  # "?": registered in code
            raise RnnplayError(f"this model uses the cell {name!r}, which the installed {plugin}{version} does not "
                               f"provide{other}: {wanted}")
        saved = f" {provider.version}" if provider is not None else ""
        raise RnnplayError(f"this model uses the cell {name!r} from the plugin {plugin}{saved}, which is not "
                           f"installed{other}: {install_hint(plugin, provider)}")


def fix_for(culprit: str) -> str:
    """What to do about code of ``culprit`` that failed: tell its authors, or leave it out; rnnplay's own: a bug."""
    return "this is a bug in rnnplay: please report it" if culprit == BUILTIN else what_to_do(culprit)


def top_module(obj: object) -> str:
    """The top-level package an object, class or module comes from: 'rnnplay_gru' for rnnplay_gru.cell.GRUCell().

    '' for the standard library's, whose frames must not be taken for the plugin's.
    """
    if isinstance(obj, ModuleType):
        module = obj.__name__
    else:
        module = obj.__module__ if isinstance(obj, type) else type(obj).__module__
    top = str(module).partition(".")[0]
    return "" if top in sys.stdlib_module_names else top
