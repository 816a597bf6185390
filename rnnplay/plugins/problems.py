"""What went wrong with a plugin, said in one line a user can act on.

A plugin that fails to import, raises inside a hook or registers an object that breaks its
contract becomes a :class:`PluginFailure`; these helpers write its reason: the exception cut to
one printable line, the names closest to a mistyped one, the setting that leaves a plugin out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rnnplay.core.errors import printable


@dataclass
class PluginFailure:
    plugin: str
    reason: str

    def __str__(self) -> str:
        return f"plugin {self.plugin} skipped: {self.reason}"


def one_line(err: BaseException) -> str:
    """'ValueError: bad thing', cut to one line of at most 200 characters, control characters escaped."""
    text = str(err).strip()
    return printable((f"{err.__class__.__name__}: {text}" if text else err.__class__.__name__).splitlines()[0][:200])


def import_error(err: BaseException) -> str:
    """Why a plugin could not be imported, in words that do not blame the user's keyboard."""
    if isinstance(err, KeyboardInterrupt):
        return "it raised KeyboardInterrupt while importing (no Ctrl-C was pressed)"
    if isinstance(err, SystemExit):
        return f"it called sys.exit({err.code!r}) while importing"
    return f"could not be imported: {one_line(err)}"


def what_to_do(plugin: str) -> str:
    """What a user does about a plugin that misbehaves: the one wording every message that blames a plugin ends with."""
    return f"report it to the authors of {plugin}, or `rnnplay plugins uninstall {plugin}`"


def skip_hint(others: list[str]) -> str:
    """How to leave one plugin out: the RNNPLAY_LOAD_PLUGINS value that loads only ``others``."""
    if others:
        return f"`RNNPLAY_LOAD_PLUGINS={','.join(others)}` skips it"
    return "`RNNPLAY_LOAD_PLUGINS=` (empty: no plugins) skips it"


def ended_while(what: str, plugin: str, hint: str) -> str:
    """The line said when the process ends outright while ``what`` runs (a plugin's import or hook): no exception
    to show, so what happened and what to do."""
    return (f"rnnplay: error: {ENDED_WHILE}{what}, with no error to show (the plugin called os._exit, "
            f"or a signal ended it); {what_to_do(plugin)}; {hint}")


ENDED_WHILE = "the process ended while "
_ENDED = re.compile(re.escape(f"rnnplay: error: {ENDED_WHILE}") + r"(?P<what>.*?), with no error to show .*?"
                    + re.escape("`rnnplay plugins uninstall ") + r"(?P<plugin>[^`]+)`")


def ended_in(output: str) -> tuple[str, str] | None:
    """The plugin and what it was doing (its import, a hook) in the last line :func:`ended_while` wrote in
    ``output``, a process's stderr; None when there is none."""
    found = [m for m in map(_ENDED.match, output.splitlines()) if m is not None]
    return (found[-1]["plugin"], found[-1]["what"]) if found else None
