"""What each hook's objects must be, read from the Protocols that declare them.

A hook ``register_X`` fills the registry ``X`` (``register_cells`` fills ``cells``), and every
object it registers must meet one Protocol: :class:`rnnplay.core.cells.base.Cell`,
:class:`rnnplay.core.sampler.Sampler`, :class:`CorpusLoader` (here) or
:class:`rnnplay.plugins.slash.Command`. A Protocol's annotated attributes and its methods are
what an object must have; an attribute given a value in the Protocol (``Sampler.needs_chars =
False``) is optional, and when an object has it, it must be of the default's type. Nothing is
listed twice: :func:`contracts` reads the Protocols themselves.

Besides the members, :func:`contract_problem` checks what the Protocols cannot say: names are
words (what ``--cell``, ``--sampler`` and ``/commands`` take), ``help`` is one line, a cell's
``state_size`` is an int >= 1, a sampler's ``params`` a dict, a command's aliases names.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import pluggy

from rnnplay.core.cells.base import Cell
from rnnplay.core.errors import RnnplayError, printable
from rnnplay.core.params import Param
from rnnplay.core.sampler import Sampler
from rnnplay.plugins import hookspecs

if TYPE_CHECKING:  # the corpora layer sits above this one: these names are for type checkers only
    from rnnplay.corpora.base import Corpus, Progress

MAX_NAME = 64  # characters in the name of a cell, sampler, loader or command
GENERATE_ARGUMENTS = frozenset(inspect.signature(Sampler.generate).parameters) - {"self", "params"}  # no param's name


class CorpusLoader(Protocol):
    """One corpus spec prefix: ``name`` is the prefix (``dir`` handles ``dir:...``).

    ``load`` receives the text after ``name:``. A loader that reads text in a
    user-chosen encoding also takes an ``encoding`` keyword; ``load_corpus``
    passes ``--encoding`` only to those.
    """

    name: str
    help: str

    def load(self, spec: str, progress: Progress) -> Corpus: ...


def hook_names() -> list[str]:
    """The hooks of :mod:`rnnplay.plugins.hookspecs`, in the order they are written there (and called)."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    return [name for name in vars(hookspecs) if pm.parse_hookspec_opts(hookspecs, name) is not None]


HOOK_KINDS: dict[str, str] = {hook: hook.removeprefix("register_") for hook in hook_names()}  # hook -> its registry


def hook_argument_problem(plugin: object) -> str | None:
    """A hook of ``plugin`` that asks for an argument rnnplay does not pass (pluggy refuses to register the plugin),
    said with the call rnnplay makes; None when each hook asks only for what its hookspec gives."""
    for hook in HOOK_KINDS:
        impl = getattr(plugin, hook, None)
        try:
            params = inspect.signature(impl).parameters.values() if callable(impl) else []
        except (TypeError, ValueError):  # no signature to read (a builtin): pluggy's own words then
            continue
        asked = [p.name for p in params if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY,
                                                                               p.POSITIONAL_OR_KEYWORD)]
        given = list(inspect.signature(getattr(hookspecs, hook)).parameters)
        if extra := [name for name in asked if name not in given]:
            return (f"its {hook} hook asks for {', '.join(extra)}, which rnnplay does not pass (rnnplay calls "
                    f"{hook}({', '.join(given)}): docs/plugins.md, Hook reference); report it to its authors")
    return None


@dataclass(frozen=True)
class Contract:
    """The members one Protocol asks for, in the order it declares them."""

    kind: str  # the registry: "cells"
    protocol: type
    attributes: tuple[str, ...]  # annotated without a value: required
    optional: dict[str, Any]  # annotated with a value: the value is the default
    methods: tuple[str, ...]

    @classmethod
    def of(cls, kind: str, protocol: type) -> Contract:
        annotated = inspect.get_annotations(protocol)
        body = vars(protocol)
        return cls(
            kind=kind,
            protocol=protocol,
            attributes=tuple(a for a in annotated if a not in body),
            optional={a: body[a] for a in annotated if a in body},
            methods=tuple(m for m, v in body.items() if inspect.isfunction(v) and not m.startswith("_")),
        )

    def missing(self, obj: object) -> list[str]:
        """The required members ``obj`` lacks: attributes first, then methods (absent or not callable)."""
        return ([a for a in self.attributes if not hasattr(obj, a)]
                + [m for m in self.methods if not callable(getattr(obj, m, None))])


@functools.cache
def contracts() -> dict[str, Contract]:
    """Each hook's contract, read from its Protocol (on first use)."""
    from rnnplay.plugins.slash import Command  # here, not at the top: commands.py imports the host, which imports us

    protocols: dict[str, type] = {"cells": Cell, "samplers": Sampler, "corpus_loaders": CorpusLoader,
                                  "commands": Command}
    return {hook: Contract.of(kind, protocols[kind]) for hook, kind in HOOK_KINDS.items()}


def is_word(name: object) -> bool:
    """A usable name: 1 to MAX_NAME letters, digits, '-' or '_' (what --cell, --sampler and /commands take)."""
    return isinstance(name, str) and 0 < len(name) <= MAX_NAME and all(c.isalnum() or c in "-_" for c in name)


def is_alias(alias: object) -> bool:
    """Another name for a slash command: 1 to MAX_NAME printable characters, no spaces ('?' is one)."""
    return (isinstance(alias, str) and 0 < len(alias) <= MAX_NAME and alias.isprintable()
            and not any(c.isspace() for c in alias))


def contract_problem(hook: str, obj: Any) -> str | None:
    """Why ``obj`` cannot be registered through ``hook``, or None when it fits."""
    contract = contracts()[hook]
    if isinstance(obj, type):  # its methods would be unbound: every call would fail later, far from here
        return f"{obj.__name__} is a class: register an instance of it, register({obj.__name__}())"
    missing = contract.missing(obj)
    if missing:
        return f"{type(obj).__name__} lacks {', '.join(missing)}"
    name = obj.name
    if not is_word(name):
        return (f"{type(obj).__name__}.name must be a word of 1 to {MAX_NAME} letters, digits, '-' or '_', "
                f"got {printable(repr(name))}")
    for attr, default in contract.optional.items():
        if hasattr(obj, attr) and type(getattr(obj, attr)) is not type(default):
            return f"{name!r}: {attr} must be a {type(default).__name__}, like the default {default!r}"
    check = KIND_CHECKS.get(contract.kind)
    return (check(obj) if check is not None else None) or _calls_problem(contract, obj)


OPTIONAL_CALLS = {  # per kind, what rnnplay calls besides its Protocol's methods when an object has it
    "cells": {"prepare_step": "(params, input_ids)"},
    "commands": {role: "(session, argline)" for role in ("handler", "completer", "complete")},  # SimpleCommand's too
}


def _call_of(method: Callable[..., Any]) -> str:
    """How rnnplay calls a Protocol's method, as a call: '(session, argline)', '(..., rng, **params)'."""
    params = [p for p in inspect.signature(method).parameters.values() if p.name != "self"]
    return "(" + ", ".join(("**" if p.kind is p.VAR_KEYWORD else "") + p.name for p in params) + ")"


def _refuses(fn: Any, call: str) -> str | None:
    """``fn`` as shown ('one(session)') when it cannot take the positional arguments of ``call``, else None.

    rnnplay passes them by position, so their names are the author's; a keyword-only argument without a default is
    left to the call (a sampler's parameters come by keyword)."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # no signature to read (a builtin): left to the call
        return None
    given = len([a for a in call.strip("()").split(", ") if a and not a.startswith("*")])
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    if len(required) <= given and (len(positional) >= given or any(p.kind is p.VAR_POSITIONAL for p in params)):
        return None
    stars = {inspect.Parameter.VAR_POSITIONAL: "*", inspect.Parameter.VAR_KEYWORD: "**"}
    shown = ", ".join(stars.get(p.kind, "") + p.name for p in params)
    return f"{getattr(fn, '__name__', type(fn).__name__)}({shown})"


def _calls_problem(contract: Contract, obj: Any) -> str | None:
    """A method of the Protocol (or one of :data:`OPTIONAL_CALLS`) that ``obj`` has but rnnplay cannot call as it
    calls it, said with both signatures."""
    calls = [(m, getattr(obj, m), _call_of(getattr(contract.protocol, m))) for m in contract.methods]
    calls += [(role, getattr(obj, role), call) for role, call in OPTIONAL_CALLS.get(contract.kind, {}).items()
              if callable(getattr(obj, role, None))]
    for role, fn, call in calls:
        shown = _refuses(fn, call)
        if shown is not None:
            kind = contract.kind[:-1].replace("_", " ")  # 'corpus loader' (registries.label, which imports us)
            its = shown if shown.startswith(f"{role}(") else f"{role} {shown}"  # run(argline), handler one(session)
            return (f"{kind} {obj.name!r}: its {its} cannot be called as rnnplay calls it, {role}{call}; make it "
                    "take those arguments (docs/plugins.md, Contracts)")
    return None


def _cell_problem(cell: Any) -> str | None:
    if not (isinstance(cell.state_size, int) and cell.state_size >= 1):
        return f"cell {cell.name!r}: state_size must be an int >= 1"
    return None


def _help_problem(obj: Any) -> str | None:
    if not (isinstance(obj.help, str) and len(obj.help.splitlines()) <= 1):
        return f"{obj.name!r}: help must be a one-line string"
    return None


def _sampler_problem(sampler: Any) -> str | None:
    if not (isinstance(sampler.params, dict)
            and all(isinstance(k, str) and isinstance(p, Param) for k, p in sampler.params.items())):
        return f"sampler {sampler.name!r}: params must be a dict of Param"
    taken = sorted(set(sampler.params) & GENERATE_ARGUMENTS)
    if taken:
        return (f"sampler {sampler.name!r}: a parameter may not be named {taken[0]!r}, which generate() already "
                "takes as an argument; give it another name")
    for key, param in sampler.params.items():
        if param.name != key:  # /set and --set look a key up; /help and Param's errors say the Param's name
            return (f"sampler {sampler.name!r}: params[{key!r}] is a Param named {param.name!r}, which /help and its "
                    f"errors would show, where /set and --set take {key!r}; name both the same")
        try:
            param.check(param.default)
        except RnnplayError as err:
            return f"sampler {sampler.name!r}: the default of {key} is outside its own bounds ({err})"
    return None


def _command_problem(command: Any) -> str | None:
    if not (isinstance(command.usage, str) and command.usage.isprintable()):
        return f"command {command.name!r}: usage must be a one-line string, like '/{command.name} ARG'"
    if not (isinstance(command.aliases, tuple | list) and all(is_alias(a) for a in command.aliases)):
        return f"command {command.name!r}: aliases must be a tuple of names (no spaces, like 'q' or '?')"
    upper = next((n for n in [command.name, *command.aliases] if n != n.lower()), None)
    if upper is not None:  # a typed command is read in lower case: /MyCmd would be /mycmd, which is not there
        return f"command {command.name!r}: /{upper} has capitals, and commands are typed in lower case: " \
               f"/{upper.lower()}"
    return None


def _first(*checks: Callable[[Any], str | None]) -> Callable[[Any], str | None]:
    """A check that runs ``checks`` in order and answers with the first problem found."""
    return lambda obj: next((p for p in (check(obj) for check in checks) if p is not None), None)


KIND_CHECKS: dict[str, Callable[[Any], str | None]] = {  # per kind, what its Protocol cannot say
    "cells": _cell_problem,
    "samplers": _first(_help_problem, _sampler_problem),
    "corpus_loaders": _help_problem,
    "commands": _first(_help_problem, _command_problem),
}
