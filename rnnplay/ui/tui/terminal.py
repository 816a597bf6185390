"""The terminal the app runs in, as a user's shell hands it over.

Textual reads keys from stdin, draws on stderr and takes the window's size from stdout. So:

* stdin and stderr must be terminals, TERM not ``dumb`` (no cursor movement, no colours: the
  REPL draws there) and stderr's encoding UTF-8 (the frame's box and block characters were drawn
  as ``\\u258a`` escapes); otherwise one line that says what to do (:func:`require_terminal`);
* stdout sent to a file or a pipe (``rnnplay > log.txt``) is pointed at stderr's terminal while
  the app runs, so that it draws at the window's size, not at 80x24 (:func:`stdout_on_the_terminal`);
* a byte from the terminal that is not UTF-8 (a Latin-1 é, line noise) is read as U+FFFD instead
  of ending Textual's input thread (:func:`lenient_keys`);
* keys typed while the model loads, before Textual reads them, wait for the prompt as the app reads
  keys: Enter as Enter, not as the newline the terminal's line mode made of it (:func:`keys_kept_while_starting`).
"""

from __future__ import annotations

import codecs
import contextlib
import functools
import os
import select
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from textual import events

try:
    import termios
except ImportError:  # Windows: Textual's own driver reads the keys
    termios = None  # type: ignore[assignment]

from rnnplay.core.errors import RnnplayError, printable


def is_terminal(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False


def require_terminal() -> None:
    """One line instead of an app that types a file's lines as keys, draws where nobody sees, or draws garbage."""
    for name in ("stdin", "stderr"):
        stream = getattr(sys, f"__{name}__")
        try:
            tty = stream is not None and stream.isatty()
        except (AttributeError, ValueError, OSError):
            tty = False
        if not tty:
            raise RnnplayError(f"standard {'input' if name == 'stdin' else 'error'} is not a terminal, and the app "
                               "reads keys and draws there: run `rnnplay` in a terminal, or pipe lines into "
                               "`rnnplay repl`")
    if os.environ.get("TERM") == "dumb":
        raise RnnplayError("this terminal (TERM=dumb) cannot draw the app's screen: use `rnnplay repl`, or a "
                           "terminal that can (TERM=xterm-256color)")
    encoding = getattr(sys.__stderr__, "encoding", None) or "ascii"
    try:
        utf8 = codecs.lookup(encoding).name == "utf-8"
    except LookupError:
        utf8 = False
    if not utf8:
        raise RnnplayError(f"the app draws in UTF-8, and this terminal's encoding is {printable(encoding)}: set a "
                           "UTF-8 locale (e.g. LANG=C.UTF-8), or use `rnnplay repl`")


@contextlib.contextmanager
def stdout_on_the_terminal() -> Iterator[None]:
    """Descriptor 1 on stderr's terminal for the block when stdout is a file or a pipe, given back after it (the
    app writes nothing there; what was written before the app stays in the file, in its place)."""
    if is_terminal(1) or not is_terminal(2):
        yield
        return
    with contextlib.suppress(OSError, ValueError, AttributeError):
        sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            sys.__stdout__.flush()  # type: ignore[union-attr]
        os.dup2(saved, 1)
        os.close(saved)


def lenient_keys() -> None:
    """Textual's input thread decodes the terminal's bytes as strict UTF-8: one byte that is not UTF-8 ended the
    thread (a traceback, or, with a training running, an app that took no key any more). Its decoder replaces
    such a byte with U+FFFD from now on."""
    try:
        from textual.drivers import linux_driver
    except ImportError:  # not a POSIX system: Textual's Windows driver reads keys otherwise
        return
    if hasattr(linux_driver, "getincrementaldecoder"):
        linux_driver.getincrementaldecoder = lenient_decoder  # type: ignore[attr-defined]


def lenient_decoder(encoding: str) -> functools.partial[codecs.IncrementalDecoder]:
    """``codecs.getincrementaldecoder`` whose decoders replace what they cannot decode."""
    return functools.partial(codecs.getincrementaldecoder(encoding), errors="replace")


PASTE_MARKERS_ON, PASTE_MARKERS_OFF = b"\x1b[?2004h", b"\x1b[?2004l"  # bracketed paste, as Textual asks (on fd 2)
PASTE_START, PASTE_END = b"\x1b[200~", b"\x1b[201~"  # around a paste, once the terminal was asked for them


@contextlib.contextmanager
def keys_kept_while_starting(fd: int = 0) -> Iterator[bytearray]:
    """While the block runs (the model loads), keys typed on the terminal ``fd`` are neither echoed on the shell's
    screen nor read as lines; the bytearray yielded gets them when the block ends, for the app to read first
    (:func:`typed_keys`). The terminal is asked for bracketed paste at once, as the app asks later: a paste as the
    model loads comes between its markers, one paste, and lines typed blind stay lines, each run with its Enter.
    What was typed before (:func:`typed_before`) comes first. The modes are given back after the block, before
    Textual takes the terminal (it gives back at its end the modes it found); the paste markers stay asked for the
    app: :func:`paste_markers_off_on_error` asks them off when it never starts."""
    typed = bytearray()
    try:
        saved = termios.tcgetattr(fd) if termios is not None else None
    except (termios.error, OSError):
        saved = None
    if saved is None:
        yield typed
        return
    kept = [*saved[:6], list(saved[6])]
    kept[0] &= ~termios.ICRNL  # index 0: the input modes; 3: the local modes (Ctrl+C still interrupts)
    kept[3] &= ~(termios.ICANON | termios.ECHO)
    kept[6][termios.VMIN], kept[6][termios.VTIME] = 1, 0
    try:
        termios.tcsetattr(fd, termios.TCSANOW, kept)
        ask_terminal(PASTE_MARKERS_ON)
        before = pending(fd)
        if before and not before.endswith(b"\n") and saved[3] & termios.ECHO:  # echoed by the line mode: end the
            ask_terminal(b"\r\n")  # shell's line, or the farewell (and the next prompt) came glued to it at the end
        typed += typed_before(before)
        yield typed
        typed += pending(fd)
    finally:
        with contextlib.suppress(termios.error, OSError):
            termios.tcsetattr(fd, termios.TCSANOW, saved)


@contextlib.contextmanager
def paste_markers_off_on_error() -> Iterator[None]:
    """Around the app's start, from :func:`keys_kept_while_starting` until Textual has the terminal (as it leaves, it
    asks the paste markers off itself): a block that ends on an error (the model did not load; Ctrl-C, SIGTERM or
    SIGHUP, up to the instant Textual takes the terminal) asks them off, or the shell gets each paste between
    markers."""
    try:
        yield
    except BaseException:
        ask_terminal(PASTE_MARKERS_OFF)
        raise


def ask_terminal(sequence: bytes) -> None:
    """Write a mode's escape ``sequence`` to the terminal where Textual writes its own (stderr), if it is one."""
    if is_terminal(2):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            sys.__stderr__.flush()  # type: ignore[union-attr]
        with contextlib.suppress(OSError):
            os.write(2, sequence)


def pending(fd: int) -> bytes:
    """What was typed on the terminal ``fd`` and not yet read (waiting for nothing more)."""
    chunks = []
    with contextlib.suppress(OSError):
        while select.select([fd], [], [], 0)[0] and (chunk := os.read(fd, 65536)):
            chunks.append(chunk)
    return b"".join(chunks)


def typed_before(typed: bytes) -> bytes:
    """The keys typed before the paste markers were asked for (``rnnplay`` Enter, then at once a seed), each Enter
    made a newline by the line mode (Ctrl+J in the app: a seed typed as the app started never ran) made Enter again.

    A paste came then without its markers, a paste of three lines as three lines each with its Enter: three
    seeds, where the same paste in the running app is one. Lines typed blind and a paste cannot be told apart
    there, so more than one line is taken as a paste, between markers, one seed; an Enter last runs it, as a lone
    line with its Enter runs. Lines that begin with a command (``/set length 40``, then a seed) are the user's
    own, each run with its Enter."""
    lines = typed.removesuffix(b"\n")
    if b"\n" in lines and b"\x1b" not in typed and not typed.startswith(b"/"):  # no markers, no arrow keys
        return PASTE_START + lines + PASTE_END + typed[len(lines):].replace(b"\n", b"\r")
    return typed.replace(b"\n", b"\r")


def typed_keys(typed: bytes) -> list[events.Event]:
    """The keys (and pastes) of the bytes typed as the app started, read as Textual reads the terminal."""
    from textual._xterm_parser import XTermParser  # what Textual's driver reads the terminal's bytes with (imported
    # here: `rnnplay` keeps the keys typed before it has imported Textual)

    return list(XTermParser().feed(typed.decode("utf-8", "replace"))) if typed else []
