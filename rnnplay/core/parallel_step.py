"""One training step split over the batch's streams, the chunks on a pool of worker threads.

The B streams of a batch are independent through the whole forward and backward
pass; only the parameter gradients add up over them. With the streams cut into
fixed chunks S_1 … S_K (:func:`chunk_bounds`, a function of B and the model's shape alone)::

    L     = (1/(B·T)) Σ_k Σ_{b∈S_k} Σ_t -log p_t,b[y_t,b]
    ∂L/∂θ = Σ_k ∂L_k/∂θ,    L_k = the chunk's terms of L, dL_k/dlogits = (p - onehot(y)) / (B·T)

Each chunk runs the model's own forward and backward on its columns of the batch,
its rows of the carried states and its columns of the dropout masks (drawn for
the whole batch first, as the unchunked step draws them). A queue of chunks feeds
the workers, so a worker whose core another process shares simply takes fewer of
them. The chunks' losses and gradients are summed in chunk order as they come in
(:class:`ChunkSum`: chunk k is added once chunks 0 … k are done, then let go, so a
step holds a few chunks' gradients at a time rather than all K), and every
product runs on one BLAS thread (:func:`rnnplay.core.threads.one_blas_thread`):
the result does not depend on how many workers there are, which worker took which
chunk, or the machine's load — the same seed gives the same weights, bit for bit.
So under an address-space limit (``ulimit -v``) that leaves no room for every worker's
stack, malloc arena and BLAS buffer, the pool has the workers that fit, and with none the
calling thread takes the chunks (:func:`fitting`; the run says so once, :func:`take_notes`).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_all
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

from rnnplay.core import address_space, blas_buffers, freed_memory, jit, ops, optim, products, step_memo, threads
from rnnplay.core.errors import counted

if TYPE_CHECKING:
    from rnnplay.core.dropout import Masks
    from rnnplay.core.model import Model, States

CHUNK = 16  # streams per chunk: K = ⌈B/CHUNK⌉ chunks, whatever the machine's cores or its load (performance.md)
WIDE_CHUNK = 32  # streams per chunk of a model whose per-step products are small (chunk_size)
NARROW_CHUNK = 8  # streams per chunk of a model whose loops over time are compiled whole (chunk_size)
SMALL_STEP = 1 << 16  # Σ over layers of |W_hh| below which a model's products count as small
WORKERS: int | None = None  # worker threads; None: THREADS_PER_CORE per core this process may use
THREADS_PER_CORE = 4  # the scheduler shares a core between its runnable threads: see worker_count

Grads = dict[str, np.ndarray]
ChunkResult = tuple[float, Grads, "States"]

_pools: dict[int, ThreadPoolExecutor | None] = {}  # None: no room for a thread (fitting)
notes: list[str] = []  # what the user is to be told about the worker threads (take_notes)
_pools_lock = threading.Lock()


def chunked(model: Model) -> bool:
    """Whether ``model``'s training steps take the chunked path: float32 models (float64 is for checks)."""
    return model.dtype == np.float32


def chunk_bounds(batch_size: int, chunk: int | None = None) -> list[tuple[int, int]]:
    """The streams [lo, hi) of each chunk, in order: chunks of ``chunk`` (default CHUNK) streams, the last shorter."""
    chunk = chunk or CHUNK
    return [(lo, min(lo + chunk, batch_size)) for lo in range(0, batch_size, chunk)]


def chunk_size(model: Model) -> int:
    """Streams per chunk for ``model``: CHUNK; WIDE_CHUNK when its per-step products are small; NARROW_CHUNK when
    its loops over time run compiled whole.

    A chunk of b streams does b·Σ|W_hh| multiply-adds per time step (Σ over the layers' W_hh,
    4H² for an LSTM layer, H² for the vanilla RNN's), beside a fixed number of calls from
    Python. Below SMALL_STEP (the RNN at H = 128: 128² = 16,384) the calls set the pace, and
    half as many chunks twice as wide go faster; above it, narrower chunks keep more workers
    busy. Where the cell runs its loops over time as one compiled call (``cell.compiled_loops``,
    the LSTM's :mod:`.cells.lstm_loops`), the calls hold the interpreter's lock once per layer,
    and chunks of NARROW_CHUNK on THREADS_PER_CORE workers a core keep their speed quiet and
    most of it beside another busy process. A function of the model's shape, its training
    precision and the kernels this machine runs, never of the load: a seed's run repeats bit for bit.
    Where the products run on AMX tiles of 16 rows (bfloat16, :mod:`.amx_tiles`), a chunk has 16
    streams, so that the per-step products fill them.
    """
    step = sum(p.size for name, p in model.params.items() if name.endswith("W_hh"))
    compiled = getattr(model.cell, "compiled_loops", None)
    return chunk_streams(step, lambda: compiled is not None and compiled(model.dtype, model.products,
                                                                         model.hidden_size),
                         lambda: products.rows_filling_tiles(model.products))


def chunk_streams(step: int, compiled: Callable[[], bool], tile_rows: Callable[[], int | None] = lambda: None) -> int:
    """:func:`chunk_size` for models whose W_hh hold ``step`` values in all, ``compiled()`` saying whether the
    cell's loops over time run compiled whole, and ``tile_rows()`` the rows that fill the tiles of the kernels
    their products run on, where those tiles are larger than NARROW_CHUNK (each asked only where it decides)."""
    if 0 < step < SMALL_STEP:
        return WIDE_CHUNK
    if not compiled():
        return CHUNK
    return max(NARROW_CHUNK, tile_rows() or 0)


def worker_count() -> int:
    """How many worker threads take chunks: WORKERS if set, else the count ``--threads N`` fixed, else
    THREADS_PER_CORE per usable core.

    More workers than cores, because the scheduler gives each runnable thread on a
    core an equal share of it: beside another process's busy thread, one worker gets
    half that core and four get four fifths, while the chunk queue keeps the workers on
    the free core busy. On a quiet machine the extra threads cost little: a chunk's
    work is long next to a switch between threads. ``--threads N`` asks for N threads
    busy at once, so N workers. The count never changes the result.
    """
    return WORKERS or threads.fixed_count() or THREADS_PER_CORE * threads.usable_cores()


def pool(workers: int | None = None) -> ThreadPoolExecutor | None:
    """The persistent pool of ``workers`` threads (default: :func:`worker_count`), or of as many as the
    address-space limit leaves room for (:func:`fitting`); None when not one fits: the caller runs the chunks."""
    n = workers or worker_count()
    with _pools_lock:
        if n not in _pools:
            fit = fitting(n)
            _pools[n] = _pools.get(fit) or (started_pool(fit) if fit else None)
        return _pools[n]


def fitting(n: int) -> int:
    """``n``, or fewer under an address-space limit that leaves no room for ``n`` threads' mappings beside the
    training run's arrays (:func:`.address_space.set_aside`); a note says so.

    The result is the same on any number of workers (the chunks are summed in order), and on
    none: the calling thread then takes the chunks one by one.
    """
    each = address_space.thread_room(arena=not freed_memory.shared()) + address_space.worker_arrays()
    fit = address_space.threads_fitting(n, each)
    if fit < n:
        instead = counted(fit, "worker thread") if fit else "no worker threads (the step's chunks run one by one)"
        notes.append(f"{instead} instead of {n}: {address_space.described()} leaves room for no more beside the "
                     f"step's arrays, as each maps {each // address_space.MIB} MiB of address space (its stack, its "
                     "BLAS buffer, its chunk's arrays); the results are the same, only slower")
    return fit


def take_notes() -> list[str]:
    """The notes on worker threads not started (:func:`fitting`) since the last call, each once."""
    taken = notes[:]
    del notes[: len(taken)]
    return taken


def started_pool(n: int) -> ThreadPoolExecutor:
    """A pool of ``n`` threads that have all started and made their first product, or ``MemoryError``.

    Under an address-space limit, the room the threads will map is checked first
    (:mod:`.address_space`), and OpenBLAS's buffers are mapped for every thread that may make a
    product at once (:mod:`.blas_buffers`), so the step's products map none beside its arrays; a
    thread that still cannot start (``RuntimeError``) lets the ones already started go, so none of
    them waits for it when the process ends.
    """
    address_space.ensure_room(n * address_space.thread_room(arena=not freed_memory.shared()),
                              f"starting {n} worker threads")
    executor = ThreadPoolExecutor(n, thread_name_prefix="rnnplay-step")
    ready = threading.Barrier(n)  # n tasks that wait for each other: every thread of the pool starts now
    futures: list[Future[None]] = []
    try:
        for _ in range(n):
            futures.append(executor.submit(first_product, ready))
        for future in futures:
            future.result()
        held = sum(_pools) + n + 1  # every pool's workers, and a product beside them (a validation, a generation)
        blas_buffers.hold(held, f"mapping BLAS's buffers for {n} worker threads")
    except (RuntimeError, MemoryError) as err:  # "can't start new thread", or no room for a first product
        ready.abort()
        executor.shutdown(wait=True, cancel_futures=True)
        raise MemoryError(f"cannot start {n} worker threads ({err})") from None
    return executor


def first_product(ready: threading.Barrier) -> None:
    """A worker's first BLAS product, made when the pool starts: what BLAS maps for a thread is mapped now.

    Made later, beside a chunk's arrays, that mapping can be what finds memory exhausted,
    and OpenBLAS then ends the process instead of raising MemoryError. Its buffers, shared by
    products that do not overlap, are mapped one a thread by :func:`.blas_buffers.hold`.
    """
    ready.wait()
    threads.first_product()


def loss_and_grads(
    model: Model,
    inputs: np.ndarray,
    targets: np.ndarray,
    states: States,
    rng: np.random.Generator | None = None,
    *,
    workers: int | None = None,
) -> tuple[float, Grads, States]:
    """:meth:`Model.loss_and_grads`, chunk by chunk on ``workers`` threads (default: :func:`worker_count`)."""
    T, B = inputs.shape[:2]
    freed_memory.keep()  # the next step reuses this one's memory (freed_memory)
    for module in (ops.SCATTER_KERNELS, optim.UPDATE_KERNELS):  # compiled before the step's arrays, not in its
        jit.load(module)  # backward and update beside them (LLVM's peak and theirs added: docs/training.md)
    masks = model.dropout_masks(rng, T, B)
    bounds = chunk_bounds(B, chunk_size(model))
    with threads.one_blas_thread():
        if len(bounds) == 1:  # one chunk: no hand-off
            summed = ChunkSum()
            summed.add(chunk_loss_and_grads(model, inputs, targets, states, masks, B * T))
        else:
            summed = run_chunks(model, inputs, targets, states, masks, bounds, workers)
    return summed.total(B * T)


def run_chunks(model: Model, inputs: np.ndarray, targets: np.ndarray, states: States, masks: Masks,
               bounds: list[tuple[int, int]], workers: int | None, total: int | None = None) -> ChunkSum:
    """The chunks computed on the pool, each added into the sum, in chunk order, as soon as it and the chunks
    before it are done; its gradients then let go.

    At most one chunk a worker is handed out and not yet added: the next goes to the pool as the first is added.
    Handed out all at once, the chunks a worker finished while the one before them was still running kept their
    gradients until it ended, up to all K sets (docs/training.md, "Memory a run needs").

    ``total``: the characters the gradients are a mean over (default: these ``inputs``'; a data-parallel
    worker, whose inputs are a shard of the batch, gives the whole batch's).

    If the caller is interrupted (Ctrl-C) while it waits or adds, the chunks not started are
    cancelled and the running ones finish before the interrupt goes on, so no
    worker is still reading the weights when the caller changes them.
    """
    window = workers or min(worker_count(), len(bounds))  # no idle threads in the pool
    executor = pool(window)
    memo = step_memo.StepMemo()  # what every chunk derives from the weights, made once (step_memo)
    tasks = chunk_tasks(model, inputs, targets, states, masks, bounds, total or inputs.shape[0] * inputs.shape[1],
                        memo)
    summed = ChunkSum()
    if executor is None:  # no room for a worker thread (fitting): the chunks one by one, in this thread
        for task in tasks:
            summed.add(chunk_loss_and_grads(*task))
        return summed
    futures: list[Future[ChunkResult]] = []
    with all_finished(futures):
        for task in itertools.islice(tasks, window):
            futures.append(executor.submit(chunk_loss_and_grads, *task))
        while futures:
            summed.add(futures[0].result())
            del futures[0]  # the future held the chunk's result: its gradients go with it
            futures.extend(executor.submit(chunk_loss_and_grads, *task) for task in itertools.islice(tasks, 1))
    return summed


def chunk_tasks(model: Model, inputs: np.ndarray, targets: np.ndarray, states: States, masks: Masks,
                bounds: list[tuple[int, int]], total: int, memo: step_memo.StepMemo) -> Iterator[tuple[Any, ...]]:
    """The arguments of :func:`chunk_loss_and_grads` for each chunk of ``bounds``, in order."""
    for lo, hi in bounds:
        part = slice(lo, hi)
        chunk_states, chunk_masks = streams_part(states, masks, part)
        yield model, inputs[:, part], targets[:, part], chunk_states, chunk_masks, total, memo


@contextmanager
def all_finished(futures: list[Future[Any]]) -> Iterator[None]:
    """If the block is interrupted (Ctrl-C, or a task's error), ``futures`` not started are cancelled and the
    running ones finish before the exception goes on: no worker still reads or writes the arrays after it."""
    try:
        yield
    except BaseException:
        for f in futures:
            f.cancel()
        wait_all(futures)
        raise


def streams_part(states: States, masks: Masks, part: slice) -> tuple[States, Masks]:
    """The carried states and dropout masks of the streams ``part`` (a state's rows; :meth:`.Masks.streams`)."""
    return [tuple(s[part] for s in state) for state in states], masks.streams(part)


def chunk_loss_and_grads(model: Model, inputs: np.ndarray, targets: np.ndarray, states: States, masks: Masks,
                         total: int, memo: step_memo.StepMemo | None = None) -> ChunkResult:  # fmt: skip
    """One chunk's summed loss (nats), its share of the gradients of the batch mean, its carried-out states.

    Its products run in the model's training precision (``model.products``, :mod:`.products`);
    ``memo``: the step's arrays made once for all its chunks (:mod:`.step_memo`). The states are
    copies: a cell's are views of its forward's (T+1, b, H) arrays, which they kept alive with every
    chunk's result until the step ended, and past it with a one-chunk step's (docs/training.md).
    """
    with products.precision(model.products), step_memo.sharing(memo):
        logits, new_states, cache = model.forward(inputs, states, masks=masks)
        T, b, V = logits.shape
        loss_sum, dlogits = cross_entropy_sum(logits.reshape(T * b, V), targets.reshape(T * b), total)
        kept = [tuple(s.copy() for s in state) for state in new_states]
        return loss_sum, model.backward(dlogits.reshape(T, b, V), cache), kept


def cross_entropy_sum(logits: np.ndarray, targets: np.ndarray, total: int) -> tuple[float, np.ndarray]:
    """(Σ_n -log p[n, k_n], (p - onehot(k)) / total) for logits (N, V): the chunk's part of a mean over ``total``.

    The same shifted softmax as :func:`rnnplay.core.loss.cross_entropy_with_grad`, divided
    by the batch's character count rather than the chunk's.
    """
    rows = np.arange(len(targets))
    shifted = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(shifted)
    sums = probs.sum(axis=1, keepdims=True)
    loss_sum = float(np.sum(np.log(sums[:, 0]) - shifted[rows, targets], dtype=np.float64))
    probs /= sums
    probs[rows, targets] -= 1.0
    probs /= total
    return loss_sum, probs


class ChunkSum:
    """Chunks' (loss sum, gradients, carried-out states) added one at a time, in chunk order.

    The first chunk's gradient arrays are fresh and become the sum; each later chunk's are
    added into them (``g0 + g1 + g2 …``, the order that makes a step repeat bit for bit) and
    are not kept. The states are kept, in order, to be joined by :meth:`total`.
    """

    def __init__(self) -> None:
        self.loss = 0.0
        self.grads: Grads | None = None
        self.states: list[States] = []

    def add(self, result: ChunkResult) -> None:
        """Add the next chunk's result."""
        loss, grads, states = result
        self.loss += loss
        if self.grads is None:
            self.grads = grads
        else:
            for name, g in grads.items():
                self.grads[name] += g
        self.states.append(states)

    def total(self, total: int) -> tuple[float, Grads, States]:
        """(mean loss over ``total`` characters, gradients, carried-out states of all the chunks' streams)."""
        if self.grads is None:
            raise ValueError("no chunk was added")
        states = [join_states([chunk[i] for chunk in self.states]) for i in range(len(self.states[0]))]
        return self.loss / total, self.grads, states


def sum_chunks(results: Iterable[ChunkResult], total: int) -> tuple[float, Grads, States]:
    """(mean loss, gradients, carried-out states) of the whole batch from its chunks', added in chunk order."""
    summed = ChunkSum()
    for result in results:
        summed.add(result)
    return summed.total(total)


def join_states(parts: list[Any]) -> tuple[np.ndarray, ...]:
    """One layer's state for all streams from its chunks' (each a tuple of (b, H) arrays), in chunk order."""
    if len(parts) == 1:
        return tuple(parts[0])
    return tuple(np.concatenate(arrays) for arrays in zip(*parts, strict=True))
