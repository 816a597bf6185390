"""The processes below a test's command, found in /proc by what they run, and the processor time they used."""

from __future__ import annotations

from pathlib import Path


def processes_below(driver: int, command: str) -> set[int]:
    """PIDs of the processes below ``driver`` whose program (or title, as Ray sets it) holds ``command``."""
    parents: dict[int, int] = {}
    titles: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                titles[int(entry.name)] = (entry / "cmdline").read_bytes().decode(errors="replace")
            except (OSError, IndexError, ValueError):
                continue

    def below(pid: int) -> bool:
        while pid > 1:
            pid = parents.get(pid, 0)
            if pid == driver:
                return True
        return False

    return {pid for pid, title in titles.items() if command in title.split("\0")[0] and below(pid)}


def cpu_ticks(pids: set[int]) -> int:
    """The processor time ``pids`` have used, in clock ticks (user and system)."""
    stats = [Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split() for pid in pids]
    return sum(int(fields[11]) + int(fields[12]) for fields in stats)


def in_session(sid: int) -> dict[int, str]:
    """The live processes (zombies left out) of the session ``sid``, by PID: what each runs."""
    found = {}
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == sid and fields[0] != "Z":
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
    return found
