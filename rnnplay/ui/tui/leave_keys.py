"""Ctrl+Q and Ctrl+D, pressed by reflex, do not throw away a turn under way or a typed input at the first press.

A terminal user presses Ctrl+S and Ctrl+Q for flow control without thinking, and Ctrl+D ends many programs.
Either left the app at once, a turn in the middle of its text and the input's typed text with it. Now, while
a turn is under way (its seed still being read, or its text streaming) or the input holds text, the first press
says in one line what leaving loses and that the same key again leaves; any other key in between starts over.
A seed still being read (on a first run, while the kernels compile: seconds before the first character) is a
turn under way: a first Ctrl+D there had left at once. With nothing to lose it leaves at once, as before; `/quit`,
the palette's Quit, SIGTERM and SIGHUP leave as they did (a training saves its checkpoint).
"""

from __future__ import annotations

KEY_NAMES = {"ctrl+q": "Ctrl+Q", "ctrl+d": "Ctrl+D"}
# what leaving does to the turn under way (the seed being read is kept, in the recovery file the farewell names)
TURN_LOSS = {"reading": "stops the turn whose seed is being read (the seed is kept)",
             "writing": "ends the turn being written where it is"}


class LeaveKeys:
    """Which leaving key has been pressed once, its warning shown; the next press of it leaves."""

    def __init__(self) -> None:
        self.warned: str | None = None  # the key whose first press said what leaving loses

    def first_press(self, key: str, turn: str | None, typed: str) -> str | None:
        """The line to show instead of leaving at ``key``, or None to leave now. ``turn``: the turn under way,
        "reading" its seed or "writing" its text (None: none, or one that does not stop); ``typed``: the input's
        text."""
        parts = (TURN_LOSS.get(turn or "", ""), f"drops the {len(typed):,} characters typed in the input" * bool(typed))
        lost = [part for part in parts if part]
        if not lost or self.warned == key:  # pressed again: leave (a model kept back once still stays once)
            return None
        self.warned = key
        name = KEY_NAMES.get(key, key)
        return f"{name}: leaving {' and '.join(lost)}; {name} again leaves"

    def other_key(self, key: str) -> None:
        """A key other than the one warned about: its next press warns again."""
        if key != self.warned:
            self.warned = None
