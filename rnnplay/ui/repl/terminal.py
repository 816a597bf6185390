"""The REPL's hold on the terminal during a turn: keys not echoed, Ctrl+C as a request, stderr as whole lines,
and the one escape sequence written by hand, OSC 52 (the clipboard), which rich has no call for."""

from __future__ import annotations

import base64
import contextlib
import io
import signal
import threading
from collections.abc import Callable, Iterator

try:
    import termios
except ImportError:  # Windows: keys typed during a turn are echoed, nothing else changes
    termios = None  # type: ignore[assignment]


def osc52(text: str) -> str:
    """The escape sequence that asks the terminal to put ``text`` on the system clipboard (OSC 52)."""
    return f"\x1b]52;c;{base64.b64encode(text.encode('utf-8')).decode('ascii')}\x07"


@contextlib.contextmanager
def keys_not_echoed(fd: int | None) -> Iterator[None]:
    """While a turn streams, keys typed on the terminal ``fd`` are not echoed; the terminal keeps them for the prompt.

    Ctrl+C still sends SIGINT, and no longer throws away what was typed before it
    (NOFLSH). Not a terminal: nothing changes.
    """
    try:
        saved = termios.tcgetattr(fd) if termios is not None and fd is not None else None
    except (termios.error, OSError, ValueError):
        saved = None
    if saved is None:
        yield
        return
    quiet = list(saved)
    quiet[3] = (quiet[3] & ~termios.ECHO) | termios.NOFLSH  # index 3: the local modes
    termios.tcsetattr(fd, termios.TCSANOW, quiet)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSANOW, saved)


@contextlib.contextmanager
def ctrl_c_calls(action: Callable[[], object]) -> Iterator[None]:
    """While the block runs, Ctrl+C (SIGINT) calls ``action`` instead of raising KeyboardInterrupt.

    A handler, not ``except KeyboardInterrupt``: the exception could land anywhere in
    the main thread -- between starting the worker and waiting for it, say -- and the
    prompt would come back while the turn still streams. Only the main thread can set
    a handler; elsewhere (tests) nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: action())
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class StderrLines(io.TextIOBase):
    """sys.stderr while the REPL runs: what any thread prints there (a warning, a plugin's traceback) becomes
    whole background lines, so it waits for a turn to end and never lands on the prompt's line."""

    def __init__(self, background: Callable[[str], None]) -> None:
        super().__init__()
        self.background = background
        self.partial = ""
        self.lock = threading.Lock()

    def write(self, text: str) -> int:
        with self.lock:
            *lines, self.partial = (self.partial + text).split("\n")
        if lines:
            self.background("\n".join(lines))
        return len(text)

    def close_line(self) -> None:
        with self.lock:
            rest, self.partial = self.partial, ""
        if rest:
            self.background(rest)
