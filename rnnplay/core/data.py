"""Training data for truncated backpropagation through time (TBPTT).

The id sequence is cut into ``B`` contiguous streams laid side by side::

    stream 0: ids[0      : L]
    stream 1: ids[L      : 2L]        L = len(ids) // B
    ...

Each batch takes the next ``T`` columns as inputs and the same columns shifted by
one as targets, so batch ``k+1`` continues exactly where batch ``k`` stopped, and
the hidden state can be carried from one batch to the next. When the streams run
out, the epoch ends, the position wraps to 0 and the carried state is reset.

The streams are a view of the ids (B rows of L), never a copy: each batch copies
its own (T, B) columns out as int32, so a corpus costs its ids once. When the ids
are a read-only map of a file (a corpus larger than memory), every RELEASE_EVERY
batches the pages read so far are let go of (:func:`release_pages`), so the
resident memory of an epoch stays a few pages per stream instead of growing to
the whole file.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from numpy.lib.array_utils import byte_bounds

from rnnplay.core.errors import RnnplayError, counted
from rnnplay.core.train_config import setting_name

RELEASE_EVERY = 64  # batches between two releases of a mapped corpus's pages


def blocks(pieces: Iterable[np.ndarray], size: int) -> Iterator[np.ndarray]:
    """The ids of ``pieces`` (1-d arrays, one after the other) cut again into blocks of ``size``, the last one
    shorter, none empty: a text that arrives in pieces goes through the model in the same blocks as the whole
    array would (the same products, so the same numbers). One piece gives views of it, not copies."""
    held: np.ndarray | None = None
    for piece in pieces:
        if held is not None and len(held):
            piece = np.concatenate([held, piece])
        full = len(piece) - len(piece) % size
        for start in range(0, full, size):
            yield piece[start : start + size]
        held = piece[full:]
    if held is not None and len(held):
        yield held


def split_ids(ids: np.ndarray, val_fraction: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """First ``1 - val_fraction`` for training, the rest for validation (published numbers use 0.1)."""
    if not 0.0 <= val_fraction < 1.0:
        raise RnnplayError(f"val fraction must be in [0, 1) (got {val_fraction})")
    n_train = split_point(len(ids), val_fraction)
    return ids[:n_train], ids[n_train:]


def split_point(n: int, val_fraction: float = 0.1) -> int:
    """Where the validation part of ``n`` characters starts: floor, as nanoGPT's and char-rnn's splits."""
    return int(n * (1.0 - val_fraction))


@dataclass
class Batch:
    inputs: np.ndarray  # (T, B) int32, C-contiguous
    targets: np.ndarray  # (T, B) int32, C-contiguous
    reset: bool  # True when the carried hidden state must be reset before this batch


def check_batches(chars: int, batch_size: int, seq_length: int) -> None:
    """One line unless a training text of ``chars`` characters holds ``batch_size`` streams of ``seq_length`` + 1
    (each step reads T inputs and their next characters as targets): also before a run reads its text for
    anything else (placing a fine-tuned model's new characters)."""
    if batch_size < 1 or seq_length < 1:
        raise RnnplayError("batch size and sequence length must be at least 1")
    if chars // batch_size < seq_length + 1:
        need = batch_size * (seq_length + 1)
        fix = ("give a longer text" if need <= 2 else "use a smaller batch size or sequence length "
               f"({setting_name('batch_size')}, {setting_name('seq_length')}), or a longer text")
        raise RnnplayError(f"the training text is too short for batch size {batch_size} x sequence length "
                           f"{seq_length}: it has {counted(chars, 'character')} and needs {need:,}; {fix}")


class StreamBatcher:
    """Yields (T, B) batches from B parallel streams; its position is resumable."""

    def __init__(self, ids: np.ndarray, batch_size: int, seq_length: int) -> None:
        check_batches(len(ids), batch_size, seq_length)
        stream_len = len(ids) // batch_size
        self.streams = ids[: stream_len * batch_size].reshape(batch_size, stream_len)  # row b is stream b: a view
        self.seq_length = seq_length
        self.batch_size = batch_size
        self.batches_per_epoch = (stream_len - 1) // seq_length
        self.epoch = 0
        self.position = 0  # index of the next batch within the epoch

    def next(self) -> Batch:
        if self.position >= self.batches_per_epoch:
            self.epoch += 1
            self.position = 0
        reset = self.position == 0
        start = self.position * self.seq_length
        window = self.streams[:, start : start + self.seq_length + 1].T  # (T + 1, B)
        batch = Batch(_columns(window[:-1]), _columns(window[1:]), reset)
        self.position += 1
        if self.position % RELEASE_EVERY == 0:
            release_pages(self.streams)  # a mapped corpus: what was read so far leaves the resident set
        return batch

    @property
    def chars_per_batch(self) -> int:
        return self.batch_size * self.seq_length

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Continue from a saved position, refused in one line unless it is one this batcher can reach."""
        epoch, position = (state.get(key) if isinstance(state, dict) else None for key in ("epoch", "position"))
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (epoch, position)):
            raise RnnplayError(f"the checkpoint's data position {state!r:.80} is not two whole numbers (epoch, "
                               "position); the checkpoint is damaged: resume from another or start afresh")
        if epoch < 0 or not 0 <= position <= self.batches_per_epoch:
            raise RnnplayError(
                f"the checkpoint's data position (epoch {epoch}, batch {position}) is outside the "
                f"{self.batches_per_epoch:,} batches of an epoch here; the checkpoint is damaged or was saved "
                "for another corpus, --batch-size or --seq-length: resume with those, or start afresh"
            )
        self.epoch, self.position = epoch, position


def _columns(window: np.ndarray) -> np.ndarray:
    """A (T, B) view of the streams as its own C-ordered int32 array (what the cells and kernels take)."""
    return np.ascontiguousarray(window, dtype=np.int32)


def release_pages(ids: np.ndarray) -> None:
    """Drop the pages of ``ids`` from this process's resident memory, if they are a view of a read-only file map.

    The pages of a mapped file that a process has read count in its resident set until the
    system needs the memory back; a pass over a corpus's mapped ids (counting them, say)
    would count the whole file. ``madvise(MADV_DONTNEED)`` unmaps them from the process (on
    a read-only shared map they stay in the page cache and are read from it again when
    touched). Whole pages only: those that ``ids`` covers in part are dropped too, which is
    harmless for the same reason. Anything else (an array in memory, a system without
    ``madvise``) is left alone.
    """
    owner = ids
    while owner is not None and not isinstance(getattr(owner, "_mmap", None), mmap.mmap):
        owner = getattr(owner, "base", None)
    if owner is None or not hasattr(mmap.mmap, "madvise") or not ids.size:
        return
    mapped = owner._mmap
    start = np.frombuffer(mapped, dtype=np.uint8).__array_interface__["data"][0]  # the map's first byte
    low, high = (bound - start for bound in byte_bounds(ids))
    low = max(low - low % mmap.PAGESIZE, 0)
    mapped.madvise(mmap.MADV_DONTNEED, low, min(high, len(mapped)) - low)
