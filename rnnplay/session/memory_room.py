"""Whether a training run fits the memory left, checked before the run allocates; the one line when it does not.

Under a memory control group (a container, systemd's MemoryMax=) a run that outgrows
the limit is killed with no word, or, where the kernel can still reclaim pages, slows
to a crawl for minutes. So :func:`check_memory` weighs the run's estimate
(:func:`rnnplay.core.memory_estimate.training_footprint`) against the lowest limit
(:func:`rnnplay.corpora.memory.memory_limit`) less what the process already holds: a run
that cannot fit is refused in one line, one that fits narrowly (within NARROW of its
estimate) gets a warning and goes on. Shared by `rnnplay train`, `/train`, `--resume`
and a sweep's trials, which all make their run through :mod:`.training_runs` or
:mod:`.resume`.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping

import numpy as np

from rnnplay.core import jit
from rnnplay.core.cells.base import Cell
from rnnplay.core.errors import RnnplayError
from rnnplay.core.memory_estimate import MIB, Footprint, StepShape, training_footprint
from rnnplay.core.optim import OPTIMIZERS
from rnnplay.core.parallel_step import chunk_streams, worker_count
from rnnplay.core.train_config import ModelSpec, TrainConfig
from rnnplay.corpora import Corpus
from rnnplay.corpora.file_corpus import FileCorpus
from rnnplay.corpora.memory import memory_limit, resident_memory

NARROW = 0.2  # a run whose estimate leaves less than this share of itself free is warned of (docs/training.md)


def footprint(cell: Cell, shapes: Mapping[str, tuple[int, ...]], spec: ModelSpec, config: TrainConfig,
              corpus: Corpus, dtype: np.dtype | type = np.float32) -> Footprint:
    """The estimate of the run of ``spec`` (parameter ``shapes``) with ``config`` on ``corpus``."""
    vocab_size = shapes["head.b_y"][0]
    w_hh = sum(math.prod(s) for name, s in shapes.items() if name.endswith("W_hh"))
    compiled = hasattr(cell, "compiled_loops") and spec.hidden % 16 == 0 and jit.enabled()  # never loads numba
    step = StepShape(config.batch_size, config.seq_length, chunk_streams(w_hh, lambda: compiled), worker_count(),
                     np.dtype(dtype).itemsize)
    in_memory = 0 if isinstance(corpus, FileCorpus) else 2 * corpus.chars * np.dtype(np.uint32).itemsize
    return training_footprint(shapes, spec.hidden, spec.layers, vocab_size, step,
                              slots=len(OPTIMIZERS[config.optimizer].slots),
                              compiler=jit.enabled() and "numba" not in sys.modules, corpus_bytes=in_memory)


def check_memory(need: Footprint, config: TrainConfig) -> str | None:
    """Raise the one line when ``need`` cannot fit in the memory left; the warning when it fits narrowly, or None."""
    limit = memory_limit()
    if limit is None:
        return None
    total, source = limit
    held = resident_memory()
    left = total - held
    needs = (f"this run needs about {mib(need.total)} of memory ({parts(need, config)}), and {source}, "
             f"{mib(total)}, leaves {mib(max(left, 0))} beside the {mib(held)} rnnplay holds")
    smaller = "a smaller batch size, sequence length or hidden size"
    if need.total > left:
        raise RnnplayError(f"{needs}: choose {smaller}, or raise the limit")
    if need.total * (1 + NARROW) > left:
        return f"{needs}: little to spare, so a short estimate means a killed or crawling run; {smaller} gives room"
    return None


def parts(need: Footprint, config: TrainConfig) -> str:
    return (f"weights and optimizer {mib(need.weights)}, gradients {mib(need.gradients)}, activations of "
            f"{config.batch_size}x{config.seq_length} characters {mib(need.activations)}, threads and code "
            f"{mib(need.runtime)}" + (f", corpus {mib(need.corpus)}" if need.corpus else ""))


def mib(n: int) -> str:
    return f"{n / MIB:,.0f} MiB"
