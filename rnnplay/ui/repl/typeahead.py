"""Keys typed during a turn on a terminal that is not the REPL's controlling terminal (``setsid -w rnnplay repl``).

There the terminal's Ctrl+C reaches no one the REPL knows: the kernel sends SIGINT to the
terminal's own foreground job (the shell's, or ``setsid``'s waiting parent, which it ends,
and the shell then reads the same terminal as the REPL). So while a turn streams, such a
terminal's signal keys and line editing are off (:func:`rnnplay.ui.repl.terminal.keys_not_echoed`
with ``own_keys``) and the REPL reads the keys itself: Ctrl+C stops the turn, as the signal
does on a controlling terminal, and every other key is handed to the next prompt, as the
terminal's own type-ahead would be.
"""

from __future__ import annotations

import codecs
import os
import select
import threading

from prompt_toolkit.input import Input
from prompt_toolkit.input.typeahead import store_typeahead
from prompt_toolkit.input.vt100_parser import Vt100Parser
from prompt_toolkit.key_binding import KeyPress

CTRL_C = "\x03"


def controls(fd: int | None) -> bool:
    """Whether ``fd`` is this process's controlling terminal (or no terminal at all: nothing to do then)."""
    if fd is None:
        return True
    try:
        if not os.isatty(fd):
            return True
        os.tcgetpgrp(fd)  # ENOTTY: a terminal, but not this process's controlling one
    except OSError:
        return False
    return True


class TurnKeys:
    """During one turn: the keys of a terminal the REPL does not control, read by the REPL itself."""

    def __init__(self, fd: int | None, keep_for: Input | None) -> None:
        self.fd = None if controls(fd) else fd
        self.keep_for = keep_for
        self.decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")  # as prompt-toolkit reads them
        self.pressed: list[KeyPress] = []
        self.parser = Vt100Parser(self.pressed.append)

    @property
    def own(self) -> bool:
        """Whether the REPL reads this turn's keys itself (the terminal's signal keys are then off)."""
        return self.fd is not None

    def wait(self, done: threading.Event, ctrl_c: object, timeout: float = 0.1) -> bool:
        """Wait up to ``timeout`` for the turn to be ``done``; meanwhile keys typed are read, and Ctrl+C among them
        calls ``ctrl_c()``. True once the turn is done."""
        if self.fd is None:
            return done.wait(timeout)
        try:
            ready, _, _ = select.select([self.fd], [], [], timeout)
            data = os.read(self.fd, 4096) if ready else None
        except (OSError, ValueError):  # the terminal gone: the turn goes on, and the prompt after it finds out
            data = b""
        if data == b"":
            self.fd = None
        elif data:
            text = self.decoder.decode(data)
            for _ in range(text.count(CTRL_C)):
                ctrl_c()  # type: ignore[operator]
            self.parser.feed(text.replace(CTRL_C, ""))
        return done.is_set()

    def keep(self) -> None:
        """Hand the keys read during the turn to the next prompt."""
        self.parser.flush()
        if self.pressed and self.keep_for is not None:
            store_typeahead(self.keep_for, self.pressed)
        self.pressed = []
