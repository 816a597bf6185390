"""Ids for a text that arrives a piece at a time, the vocabulary found on the way.

A corpus read in one streaming pass cannot know its sorted vocabulary before its end,
yet its ids are written as they come. :class:`StreamEncoder` numbers the characters it
has met so far and tells its caller, whenever a new character changes the numbering of
earlier ids, the table ``old id -> new id`` that renumbers what was already written:

- while ``keep_sorted`` (the caller's choice: what has been written is still small), a new
  character takes its place in code-point order and the characters after it move up one,
  so the ids stay those of the sorted vocabulary (:class:`~rnnplay.core.vocab.Vocab`);
- afterwards a new character is appended, and :meth:`StreamEncoder.sort` gives the one
  table that renumbers the whole file into sorted order at the end.

Real text meets nearly every character it has early on, so the table usually comes
while the ids written are few, and the final renumbering is rarely needed. The id type
is the smallest that holds the vocabulary (uint8 up to 256 characters); when it must
widen, the table says so too (``Encoded.renumbered`` with the new :attr:`StreamEncoder.dtype`).

Each piece is either ``bytes`` that are all ASCII (a UTF-8 file's raw bytes: no decoding
needed) or a ``str``. ASCII bytes are encoded with one ``bytes.translate`` through a
256-entry table ``byte -> id``; text through a code-point table ``table[cp] = id`` (-1 for
characters not met yet). Per-character counts and first positions are kept as it goes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnnplay.core.vocab import MAX_CODEPOINT, count_ids

Piece = str | bytes


@dataclass
class Encoded:
    ids: np.ndarray  # the piece's ids in the numbering after it (dtype: StreamEncoder.dtype)
    renumbered: np.ndarray | None  # old id -> new id for the ids written before, when they changed


class StreamEncoder:
    """The growing vocabulary of a streamed text, its ids, and each character's count and first position."""

    def __init__(self) -> None:
        self.chars: list[str] = []  # id -> character
        self.counts = np.zeros(0, dtype=np.int64)  # by id
        self.first = np.zeros(0, dtype=np.int64)  # by id: the position of the character's first appearance
        self.position = 0  # characters encoded so far
        self._table = np.full(MAX_CODEPOINT + 1, -1, dtype=np.int32)
        self._bytes: bytes | None = None  # the translate table of the ASCII ids, while every one is < 256

    @property
    def dtype(self) -> np.dtype:
        """The smallest unsigned type that holds every id (as :attr:`Vocab.id_dtype`)."""
        return np.min_scalar_type(max(len(self.chars) - 1, 0))

    def encode(self, piece: Piece, keep_sorted: bool) -> Encoded:
        """The ids of ``piece``, adding the characters it brings (in sorted place while ``keep_sorted``)."""
        renumbered = None
        if isinstance(piece, bytes):
            codes = self._new_ascii(piece)
            if len(codes):
                renumbered = self._add(codes, piece, keep_sorted)
            ids = self._ascii_ids(piece)
        else:
            points = np.frombuffer(piece.encode("utf-32-le"), dtype=np.uint32)
            looked = self._table[points]  # -1: not met yet
            missing = looked < 0
            if missing.any():
                renumbered = self._add(np.flatnonzero(np.bincount(points[missing])), piece, keep_sorted)
                looked = self._table[points]
            ids = looked.astype(self.dtype)
        self.counts += count_ids(ids, len(self.chars))
        self.position += len(ids)
        return Encoded(ids, renumbered)

    def sort(self) -> np.ndarray | None:
        """Renumber into code-point order; the table ``old id -> new id``, or None when already sorted."""
        order = np.argsort([ord(c) for c in self.chars], kind="stable")
        if np.array_equal(order, np.arange(len(order))):
            return None
        return self._renumber(order)

    def _new_ascii(self, piece: bytes) -> np.ndarray:
        """The code points of an ASCII piece not met before."""
        rest = piece.translate(None, bytes(c for c in range(128) if self._table[c] >= 0))
        return np.flatnonzero(np.bincount(np.frombuffer(rest, dtype=np.uint8)))

    def _add(self, codes: np.ndarray, piece: Piece, keep_sorted: bool) -> np.ndarray | None:
        """Number the new characters ``codes`` of ``piece``; the renumbering of the earlier ids, if they change."""
        old, old_dtype = len(self.chars), self.dtype
        new = [chr(c) for c in codes.tolist()]
        found = [piece.find(c.encode("ascii") if isinstance(piece, bytes) else c) for c in new]  # a C-level scan each
        positions = np.array(found, dtype=np.int64) + self.position
        self.chars += new
        self.counts = np.concatenate([self.counts, np.zeros(len(codes), dtype=np.int64)])
        self.first = np.concatenate([self.first, positions])
        self._table[codes] = np.arange(old, len(self.chars), dtype=np.int32)
        self._bytes = None
        table = self.sort() if keep_sorted else None
        if table is not None:
            return table[:old]
        return np.arange(old, dtype=np.int64) if self.dtype != old_dtype and old else None

    def _renumber(self, order: np.ndarray) -> np.ndarray:
        """Put the characters in ``order`` (new id -> old id); the table old id -> new id."""
        table = np.empty(len(order), dtype=np.int64)
        table[order] = np.arange(len(order))
        self.chars = [self.chars[i] for i in order.tolist()]
        self.counts, self.first = self.counts[order], self.first[order]
        codes = np.array([ord(c) for c in self.chars], dtype=np.int64)
        self._table[codes] = np.arange(len(codes), dtype=np.int32)
        self._bytes = None
        return table

    def _ascii_ids(self, piece: bytes) -> np.ndarray:
        """The ids of an ASCII piece whose characters are all numbered: one ``bytes.translate`` while every
        ASCII id fits a byte."""
        if self._bytes is None:
            ascii_ids = self._table[:128]
            if ascii_ids.max() < 256:
                self._bytes = bytes(np.where(ascii_ids >= 0, ascii_ids, 0).tolist()) + bytes(128)
        if self._bytes is None:  # an ASCII character's id is past 255: through the code-point table
            return self._table[np.frombuffer(piece, dtype=np.uint8)].astype(self.dtype)
        ids = np.frombuffer(piece.translate(self._bytes), dtype=np.uint8)
        return ids if self.dtype == np.uint8 else ids.astype(self.dtype)
