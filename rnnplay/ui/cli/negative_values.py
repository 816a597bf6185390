"""Values that begin with a minus sign read as values, not as flags: ``--unit -1:0``, ``--lr -1e-3``, ``--time -1m``.

argparse takes a word beginning with ``-`` for a flag unless it is a plain negative number (``-1``, ``-0.5``), so
those three ended in its "expected one argument", where ``--rng-seed -1`` reached the command's own check and its
line saying what is wrong and what to do. No rnnplay flag begins with a digit, so a minus sign then a digit (or a
point and a digit) is a value.
"""

from __future__ import annotations

import argparse
import re

NEGATIVE_VALUE = re.compile(r"^-\.?\d")


def take_negative_values(parser: argparse.ArgumentParser) -> None:
    """Let ``parser``'s flags take values such as ``-1:0`` and ``-1e-3`` (argparse's own test for a negative number,
    the attribute its parsing reads, widened)."""
    parser._negative_number_matcher = NEGATIVE_VALUE  # type: ignore[attr-defined]
