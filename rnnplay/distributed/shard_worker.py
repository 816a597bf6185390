"""One data-parallel worker: a replica of the driver's model that computes a shard of the batch's streams.

A worker is a Ray actor (:mod:`.data_parallel` makes them); this module imports Ray only to ask a worker which
node it runs on (every step says it: Ray may start a worker again elsewhere), so the class is an ordinary one
and the replica is built the way the driver built its model: the cell by name
through the plugin host (a plugin's cell works where the plugin is installed), the vocabulary, the sizes
and the dtype. The weights arrive with every step, so a worker holds no training state: a step it is
asked again (after a restart) gives the same numbers.

A step on the worker's streams S (b of the batch's B, cut into parallel_step's chunks of chunk_size(model) streams)::

    L_S = Σ_{b∈S} Σ_t -log p_t,b[y_t,b]          the loss summed, not averaged
    g_S = Σ_chunks ∂L_chunk/∂θ,  dL/dlogits = (p - onehot(y)) / (B·T)

so the driver's Σ_S g_S is the gradient of the batch's mean loss and Σ_S L_S / (B·T) that mean.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from rnnplay.core import parallel_step, products, threads
from rnnplay.core.dropout import Dropout, Masks
from rnnplay.core.errors import RnnplayError
from rnnplay.core.model import Model, States
from rnnplay.core.vocab import Vocab
from rnnplay.plugins.host import get_host

ShardResult = tuple[float, dict[str, np.ndarray], States]  # (loss sum, gradient share, carried-out states)


@dataclass(frozen=True)
class Replica:
    """What a worker needs to build a model like the driver's, its weights left to the steps."""

    cell: str
    chars: tuple[str, ...]
    hidden: int
    layers: int
    noise: Dropout  # every kind of dropout the driver's model has (the masks themselves come with each step)
    dtype: str
    shapes: dict[str, tuple[int, ...]]
    products: str  # the training precision of the driver's model

    @classmethod
    def of(cls, model: Model) -> Replica:
        return cls(model.cell.name, tuple(model.vocab.chars), model.hidden_size, model.num_layers, model.noise,
                   model.dtype.str, {k: tuple(v.shape) for k, v in model.params.items()}, model.products)

    def build(self) -> Model:
        if self.products == "bfloat16" and not products.bf16_available():
            raise RnnplayError(f"a worker on {socket.gethostname()} has no AVX512_BF16 for precision bfloat16: "
                               "train with precision float32, or on machines that have it")
        params = {k: np.zeros(shape, self.dtype) for k, shape in self.shapes.items()}
        model = Model(get_host().cell(self.cell), Vocab(self.chars), self.hidden, self.layers, dtype=self.dtype,
                      params=params)
        model.noise = self.noise
        model.products = self.products
        return model


class ShardWorker:
    """A replica and ``threads`` chunk threads (each product on one BLAS thread, as in-process training)."""

    def __init__(self, replica: Replica, threads: int) -> None:
        if threading.current_thread() is threading.main_thread():
            # Ctrl-C in a terminal reaches every process of its group: the driver alone decides when to stop
            # (between two steps), so a worker finishes the step it is in.
            with contextlib.suppress(ValueError):
                signal.signal(signal.SIGINT, signal.SIG_IGN)
        self.model = replica.build()
        self.threads = threads
        self.node = ray_node()

    def where(self) -> tuple[int, str]:
        """This worker's process ID and Ray node."""
        return os.getpid(), self.node

    def step(self, weights: dict[str, np.ndarray], inputs: np.ndarray, targets: np.ndarray, states: States,
             masks: Masks, total: int) -> tuple[ShardResult, float, str]:  # fmt: skip
        """(loss sum, gradient share, carried-out states) of these streams at ``weights``; the seconds it took; the
        Ray node it ran on."""
        start = time.perf_counter()
        for name, w in weights.items():
            np.copyto(self.model.params[name], w)
        return self.compute(inputs, targets, states, masks, total), time.perf_counter() - start, self.node

    def compute(self, inputs: np.ndarray, targets: np.ndarray, states: States, masks: Masks,
                total: int) -> ShardResult:  # fmt: skip
        """The shard's chunks on this worker's threads, each a share of the mean over the whole batch's ``total``
        characters, summed in chunk order as they finish (a total of 1 keeps the loss a sum)."""
        bounds = parallel_step.chunk_bounds(inputs.shape[1], parallel_step.chunk_size(self.model))
        with threads.one_blas_thread():
            if len(bounds) == 1:
                return parallel_step.chunk_loss_and_grads(self.model, inputs, targets, states, masks, total)
            summed = parallel_step.run_chunks(self.model, inputs, targets, states, masks, bounds, self.threads, total)
        return summed.total(1)

    def echo(self, weights: dict[str, np.ndarray]) -> dict[str, Any]:
        """Arrays the size of a gradient back, nothing computed: the round trip a step's communication costs."""
        return {name: np.empty_like(w) for name, w in weights.items()}


def ray_node() -> str:
    """The ID of the Ray node this process runs on ('' outside Ray: a worker built in a test)."""
    try:
        import ray  # here alone: the module is an ordinary one where Ray is not installed
    except ImportError:
        return ""
    return (ray.get_runtime_context().get_node_id() or "") if ray.is_initialized() else ""
