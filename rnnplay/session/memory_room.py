"""Whether a training run fits the memory left, checked before the run allocates; the one line when it does not.

Under a memory control group (a container, systemd's MemoryMax=) a run that outgrows
the limit is killed with no word, or, where the kernel can still reclaim pages, slows
to a crawl for minutes; under an address-space limit (``ulimit -v``) its arrays fail to
map, and OpenBLAS, when its buffer is what fails, ends the process. So :func:`check_memory`
weighs the run's estimate (:func:`rnnplay.core.memory_estimate.training_footprint`) against
the hard limits: the lowest of the cgroup's and the RAM (:func:`rnnplay.corpora.memory.memory_limit`)
less what the process already holds; and what the address-space limit leaves to map against
what the run maps with its chunks one by one (``Footprint.mapped``: numba and the step's worker
threads then start only where they fit beside it). A run that cannot fit is refused in one
line; one that fits narrowly (within NARROW of its estimate), or not in the memory free
now (:func:`rnnplay.corpora.memory.available_now`: other programs hold the rest, and may
free it), gets a warning and goes on. Shared by `rnnplay train`, `/train`, `--resume`
and a sweep's trials, which all make their run through :mod:`.training_runs` or
:mod:`.resume`.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np

from rnnplay.core import address_space, freed_memory, jit, parallel_step
from rnnplay.core.cells.base import Cell
from rnnplay.core.cells.lstm import LOOPS
from rnnplay.core.errors import RnnplayError, counted
from rnnplay.core.memory_estimate import MIB, Footprint, StepShape, training_footprint
from rnnplay.core.optim import OPTIMIZERS
from rnnplay.core.train_config import ModelSpec, TrainConfig, setting_name
from rnnplay.corpora import Corpus
from rnnplay.corpora.file_corpus import FileCorpus
from rnnplay.corpora.memory import available_now, memory_limit, resident_memory

NARROW = 0.2  # a run whose estimate leaves less than this share of itself free is warned of (docs/training.md)


def footprint(cell: Cell, shapes: Mapping[str, tuple[int, ...]], spec: ModelSpec, config: TrainConfig,
              corpus: Corpus, dtype: np.dtype | type = np.float32) -> Footprint:
    """The estimate of the run of ``spec`` (parameter ``shapes``) with ``config`` on ``corpus``."""
    vocab_size = shapes["head.b_y"][0]
    w_hh = sum(math.prod(s) for name, s in shapes.items() if name.endswith("W_hh"))
    compiled = hasattr(cell, "compiled_loops") and spec.hidden % 16 == 0 and jit.enabled()  # never loads numba
    step = StepShape(config.batch_size, config.seq_length,
                     parallel_step.chunk_streams(w_hh, lambda: compiled), parallel_step.worker_count(),
                     np.dtype(dtype).itemsize, parallel_step.chunk_streams(w_hh, lambda: False))
    in_memory = 0 if isinstance(corpus, FileCorpus) else 2 * corpus.chars * np.dtype(np.uint32).itemsize
    return training_footprint(shapes, spec.hidden, spec.layers, vocab_size, step,
                              slots=len(OPTIMIZERS[config.optimizer].slots),
                              compiler=jit.enabled() and "numba" not in sys.modules,
                              loops=compiled and LOOPS not in sys.modules, corpus_bytes=in_memory)


class Room(NamedTuple):
    """What a hard limit leaves the run, what the run needs of it, that in words, and the first thing to try when it
    is short."""

    left: int
    needed: int
    words: str
    advice: str


def check_memory(need: Footprint, config: TrainConfig, smaller: str = "") -> str | None:
    """Raise the one line when ``need`` cannot fit under a hard limit; the warning when it fits narrowly or not in
    the memory free now; else None. ``smaller``: how to make the step smaller, where it is not a smaller batch size
    or sequence length (a resumed run keeps its checkpoint's). What the run's arrays map is set aside from what
    numba and the worker threads may take under an address-space limit (:func:`.address_space.set_aside`), and the
    threads started from now on (the run's status and watch threads, the step's workers) share the heap: each
    mapped an arena of 64 MiB, two of them 144 MiB of a 425 MiB limit a run had been let through on."""
    address_space.set_aside(need.mapped, need.worker_mapped)
    freed_memory.keep()
    hard = [room for room in (memory_left(need), mappable_left(need)) if room is not None]
    if not hard:
        return None
    room = min(hard, key=lambda room: room.left - room.needed)
    smaller = smaller or f"use a smaller {setting_name('batch_size')} or {setting_name('seq_length')}"
    if room.needed > room.left:
        raise RnnplayError(f"out of memory for a step of {step_size(config)}: {room.words}; {room.advice}{smaller}; "
                           "no step was made, so nothing was saved")
    now = available_now()
    if now is not None and need.total > now[0]:
        return (f"this run needs about {mib(need.total)} of memory, more than the {mib(now[0])} free now "
                f"({now[1]}): it runs if other programs free some, else it swaps or is killed; to need less, "
                f"{smaller}")
    if room.needed * (1 + NARROW) > room.left:
        return (f"{room.words}: little to spare, so a short estimate means a killed or crawling run; to need less, "
                f"{smaller}")
    return None


def memory_left(need: Footprint) -> Room | None:
    """What the lowest memory limit (the cgroup's, the RAM) leaves beside what rnnplay holds."""
    limit = memory_limit()
    if limit is None:
        return None
    total, source = limit
    held = resident_memory()
    left = total - held
    return Room(left, need.total, f"this run needs about {mib(need.total)} of memory ({parts(need)}), and {source}, "
                f"{mib(total)}, leaves {mib(max(left, 0))} beside the {mib(held)} rnnplay holds",
                "raise the limit, or " if source != "the machine's RAM" else "")


def mappable_left(need: Footprint) -> Room | None:
    """What the address-space limit leaves to map, against what the run maps with no worker thread and without numba;
    None without a limit. Those the run can go without: the step starts the threads that fit beside its arrays, and
    with room for none runs its chunks on the calling thread (:func:`.parallel_step.fitting`); numba loads only
    where it fits beside them, else the numpy code runs (:func:`.address_space.has_spare_room`)."""
    room = address_space.room()
    if room is None:
        return None
    return Room(room, need.mapped, f"this run maps about {mib(need.mapped)} of address space with its chunks one by "
                f"one (numba and the worker threads start only where more is left), and ulimit -v leaves "
                f"{mib(room)} to map", address_space.advice())


def step_size(config: TrainConfig) -> str:
    return f"{counted(config.batch_size, 'stream')} x {counted(config.seq_length, 'character')}"


def parts(need: Footprint) -> str:
    return (f"activations {mib(need.activations)}, weights, optimizer and gradients "
            f"{mib(need.weights + need.gradients)}, threads and code {mib(need.runtime)}"
            + (f", corpus {mib(need.corpus)}" if need.corpus else ""))


def mib(n: int) -> str:
    return f"{n / MIB:,.0f} MiB"
