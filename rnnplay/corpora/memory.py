"""The memory this process may use: its hard limits, and what is free to take now.

Hard limits end a process that passes them, or refuse its mappings: a memory control group's limit (a container,
systemd's MemoryMax=: killed with no word), the machine's RAM (:func:`memory_limit`), the address-space limit
(``ulimit -v``, :mod:`rnnplay.core.address_space`). What is free now (:func:`available_now`: MemAvailable, what a
cgroup's limit leaves beside its usage) moves as other programs take and free memory. A text held whole is weighed
against what is free now (:func:`memory_room`); a training run is refused only past a hard limit and warned of
past what is free now (:mod:`rnnplay.session.memory_room`). ``$RNNPLAY_CGROUP_ROOT`` lays a cgroup out for tests.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from rnnplay.core import address_space

MARGIN = 0.1  # the share of the memory available now a text held whole leaves to spare (docs/inspect.md)


def usable_memory() -> int | None:
    """Bytes of memory this process may use: the machine's RAM, or less where a control group limits it (a
    container, systemd's MemoryMax=, which ends a process past it with no word); None where nothing says."""
    limit = memory_limit()
    return limit[0] if limit else None


def memory_room() -> tuple[int, str] | None:
    """The bytes a text held whole may take now (:func:`available_memory` less MARGIN) and, in words, whence."""
    room = available_memory()
    return (int(room[0] * (1 - MARGIN)), f"{room[1]}, {room[0]:,} bytes, less {MARGIN:.0%}") if room else None


def available_memory() -> tuple[int, str] | None:
    """Bytes free to take now and, in words, whence: the lowest of :func:`available_now` and what ``ulimit -v``
    leaves to map; None where nothing says (not the RAM: others hold some)."""
    mappable = address_space.room()
    rooms = [room for room in (available_now(), (mappable, "what the address-space limit leaves (ulimit -v)"))
             if room is not None and room[0] is not None]
    return min(rooms, key=lambda room: room[0]) if rooms else None


def available_now() -> tuple[int, str] | None:
    """The memory free now, and whence: the lower of MemAvailable and what a memory cgroup's limit leaves beside its
    usage (:func:`in_use`). Others hold the rest and may free it: a figure to warn by, not a limit."""
    rooms = [(n, what) for n, what in ((_mem_available(), "the memory available now (MemAvailable)"),
                                       (_cgroup_limit(*_cgroup_places(), left=True),
                                        "what the memory cgroup's limit leaves")) if n is not None]
    return min(rooms, key=lambda room: room[0]) if rooms else None


def in_use(group: Path, usage: str) -> int:
    """A cgroup's usage less the file cache it may drop (memory.stat's inactive_file), as docker stats counts it."""
    stat = group / "memory.stat"
    cache = dict(line.split()[:2] for line in stat.read_text().splitlines() if " " in line) if stat.is_file() else {}
    dropped = cache.get("total_inactive_file", cache.get("inactive_file", 0))  # v1's total_ counts the children's
    return max(0, int((group / usage).read_text()) - int(dropped))


def _mem_available() -> int | None:
    """The kernel's estimate of the memory that can be taken without swapping (/proc/meminfo), or None."""
    with contextlib.suppress(OSError, ValueError, IndexError, StopIteration), open("/proc/meminfo") as meminfo:
        return next(int(line.split()[1]) * 1024 for line in meminfo if line.startswith("MemAvailable:"))
    return None


def memory_limit() -> tuple[int, str] | None:
    """:func:`usable_memory` and, in words, whence ("the memory cgroup's limit", "the machine's RAM"); or None."""
    limits = [(n, what) for n, what in ((_cgroup_limit(*_cgroup_places()), "the memory cgroup's limit"),
                                        (_ram(), "the machine's RAM")) if n]
    return min(limits, key=lambda limit: limit[0]) if limits else None


def _cgroup_places() -> tuple[Path, Path]:
    """Where :func:`_cgroup_limit` reads: /proc/self/cgroup and /sys/fs/cgroup; for tests only,
    ``$RNNPLAY_CGROUP_ROOT`` stands for /sys/fs/cgroup and its file ``self.cgroup`` for /proc/self/cgroup."""
    root = os.environ.get("RNNPLAY_CGROUP_ROOT")
    if root:
        return Path(root) / "self.cgroup", Path(root)
    return Path("/proc/self/cgroup"), Path("/sys/fs/cgroup")


def resident_memory() -> int:
    """Bytes of memory this process holds now (its resident set; 0 where the system does not say)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        return 0


def _ram() -> int | None:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def _cgroup_limit(proc: Path = Path("/proc/self/cgroup"), root: Path = Path("/sys/fs/cgroup"),
                  left: bool = False) -> int | None:
    """The lowest memory limit of this process's control group and its parents (cgroup v2's ``memory.max``, v1's
    ``memory.limit_in_bytes``), or None when none is set or readable. ``proc`` and ``root``: where the system
    says which group the process is in, and where the groups' files are. ``left``: each limit less its group's
    usage (``memory.current``, ``memory.usage_in_bytes``), what the limit leaves now."""
    try:
        lines = proc.read_text().splitlines()
    except OSError:
        return None
    found = []
    for line in lines:
        _, controllers, group = [*line.split(":", 2), "", ""][:3]
        if controllers == "":
            base, name, usage = root, "memory.max", "memory.current"
        elif "memory" in controllers.split(","):
            base, name, usage = root / "memory", "memory.limit_in_bytes", "memory.usage_in_bytes"
        else:
            continue
        folder = base / group.strip("/")
        for level in [folder, *folder.parents]:
            with contextlib.suppress(OSError, ValueError):
                text = (level / name).read_text().strip()
                if text.isdigit():
                    found.append(int(text) - (in_use(level, usage) if left else 0))
            if level == base:
                break
    return min(found) if found else None
