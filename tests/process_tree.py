"""The processes below a test's command, found in /proc by what they run, and the processor time they used.

Tests poll these every few hundredths of a second while Ray starts, so a look reads each process's ``stat`` once
(raw bytes, unbuffered) and a command line only for the processes it is about: a look that read both of every
process through ``pathlib`` cost the polling test a quarter of a core.
"""

from __future__ import annotations

import os
from pathlib import Path


def stats() -> dict[int, list[bytes]]:
    """Each live process's ``/proc/PID/stat`` fields after its name (state, parent, group, session, ...), by PID."""
    found = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb", buffering=0) as stat:
                    text = stat.read()
            except OSError:
                continue
            found[int(name)] = text[text.rindex(b")") + 2:].split()  # after the name, which may hold spaces
    return found


def command(pid: int) -> str | None:
    """What ``pid`` runs (its arguments joined by NUL, as /proc has them); None once it is gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return None


def processes_below(driver: int, command_part: str) -> set[int]:
    """PIDs of the processes below ``driver`` whose program (or title, as Ray sets it) holds ``command_part``."""
    parents = {pid: int(fields[1]) for pid, fields in stats().items()}

    def below(pid: int) -> bool:
        while pid > 1:
            pid = parents.get(pid, 0)
            if pid == driver:
                return True
        return False

    return {pid for pid in parents if below(pid) and command_part in (command(pid) or "").split("\0")[0]}


def cpu_ticks(pids: set[int]) -> int:
    """The processor time ``pids`` have used, in clock ticks (user and system)."""
    fields_of = [Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split() for pid in pids]
    return sum(int(fields[11]) + int(fields[12]) for fields in fields_of)


def in_session(sid: int) -> dict[int, str]:
    """The live processes (zombies left out) of the session ``sid``, by PID: what each runs."""
    members = [pid for pid, fields in stats().items() if int(fields[3]) == sid and fields[0] != b"Z"]
    return {pid: found.replace("\0", " ") for pid in members if (found := command(pid)) is not None}
