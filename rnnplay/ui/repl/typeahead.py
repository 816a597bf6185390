"""Keys typed during a turn on a terminal that is not the REPL's controlling terminal (``setsid -w rnnplay repl``).

There the terminal's Ctrl+C reaches no one the REPL knows: the kernel sends SIGINT to the
terminal's own foreground job (the shell's, or ``setsid``'s waiting parent, which it ends,
and the shell then reads the same terminal as the REPL). So while a turn streams, such a
terminal's signal keys and line editing are off (:func:`rnnplay.ui.repl.terminal.keys_not_echoed`
with ``own_keys``) and the REPL reads the keys itself: Ctrl+C stops the turn, as the signal
does on a controlling terminal, and every other key is handed to the next prompt, as the
terminal's own type-ahead would be. On a terminal the REPL controls, the keys the terminal holds for the prompt
are taken off it as Ctrl+Z stops the REPL (:meth:`TurnKeys.take`), or the shell would read them as its commands.
"""

from __future__ import annotations

import codecs
import os
import select
import threading
from collections.abc import Callable

from prompt_toolkit.input import Input
from prompt_toolkit.input.typeahead import store_typeahead
from prompt_toolkit.input.vt100_parser import Vt100Parser
from prompt_toolkit.key_binding import KeyPress

from rnnplay.env_values import seconds_from_env

CTRL_C = "\x03"
PASTE_END_MARK = "\x1b[201~"  # bracketed paste's end
PASTE_END = 3.0  # seconds of silence after which a paste left open (its end mark never came) is ended


def paste_end_seconds() -> float:
    """PASTE_END, or ``$RNNPLAY_PASTE_END_SECONDS``; one line for a value that is no number of seconds."""
    return seconds_from_env("RNNPLAY_PASTE_END_SECONDS", PASTE_END)


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
        self.taken: list[bytes] = []
        self.parser = Vt100Parser(self.pressed.append)

    @property
    def own(self) -> bool:
        """Whether the REPL reads this turn's keys itself (the terminal's signal keys are then off)."""
        return self.fd is not None

    def wait(self, done: threading.Event, ctrl_c: Callable[[], object], timeout: float = 0.1) -> bool:
        """Wait up to ``timeout`` for the turn to be ``done``; meanwhile keys typed are read, and Ctrl+C among them
        calls ``ctrl_c()``. True once the turn is done."""
        if self.fd is None:
            return done.wait(timeout)
        self.read(ctrl_c, timeout)
        return done.is_set()

    def read(self, ctrl_c: Callable[[], object], timeout: float) -> bool:
        """Read the keys that come within ``timeout``; False when none came (or the terminal is gone)."""
        if self.fd is None:
            return False
        try:
            ready, _, _ = select.select([self.fd], [], [], timeout)
            data = os.read(self.fd, 4096) if ready else None
        except (OSError, ValueError):  # the terminal gone: the turn goes on, and the prompt after it finds out
            data = b""
        if data == b"":
            self.fd = None
        elif data:
            first, *rest = self.decoder.decode(data).split(CTRL_C)
            self.parser.feed(first)
            for text in rest:  # a Ctrl+C key stops the turn; one inside a paste is a character of it
                if self.pasting:
                    self.parser.feed(CTRL_C)
                else:
                    ctrl_c()
                self.parser.feed(text)
        return bool(data)

    def take(self, typed: bytes) -> None:
        """Keys the terminal held for the prompt, taken off it as the REPL stops (Ctrl+Z), for :meth:`keep` to hand
        on. Called in a signal handler, so it only stores them: parsing here could re-enter the parser's own feed."""
        self.taken.append(typed)

    @property
    def pasting(self) -> bool:
        """Whether a paste has begun (bracketed paste's start mark read) and not yet ended."""
        return bool(getattr(self.parser, "_in_bracketed_paste", False))

    def keep(self, paste_end: float = PASTE_END) -> None:
        """Hand the keys read during the turn to the next prompt; a paste the turn ended in the middle of is read to
        its end first (for at most ``paste_end`` seconds of silence), or the prompt would read its rest as keys typed,
        each newline an Enter, and its start would be lost. A paste whose end never came ends there: what came of it
        reaches the prompt as a paste."""
        while self.pasting and self.fd is not None and self.read(lambda: None, paste_end):
            pass
        if self.pasting:
            self.parser.feed(PASTE_END_MARK)
        taken, self.taken = b"".join(self.taken), []  # each newline the terminal made of an Enter (ICRNL) an Enter
        self.parser.feed(self.decoder.decode(taken.replace(b"\n", b"\r")))
        self.parser.flush()
        if self.pressed and self.keep_for is not None:
            store_typeahead(self.keep_for, self.pressed)
        self.pressed = []
