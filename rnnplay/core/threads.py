"""How many threads BLAS may use: the cores other processes leave free, chosen again while rnnplay runs.

Why: OpenBLAS splits every matrix product big enough between its threads and
waits for all of them before it returns. A training step is hundreds of such
products. When another process keeps a core busy, the scheduler keeps taking one
of our threads off its core, and the other waits for it, spinning, at every
product: the step gets slower than it would be on one thread alone. So:

* ``auto`` (the default): a background thread (:class:`Policy`) measures every
  :data:`INTERVAL` seconds how many cores other processes keep busy
  (:class:`OtherLoad`: the machine's busy time from ``/proc/stat`` minus this
  process's own CPU time; the load average where ``/proc`` is missing) and gives
  BLAS the cores they leave free (:func:`threads_for`), at least one and never
  more than BLAS started with (so ``OPENBLAS_NUM_THREADS`` still caps it).
* a number, from ``--threads N`` (every subcommand) or ``RNNPLAY_THREADS=N``: that
  many BLAS threads for the whole process; the flag wins over the variable.

Per call size there is nothing to add: OpenBLAS already keeps small products on
one thread. numba: the compiled LSTM kernels are plain ``njit`` loops (no
``parallel=True``), so they run on the thread that calls them, and numba's own
thread pool is never started.

Cores are busy for one of two reasons, and each has its answer here. Another
process keeps them busy: BLAS gets fewer threads (above). Training in this
process keeps them busy (the Session's background thread, which holds
:func:`busy_cores`): then BLAS's threads are the training's, and one-stream
generation beside it runs its products in its own compiled loop on one core
instead (:func:`cores_busy`, read by the LSTM's ``prepare_step``; see
:mod:`rnnplay.core.cells.lstm_kernels`). Another process's load alone does not
make :func:`cores_busy` true: the fewer BLAS threads already keep generation from
waiting on a busy core.

Training steps are the exception to all of the above: they split the batch's
streams into fixed chunks and run the chunks on their own worker threads,
``THREADS_PER_CORE`` per core (:mod:`rnnplay.core.parallel_step`), so BLAS
itself must stay on one thread while they run. :func:`one_blas_thread` asks the policy's thread for that (it stays
the only thread that sets BLAS's threads) and gives the count back afterwards.

Reproducibility: OpenBLAS's float32 products round the last bits differently for
each thread count. A training step runs every product on one BLAS thread whatever
the policy says, so the same seed gives the same weights on any load and any number
of cores. Elsewhere (validation, scoring) ``auto`` changes the count when the
machine's load changes, and the last bits of a loss may change with it.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, NamedTuple

from rnnplay.core import address_space
from rnnplay.core.errors import RnnplayError

if TYPE_CHECKING:
    from threadpoolctl import ThreadpoolController

ENV = "RNNPLAY_THREADS"
INTERVAL = 0.5  # seconds between two readings of the machine's load
TAKEN = 0.5  # a core counts as taken once other processes use more than this share of it ...
FREED = 0.25  # ... and as free again once they use less than this share
# /proc/stat's "cpu" line: user nice system (idle iowait) irq softirq steal; steal is time the hypervisor gave
# our cores to other machines, as good as taken
BUSY_FIELDS = (1, 2, 3, 6, 7, 8)

_claims = 0  # how many busy_cores() blocks are running, in any thread
_claims_lock = threading.Lock()
_policy: Policy | None = None  # made by the first start()
_chosen: str | None = None  # --threads's text, as choose() took it: what policy() starts with


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def fixed_count() -> int | None:
    """The thread count ``--threads N`` or ``RNNPLAY_THREADS=N`` fixed, once :func:`start` took it; else None."""
    return None if _policy is None else _policy.fixed


def parse_threads(text: str, source: str) -> int | None:
    """A thread count from the user (``source``: ``--threads `` or ``RNNPLAY_THREADS=``); None for ``auto``."""
    cores = usable_cores()
    value = text.strip().lower()
    if value == "auto":
        return None
    if re.fullmatch(r"[0-9]{1,6}", value) and 1 <= int(value) <= cores:
        return int(value)
    raise RnnplayError(
        f"{source}{text!r} is not a thread count: give a whole number from 1 to {cores} "
        f"(the cores rnnplay may use here), or 'auto' to follow the machine's load"
    )


def requested_threads(flag: str | None) -> int | None:
    """The fixed count that ``--threads`` (``flag``) or else ``RNNPLAY_THREADS`` asks for; None for auto."""
    if flag is not None:
        return parse_threads(flag, "--threads ")
    env = os.environ.get(ENV, "")
    return parse_threads(env, f"{ENV}=") if env.strip() else None


def blas_controller() -> ThreadpoolController:
    """threadpoolctl's handle on the BLAS libraries loaded in this process (numpy's OpenBLAS).

    Both are imported here, not with this module: the commands that multiply no matrices (``--help``, ``corpus``,
    ``plugins``, ``models``) import this module for :func:`choose` and need neither."""
    import numpy  # noqa: F401  (loads OpenBLAS, so that threadpoolctl finds it)
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController().select(user_api="blas")


def blas_threads(controller: ThreadpoolController | None = None) -> int:
    """How many threads BLAS uses now (the lowest, if several BLAS libraries are loaded)."""
    libraries = (blas_controller() if controller is None else controller).info()
    return min((lib["num_threads"] for lib in libraries), default=1)


def threads_for(others: float, cores: int, current: int) -> int:
    """BLAS threads for ``cores`` cores when other processes keep ``others`` cores busy; ``current`` now.

    A core counts as taken above :data:`TAKEN` of it and as free below :data:`FREED`;
    in between the count stays, so a noisy reading does not flip it back and forth.
    """
    fewest = cores - max(0, math.ceil(others - TAKEN))  # what a reading asks for if we go down
    most = cores - max(0, math.ceil(others - FREED))  # ... and if we go up
    if fewest < current:
        return max(1, fewest)
    if most > current:
        return max(1, most)
    return current


class CpuSample(NamedTuple):
    wall: float  # monotonic clock, seconds
    machine_busy: float | None  # CPU seconds all cores have been busy since boot; None without /proc/stat
    own: float  # CPU seconds this process has used, all its threads


class OtherLoad:
    """How many cores other processes kept busy between two calls of :meth:`read`."""

    def __init__(self) -> None:
        self._last = self._sample()

    def read(self) -> float:
        """Other processes' busy cores since the last reading (or since this object was made)."""
        last, now = self._last, self._sample()
        self._last = now
        wall = max(now.wall - last.wall, 1e-9)
        own = (now.own - last.own) / wall
        if now.machine_busy is not None and last.machine_busy is not None:
            busy = (now.machine_busy - last.machine_busy) / wall
        else:
            busy = load_average()
        return max(0.0, busy - own)

    @staticmethod
    def _sample() -> CpuSample:
        times = os.times()
        return CpuSample(time.monotonic(), machine_busy_seconds(), times.user + times.system)


def load_average() -> float:
    """Runnable threads, ours among them, over the last minute (0 where the OS does not say)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0


def machine_busy_seconds() -> float | None:
    """CPU seconds all cores have spent busy since boot, from ``/proc/stat``; None where it is missing."""
    try:
        with open("/proc/stat", "rb") as stat:
            fields = stat.readline().split()
        ticks = sum(int(fields[i]) for i in BUSY_FIELDS if i < len(fields))
        return ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


class Policy:
    """The one thread that sets BLAS's threads: a fixed count, or the cores other processes leave free.

    One thread for the process's life, because threadpoolctl lets only the first
    thread that sets OpenBLAS's threads set them again (its pool is shared by all
    threads; other threads' calls do nothing). Following the load, it reads
    :class:`OtherLoad` every :data:`INTERVAL` seconds and applies :func:`threads_for`.
    """

    def __init__(self, controller: ThreadpoolController, cores: int, ceiling: int) -> None:
        self.controller, self.cores, self.ceiling = controller, cores, ceiling
        self.fixed: int | None = None  # None: follow the load
        self.threads = blas_threads(controller)  # what BLAS has now
        self.wanted = self.threads  # what the fixed count or the load asks for (BLAS has 1 while held)
        self.holds = 0  # one_blas_thread() blocks running, in any thread
        self.others = 0.0  # the last reading of other processes' busy cores
        self._asking = threading.Lock()  # one request at a time
        self._asked = threading.Event()  # a new request (fixed/auto, hold/release) is waiting
        self._done = threading.Event()  # ... and has been applied
        self._new_fixed = False  # the waiting request changes fixed/auto (not only the holds)
        self._thread = threading.Thread(target=self._run, name="rnnplay-threads", daemon=True)
        self._thread.start()

    def ask(self, fixed: int | None) -> None:
        """Use ``fixed`` threads from now on (None: follow the load); returns once BLAS has them."""
        with self._asking:
            self.fixed, self._new_fixed = fixed, True
            self._request()

    def hold(self, change: int) -> None:
        """One more (``change`` 1) or one fewer (-1) block that needs BLAS on one thread; returns once applied."""
        with self._asking:
            self.holds += change
            self._request()

    def _request(self) -> None:
        self._done.clear()
        self._asked.set()
        while not self._done.wait(INTERVAL) and self._thread.is_alive():
            pass

    def _update(self, others: float) -> None:
        """Take a reading of other processes' busy cores; change BLAS's threads if it asks for it."""
        self.others = others
        self.wanted = min(self.ceiling, threads_for(others, self.cores, self.wanted))
        self._apply()

    def _run(self) -> None:
        """Apply each request as it comes, and read the load every INTERVAL while following it: also while
        requests keep coming (a training's steps hold and release BLAS's threads more often than that), or a
        validation between steps would run on a count read before the training started."""
        load = OtherLoad()
        next_reading = time.monotonic() + INTERVAL
        while True:
            following = self.fixed is None and self.ceiling > 1
            if self._asked.wait(max(0.0, next_reading - time.monotonic()) if following else None):
                self._asked.clear()
                try:
                    if self._new_fixed:
                        self.wanted, self._new_fixed = self.fixed or self.ceiling, False
                        load.read()  # the next reading starts now
                        next_reading = time.monotonic() + INTERVAL
                    self._apply()
                finally:
                    self._done.set()
            if following and time.monotonic() >= next_reading:
                self._update(load.read())
                next_reading = time.monotonic() + INTERVAL

    def _apply(self) -> None:
        threads = 1 if self.holds > 0 else self.wanted
        if threads != self.threads:
            self.controller.limit(limits=threads)
            self.threads = threads


def start(flag: str | None = None) -> Policy:
    """Apply the thread policy for this process (the CLI's dispatch, through :func:`policy`, for the commands that
    multiply matrices; again is fine). Returns it.

    ``flag`` is ``--threads``'s text, None when it was not given. A bad count raises
    RnnplayError before anything changes.
    """
    global _policy
    fixed = requested_threads(flag)
    if _policy is None:
        share_heap_under_limit()  # before the policy's and BLAS's threads first allocate
        controller = blas_controller()
        cores = usable_cores()
        ceiling = min(cores, blas_threads(controller))
        map_blas_buffers(controller, ceiling)
        _policy = Policy(controller, cores, ceiling)
    _policy.ask(fixed)
    return _policy


def map_blas_buffers(controller: ThreadpoolController, threads: int) -> None:
    """Under an address-space limit, BLAS's ``threads`` map their buffers now, or ``MemoryError``.

    OpenBLAS maps a buffer for a product when the ones it has mapped are all in use
    (:mod:`.blas_buffers`), keeps it for the process's life, and ends the process with its
    own message when the mapping fails. Made here, after :func:`.address_space.ensure_room`,
    a shortage is rnnplay's one line instead; one thread's product takes one buffer however
    many BLAS threads share it (theirs are their own). Without a limit there is nothing to
    fear and nothing is done.
    """
    if address_space.limit() is None:
        return
    address_space.ensure_room((threads + 1) * address_space.BLAS_BUFFER, "mapping BLAS's buffers")
    with controller.limit(limits=threads):
        first_product()


def first_product() -> None:
    """A product large enough for BLAS's packed path (which needs the buffers) and for its threads to share."""
    import numpy as np

    square = np.ones((512, 512), dtype=np.float32)
    square @ square


def choose(flag: str | None) -> None:
    """Take ``--threads``'s text (None: not given) for the policy :func:`policy` starts when first asked; a bad
    count raises RnnplayError now, whether or not the command multiplies any matrix."""
    global _chosen
    requested_threads(flag)
    _chosen = flag
    share_heap_under_limit()  # for the threads of a command that starts no policy, too


def share_heap_under_limit() -> None:
    """Under an address-space limit, threads that start from now on share the main heap
    (:func:`rnnplay.core.freed_memory.share_heap`): a thread's own arena would take 64 MiB of the limit."""
    if address_space.limit() is not None:
        from rnnplay.core import freed_memory  # glibc through ctypes: needed under a limit alone

        freed_memory.share_heap()


def policy() -> Policy:
    """The process's policy: the one :func:`start` made, or one started now (``--threads`` as :func:`choose` took
    it, else ``RNNPLAY_THREADS``, else auto)."""
    return _policy if _policy is not None else start(_chosen)


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """BLAS on one thread while the body runs, in every thread (the policy's thread sets it; nested is fine).

    For work that runs its own threads, one per core (:mod:`rnnplay.core.parallel_step`):
    BLAS's threads on top of them would fight them for the cores, and a product on one
    thread gives the same bits whatever the load.
    """
    held = policy()
    held.hold(1)
    try:
        yield
    finally:
        held.hold(-1)


@contextlib.contextmanager
def busy_cores() -> Iterator[None]:
    """While the body runs, other work in this process keeps the cores busy (training, in the TUI and REPL)."""
    global _claims
    with _claims_lock:
        _claims += 1
    try:
        yield
    finally:
        with _claims_lock:
            _claims -= 1


def cores_busy() -> bool:
    """True inside a :func:`busy_cores` of any thread."""
    return _claims > 0
