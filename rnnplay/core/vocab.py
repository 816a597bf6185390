"""Characters <-> integer ids.

The vocabulary is the sorted set of distinct characters of the training text, so
the same text always gives the same ids. Both the vocabulary scan and encoding
are vectorised and walk the text in slices, so a corpus of hundreds of MB needs
its ids plus one slice's worth of scratch memory, never several copies of itself.
The ids are the smallest unsigned type that holds the vocabulary (:attr:`Vocab.id_dtype`:
one byte per character for up to 256 distinct characters), so they take no more memory
than ASCII text itself:

- an ASCII slice (the common case) stays bytes: encoding is one C-level
  ``bytes.translate`` through a 256-entry table ``byte -> id`` (255 marks an
  unknown character) and the scan deletes the bytes already seen and counts only
  what is left, which after the first slice is usually nothing;
- any other slice becomes an array of UTF-32 code points, counted with
  ``bincount`` and mapped through a direct lookup table ``table[cp] = id``
  (-1 for characters outside the vocabulary).

benchmarks/encode_speed.py measures the speed (figures in docs/performance.md).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from rnnplay.core.data import release_pages
from rnnplay.core.errors import RnnplayError

CHUNK = 1 << 22  # characters per slice: 4M, so scratch arrays stay ~16-32 MB
COUNT_CHUNK = 1 << 20  # ids per slice when counting: 8 MB of int64 scratch
MAX_CODEPOINT = 0x10FFFF
UNKNOWN_BYTE = 255  # in the byte table: "not in the vocabulary"


def _codepoints(text: str) -> np.ndarray:
    """The text as a uint32 array of code points, without a Python-level loop."""
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)


def _slices(text: str) -> Iterator[tuple[int, str]]:
    """(start, slice) for consecutive CHUNK-character slices of ``text``."""
    for start in range(0, len(text), CHUNK):
        yield start, text[start : start + CHUNK]


def describe_char(ch: str) -> str:
    """A printable name for a character: 'x', '\\n', 'é'; U+0301 for one that has no look of its own (a control,
    a space other than ' ', or a combining mark, which in quotes would sit on the opening quote)."""
    if ch.isprintable() and not ch.isspace() and unicodedata.category(ch) not in ("Mn", "Me"):
        return repr(ch)
    return repr(ch) if ch in "\n\t\r " else f"U+{ord(ch):04X}"


def unknown_error(missing: list[str]) -> RnnplayError:
    """The one line for a text with characters a model's vocabulary lacks (``missing``, in order of appearance)."""
    names = ", ".join(describe_char(c) for c in missing[:10])
    return RnnplayError(f"the model has never seen {names}: remove those characters or use a model trained on "
                        "text that has them")


@dataclass(frozen=True)
class Vocab:
    """An ordered alphabet. ``chars[i]`` is the character with id ``i``."""

    chars: tuple[str, ...]

    @classmethod
    def from_text(cls, text: str) -> Vocab:
        if not text:
            raise RnnplayError("the corpus is empty: give a file with some text in it")
        found: set[int] = set()  # code points seen so far
        for _, part in _slices(text):
            if part.isascii():  # O(1) in CPython: a string knows its widest character
                new = part.encode("ascii").translate(None, bytes(c for c in found if c < 128))
                points = np.frombuffer(new, dtype=np.uint8)
            else:
                points = _codepoints(part)
            if len(points):
                found.update(np.flatnonzero(np.bincount(points)).tolist())  # bincount[cp] > 0: cp occurs
        return cls(tuple(chr(c) for c in sorted(found)))

    def __len__(self) -> int:
        return len(self.chars)

    @property
    def size(self) -> int:
        return len(self.chars)

    @cached_property
    def _table(self) -> np.ndarray:
        """table[code point] = id, or -1 for characters outside the vocabulary (4.4 MB)."""
        table = np.full(MAX_CODEPOINT + 1, -1, dtype=np.int32)
        table[[ord(c) for c in self.chars]] = np.arange(len(self.chars), dtype=np.int32)
        return table

    @cached_property
    def _byte_table(self) -> bytes | None:
        """bytes.translate table for ASCII text: byte -> id (UNKNOWN_BYTE if absent); None if an id is too big."""
        ascii_ids = self._table[:128]
        if ascii_ids.max() >= UNKNOWN_BYTE:
            return None
        return bytes(np.where(ascii_ids >= 0, ascii_ids, UNKNOWN_BYTE).tolist()) + bytes([UNKNOWN_BYTE]) * 128

    def unknown(self, text: str) -> list[str]:
        """Distinct characters of ``text`` that are not in the vocabulary, in order of appearance."""
        found: dict[int, int] = {}  # code point -> first position
        for start, part in _slices(text):
            points = _codepoints(part)
            missing = self._table[points] < 0
            if missing.any():
                codes, first = np.unique(points[missing], return_index=True)
                positions = start + np.flatnonzero(missing)[first]
                for code, pos in zip(codes.tolist(), positions.tolist(), strict=True):
                    found.setdefault(code, pos)
        return [chr(c) for c in sorted(found, key=found.__getitem__)]

    @property
    def id_dtype(self) -> np.dtype:
        """The smallest unsigned integer type that holds every id: uint8 for up to 256 characters."""
        return np.min_scalar_type(max(len(self.chars) - 1, 0))

    def encode(self, text: str, on_unknown: str = "error") -> np.ndarray:
        """Ids of ``text`` as :attr:`id_dtype`, written slice by slice into one array.

        ``on_unknown``: "error" raises a one-line error naming the unknown
        characters; "skip" drops them.
        """
        ids = np.empty(len(text), dtype=self.id_dtype)
        end = 0
        for _, part in _slices(text):
            part_ids, unknown = self._slice_ids(part)
            if unknown is not None:
                if on_unknown != "skip":
                    raise unknown_error(self.unknown(text))
                part_ids = part_ids[~unknown]
            ids[end : end + len(part_ids)] = part_ids
            end += len(part_ids)
        return ids if end == len(ids) else ids[:end].copy()

    def _slice_ids(self, part: str) -> tuple[np.ndarray, np.ndarray | None]:
        """(ids of one slice, a mask of its unknown characters or None when all are known)."""
        if part.isascii() and self._byte_table is not None:
            mapped = part.encode("ascii").translate(self._byte_table)
            ids = np.frombuffer(mapped, dtype=np.uint8)
            return ids, (ids == UNKNOWN_BYTE) if UNKNOWN_BYTE in mapped else None
        ids = self._table[_codepoints(part)]
        unknown = ids < 0
        return ids, unknown if unknown.any() else None

    def decode(self, ids: Iterable[int] | np.ndarray) -> str:
        chars = self.chars
        return "".join(chars[i] for i in np.asarray(ids, dtype=np.int64).ravel().tolist())


def count_ids(ids: np.ndarray, size: int) -> np.ndarray:
    """How often each id 0..size-1 occurs, counted a slice at a time.

    ``np.bincount`` converts its input to int64 first, 8 bytes per id; slices keep that scratch small.
    Ids read through a file map leave no pages resident behind them (:func:`~rnnplay.core.data.release_pages`).
    """
    counts = np.zeros(size, dtype=np.int64)
    flat = ids.reshape(-1)
    for start in range(0, len(flat), COUNT_CHUNK):
        part = flat[start : start + COUNT_CHUNK]
        counts += _bincount(part, size)
        release_pages(part)
    return counts


def _bincount(part: np.ndarray, size: int) -> np.ndarray:
    """``np.bincount`` of one slice, ``size`` long. uint8 ids are counted two at a time: the slice seen as
    uint16 values ``a + 256·b`` (half as many to convert and scatter), whose 65,536 counts ``n[b, a]``
    give each id's count as ``Σ_b n[b, id] + Σ_a n[id, a]`` (as the first and as the second of a pair,
    whichever byte order the machine has); an odd last id is added alone.
    """
    if part.dtype != np.uint8 or not part.flags.c_contiguous or len(part) < 2:
        return np.bincount(part, minlength=size)[:size]
    even = len(part) - len(part) % 2
    pairs = np.bincount(part[:even].view(np.uint16), minlength=1 << 16).reshape(256, 256)
    counts = np.zeros(max(size, 256), dtype=np.int64)
    counts[:256] = pairs.sum(axis=0) + pairs.sum(axis=1)
    if even < len(part):
        counts[part[-1]] += 1
    return counts[:size]
