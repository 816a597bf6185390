"""The text of two multi-line messages the session still sends beside their structured events.

/score sends :class:`~rnnplay.session.events.ScoreShown` and /neurons find sends
:class:`~rnnplay.session.events.UnitsFound`; until every front end renders those two,
the session also says the same as one info message of several lines, built here, so
nothing disappears from a screen meanwhile. Once they do, this module and its two
calls go, and each command's info message is its first line alone.
"""

from __future__ import annotations

from rnnplay.builtin.inspect_commands import unit_command
from rnnplay.core.vocab import describe_char
from rnnplay.session.events import ScoreShown, UnitsFound


def score_message(summary: str, shown: ScoreShown) -> str:
    """The summary, then each least expected character with what the model expected instead."""
    lines = [f"{summary}; least expected:"]
    lines += [f"  {describe_char(s.char)} after {s.before!r}: p={s.prob:.3f} "
              f"(expected {describe_char(s.expected)}, p={s.expected_prob:.2f})" for s in shown.surprises]
    return "\n".join(lines)


def units_message(header: str, found: UnitsFound) -> str:
    """The header, then one row per unit: its r, its name and the command that shows it."""
    rows = [f"  r={r:+.3f}  {u}   {unit_command(u)}" for u, r in found.units]
    return "\n".join([f"{header}:", *rows])
