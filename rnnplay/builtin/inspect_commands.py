"""The slash commands that look inside the model: /heat, /neurons and /whatif (docs/inspect.md).

Each parses its argument line and calls one method of the session's ``inspection``
(heat, neurons, find_neurons, whatif), which emits what the front ends draw. Texts are taken
as typed, quotes and all (an inside-quotes search needs its quotes), so they
come last on the line.
"""

from __future__ import annotations

from rnnplay.core.errors import RnnplayError
from rnnplay.core.neurons import CONDITIONS, Unit
from rnnplay.core.params import unescape
from rnnplay.plugins.hookspecs import Register, hookimpl
from rnnplay.plugins.session_api import SessionAPI
from rnnplay.plugins.slash import SimpleCommand, last_word, parse_number, split_args

NEURONS_USAGE = ("usage: /neurons [LAYER UNIT] [state=c] [TEXT], e.g. /neurons 0 5, "
                 "or /neurons find CONDITION [TEXT], e.g. /neurons find inside-quotes")
WHATIF_USAGE = ("usage: /whatif POS CHAR [turn=N], e.g. /whatif 12 e (POS as /heat shows it; "
                "\\n is a newline, ' ' a space)")


WHATIF_DETAILS = """\
POS counts the continuation's characters from 0, seed left out: after the seed 'ROMEO:' wrote
' I will go', position 0 is the space, 1 is 'I', 3 is 'w' (in the app, /heat names the position
under its cursor).
/whatif 3 s continues 'ROMEO: I s' instead, as a new turn; the original turn stays.
CHAR is one character: \\n a newline, \\t a tab, ' ' (quoted) a space.
turn=N branches from turn N instead of the last (turns count from 1: /heat turn=N shows one)."""


def _turn(word: str) -> int | None:
    """N from 'turn=N', None for any other word."""
    return parse_number("turn", word[len("turn="):], int, 1) if word.startswith("turn=") else None


# -- /heat ----------------------------------------------------------------------------------
def heat(session: SessionAPI, argline: str) -> None:
    turn = _turn(argline) if " " not in argline else None
    if turn is not None:
        session.inspection.heat(turn=turn)
    else:
        session.inspection.heat(unescape(argline) if argline else None)


# -- /neurons ---------------------------------------------------------------------------------
def parse_unit(argline: str, current: Unit, layers: int) -> tuple[Unit | None, str | None]:
    """'0 5 state=c He said "no"' -> (Unit(0, 5, 'c'), 'He said "no"'); no numbers: the current unit.

    One number names a unit of a one-layer model. The text is the rest of the line, as typed.
    """
    numbers: list[int] = []
    which: str | None = None
    rest = argline
    while rest:
        word, _, tail = rest.partition(" ")
        if is_integer(word) and len(numbers) < 2 and which is None:  # -1 too: check_unit says what is wrong
            numbers.append(int(word))
        elif word in ("state=h", "state=c") and which is None:
            which = word[-1]
        elif word.startswith("state=") and which is None:  # not read as the text: that was a typo
            raise RnnplayError(f"state= is h (the hidden output) or c (an LSTM's cell state), not "
                               f"{word[len('state='):]!r}; {NEURONS_USAGE}")
        else:
            break
        rest = tail.lstrip()
    text = rest or None
    if not numbers:
        return (None if which is None else Unit(current.layer, current.unit, which)), text
    if len(numbers) == 1:
        if layers != 1:
            raise RnnplayError(f"this model has {layers} layers: give LAYER and UNIT, e.g. /neurons 0 {numbers[0]}")
        numbers.insert(0, 0)
    return Unit(numbers[0], numbers[1], which or "h"), text


def is_integer(word: str) -> bool:
    """'5' and '-1' (a unit out of range, said so, not read as the text to colour)."""
    return word.removeprefix("-").isdigit()


def unit_command(unit: Unit) -> str:
    """The command that shows ``unit``: '/neurons 0 5', '/neurons 0 5 state=c' (what :func:`parse_unit` reads)."""
    return f"/neurons {unit.layer} {unit.unit}" + (" state=c" if unit.which == "c" else "")


def neurons(session: SessionAPI, argline: str) -> None:
    first, _, rest = argline.partition(" ")
    if first == "find":
        condition, _, text = rest.strip().partition(" ")
        if not condition:
            raise RnnplayError(f"name a condition: /neurons find {'|'.join(CONDITIONS)}|regex:PATTERN [TEXT]")
        session.inspection.find_neurons(condition, unescape(text.strip()) or None)
        return
    layers = session.model.num_layers if session.model is not None else 1
    unit, text = parse_unit(argline, session.inspection.unit, layers)
    session.inspection.neurons(unit, None if text is None else unescape(text))


def complete_neurons(session: SessionAPI, argline: str) -> list[str]:
    words = argline.split()
    if not words or (len(words) == 1 and not argline.endswith(" ")):
        return ["find"]
    if words[0] == "find" and (len(words) == 1 or (len(words) == 2 and not argline.endswith(" "))):
        return [*CONDITIONS, "regex:"]
    numbers = [w for w in words if is_integer(w)]
    return ["state=c", "state=h"] if len(numbers) == 2 and last_word(argline) in ("", "s", "st") else []


# -- /whatif ---------------------------------------------------------------------------------------
def whatif(session: SessionAPI, argline: str) -> None:
    words = split_args(argline)
    turn = _turn(words[-1]) if words else None
    if turn is not None:
        words.pop()
    if len(words) != 2:
        raise RnnplayError(WHATIF_USAGE)
    pos = parse_number("POS", words[0], int, 0)
    session.inspection.whatif(pos, unescape(words[1]), turn)


def complete_whatif(session: SessionAPI, argline: str) -> list[str]:
    return ["turn="] if len(argline.split()) == 2 and argline.endswith(" ") else []


COMMANDS = [
    SimpleCommand("heat", "colour the last continuation (or TEXT) by how likely the model found each character",
                  "/heat [TEXT]", heat),
    SimpleCommand("neurons", "colour the text by one hidden unit, or find units that track a condition",
                  "/neurons [LAYER UNIT] [TEXT] · /neurons find CONDITION [TEXT]", neurons, (), complete_neurons),
    SimpleCommand("whatif", "branch: continue from position POS of the last turn with CHAR instead",
                  "/whatif POS CHAR [turn=N]", whatif, (), complete_whatif, WHATIF_DETAILS),
]


@hookimpl
def register_commands(register: Register) -> None:
    for command in COMMANDS:
        register(command)
