"""Declared parameters: the one way a value a user gives is typed, bounded, parsed, checked and explained.

A :class:`Param` declares one value: its type, default, bounds (or choices), a one-line
help, and, for settings, the words its errors use and the other names it answers to.
Sampler parameters, training settings, slash-command arguments and ``rnnplay train``'s
flags are all declared this way, so each is parsed, checked and described by the same code.

Three uses::

    # a sampler's parameters (rnnplay.core.sampler, rnnplay.builtin.samplers)
    params = {"k": Param("k", int, 10, "how many of the most likely characters to keep", min=1)}

    # a dataclass's fields (rnnplay.core.train_config): the field's type is the Param's
    @dataclass
    class TrainConfig:
        lr: float = setting(4e-3, "peak learning rate", min=0, min_open=True, label="learning rate")

        def __post_init__(self) -> None:
            check_fields(self)                      # every field through its Param: one validator

    # text a user typed: `/train lr=0.01 batch=16`, or a CLI flag's value
    values = parse_pairs(params_of(TrainConfig), {"lr": "0.01", "batch": "16"})  # {"lr": 0.01, "batch_size": 16}
    config = TrainConfig(**values)                  # the fields not given keep the dataclass's defaults

Errors are one line naming the value and what it may be. A Param without a ``label`` (a
sampler's) words a bound as ``temperature must be in (0, 100] (got 0)``; one with a label (a
setting's) names the label and the kind, as ``batch size must be a whole number >= 1 (got 0)``.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import numbers
import os
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rnnplay.core.errors import RnnplayError

TRUE, FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")
NONE = ("none", "off")  # what an optional setting takes to mean "not set"
ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\"}
# The escapes as help texts name them: "\n, \t, \r and \\".
ESCAPES_SAID = ", ".join(f"\\{k}" for k in list(ESCAPES)[:-1]) + f" and \\{list(ESCAPES)[-1]}"
ESCAPE = re.compile(r"\\([ntr\\])")  # left to right: backslash, backslash, n is '\\' then 'n'
NOT_UTF8 = re.compile("[\\udc80-\\udcff]")  # how Python keeps command-line bytes that are not UTF-8
KINDS = {int: "a whole number", float: "a finite number", str: "a text", bool: "true or false"}


@dataclass(frozen=True)
class Param:
    """One parameter: its type, default, bounds and a one-line help.

    Bounds are ``min``/``max`` (inclusive unless ``min_open``/``max_open``) for
    numbers, or ``choices`` for strings. ``optional``: None is a value too (a
    budget not given). ``label``: the words errors use ('learning rate'), which also
    switches them to the settings' wording (module docstring). ``aliases``: other
    keys that reach it in ``key=value`` text (``batch`` for ``batch_size``). ``hint``: what
    to do instead, added to a refusal of a value out of bounds; with ``instead`` (a sampler's name) the hint's
    ``{sampler}`` names that sampler as each front end chooses it (:class:`ChooseSampler`).
    """

    name: str
    type: type  # int, float, str or bool
    default: Any
    help: str
    min: float | None = None
    max: float | None = None
    min_open: bool = False
    max_open: bool = False
    choices: tuple[str, ...] | None = None
    optional: bool = False
    label: str = ""
    aliases: tuple[str, ...] = ()
    hint: str = ""
    instead: str = ""  # the sampler the hint's {sampler} stands for ('greedy' for a temperature of 0)
    time: bool = False  # a float of seconds, typed with a unit too: 90, 90s, 10m, 1.5h (:func:`parse_seconds`)

    def bounds(self) -> str:
        """The allowed values in words: '> 0', 'in (0, 1]', '>= 1', "one of 'a', 'b'", or ''."""
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        lo, hi = self.min, self.max
        if lo is not None and hi is not None:
            return f"in {'(' if self.min_open else '['}{number(lo)}, {number(hi)}{')' if self.max_open else ']'}"
        if lo is not None:
            return f"{'>' if self.min_open else '>='} {number(lo)}"
        if hi is not None:
            return f"{'<' if self.max_open else '<='} {number(hi)}"
        return ""

    def describe(self) -> str:
        """'temperature (float in (0, 100], default 0.7): help', for help screens; a setting that is unset by
        default ('steps (int >= 1, unset by default): help') does not show Python's None."""
        kind = " ".join(filter(None, [self.type.__name__, self.bounds()]))
        default = "unset by default" if self.default is None else f"default {self.default!r}"
        return f"{self.name} ({kind}, {default}): {self.help}"

    def parse(self, text: str) -> Any:
        """Convert a user's string ('0.7', 'yes', 'a\\n') and check it."""
        return parse_value(self.name, self, text)

    def check(self, value: Any) -> Any:
        """``value`` if it fits the type and bounds (an int or numpy number made a float where one is due),
        else a one-line error naming the bound."""
        if value is None and self.optional:
            return None
        # numpy registers its integers as numbers.Integral and its floats as numbers.Real (this module does not
        # import numpy for the check: the commands that parse settings without arrays need it nowhere else)
        if self.type is float and isinstance(value, numbers.Real) and not isinstance(value, bool):
            value = float(value)
        elif self.type is int and isinstance(value, numbers.Integral) and not isinstance(value, bool):
            value = int(value)
        if not isinstance(value, self.type) or (self.type is not bool and isinstance(value, bool)):
            raise self._error(value, f"of type {self.type.__name__}", bounded=False)
        if self.choices is not None and value not in self.choices:
            raise self._error(value)
        if self.type is float and not math.isfinite(value):  # NaN passes every comparison, inf a lower bound
            raise self._error(value, "a finite number")
        if self.type in (int, float):
            lo, hi = self.min, self.max
            below = lo is not None and (value <= lo if self.min_open else value < lo)
            above = hi is not None and (value >= hi if self.max_open else value > hi)
            if below or above:
                error = self._error(value)
                if self.instead:
                    raise ChooseSampler(str(error), self.hint, self.instead)
                raise RnnplayError(f"{error}; {self.hint}") if self.hint else error
        return value

    def _error(self, value: Any, kind: str = "", bounded: bool = True) -> RnnplayError:
        """The one-line refusal of ``value`` (``kind``: what it is not, when that is the problem)."""
        if self.label and self.choices is not None:
            return RnnplayError(f"unknown {self.label} {value!r}: choose one of {', '.join(self.choices)}")
        if self.label:
            bounds = " ".join(filter(None, [KINDS.get(self.type, self.type.__name__), self.bounds()]))
            return RnnplayError(f"{self.label} must be {bounds} (got {shown_value(value)})")
        shown = shown_value(value)
        rule = " ".join(filter(None, [kind, self.bounds() if bounded else ""]))
        return RnnplayError(f"{self.name} must be {rule} (got {shown})")


class ChooseSampler(RnnplayError):
    """A value refused with a hint to choose another sampler (:attr:`Param.instead`). Core knows no front end, so
    ``str()`` names it in plain words ("choose the greedy sampler"); each front end says what to type there
    (:func:`worded`: ``type /sampler greedy`` in the app and the REPL, ``use --sampler greedy`` on the command
    line)."""

    def __init__(self, refusal: str, hint: str, sampler: str) -> None:
        self.refusal, self.hint, self.sampler = refusal, hint, sampler
        super().__init__(self.worded("choose the {} sampler"))

    def __reduce__(self) -> tuple[Any, ...]:  # pickled (a Ray worker's error) with the parts it was made of
        return type(self), (self.refusal, self.hint, self.sampler)

    def worded(self, choose: str) -> str:
        """The line, with ``choose`` ('type /sampler {}': the sampler's name goes in the braces) for the hint's
        ``{sampler}``."""
        return f"{self.refusal}; {self.hint.format(sampler=choose.format(self.sampler))}"


def worded(err: RnnplayError, choose: str) -> str:
    """``str(err)``, with a sampler it suggests named as ``choose`` ('use --sampler {}') says, if it suggests one."""
    return err.worded(choose) if isinstance(err, ChooseSampler) else str(err)


def shown_value(value: Any) -> str:
    """A refused value in its error: a number as typed ('0', not '0.0'), else its repr; cut to 40 characters."""
    text = number(value) if isinstance(value, int | float) and not isinstance(value, bool) else repr(value)
    return text if len(text) <= 40 else text[:40] + "…"


def number(x: float) -> str:
    """A bound or value as typed: an int whole ('9223372036854775807'), a float short ('0.004', 'nan')."""
    return str(x) if isinstance(x, int) else f"{x:g}"


def parse_value(name: str, param: Param, text: str) -> Any:
    """``text`` (as typed for the key ``name``) converted to ``param``'s type and checked against its bounds.

    A text that is not of the type names ``name`` ("batch must be an integer (got 'x')"); a value
    out of bounds is refused by :meth:`Param.check`. An optional setting takes 'none' or 'off' for None.
    """
    if param.optional and text.strip().lower() in NONE:
        return None
    text = text.strip() if param.type is not str else text
    if param.time:
        return param.check(parse_seconds(name, text))
    if param.type is bool:
        if text.lower() not in TRUE + FALSE:
            raise RnnplayError(f"{name} must be true or false (got {text!r})")
        return text.lower() in TRUE
    if param.type is str:
        return param.check(unescape(text))
    try:
        value = param.type(text)
    except ValueError:
        if param.type is int and INTEGER.fullmatch(text):  # past Python's 4,300-digit limit on int()
            digits = sum(c.isdigit() for c in text)
            size = "small" if text.startswith("-") else "large"
            rule = f": {name} must be {param.bounds()}" if param.bounds() else ""
            raise RnnplayError(f"{name} is too {size} ({digits:,} digits){rule}") from None
        article = "an integer" if param.type is int else "a number"
        raise RnnplayError(f"{name} must be {article} (got {shown_text(text)})") from None
    return param.check(value)


INTEGER = re.compile(r"[+-]?\d+(_\d+)*")  # what int() reads, given digits enough
DURATION = re.compile(r"(\d+\.?\d*|\.\d+)(e[+-]?\d+)?\s*([smh])", re.IGNORECASE)  # '90s', '10m', '1.5h'
SECONDS_IN = {"s": 1, "m": 60, "h": 3600}
TIME_FORMS = "seconds (90 or 90s), minutes (10m) or hours (1.5h)"


def parse_seconds(name: str, text: str) -> float:
    """A time typed for the key ``name`` in seconds: '90' (any number, checked against the bounds afterwards),
    '90s', '10m' or '1.5h'; anything else (a unit after no number, a sign or a non-finite number, an unknown
    unit) is one line naming the forms."""
    text = text.strip()
    match = DURATION.fullmatch(text)
    try:
        if match is None:
            return float(text)  # a plain number: 'nan', '-5' are refused by the Param's bounds, as for any number
        value = float(match[1] + (match[2] or "")) * SECONDS_IN[match[3].lower()]
    except ValueError:
        value = math.inf
    if not math.isfinite(value):
        raise RnnplayError(f"{name} takes {TIME_FORMS} (got {shown_text(text)})")
    return value


def shown_text(text: str, limit: int = 40) -> str:
    """``text``'s repr, cut after ``limit`` characters (a value typed thousands of characters long)."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + "…"


def parse_pairs(params: Mapping[str, Param], pairs: Mapping[str, str], what: str = "setting") -> dict[str, Any]:
    """``{key: text}`` (keys as typed, aliases too) -> ``{field name: value}``, each parsed by its Param.

    An unknown key is one line naming the closest keys and every valid one; a key given
    twice under two names ('batch' and 'batch_size') is refused.
    """
    keys = keys_of(params)
    values: dict[str, Any] = {}
    given: dict[str, str] = {}
    for key, text in pairs.items():
        if key not in keys:
            valid = ", ".join(sorted(keys)) or "none"
            raise RnnplayError(f"unknown {what} {key!r}{did_you_mean(key, list(keys))}; {what}s: {valid}")
        name = keys[key]
        if name in given:
            raise RnnplayError(f"{given[name]} and {key} are the same {what}: give it once")
        given[name] = key
        values[name] = parse_value(key, params[name], text)
    return values


def keys_of(params: Mapping[str, Param]) -> dict[str, str]:
    """Every key a ``key=value`` word may use for ``params`` (names and aliases) -> the name it stands for."""
    return {key: name for name, p in params.items() for key in (name, *p.aliases)}


def did_you_mean(name: str, choices: list[str]) -> str:
    """' (did you mean 'x'?)' for the closest one or two of ``choices``, or ''."""
    close = difflib.get_close_matches(name, choices, n=2, cutoff=0.5)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""


# -- dataclass fields declared with a Param ------------------------------------------------
def setting(default: Any, help: str, **declared: Any) -> Any:
    """A dataclass field with a default and the rest of its Param (bounds, label, aliases) in its metadata."""
    return dataclasses.field(default=default, metadata={"param": (help, declared)})


@functools.cache
def params_of(cls: type) -> dict[str, Param]:
    """The Param of every field of the dataclass ``cls`` declared with :func:`setting`, in field order.

    Each Param's type is the field's (``int | None`` makes an optional int).
    """
    hints = typing.get_type_hints(cls)
    out = {}
    for f in dataclasses.fields(cls):
        if "param" in f.metadata:
            help_, declared = f.metadata["param"]
            kind, optional = _base_type(hints[f.name])
            out[f.name] = Param(f.name, kind, f.default, help_, optional=optional, **declared)
    return out


def _base_type(hint: Any) -> tuple[type, bool]:
    """``int | None`` -> (int, True); ``float`` -> (float, False)."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0], len(args) < len(typing.get_args(hint))
    return hint, False


def check_fields(obj: Any) -> None:
    """Every declared field of the dataclass instance ``obj`` checked by its Param (and made its type)."""
    for name, param in params_of(type(obj)).items():
        setattr(obj, name, param.check(getattr(obj, name)))


def utf8_argument(text: str) -> str:
    """A command-line argument whose bytes are UTF-8, decoded as such where the locale said otherwise (``LC_ALL=C``
    with ``PYTHONUTF8=0`` decodes argv as ASCII, keeping every other byte as a lone surrogate); else as it is."""
    try:
        return os.fsencode(text).decode("utf-8")
    except (UnicodeError, ValueError):
        return text


def unescape(text: str) -> str:
    r"""The one escaping rule for text a user types (docs/escapes.md): '\n', '\t', '\r', '\\' become the
    characters they name; any other backslash stays as it is.

    Seeds typed at a prompt or given with ``--seed``, ``--text``, ``--stop``, ``/set stop``, ``/whatif`` and
    string parameters all go through it; text read from a file or stdin does not. Bytes that were not UTF-8 on
    the command line (Python keeps them as lone surrogates) are refused here, in one line.
    """
    if NOT_UTF8.search(text):
        text = utf8_argument(text)
    if NOT_UTF8.search(text):
        raise RnnplayError(f"{text.encode('utf-8', 'surrogateescape')[:60]!r} is not UTF-8 text; type it in UTF-8 "
                           "(check your terminal's encoding), or put it in a file")
    return ESCAPE.sub(lambda m: ESCAPES[m[1]], text)
