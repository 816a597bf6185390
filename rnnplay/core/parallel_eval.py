"""A training run's validation read on its step's worker threads (:mod:`.parallel_step`'s pool), as its steps are.

``Model.evaluate`` reads a chunk of time steps of its streams at a time; on its own each chunk is one forward pass on
BLAS's threads. A run's steps run on their pool of workers instead, BLAS held at one thread, and on a machine
starved of the CPU the scheduler starved BLAS's threads of the final validation far more than the steps' workers
(docs/training.md). :func:`streams_loss` cuts the chunk's streams into parts of :data:`EVAL_CHUNK` streams, each
part's forward and loss on a worker with BLAS on one thread, the parts' losses added in order: the same number
whatever the workers' count or the machine's load.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import TYPE_CHECKING

import numpy as np

from rnnplay.core import model as model_module
from rnnplay.core import parallel_step, threads

if TYPE_CHECKING:
    from rnnplay.core.model import Model, States

EVAL_CHUNK = parallel_step.CHUNK  # streams a worker reads at once (a validation's 32 make 2 parts): fewer cost more


def streams_loss(model: Model, inputs: np.ndarray, targets: np.ndarray, states: States) -> tuple[float, States]:
    """:func:`rnnplay.core.model.streams_loss` of the streams cut into parts, read on the step's workers (or one by
    one on this thread where the address space has room for none): the parts' summed losses added in order, their
    carried-out states joined."""
    bounds = parallel_step.chunk_bounds(inputs.shape[1], EVAL_CHUNK)
    parts = [(inputs[:, lo:hi], targets[:, lo:hi], [tuple(s[lo:hi] for s in state) for state in states])
             for lo, hi in bounds]
    with threads.one_blas_thread():
        executor = parallel_step.pool() if len(parts) > 1 else None
        if executor is None:
            results = [model_module.streams_loss(model, *part) for part in parts]
        else:
            futures: list[Future[tuple[float, States]]] = []
            with parallel_step.all_finished(futures):
                futures.extend(executor.submit(model_module.streams_loss, model, *part) for part in parts)
                results = [future.result() for future in futures]
    total = 0.0
    for loss, _ in results:
        total += loss
    return total, [parallel_step.join_states([part[i] for _, part in results]) for i in range(len(states))]
