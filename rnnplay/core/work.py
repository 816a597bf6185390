"""Long work on a text (scoring it, reading a model's states over it) that reports how far it has got and stops
when asked.

``progress(fraction)`` is told the fraction done, 0..1; ``cancel()`` is asked between steps, and True
ends the work with :class:`Cancelled`, whose message says how far it got.
"""

from __future__ import annotations

from collections.abc import Callable

from rnnplay.core.errors import RnnplayError

Progress = Callable[[float], None]
Cancel = Callable[[], bool]
LONG_TEXT = 5_120  # characters from which front ends show reading or scoring a text as work (a bar, Esc to stop)


class Cancelled(RnnplayError):
    """Long work (a reading, a scoring, a download in the session) was stopped because the user asked."""
