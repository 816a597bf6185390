"""The REPL's hold on the terminal during a turn: keys not echoed (and Ctrl+\\ off, the mode set again after
``fg``), Ctrl+C as a request, a paste still marked as one (bracketed paste), stderr as whole lines, and the one
escape sequence written by hand, OSC 52 (the clipboard), which rich has no call for."""

from __future__ import annotations

import base64
import contextlib
import io
import os
import signal
import threading
from collections.abc import Callable, Iterator

from prompt_toolkit.output import Output

try:
    import termios
except ImportError:  # Windows: keys typed during a turn are echoed, nothing else changes
    termios = None  # type: ignore[assignment]


def osc52(text: str) -> str:
    """The escape sequence that asks the terminal to put ``text`` on the system clipboard (OSC 52)."""
    return f"\x1b]52;c;{base64.b64encode(text.encode('utf-8')).decode('ascii')}\x07"


@contextlib.contextmanager
def keys_not_echoed(fd: int | None, own_keys: bool = False) -> Iterator[None]:
    """While a turn streams, keys typed on the terminal ``fd`` are not echoed; the terminal keeps them for the prompt.

    Ctrl+C still sends SIGINT, and no longer throws away what was typed before it
    (NOFLSH). Ctrl+\\ sends nothing, as at the prompt (prompt-toolkit's raw mode): its
    SIGQUIT ended the REPL at once, and a training running in it was lost. Stopped
    (Ctrl+Z) and brought back (``fg``), the turn sets that mode again, as the shell
    put back its own meanwhile (what was typed ahead is taken off the terminal as it stops:
    :func:`typed_ahead_kept`). Not a terminal: nothing changes. ``own_keys``: the REPL reads
    the keys itself (:mod:`rnnplay.ui.repl.typeahead`), so no key is a signal or edits a line.
    """
    try:
        saved = termios.tcgetattr(fd) if termios is not None and fd is not None else None
    except (termios.error, OSError, ValueError):
        saved = None
    if saved is None or fd is None:
        yield
        return
    quiet = list(saved)
    quiet[3] = (quiet[3] & ~termios.ECHO) | termios.NOFLSH  # index 3: the local modes
    quiet[6] = list(saved[6])  # the control characters: VQUIT off
    quiet[6][termios.VQUIT] = bytes([_vdisable(fd)])
    if own_keys:  # each key as it comes, Ctrl+C a key, Enter a '\r' as at the prompt
        quiet[3] &= ~(termios.ISIG | termios.ICANON | termios.IEXTEN)
        quiet[0] &= ~termios.ICRNL  # index 0: the input modes
        quiet[6][termios.VMIN], quiet[6][termios.VTIME] = 1, 0
    try:
        termios.tcsetattr(fd, termios.TCSANOW, quiet)
    except (termios.error, OSError):  # the terminal has gone (its window closed): no modes to set or put back
        yield
        return
    try:
        with mode_kept_on_continue(fd, quiet):
            yield
    finally:
        with contextlib.suppress(termios.error, OSError):  # gone during the turn: the REPL leaves as after SIGHUP
            termios.tcsetattr(fd, termios.TCSANOW, saved)


@contextlib.contextmanager
def pastes_marked(output: Output | None) -> Iterator[None]:
    """While the block runs, the terminal marks where a paste starts and ends (bracketed paste), also during a turn.

    prompt-toolkit turns bracketed paste off as each prompt ends and on as the next
    starts, so a paste during a turn came as typed keys: the next prompt read each of
    its newlines as Enter, and a pasted ``/quit`` line ended the REPL. Call
    :func:`mark_pastes` as a turn starts; when the block ends, it is off.
    ``output`` None (not a terminal, or a piped script): nothing is written.
    """
    mark_pastes(output)
    try:
        yield
    finally:
        if output is not None:
            with contextlib.suppress(OSError):  # after SIGHUP the terminal may be gone
                output.disable_bracketed_paste()
                output.flush()


def mark_pastes(output: Output | None) -> None:
    """Bracketed paste on again (the prompt that just ended turned it off): a paste now reaches the next prompt as
    one piece of text with its newlines, as a paste at the prompt does."""
    if output is not None:
        output.enable_bracketed_paste()
        output.flush()


def _vdisable(fd: int) -> int:
    """The value that turns a terminal's control character off (_POSIX_VDISABLE: 0 on Linux, 0xff on the BSDs)."""
    try:
        value = os.fpathconf(fd, "PC_VDISABLE")
    except (OSError, ValueError):
        return 0
    return value if 0 <= value <= 255 else 0


@contextlib.contextmanager
def mode_kept_on_continue(fd: int, mode: list) -> Iterator[None]:
    """While the block runs, SIGCONT (``fg`` after Ctrl+Z) sets the terminal ``fd`` to ``mode`` again, when this
    process is in the foreground (in the background, ``bg``, it would be stopped for it). Main thread only."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGCONT"):
        yield
        return

    def again(_signum: int, _frame: object) -> None:
        with contextlib.suppress(termios.error, OSError):
            if os.tcgetpgrp(fd) == os.getpgrp():
                termios.tcsetattr(fd, termios.TCSANOW, mode)

    previous = signal.signal(signal.SIGCONT, again)
    try:
        yield
    finally:
        signal.signal(signal.SIGCONT, previous)


@contextlib.contextmanager
def typed_ahead_kept(fd: int | None, keep: Callable[[bytes], object]) -> Iterator[None]:
    """While the block runs, SIGTSTP (Ctrl+Z) first hands what the terminal ``fd`` holds typed ahead to ``keep``,
    then stops the process. During a turn the terminal keeps those keys for the prompt (NOFLSH), and while the REPL
    was stopped the shell read them as its own commands (a seed ``rm *`` ran). ``keep`` runs in a signal handler:
    it must only store them, and they are handed on after the block (taken once they were handed on, they would be
    lost). Main thread, ``fd`` a terminal: else nothing."""
    if fd is None or threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGTSTP"):
        yield
        return

    def stop(_signum: int, _frame: object) -> None:
        signal.signal(signal.SIGTSTP, signal.SIG_DFL)
        keep(typed_ahead(fd))
        os.kill(os.getpid(), signal.SIGTSTP)  # stopped here until `fg`
        signal.signal(signal.SIGTSTP, stop)

    previous = signal.signal(signal.SIGTSTP, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTSTP, previous)


def typed_ahead(fd: int) -> bytes:
    """What the terminal ``fd`` holds typed and not yet read, an unfinished line too, taken off it; nothing when this
    process is in the background (``bg``), where setting the mode or reading would stop it a second time."""
    try:
        if os.tcgetpgrp(fd) != os.getpgrp():
            return b""
        mode = termios.tcgetattr(fd)
    except (termios.error, OSError):
        return b""
    each_key = [*mode[:6], list(mode[6])]
    each_key[3] &= ~termios.ICANON  # a line's start is read too
    each_key[6][termios.VMIN], each_key[6][termios.VTIME] = 0, 0  # a read returns what there is, or nothing
    taken: list[bytes] = []
    try:
        termios.tcsetattr(fd, termios.TCSANOW, each_key)
        while chunk := os.read(fd, 4096):
            taken.append(chunk)
    except (termios.error, OSError):
        pass
    finally:
        with contextlib.suppress(termios.error, OSError):
            termios.tcsetattr(fd, termios.TCSANOW, mode)
    return b"".join(taken)


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

    def close(self) -> None:
        """Nothing: these lines are the REPL's, and a plugin closing sys.stdout or sys.stderr must not end them."""

    def close_line(self) -> None:
        with self.lock:
            rest, self.partial = self.partial, ""
        if rest:
            self.background(rest)
