"""A plugin that ends the process while it loads, named all the same: a small watcher process says which.

A plugin's import or hook can end rnnplay outright (``os._exit``, a signal it sends itself, a crash in a C
extension): no exception, no ``finally``, no ``atexit``, so nothing left in the process can say a word, and the
user saw rnnplay end without one. While third-party plugin code loads, :class:`LastWords` keeps a watcher beside
it: a tiny Python process that reads a pipe from rnnplay, started before the built-ins load (so that it is ready,
blocked in its read, by the first plugin's import: the sooner it writes, the likelier its line comes before the
shell's next prompt). Before each import and hook rnnplay writes the line to say should the process end there;
after it, an empty line. When the pipe closes with a line pending, the process ended inside that plugin code, and
the watcher writes the line on the stderr they share. Once the plugins are loaded, the watcher is told so
(``done``) and leaves.

The watcher's line races the shell: the shell waits for rnnplay's process only, and shows its prompt as soon as
that process is gone, while the watcher may not have written yet. So the commonest way out, ``os._exit``, is
caught in the process itself: while plugin code runs, ``os._exit`` is a stand-in that writes the pending line on
stderr first, then ends the process with the plugin's status, and so is ``os.kill`` for a SIGKILL that reaches
this process. The line is written before the process the shell waits for exits, so it always comes before the
prompt. Only what goes past them (a crash in C, a kill from C code or another process) is left to the watcher,
whose line then most often, not always, comes first.

The watcher runs in a session of its own, so the Ctrl-C a terminal sends to rnnplay's process group does not
reach it (rnnplay handles that one, and clears the line on the way out). Where no process can be started
(no ``sys.executable``, no file descriptors left, not POSIX), plugins load without a watcher: only ``os._exit``
is named then, by the stand-in.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from contextlib import suppress
from types import FrameType
from typing import IO, Any, NoReturn

from rnnplay.core.errors import printable

READY_SECONDS = 5.0  # the longest the first plugin waits for the watcher to read: a bound, not an expected time
WATCHER = """
import os, sys
try:
    os.write(1, b"r")
except OSError:  # rnnplay already gone (a busy machine started this late): the pending line is still to say
    pass
os.close(1)
pending = b""
for line in sys.stdin.buffer:
    if line == b"done\\n":
        sys.exit(0)
    pending = line.rstrip(b"\\n")
if pending:
    try:
        os.write(2, pending + b"\\n")
    except OSError:
        pass
"""


class LastWords:
    """Once :meth:`start` ed, :meth:`say_if_ended` gives the line a watcher process prints should this process end
    before :meth:`clear`; leaving the ``with`` block sends the watcher away. Not started, each does nothing."""

    def __init__(self) -> None:
        self._pipe: int | None = None  # what the watcher reads
        self._ready: IO[bytes] | None = None  # one byte from the watcher once it reads, not yet waited for
        self._watcher: subprocess.Popen[bytes] | None = None
        self._pending = ""  # the line to say should the process end now ("" between two plugins' code)
        self._real: dict[str, Callable[..., Any]] = {}  # os._exit and os.kill, while the stand-ins replace them

    def __enter__(self) -> LastWords:
        return self

    def __exit__(self, *exc: object) -> None:
        for name, real in self._real.items():
            setattr(os, name, real)
        self._real = {}
        self._send("done")  # not only the pipe's end: a process a plugin forked may hold the pipe open
        if self._pipe is not None:
            os.close(self._pipe)
        if self._ready is not None:
            self._ready.close()
        self._pipe = self._ready = None
        if self._watcher is not None:  # it leaves at once; reaped on a thread rather than waited for here
            threading.Thread(target=self._watcher.wait, name="rnnplay-last-words", daemon=True).start()
            self._watcher = None

    def start(self) -> None:
        """Start the watcher (plugin code will run); where no process can be started, plugins load unwatched."""
        if not self._real:
            self._real = {"_exit": os._exit, "kill": os.kill}
            os._exit, os.kill = self._exit, self._kill  # type: ignore[assignment]
        if os.name != "posix" or not sys.executable:  # a pipe's end set non-blocking, a session of its own: POSIX
            return
        try:
            read, write = os.pipe()  # neither end is inherited by the processes plugins start
        except OSError:
            return
        try:
            self._watcher = subprocess.Popen([sys.executable, "-I", "-S", "-c", WATCHER], stdin=read,
                                             stdout=subprocess.PIPE, start_new_session=True)
        except (OSError, ValueError, subprocess.SubprocessError):
            os.close(write)
            return
        finally:
            os.close(read)
        os.set_blocking(write, False)  # a watcher that stopped reading must never hold rnnplay up
        self._pipe, self._ready = write, self._watcher.stdout

    def say_if_ended(self, line: str) -> None:
        """Should the process end before :meth:`clear`, the watcher writes ``line`` on stderr."""
        if self._ready is not None:  # the first line: wait until the watcher reads (b"" if it could not start)
            with self._ready:
                if select.select([self._ready], [], [], READY_SECONDS)[0]:
                    self._ready.read(1)
            self._ready = None
        self._pending = printable(line)
        self._send(self._pending)

    def clear(self) -> None:
        """Nothing to say any more: the plugin code returned (or raised)."""
        self._pending = ""
        self._send("")

    def _exit(self, code: int) -> NoReturn:
        """``os._exit`` while plugin code runs: the pending line said by this very process, then its exit."""
        self._say_now(sys._getframe(1))
        exit_now: Callable[[int], NoReturn] = self._real.get("_exit", os._exit)
        exit_now(code)

    def _kill(self, pid: int, signum: int) -> None:
        """``os.kill`` while plugin code runs: a SIGKILL that reaches this process has the pending line said first."""
        if signum == signal.SIGKILL and pid in (0, os.getpid(), -os.getpgrp()):
            self._say_now(sys._getframe(1))
        self._real.get("kill", os.kill)(pid, signum)

    def _say_now(self, caller: FrameType) -> None:
        """The pending line, said by this very process as it ends (before the shell that waits for it can show its
        prompt), unless rnnplay's own code ends it (a signal's leaving: not the plugin's doing)."""
        if self._pending and not str(caller.f_globals.get("__name__", "")).startswith("rnnplay."):
            self._send("")  # said here: the watcher keeps quiet
            with suppress(OSError):
                os.write(2, self._pending.encode("utf-8", "backslashreplace") + b"\n")

    def _send(self, line: str) -> None:
        if self._pipe is None:
            return
        try:
            os.write(self._pipe, line.encode("utf-8", "backslashreplace")[:4000] + b"\n")  # under PIPE_BUF: whole
        except OSError:  # the watcher is gone (killed) or not reading: plugins load on, unwatched
            os.close(self._pipe)
            self._pipe = None
