"""Slash commands: the contract every command meets, and the parsing they share.

A command is any object with::

    name: str                   # "sampler"  (typed as /sampler)
    help: str                   # one line
    usage: str                  # "/sampler NAME [key=value ...]"
    aliases: tuple[str, ...]    # ("bye",) — other names that reach it
    run(session, argline)       # session: a SessionAPI; argline: everything after the name
    complete(session, argline)  # optional: candidates for the last word of argline
    details: str                # optional: what /help NAME adds to the one-liner (lines, examples)

Built-ins and plugins register commands through the ``register_commands`` hook, so
they all live in one registry (``get_host().commands``). Commands talk to the
session only through :class:`~rnnplay.plugins.session_api.SessionAPI` and raise
:class:`RnnplayError` with one line for any mistake; unknown names are answered
with the closest valid ones.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from rnnplay.core.errors import RnnplayError
from rnnplay.core.params import Param, did_you_mean, parse_value, shown_text
from rnnplay.plugins.host import PluginHost, get_host
from rnnplay.plugins.problems import one_line
from rnnplay.plugins.session_api import SessionAPI

MAX_LISTED = 12  # a command with more keys than this names /help in an error instead of listing them all


@runtime_checkable
class Command(Protocol):
    name: str
    help: str
    usage: str
    aliases: tuple[str, ...]

    def run(self, session: SessionAPI, argline: str) -> None: ...


@dataclass(frozen=True)
class SimpleCommand:
    """A command made of functions: what most commands (and most plugins) need."""

    name: str
    help: str
    usage: str
    handler: Callable[[SessionAPI, str], None]
    aliases: tuple[str, ...] = ()
    completer: Callable[[SessionAPI, str], list[str]] | None = None
    details: str = ""

    def run(self, session: SessionAPI, argline: str) -> None:
        self.handler(session, argline)

    def complete(self, session: SessionAPI, argline: str) -> list[str]:
        return self.completer(session, argline) if self.completer else []


# -- finding commands ---------------------------------------------------------------
def command_table(host: PluginHost | None = None) -> dict[str, Any]:
    """Every name and alias -> command. A command's own name wins over another's alias."""
    commands = [r.obj for r in (host or get_host()).commands.values()]
    table = {alias: c for c in commands for alias in getattr(c, "aliases", ())}
    table.update({c.name: c for c in commands})
    return table


def split_command(line: str) -> tuple[str, str]:
    """'/sampler beam width=3' -> ('sampler', 'beam width=3')."""
    body = line.strip()[1:]
    name, _, argline = body.partition(" ")
    return name.lower(), argline.strip()


def find_command(name: str, host: PluginHost | None = None) -> Any:
    """The command called ``name`` or with that alias; an unknown one names the closest, and the plugins that failed
    to load (one of them may have brought it)."""
    host = host or get_host()
    table = command_table(host)
    if name in table:
        return table[name]
    if not name:
        raise RnnplayError("a lone '/' is not a command; /help lists them")
    raise RnnplayError(f"unknown command /{name}{did_you_mean(f'/{name}', [f'/{n}' for n in table])}; /help lists "
                       f"them{host.failed_hint()}")


# -- parsing arguments ----------------------------------------------------------------
def split_args(argline: str) -> list[str]:
    """Shell-like words: quotes keep spaces ('/save "my model.npz"'); a backslash stays as typed.

    Backslashes mean something only in texts, and there through the one rule of
    :func:`rnnplay.core.params.unescape` (docs/escapes.md), so ``/set stop \\n\\n`` reaches it as typed.
    """
    lexer = shlex.shlex(argline, posix=True)
    lexer.whitespace_split, lexer.escape = True, ""
    try:
        return list(lexer)
    except ValueError as err:
        raise RnnplayError(f"cannot read {shown_text(argline)}: {err}; close the quote (a quote itself: \"'\" or "
                           "'\"')") from None


def parse_pairs(words: Iterable[str], allowed: Iterable[str], what: str = "option") -> dict[str, str]:
    """``key=value`` words -> {key: value}; an unknown key names the closest valid ones, and a key given twice
    (``p=0.9 p=0.5``) is refused rather than the last one silently kept.

    The valid keys are listed in the line when they are few; a command with many (``/train``'s) is named with
    ``/help``, which describes each."""
    allowed = list(allowed)
    command = what.split()[0] if what.startswith("/") else None
    many = command is not None and len(allowed) > MAX_LISTED
    valid = f"/help {command[1:]} lists them" if many else f"{what}s: {', '.join(allowed) or 'none'}"
    pairs: dict[str, str] = {}
    for word in words:
        key, eq, value = word.partition("=")
        if not eq:
            raise RnnplayError(f"expected {what}=value, got {word!r}; {valid}")
        if key not in allowed:
            raise RnnplayError(f"unknown {what} {key!r}{did_you_mean(key, allowed)}; {valid}")
        if key in pairs:
            raise RnnplayError(f"{key}= is given twice ({key}={pairs[key]} and {word}): give it once")
        pairs[key] = value
    return pairs


def parse_number(key: str, text: str, kind: type, minimum: float | None = None, maximum: float | None = None) -> Any:
    """``text`` as an int or float within [minimum, maximum], or a one-line error naming the bound it crosses.

    Params declared on the spot: one to read the number (:func:`~rnnplay.core.params.parse_value`), one per bound.
    """
    value = parse_value(key, Param(key, kind, None, ""), text)
    for bound in (Param(key, kind, None, "", min=minimum), Param(key, kind, None, "", max=maximum)):
        bound.check(value)
    return value


# -- completion ---------------------------------------------------------------------
QUOTES = "'\""  # what keeps a word's spaces in it, as :func:`split_args` reads a line


def last_word(text: str) -> str:
    """The word being typed at the end of ``text`` ('' right after a space), from its opening quote when a quote
    keeps its spaces in it: ``'my no`` of ``/train 'my no``."""
    start, quote = 0, ""
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in QUOTES:
            quote = ch
        elif ch.isspace():
            start = i + 1
    return text[start:]


def words_before(argline: str) -> list[str]:
    """The arguments typed before the word being completed (a quoted one with spaces counts as one)."""
    return split_args(argline[: len(argline) - len(last_word(argline))])


def opening_quote(word: str) -> str:
    """The quote ``word`` begins with, or ''."""
    return word[0] if word and word[0] in QUOTES else ""


def unquoted(word: str) -> str:
    """``word`` without the quotes around it (the closing one may not be typed yet)."""
    quote = opening_quote(word)
    return word[1:].removesuffix(quote) if quote else word


def quoted(path: str, quote: str = "") -> str:
    """``path`` as a command reads it as one word: in quotes when it holds a space or a quote, or when its typing began
    with one; a folder's quote left open, so that the files in it complete next."""
    if not quote and not any(ch.isspace() or ch in QUOTES for ch in path):
        return path
    quote = quote or ('"' if "'" in path else "'")
    return quote + path + ("" if path.endswith("/") else quote)


def complete_line(session: SessionAPI, text: str, host: PluginHost | None = None) -> tuple[str, list[str]]:
    """(the word being completed, candidates that replace it) for ``text`` before the cursor.

    Completion looks at the whole line, so '/sa' completes to '/sampler' and
    '/sampler be' to 'beam': the first word is a command, later words are
    whatever that command's ``complete`` offers. It runs at every key typed, so a fault of its own (a bug in
    rnnplay) offers nothing, said once, and the app or the REPL and what was typed stay.
    """
    try:
        return completions(session, text, host)
    except Exception as err:
        if "" not in _said_broken:  # "": completion itself, beside the commands whose completer failed
            _said_broken.add("")
            session.warn(f"Tab completion failed ({one_line(err)}): it offers nothing now; the line you type still "
                         "runs (a bug in rnnplay: please report it)")
        return "", []


def completions(session: SessionAPI, text: str, host: PluginHost | None = None) -> tuple[str, list[str]]:
    """:func:`complete_line` without its guard."""
    if not text.startswith("/"):
        return "", []
    table = command_table(host)
    if " " not in text:
        return text, sorted(f"/{n}" for n in table if f"/{n}".startswith(text))
    name, _ = split_command(text)
    command = table.get(name)
    if getattr(command, "complete", None) is None:
        return last_word(text), []
    argline = text.split(" ", 1)[1].lstrip()
    word = last_word(argline)  # a candidate in quotes replaces it whole: it may not begin as the word was typed
    typed = unquoted(word)
    return word, [c for c in offered(command, session, argline, host) if unquoted(c).startswith(typed) and c != word]


def offered(command: Any, session: SessionAPI, argline: str, host: PluginHost | None = None) -> list[str]:
    """What ``command.complete`` offers for ``argline``. A completer runs at every key typed, so one that raises or
    gives no list of strings (a plugin's bug) must not take the app down: it offers nothing, and says why once."""
    try:
        candidates = list(command.complete(session, argline))
        problem = "" if all(isinstance(c, str) for c in candidates) else "gave something other than strings"
    except Exception as err:
        problem = f"raised {one_line(err)}"
    if not problem:
        return candidates
    if command.name not in _said_broken:
        _said_broken.add(command.name)
        plugin = (host or get_host()).commands.get(command.name)
        session.warn(f"/{command.name}'s completion {problem}; it offers nothing now"
                     f"{f' (a bug in {plugin.plugin}: tell its authors)' if plugin else ''}")
    return []


_said_broken: set[str] = set()  # commands whose completer has failed and said so (once a process)


def complete_pairs(word: str, options: dict[str, Iterable[str]]) -> list[str]:
    """Candidates for a ``key=value`` word: 'key=' for keys, 'key=value' once the key is typed."""
    key, eq, _ = word.partition("=")
    if eq:
        return [f"{key}={v}" for v in options.get(key, ())]
    return [f"{k}=" for k in options]


def complete_path(word: str, suffixes: tuple[str, ...] = ()) -> list[str]:
    """Files and folders starting with ``word`` (folders end in '/'); only ``suffixes`` if given. A name with a space
    or a quote in it comes in quotes, as the commands read it (:func:`quoted`)."""
    quote, path = opening_quote(word), unquoted(word)
    folder, _, stem = path.rpartition("/")
    base = Path(os.path.expanduser(folder or ".")) if folder or not path.startswith("/") else Path("/")
    try:
        entries = sorted(base.iterdir())
    except OSError:
        return []
    prefix = f"{folder}/" if folder or path.startswith("/") else ""
    out = []
    for entry in entries:
        if not entry.name.startswith(stem) or (entry.name.startswith(".") and not stem.startswith(".")):
            continue
        if entry.is_dir():
            out.append(quoted(f"{prefix}{entry.name}/", quote))
        elif not suffixes or entry.name.endswith(suffixes):
            out.append(quoted(f"{prefix}{entry.name}", quote))
    return out
