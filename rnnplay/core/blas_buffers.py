"""OpenBLAS's buffers mapped before a training step, so that no product maps one while the step's arrays fill the
address space.

OpenBLAS gives each product it runs a buffer (:data:`.address_space.BLAS_BUFFER` of address space) from one
table for the whole process: a product takes the first buffer no other product is using, and maps a new one only
when every mapped buffer is in use; once mapped, a buffer stays for the process's life. Under an address-space
limit (``ulimit -v``) that mapping can fail, and OpenBLAS then prints "Memory allocation still failed after 10
retries" and ends the process. A first product made on each worker thread does not map one buffer a thread:
products that do not overlap share one, so four workers whose first products came one after another (a busy
machine) left two buffers mapped, and the step's four products at once mapped the others beside its arrays, about
one run in ten of ``tests/hostile/test_train.py``'s 2 GB case under load. :func:`hold` takes ``count`` buffers at
once through the table's own function, ``blas_memory_alloc`` (exported by OpenBLAS's builds, numpy's among them),
checking the room for one more before each, and gives them back: ``count`` stay mapped, and up to ``count``
products at once never map another. Where BLAS is not OpenBLAS, or the function is not there, nothing is done.
"""

from __future__ import annotations

import ctypes
import functools
import mmap
from collections.abc import Callable

from rnnplay.core import address_space

Table = tuple[Callable[[int], int | None], Callable[[int], None]]


def hold(count: int, doing: str) -> None:
    """Under an address-space limit, at least ``count`` of OpenBLAS's buffers mapped, or ``MemoryError``."""
    if address_space.limit() is None:
        return
    for take, give_back in tables():
        taken: list[int] = []
        try:
            while len(taken) < count:
                address_space.ensure_room(address_space.BLAS_BUFFER + mmap.PAGESIZE, doing)  # one more, if it maps
                buffer = take(0)  # 0: as a level-3 product asks
                if not buffer:
                    break  # the table is full: its buffers are all mapped
                taken.append(buffer)
        finally:
            for buffer in taken:
                give_back(buffer)


@functools.cache
def tables() -> tuple[Table, ...]:
    """``blas_memory_alloc`` and ``blas_memory_free`` of each OpenBLAS loaded in this process (numpy's)."""
    from threadpoolctl import ThreadpoolController  # found as BLAS is used, not by every command that imports this

    found = []
    for info in ThreadpoolController().select(internal_api="openblas").info():
        try:
            library = ctypes.CDLL(info["filepath"])
            take, give_back = library.blas_memory_alloc, library.blas_memory_free
        except (OSError, AttributeError):
            continue
        take.restype, take.argtypes = ctypes.c_void_p, [ctypes.c_int]
        give_back.restype, give_back.argtypes = None, [ctypes.c_void_p]
        found.append((take, give_back))
    return tuple(found)
