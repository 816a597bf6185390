"""The address-space limit (``ulimit -v``), and room under it checked before threads start.

Under an address-space limit every mapping counts, touched or only reserved. A new
thread maps its stack, the C library gives it a malloc arena, and OpenBLAS maps a
buffer for a product that finds all those it has mapped in use (:mod:`.blas_buffers`
maps them before a step). The first two fail as a ``RuntimeError`` or a
``MemoryError`` that rnnplay can turn into one line; OpenBLAS's does not fail at all:
it prints its own message and ends the process, and neither does LLVM's while numba
compiles a kernel (``std::bad_alloc``). So before worker threads start,
:func:`ensure_room` maps (without touching) what they will map, gives it back, and
raises ``MemoryError`` if the limit does not leave it; before numba compiles,
:func:`has_room` asks the same, and the numpy code runs instead. Without a limit nothing is
checked: a machine's real memory is not what ``mmap`` of untouched pages measures.

Numba and the worker threads are what a training run can go without, and they come first,
in its first step, before its arrays: taking the room as they found it, they left the step
none (a run that fitted without them failed in its step). So the check before a run
(:mod:`rnnplay.session.memory_room`) sets aside what its arrays map (:func:`set_aside`), and
:func:`has_spare_room` and :func:`threads_fitting` grant only what lies beyond it.
"""

from __future__ import annotations

import mmap
import threading

try:
    import resource
except ImportError:  # Windows: no address-space limits to respect
    resource = None  # type: ignore[assignment]

MIB = 1 << 20
MALLOC_ARENA = 64 * MIB  # glibc's per-thread arena on 64-bit systems (HEAP_MAX_SIZE), where threads do not share one
BLAS_BUFFER = 32 * MIB  # OpenBLAS's per-thread buffer (BUFFER_SIZE of its x86-64 builds)
COMPILER = 64 * MIB  # what LLVM may map while numba compiles a kernel module or loads it from its cache
NUMBA = 256 * MIB  # importing numba maps LLVM's library and numba's own, then compiles: COMPILER and more


_aside = (0, 0)  # (bytes a training run's arrays map with one chunk in flight, and more for each worker's chunk)


def set_aside(run: int, per_worker: int) -> None:
    """Keep ``run`` bytes, and ``per_worker`` more for each worker thread started, out of what :func:`has_spare_room`
    and :func:`threads_fitting` grant: a training run's arrays (until the next run's check sets its own)."""
    global _aside
    _aside = (max(run, 0), max(per_worker, 0))


def limit() -> int | None:
    """The soft address-space limit in bytes, or None when there is none."""
    if resource is None:
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    return None if soft == resource.RLIM_INFINITY else soft


def room() -> int | None:
    """Bytes the address-space limit leaves to map now (the limit less what is mapped), or None without one."""
    bytes_ = limit()
    if bytes_ is None:
        return None
    try:
        with open("/proc/self/statm") as statm:
            mapped = int(statm.read().split()[0]) * mmap.PAGESIZE
    except (OSError, ValueError, IndexError):
        return bytes_
    return max(bytes_ - mapped, 0)


def described() -> str:
    """``"the address-space limit of 390 MiB (ulimit -v)"`` when one is set, else ``""``."""
    bytes_ = limit()
    return "" if bytes_ is None else f"the address-space limit of {bytes_ // MIB:,} MiB (ulimit -v)"


def advice() -> str:
    """``"raise the address-space limit of 390 MiB (ulimit -v), or "`` when one is set, else ``""``: the
    first thing to try when memory runs out under a limit."""
    limited = described()
    return f"raise {limited}, or " if limited else ""


def thread_room(arena: bool = True) -> int:
    """What one more thread that makes BLAS products maps: its stack, its BLAS buffer and, with ``arena``, its malloc
    arena (not where the process's threads share one heap: :func:`rnnplay.core.freed_memory.shared`)."""
    stack = threading.stack_size()
    if not stack and resource is not None:
        soft, _ = resource.getrlimit(resource.RLIMIT_STACK)
        stack = soft if soft != resource.RLIM_INFINITY else 0
    return (stack or 8 * MIB) + (MALLOC_ARENA if arena else 0) + BLAS_BUFFER


def ensure_room(nbytes: int, doing: str) -> None:
    """Raise ``MemoryError`` when the address-space limit leaves less than ``nbytes`` for ``doing``."""
    if not has_room(nbytes):
        raise MemoryError(f"{doing} needs {nbytes // MIB:,} MiB more than the limit leaves")


def has_room(nbytes: int) -> bool:
    """Whether the address-space limit, if any, leaves ``nbytes`` to map (mapped and given back at once)."""
    if limit() is None or nbytes <= 0:
        return True
    try:
        probe = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, prot=mmap.PROT_READ)
    except OSError:
        return False
    probe.close()
    return True


def has_spare_room(nbytes: int) -> bool:
    """:func:`has_room` for ``nbytes`` beside what a training run set aside for its arrays (:func:`set_aside`)."""
    return has_room(nbytes + _aside[0])


def worker_arrays() -> int:
    """What each worker thread's chunk adds to a training run's arrays (:func:`set_aside`)."""
    return _aside[1]


def threads_fitting(wanted: int, each: int) -> int:
    """How many of ``wanted`` threads that each map ``each`` bytes the limit leaves room for now beside a training
    run's arrays (:func:`set_aside`; 0 … ``wanted``); ``wanted`` without a limit."""
    left = room()
    return wanted if left is None else max(0, min(wanted, (left - _aside[0]) // each))
