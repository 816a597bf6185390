"""Memory a training step frees, kept by malloc for the next step instead of handed back to the kernel.

Every chunk of a training step allocates its activations afresh — the gates, the
states, their gradients, megabytes each — and frees them when it ends. glibc's malloc
serves blocks above its mmap threshold (128 KiB at first, moved up as big blocks are
freed) with fresh mappings that it unmaps when they are freed, and it trims the top
of its heaps once more than its trim threshold is free there. Either way the next
step's arrays land on pages the kernel must map and zero again, one page fault per
4 KiB, on the same cores the step runs on (how much that costs:
docs/training.md, "Memory kept between steps").

:func:`keep` raises both thresholds for this process (``mallopt``), so arrays up to
:data:`KEPT_BLOCK` come from malloc's heaps and stay mapped once freed, to be reused
by the next step; and it has threads started from then on (the step's workers) share
the one heap, where what a chunk freed serves the next chunk on any worker, and where
:func:`give_back` (``malloc_trim``) can return it all when a training ends — malloc
trims the top of a thread's own heap only when that thread frees into it again. Under an
address-space limit (``ulimit -v``) every thread shares that heap from its start
(:func:`share_heap`): a thread's own arena is 64 MiB of the limit, mapped at its first
``malloc`` only where the limit leaves room for it, so what a run found mapped had
depended on when the threads it had started first allocated. With a C library other
than glibc, all of these do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import threading

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8  # mallopt's parameters, from glibc's malloc.h
KEPT_BLOCK = 32 << 20  # the largest mmap threshold glibc accepts on 64-bit: blocks below it come from the heaps
KEPT_FREE = 1 << 30  # free memory at a heap's top that malloc keeps rather than trims

_lock = threading.Lock()
_kept = False
_shared = False


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    """The process's C library when it is glibc (it has ``mallopt`` and ``malloc_trim``), else None."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    if libc is None or not all(hasattr(libc, f) for f in ("mallopt", "malloc_trim", "gnu_get_libc_version")):
        return None
    return libc


def keep() -> None:
    """From now on, keep the memory freed between training steps in this process's heaps (once per process)."""
    global _kept
    with _lock:
        if _kept:
            return
        _kept = True
        libc = _glibc()
        if libc is not None:
            libc.mallopt(M_MMAP_THRESHOLD, KEPT_BLOCK)
            libc.mallopt(M_TRIM_THRESHOLD, KEPT_FREE)
    share_heap()


def share_heap() -> None:
    """Threads that first allocate from now on use the main heap instead of mapping an arena each (a thread that has
    allocated keeps its arena: call it before any thread starts)."""
    global _shared
    libc = _glibc()
    with _lock:
        if libc is not None and not _shared:
            _shared = True
            libc.mallopt(M_ARENA_MAX, 1)


def shared() -> bool:
    """Whether threads started from now on share the heap (:func:`share_heap` ran, with glibc): they map no arena
    of their own."""
    return _shared


def give_back() -> None:
    """Return the heaps' free memory to the system: a training has ended and its steps' arrays are gone."""
    libc = _glibc() if _kept else None
    if libc is not None:
        libc.malloc_trim(0)
