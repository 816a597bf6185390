"""What a training run will hold in memory, estimated from its shapes before anything is allocated.

A run past its memory limit does not fail politely: a memory control group ends the
process with SIGKILL (no swap) or makes it thrash for minutes (with swap, or page
cache to drop). So the run's own peak is estimated first, from the terms below, and
the session compares it with the memory left (:mod:`rnnplay.session.memory_room`).
The constants were fitted to the peak resident memory of real runs with 1, 2 and 8 worker
threads and a cold numba cache, and set a little above them (docs/training.md, "Memory a run
needs", has the table)::

    weights      P · (1 + 2·(1 + slots) + 2 + 1)     weights; optimizer slots and the staged update of both;
                                                     the average and its update; what the chunks share
    gradients    P · min(K, workers + 1)             the running sum and the sets of the chunks in flight or done
                                                     and not yet added (each added in chunk order, then freed)
    activations  B·T · 0.4·L·H                        per character of the batch: its dropout masks (booleans, a
                                                     quarter of a float), the rest what malloc's heap keeps of the
                                                     chunks' turnover (fitted)
               + b·T · (2·Σ_l (gates_l + H) + 3·V)    what each chunk in flight keeps for backpropagation
    runtime      RUNTIME + THREAD · workers (+ COMPILER while numba is still to load, + LOOPS_COMPILER while a cell's
                 loops over time are still to compile)
    corpus       the ids of a text held in memory, twice (0 for a memory-mapped id file)

with P parameters of the model's dtype, K = ⌈B / chunk⌉ chunks, b = min(B, workers · chunk)
streams in flight and gates_l the columns of layer l's recurrent weights (4H for an LSTM).

Under an address-space limit (``ulimit -v``) what counts is what the run maps, and numba and the
worker threads are not needed: they start only where the limit leaves room beside the step's arrays
(:func:`rnnplay.core.address_space.set_aside`). So ``mapped`` is the run with one chunk in flight, of
the width it has without the compiled loops: the weights' terms, two gradient sets, the batch's
dropout masks (a byte per layer, unit and character), that chunk's kept arrays, MAPPED_RUNTIME and
the corpus; each worker adds ``worker_mapped``, its chunk's arrays and one more gradient set. One
chunk at a time leaves little turnover in malloc's heap: the lowest limits real runs pass were
fitted (docs/training.md, "Memory a run needs").
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

MIB = 1 << 20
RUNTIME = 20 * MIB  # what a first training step adds besides its arrays and threads: BLAS, malloc, loaded code
THREAD = 1 * MIB  # each worker thread: its stack and BLAS buffer as touched (they share the heap: freed_memory)
COMPILER = 110 * MIB  # numba and LLVM, imported and compiling a step's kernels afresh (a cold cache: the worst case)
LOOPS_COMPILER = 35 * MIB  # LLVM compiling an LSTM's loops over time, once a process (never cached on disk)
BATCH_FLOATS = 0.4  # per layer and unit, per character of the batch: the dropout masks and the heap's turnover
KEPT_FLOATS = 2.0  # per layer and column of (gates + hidden), per character in flight: the forward's cache and
# the backward's arrays
HEAD_FLOATS = 3  # per character of the vocabulary and character in flight: logits, probabilities, their gradient
MAPPED_RUNTIME = 24 * MIB  # what a run maps besides its arrays: its status and watch threads' stacks, the rest (fitted)


@dataclass(frozen=True)
class Footprint:
    """Bytes a run will add to the process at its peak, by kind."""

    weights: int
    gradients: int
    activations: int
    runtime: int
    corpus: int
    threads: int = 0  # worker threads the step starts (each maps a stack and a BLAS buffer: address_space)
    mapped: int = 0  # address space the run maps with one chunk in flight and no worker threads, numba aside
    worker_mapped: int = 0  # address space each worker thread's chunk adds to that (its thread's own aside)

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.activations + self.runtime + self.corpus


@dataclass(frozen=True)
class StepShape:
    """What decides a step's memory besides the parameters: the batch, its chunks and the threads that take them."""

    batch: int
    seq: int
    chunk: int  # streams per chunk (rnnplay.core.parallel_step.chunk_streams)
    workers: int  # worker threads taking chunks
    itemsize: int = 4  # bytes of the model's floats
    plain_chunk: int = 0  # streams per chunk where the compiled loops do not load (no room for numba); 0: chunk


def training_footprint(shapes: Mapping[str, tuple[int, ...]], hidden: int, layers: int, vocab_size: int,
                       step: StepShape, *, slots: int, compiler: bool, loops: bool = False,
                       corpus_bytes: int = 0) -> Footprint:
    """The estimate for a model of ``shapes`` (name -> shape, as :func:`~rnnplay.core.param_shapes.param_shapes`
    gives them) trained with ``slots`` optimizer arrays per parameter; ``compiler``: numba is still to load;
    ``loops``: the cell's loops over time are still to compile."""
    size = step.itemsize
    params = sum(math.prod(shape) for shape in shapes.values())
    chunks = math.ceil(step.batch / step.chunk)
    in_flight = min(step.batch, step.workers * step.chunk) * step.seq
    gates = sum(shapes.get(f"layers.{i}.W_hh", (hidden, hidden))[-1] for i in range(layers))
    kept = KEPT_FLOATS * (gates + layers * hidden) + HEAD_FLOATS * vocab_size
    batch = step.batch * step.seq * BATCH_FLOATS * layers * hidden
    weights = params * size * (1 + 2 * (1 + slots) + 2 + 1)
    one_chunk = int(min(step.batch, max(step.chunk, step.plain_chunk)) * step.seq * kept * size)
    return Footprint(
        weights=weights,
        gradients=params * size * min(chunks, step.workers + 1),
        activations=int((batch + in_flight * kept) * size),
        runtime=RUNTIME + THREAD * step.workers + (COMPILER if compiler else 0) + (LOOPS_COMPILER if loops else 0),
        corpus=corpus_bytes,
        threads=min(step.workers, chunks) if chunks > 1 else 0,
        mapped=(weights + params * size * min(chunks, 2) + step.batch * step.seq * layers * hidden + one_chunk
                + MAPPED_RUNTIME + corpus_bytes),
        worker_mapped=one_chunk + params * size if chunks > 1 else 0,
    )
