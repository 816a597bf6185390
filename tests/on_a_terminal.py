"""rnnplay as a user starts it in a pseudo-terminal, and lines typed to it there, each waited for until something on
the terminal shows that it ran.

Under load, a bare prompt can be the one drawn before the line ran (the prompt it was typed at, or a redraw of it
under a line a timer printed), and a test that goes on at it goes on early. So a line typed here is waited for in
three steps: its echo as Enter takes it (a prompt with the text), what it answers, then an empty prompt, which the
REPL draws only once the line is done.
"""

from __future__ import annotations

import os
import platform
import signal
import struct
import subprocess
import sys
import termios
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from child_env import child_env
from pty_screen import TIMEOUT
from terminal_reader import TerminalReader
from waiting import wait_for

pexpect = pytest.importorskip("pexpect")

PROMPT = "›".encode()  # drawn with style codes between it and its space
EMPTY_PROMPT = PROMPT + b"\x1b[0m"  # the prompt with nothing typed after it
STARTED = b"type a few characters"  # the banner, in the app and in the REPL
STOPPED = " ⏹ stopped\r\n".encode()  # the end of a turn that Ctrl+C stopped
SELECTS = {"x86_64": {"23", "270"}, "aarch64": {"72"}}.get(platform.machine(), set())  # select(2), pselect6(2)


def terminal_env(tmp_path: Path, *extra: Path, **variables: str) -> dict[str, str]:
    """A child's environment in a pty: colours as on any terminal (NO_COLOR makes rich draw no bar until its end),
    and the pty's size as the terminal's (rich takes COLUMNS and LINES over it: a suite run with COLUMNS=80 drew a
    160-column pty's status line 80 wide)."""
    base = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "COLUMNS", "LINES")}
    return child_env(*extra, base=base, XDG_DATA_HOME=str(tmp_path / "d"), TERM="xterm-256color", **variables)


class Terminal(pexpect.spawn):
    """pexpect's spawn, whose close waits for the program to leave.

    pexpect's own close hangs the terminal up, then sends SIGHUP, SIGCONT, SIGINT and SIGKILL 0.1 s apart, and raises
    "Could not terminate the child" when the program is still there 0.1 s after the SIGKILL: a REPL that a busy
    machine gave little of a core was (it keeps its conversation as it leaves on the hangup), and a test that had
    passed failed as its ``with`` block closed the terminal. Here the program is waited for until it has left as a
    closed window has it leave (SIGHUP), within the bound that catches a hang, and only then killed."""

    def close(self, force: bool = True) -> None:
        if not self.closed:
            self.ptyproc.fileobj.close()  # the terminal hangs up: the program gets SIGHUP, as when its window closes
            try:
                wait_for(lambda: not self.isalive(), "the program to leave as its terminal closed", TIMEOUT)
            finally:
                if self.isalive():
                    self.kill(signal.SIGKILL)
                    self.wait()
        super().close(force)


def spawn(args: list[str], env: dict[str, str], cwd: Path | None = None, rows: int = 30,
          columns: int = 250) -> Terminal:
    """``python -m rnnplay ARGS`` in a rows x columns pseudo-terminal, driven by pexpect (a context manager that
    closes it, waiting for the program to leave)."""
    return Terminal(sys.executable, ["-m", "rnnplay", *args], env=env, cwd=None if cwd is None else str(cwd),
                    dimensions=(rows, columns), timeout=TIMEOUT)


def started_repl(args: list[str], env: dict[str, str], cwd: Path | None = None, rows: int = 30,
                 columns: int = 250) -> Terminal:
    """``rnnplay repl ARGS`` (see :func:`spawn`) once its banner and its first prompt are drawn."""
    child = spawn(["repl", *args], env, cwd, rows, columns)
    try:
        child.expect_exact(STARTED)
        child.expect_exact(PROMPT)
    except BaseException:
        child.close(force=True)
        raise
    return child


def run_line(child: pexpect.spawn, line: str, *answers: bytes) -> None:
    """``line`` typed and run: its echo (as much of it as the prompt's row holds: a longer line wraps there), then
    ``answers`` in that order, then the next prompt, an empty one."""
    child.send(line + "\r")
    child.expect_exact(PROMPT + b" " + line[: child.getwinsize()[1] - 3].encode())
    for answer in answers:
        child.expect_exact(answer)
    child.expect_exact(EMPTY_PROMPT)


def stop_the_turn(child: pexpect.spawn) -> None:
    """Ctrl+C while a turn streams: the turn's end says it stopped, and the next prompt is drawn."""
    child.sendintr()
    child.expect_exact(STOPPED)
    child.expect_exact(EMPTY_PROMPT)


def ended(child: pexpect.spawn) -> int:
    """The exit code, once the program has ended."""
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus


@contextmanager
def on_a_terminal(args: list[str], env: dict[str, str], cwd: Path | None = None, ready: bytes = STARTED,
                  size: tuple[int, int] | None = None) -> Iterator[tuple[subprocess.Popen[bytes], int, TerminalReader]]:
    """``python -m rnnplay ARGS`` on a pseudo-terminal (of ``size``, rows and columns, if given) that is not its
    controlling one (a session of its own), once the terminal shows ``ready``: (the process, the terminal's master
    end, its reader); killed at the end if it is still there."""
    master, slave = os.openpty()
    if size is not None:
        termios.tcsetwinsize(slave, size)
    proc = subprocess.Popen([sys.executable, "-m", "rnnplay", *args], stdin=slave, stdout=slave, stderr=slave,
                            env=env, cwd=cwd, start_new_session=True)
    os.close(slave)
    reader = TerminalReader(master)
    try:
        wait_for(lambda: ready in reader.shown(), f"{ready!r} on the terminal", TIMEOUT)
        yield proc, master, reader
    finally:
        if proc.poll() is None:
            proc.kill()
        reader.stop()
        os.close(master)


def waits_in_select(pid: int, seconds: int) -> bool:
    """Whether process ``pid``'s main thread is blocked in select() for up to ``seconds`` (a whole number), read
    through /proc (Linux, its parent may): the call and its arguments, then the timeout the fifth points to."""
    try:
        call = Path(f"/proc/{pid}/syscall").read_text().split()
        if call[0] not in SELECTS:
            return False
        with open(f"/proc/{pid}/mem", "rb") as memory:
            memory.seek(int(call[5], 16))
            timeout = struct.unpack("qq", memory.read(16))  # seconds, and micro- or nanoseconds
    except (OSError, IndexError, ValueError):  # not blocked in a call now, or no timeout
        return False
    return timeout == (seconds, 0)
