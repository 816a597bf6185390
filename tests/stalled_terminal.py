"""A terminal that takes no output (flow control, as behind a stalled ssh), and what a process on it waits in then:
Linux's /proc/PID/task/*/syscall (system call numbers of x86-64)."""

from __future__ import annotations

import contextlib
import os
import termios
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

WRITE, FUTEX = "1", "202"


@contextmanager
def output_stopped(pid: int) -> Iterator[None]:
    """The terminal of process ``pid`` takes no output while the block runs (flow control, as behind a stalled ssh):
    every write to it waits, and none of it gets through."""
    terminal = os.open(f"/proc/{pid}/fd/2", os.O_RDWR | os.O_NOCTTY)
    try:
        termios.tcflow(terminal, termios.TCOOFF)
        yield
    finally:
        with contextlib.suppress(termios.error):  # hung up meanwhile
            termios.tcflow(terminal, termios.TCOON)
        os.close(terminal)


def waits_in(pid: int) -> list[list[str]]:
    """The system call each thread of process ``pid`` waits in now, with its arguments (the main thread's first)."""
    tasks = sorted(Path(f"/proc/{pid}/task").glob("*"), key=lambda task: task.name != str(pid))
    calls = []
    for task in tasks:
        with contextlib.suppress(OSError):
            calls.append((task / "syscall").read_text().split())
    return calls


def writing_to(pid: int, fd: int = 2) -> int:
    """How many threads of process ``pid`` wait in a write to its file descriptor ``fd`` (stderr) now."""
    return sum(call[:2] == [WRITE, hex(fd)] for call in waits_in(pid))


def main_thread_blocked(pid: int) -> bool:
    """Whether the main thread of process ``pid`` waits on a lock with no timeout now (a futex wait whose timeout
    argument is NULL: not the interpreter's lock, which it waits for a few milliseconds at a time, nor an event
    loop's poll)."""
    calls = waits_in(pid)
    return bool(calls) and calls[0][:1] == [FUTEX] and calls[0][4:5] == ["0x0"]
