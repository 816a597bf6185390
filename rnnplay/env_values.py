"""Settings read from rnnplay's environment variables (``$RNNPLAY_STOP_GRACE_SECONDS`` and the like): a value
that is no such setting is one line saying what to give instead.

Its own layer just above the core (it raises the core's :class:`RnnplayError`), so that every layer above may read
a setting without importing another's module for it.
"""

from __future__ import annotations

import os

from rnnplay.core.errors import RnnplayError


def seconds_from_env(name: str, default: float) -> float:
    """A positive number of seconds from $name, or ``default`` when unset."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise RnnplayError(f"{name}={raw} is not a number of seconds; give one such as {name}={default:g}, or unset it")
    return value
