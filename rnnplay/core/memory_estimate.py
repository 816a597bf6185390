"""What a training run will hold in memory, estimated from its shapes before anything is allocated.

A run past its memory limit does not fail politely: a memory control group ends the
process with SIGKILL (no swap) or makes it thrash for minutes (with swap, or page
cache to drop). So the run's own peak is estimated first, from the terms below, and
the session compares it with the memory left (:mod:`rnnplay.session.memory_room`).
The constants were fitted to the peak resident memory of real runs and set a little
above them (docs/training.md, "Memory a run needs", has the table)::

    weights      P · (1 + 2·(1 + slots) + 2 + 1)     weights; optimizer slots and the staged update of both;
                                                     the average and its update; what the chunks share
    gradients    P · min(K, workers + 1)             the running sum and the sets of the chunks in flight or done
                                                     and not yet added (each added in chunk order, then freed)
    activations  B·T · 2.5·L·H                        per character of the batch: its dropout masks (booleans, a
                                                     quarter of that), the rest what the chunks' arrays, made and
                                                     freed by the hundred, leave mapped in malloc's heap (fitted)
               + b·T · (1.9·Σ_l (gates_l + H) + 3·V)  what each chunk in flight keeps for backpropagation
    runtime      RUNTIME + THREAD · workers (+ COMPILER while numba is still to load)
    corpus       the ids of a text held in memory, twice (0 for a memory-mapped id file)

with P parameters of the model's dtype, K = ⌈B / chunk⌉ chunks, b = min(B, workers · chunk)
streams in flight and gates_l the columns of layer l's recurrent weights (4H for an LSTM).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

MIB = 1 << 20
RUNTIME = 20 * MIB  # what a first training step adds besides its arrays and threads: BLAS, malloc, loaded code
THREAD = 3 * MIB  # each worker thread: its stack, its share of malloc's heap, its BLAS buffer as touched
COMPILER = 100 * MIB  # numba and LLVM, imported and compiling the kernels, when a process has not loaded them yet
BATCH_FLOATS = 2.5  # per layer and unit, per character of the batch: the dropout masks and the heap's turnover
KEPT_FLOATS = 1.9  # per layer and column of (gates + hidden), per character in flight: the forward's cache and
# the backward's arrays
HEAD_FLOATS = 3  # per character of the vocabulary and character in flight: logits, probabilities, their gradient


@dataclass(frozen=True)
class Footprint:
    """Bytes a run will add to the process at its peak, by kind."""

    weights: int
    gradients: int
    activations: int
    runtime: int
    corpus: int
    threads: int = 0  # worker threads the step starts (each maps a stack, an arena and a BLAS buffer: address_space)

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


def training_footprint(shapes: Mapping[str, tuple[int, ...]], hidden: int, layers: int, vocab_size: int,
                       step: StepShape, *, slots: int, compiler: bool, corpus_bytes: int = 0) -> Footprint:
    """The estimate for a model of ``shapes`` (name -> shape, as :func:`~rnnplay.core.param_shapes.param_shapes`
    gives them) trained with ``slots`` optimizer arrays per parameter; ``compiler``: numba is still to load."""
    size = step.itemsize
    params = sum(math.prod(shape) for shape in shapes.values())
    chunks = math.ceil(step.batch / step.chunk)
    in_flight = min(step.batch, step.workers * step.chunk) * step.seq
    gates = sum(shapes.get(f"layers.{i}.W_hh", (hidden, hidden))[-1] for i in range(layers))
    kept = KEPT_FLOATS * (gates + layers * hidden) + HEAD_FLOATS * vocab_size
    batch = step.batch * step.seq * BATCH_FLOATS * layers * hidden
    return Footprint(
        weights=params * size * (1 + 2 * (1 + slots) + 2 + 1),
        gradients=params * size * min(chunks, step.workers + 1),
        activations=int((batch + in_flight * kept) * size),
        runtime=RUNTIME + THREAD * step.workers + (COMPILER if compiler else 0),
        corpus=corpus_bytes,
        threads=min(step.workers, chunks) if chunks > 1 else 0,
    )
