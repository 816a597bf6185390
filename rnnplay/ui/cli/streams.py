"""The command's standard streams, as a user's shell may hand them over: closed, full, read-only, or in an
encoding that cannot hold every character.

* **stdout** is what a command promised to print: a write that fails ends the command in one line that says
  why (a full disk, a descriptor not open for writing, ``>&-``), never a traceback; a reader that left
  (``| head``) ends it quietly, as any Unix tool. Characters its encoding cannot hold (``PYTHONIOENCODING=ascii``,
  a Latin-1 locale) are written as ``\\u`` escapes, said once on stderr, instead of ending the command.
* **stderr** carries notes and errors: when it cannot be written, nobody is left to tell, and the command
  goes on (the exit code still says how it ended).
* A descriptor 0, 1 or 2 that was closed is opened on ``os.devnull`` first, so that no file rnnplay opens
  takes its number, and stray writes to it cannot land in a checkpoint.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from collections.abc import Iterator
from typing import Any, TextIO

from rnnplay.core.errors import RnnplayError, file_size_limit

# what to do when stdout cannot be written, by the error's number
ADVICE = {
    errno.ENOSPC: "the disk is full: free some space, or send the output elsewhere",
    errno.EDQUOT: "your disk quota is used up: free some space, or send the output elsewhere",
    errno.EFBIG: file_size_limit("send the output elsewhere"),
    errno.EBADF: "it is not open for writing: redirect it to a file or a pipe (> FILE)",
    errno.EIO: "the terminal is gone: run the command again in a terminal, or redirect its output",
}
CLOSED = "standard output is closed (>&-): redirect it to a file or to /dev/null instead"


class OutputError(RnnplayError):
    """stdout cannot be written; ``str(err)`` is the one line that says why and what to do."""


class ReaderGone(RnnplayError):
    """stdout's reader left (``rnnplay sample | head``): the command ends quietly, as a Unix tool does."""


class GuardedOutput:
    """``sys.stdout`` while a command runs (see the module's docstring); None stands for a closed stdout."""

    def __init__(self, stream: TextIO | None) -> None:
        self._stream = stream
        self._noted = False

    def write(self, text: str) -> int:
        if self._stream is None:
            raise OutputError(CLOSED)
        try:
            return self._stream.write(text)
        except UnicodeEncodeError as err:
            self._escape_from_now_on(err)
            return self._stream.write(text)
        except OSError as err:
            raise self._failed(err) from err

    def flush(self) -> None:
        if self._stream is None:
            return
        try:
            self._stream.flush()
        except OSError as err:
            raise self._failed(err) from err

    def isatty(self) -> bool:
        with contextlib.suppress(AttributeError, ValueError, OSError):
            return self._stream is not None and self._stream.isatty()
        return False

    def _escape_from_now_on(self, err: UnicodeEncodeError) -> None:
        """Characters ``err``'s encoding cannot hold are written as escapes from now on, and said so once."""
        reconfigure = getattr(self._stream, "reconfigure", None)
        if reconfigure is None:
            raise err
        reconfigure(errors="backslashreplace")
        if not self._noted:
            self._noted = True
            char = err.object[err.start] if isinstance(err.object, str) else "?"
            print(f"rnnplay: note: standard output's encoding ({err.encoding}) cannot hold {char!r} "
                  f"(U+{ord(char):04X}) and maybe more: they are written as escapes such as \\xe9; use a UTF-8 locale "
                  "(LANG=C.UTF-8) or PYTHONIOENCODING=utf-8 to keep them", file=sys.stderr)

    def _failed(self, err: OSError) -> RnnplayError:
        """After a failed write: the rest goes to os.devnull (no second error at exit); the line to end with."""
        to_devnull(self._stream)
        if isinstance(err, BrokenPipeError):
            return ReaderGone("the reader of standard output left")
        advice = ADVICE.get(err.errno or 0, "send the output elsewhere")
        return OutputError(f"cannot write to standard output ({err.strerror or err}): {advice}")

    def __getattr__(self, name: str) -> Any:
        if self._stream is None:
            raise AttributeError(name)
        return getattr(self._stream, name)


class LenientStream:
    """A text stream whose first failed write (a pipe whose reader left, a terminal hung up) points its file
    descriptor at os.devnull instead of raising: the run goes on and is saved, with nobody left to read it.
    :meth:`problem` says afterwards what failed, for the command to end with."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._failure: Exception | None = None

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except (OSError, OutputError, ReaderGone) as err:  # GuardedOutput's too: printing never ends a training
            self._silence(err)
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except (OSError, OutputError, ReaderGone) as err:
            self._silence(err)

    def problem(self) -> str | None:
        """The one line of the first write that failed; None if none did, or if the reader just left (``| head``)."""
        if self._failure is None or isinstance(self._failure, ReaderGone | BrokenPipeError):
            return None
        if isinstance(self._failure, OSError):
            return f"cannot write ({self._failure.strerror or self._failure})"
        return str(self._failure)

    def _silence(self, err: Exception) -> None:
        self._failure = self._failure or err
        to_devnull(self._stream)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def lenient_output() -> Iterator[LenientStream | None]:
    """sys.stdout and sys.stderr as :class:`LenientStream` for the block: printing never ends a run unsaved.
    Gives stdout's, whose :meth:`~LenientStream.problem` the command ends with once its work is kept."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = (None if s is None else LenientStream(s) for s in saved)  # type: ignore[assignment]
    try:
        yield sys.stdout  # type: ignore[misc]
    finally:
        sys.stdout, sys.stderr = saved


def to_devnull(stream: Any) -> None:
    """Point ``stream``'s file descriptor at os.devnull after a write to it failed: what is still buffered goes
    there, not to a failing flush at exit (nothing to do for a closed stream)."""
    with contextlib.suppress(OSError, ValueError, AttributeError):  # AttributeError: a closed stdout (None)
        fd = stream.fileno()
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, fd)
        os.close(null)
        stream.flush()


def open_closed_descriptors() -> None:
    """Descriptors 0, 1 and 2 that the shell closed (``<&-``, ``>&-``, ``2>&-``) opened on os.devnull; Python
    keeps its own ``sys.stdin``/``sys.stdout``/``sys.stderr`` of None for them, so a command still knows."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)


@contextlib.contextmanager
def guarded_streams() -> Iterator[None]:
    """``sys.stdout`` as :class:`GuardedOutput` and ``sys.stderr`` as a lenient stream (a closed one: os.devnull)
    for the block; the streams before it are put back after it."""
    saved = sys.stdout, sys.stderr
    stderr = saved[1] if saved[1] is not None else open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
    sys.stdout = GuardedOutput(saved[0])  # type: ignore[assignment]
    sys.stderr = LenientStream(stderr)  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
        if saved[1] is None:
            stderr.close()
