"""A local Ray's processes ended with it, also those its own shutdown does not reach (Linux).

A local Ray's raylet starts helpers of its own (``ray::DashboardAgent``, ``ray::RuntimeEnvAgent``, the workers).
Stopped while it was still starting (Ctrl-C or SIGTERM inside ``ray.init``), Ray's shutdown did not know them, or
its raylet died before it could end them: they lived on, orphaned, for about a minute, until they noticed their
raylet had gone. So while a local Ray runs this process is a child subreaper (``PR_SET_CHILD_SUBREAPER``): an
orphaned descendant is handed to it rather than to init, and whatever of Ray's is left among its descendants
after ``ray.shutdown`` is ended (SIGTERM, then SIGKILL) and reaped. Those that had ended by themselves by then
(``ray::IDLE`` workers, ``ray::RuntimeEnvAgent``, handed to this process when their raylet went; helpers whose
start a Ctrl-C cut short) are reaped too, those of this process's session that ended during the block:
they stayed zombies, children of this process, until it exited (in a process that goes on after its Ray, as the
app and the REPL do, for the rest of its life). Only this process's own descendants are looked at, never the
processes of a cluster started with ``ray start``.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PR_SET_CHILD_SUBREAPER, PR_GET_CHILD_SUBREAPER = 36, 37  # from <linux/prctl.h>
GRACE_SECONDS = 1.0  # how long a helper has after SIGTERM before SIGKILL, as Ray gives its own processes
ROUNDS = 3  # looks for Ray's processes left, each round ending those it finds
GONE_SECONDS = 10.0  # how long to wait for the helpers sent SIGKILL to be gone: a bound, not an expected time

Process = tuple[int, str]  # a PID and the start time that tells it from a later process of the same PID


@contextmanager
def ray_processes_ended() -> Iterator[None]:
    """For the block that starts and stops a local Ray: Ray's processes below this one gone at its end."""
    previous = subreaper(True)
    if previous is None:  # not Linux, or prctl refused: Ray's own shutdown is all there is
        yield
        return
    before = set(descendants())
    children = set(zombie_children())  # ended already, so not Ray's: the code that started them reaps them
    try:
        yield
    finally:
        try:
            for _ in range(ROUNDS):  # a raylet that was still starting may start a helper while it is ended
                left = [p for p in descendants() if p not in before and is_ray(p[0])]
                if not left:
                    break
                end(left)
        finally:  # a second Ctrl-C while they are ended still leaves no zombie and no subreaper behind
            reap([p for p in set(zombie_children()) - children if is_ray_name(p[0])])
            subreaper(previous)


def reap(processes: list[Process]) -> None:
    """Reap those of ``processes`` that are children of this process and have ended."""
    for pid, _ in processes:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


def subreaper(on: bool) -> bool | None:
    """Make this process a child subreaper or not; what it was before, or None where that cannot be done."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        was = ctypes.c_int(0)
        if libc.prctl(PR_GET_CHILD_SUBREAPER, ctypes.byref(was), 0, 0, 0) != 0:
            return None
        if libc.prctl(PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) != 0:
            return None
    except (OSError, AttributeError):
        return None
    return bool(was.value)


def end(processes: list[Process]) -> None:
    """SIGTERM to ``processes``, SIGKILL to those alive a grace later; each reaped if it is a child of this one."""
    for signum, seconds in ((signal.SIGTERM, GRACE_SECONDS), (signal.SIGKILL, GONE_SECONDS)):
        for pid, _ in alive(processes):
            with contextlib.suppress(OSError):
                os.kill(pid, signum)
        deadline = time.monotonic() + seconds
        while (processes := alive(processes)) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not processes:
            return


def alive(processes: list[Process]) -> list[Process]:
    """Those of ``processes`` still running; a child of this process that has ended is reaped on the way."""
    running = []
    for pid, started in processes:
        info = stat(pid)
        if info is None or info[2] != started:
            continue
        if info[1] == "Z":
            reap([(pid, started)])  # when it is not this process's child, its parent reaps it
            continue
        running.append((pid, started))
    return running


def descendants() -> list[Process]:
    """Every process below this one (its children, theirs, ...), zombies left out."""
    table = {pid: info for pid in all_pids() if (info := stat(pid)) is not None}
    found, frontier = [], [os.getpid()]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, state, started) in table.items():
            if ppid == parent:
                frontier.append(pid)
                if state != "Z":
                    found.append((pid, started))
    return found


def zombie_children() -> list[Process]:
    """This process's children in its own session that have ended and wait to be reaped (Ray's processes share the
    session; rnnplay's own helpers, such as its regular-expression child, run in sessions of their own)."""
    found = []
    for pid in all_pids():
        info = stat(pid)
        if info is not None and info[0] == os.getpid() and info[1] == "Z":
            with contextlib.suppress(OSError):
                if os.getsid(pid) == os.getsid(0):
                    found.append((pid, info[2]))
    return found


def all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def stat(pid: int) -> tuple[int, str, str] | None:
    """(parent PID, state, start time) of ``pid`` from /proc, or None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # after the name, which may hold spaces and parentheses
    return int(fields[1]), fields[0], fields[19]


def is_ray_name(pid: int) -> bool:
    """Whether ``pid``, ended (its command line gone with it), may have been one of Ray's by its name: ``ray::IDLE``,
    ``raylet``, or this interpreter's, which Ray starts its Python helpers with."""
    try:
        name = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return False
    return name.startswith("ray::") or name in ("raylet", "gcs_server", Path(sys.executable).name[:15])


def is_ray(pid: int) -> bool:
    """Whether ``pid`` runs Ray's code: a ``ray::`` title, or a program or script from Ray's package."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    return command.startswith("ray::") or f"{os.sep}ray{os.sep}" in command
