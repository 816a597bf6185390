"""The two things every corpus loader shares: the Corpus it returns and the progress callback it may call.

The loader contract itself is :class:`rnnplay.plugins.contracts.CorpusLoader`.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rnnplay.core.errors import file_size_limit
from rnnplay.core.vocab import Vocab, count_ids
from rnnplay.corpora.text import text_sha256
from rnnplay.folders import nearest_folder


@dataclass
class Corpus:
    """Training text plus where it came from. ``text`` is not meant to change once loaded."""

    name: str
    text: str
    source: str
    licence: str = "unknown"
    description: str = ""
    settings: dict[str, Any] = field(default_factory=dict)  # suggested `rnnplay train` options (from a card)
    notes: list[str] = field(default_factory=list)  # what the loader tells the user (a cache it could not use)
    left_out: str = ""  # what reading it left out ("1 binary file skipped"), said where a training names it

    @cached_property
    def sha256(self) -> str:
        """sha256 of the text in UTF-8: what checkpoints record to recognise their corpus on resume."""
        return text_sha256(self.text)

    # What training asks of a corpus. A run never reads ``text`` itself, only these, so a corpus
    # may keep its text somewhere other than memory.
    @property
    def chars(self) -> int:
        """How many characters the corpus has."""
        return len(self.text)

    def sized(self) -> str:
        """'d1 (9,303 chars; 1 binary file skipped)': the name a training or a sweep announces it by, with its size
        and what reading it left out."""
        left_out = f"; {self.left_out}" if self.left_out else ""
        return f"{self.name} ({self.chars:,} chars{left_out})"

    def vocab(self) -> Vocab:
        """Every distinct character of the corpus, sorted: a fresh model's vocabulary."""
        return Vocab.from_text(self.text)

    def encode(self, vocab: Vocab) -> np.ndarray:
        """The corpus as ids of ``vocab`` (one line naming the characters it lacks, if any)."""
        return vocab.encode(self.text)

    def unknown(self, vocab: Vocab) -> list[str]:
        """The corpus's characters that ``vocab`` lacks, in order of first appearance."""
        return vocab.unknown(self.text)

    # What commands that describe a corpus ask (``rnnplay corpus show``), also without holding the text.
    def counts(self) -> np.ndarray:
        """How often each character of :meth:`vocab` occurs, by id."""
        vocab = self.vocab()
        return count_ids(vocab.encode(self.text), vocab.size)

    def head(self, chars: int) -> str:
        """The first ``chars`` characters."""
        return self.text[:chars]

    def release(self) -> None:
        """Nothing of the corpus is read again (arrays of its ids already made stay readable): what it holds
        in the cache may go (a :class:`~rnnplay.corpora.file_corpus.FileCorpus`'s ids, to a prune)."""


class Progress(Protocol):
    """Told how far a slow load has got: ``progress("downloading x", 512_000, 1_115_394)``.

    ``total`` is None when unknown; ``unit`` is "B" for bytes or a plural noun ("files").
    """

    def __call__(self, label: str, done: int, total: int | None, unit: str = "B") -> None: ...


def no_progress(label: str, done: int, total: int | None, unit: str = "B") -> None:
    """The progress callback for callers that show none."""



def cache_advice(folder: Path, err: OSError) -> str:
    """What to do when ``folder`` in the cache cannot take a file: free space only when the disk or a quota is
    full; make the folder writable when permission bits or a read-only mount refuse it."""
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"the disk is full: free some space in {folder}, or set RNNPLAY_CACHE_DIR to a folder with room"
    if err.errno == errno.EFBIG:
        return file_size_limit("set RNNPLAY_CACHE_DIR to another folder")
    if err.errno == errno.EROFS:
        return f"{folder} is on a read-only file system: set RNNPLAY_CACHE_DIR to a folder you can write to"
    if err.errno in (errno.EACCES, errno.EPERM):
        refusing = nearest_folder(folder)  # the one to give rights to: the nearest that can be seen
        how = ("written", "u+w") if os.access(refusing, os.X_OK) else ("entered", "u+rwx")
        return (f"{refusing} cannot be {how[0]}: give yourself the rights (chmod {how[1]}), or set RNNPLAY_CACHE_DIR "
                "to a folder you can write to")
    return f"check {folder}, or set RNNPLAY_CACHE_DIR to a folder you can write to"
