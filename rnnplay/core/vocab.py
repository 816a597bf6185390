"""Characters <-> integer ids.

The vocabulary is the sorted set of distinct characters of the training text, so
the same text always gives the same ids. Encoding is vectorised: the text is
viewed as an array of UTF-32 code points and mapped through a lookup table, so
100 MB of text encodes in well under two seconds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ..errors import RnnplayError


def _codepoints(text: str) -> np.ndarray:
    """The text as a uint32 array of code points, without a Python-level loop."""
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)


def describe_char(ch: str) -> str:
    """A printable name for a character: 'x', '\\n', 'U+00E9 é'."""
    if ch.isprintable() and not ch.isspace():
        return repr(ch)
    return repr(ch) if ch in "\n\t\r " else f"U+{ord(ch):04X}"


@dataclass(frozen=True)
class Vocab:
    """An ordered alphabet. ``chars[i]`` is the character with id ``i``."""

    chars: tuple[str, ...]

    @classmethod
    def from_text(cls, text: str) -> Vocab:
        if not text:
            raise RnnplayError("the corpus is empty: give a file with some text in it")
        codes = np.unique(_codepoints(text))
        return cls(tuple(chr(c) for c in codes.tolist()))

    def __len__(self) -> int:
        return len(self.chars)

    @property
    def size(self) -> int:
        return len(self.chars)

    def _table(self) -> tuple[np.ndarray, np.ndarray]:
        codes = np.array([ord(c) for c in self.chars], dtype=np.uint32)
        return codes, np.arange(len(codes), dtype=np.int32)

    def unknown(self, text: str) -> list[str]:
        """Distinct characters of ``text`` that are not in the vocabulary, in order of appearance."""
        known = set(self.chars)
        seen: dict[str, None] = {}
        for ch in text:
            if ch not in known:
                seen.setdefault(ch, None)
        return list(seen)

    def encode(self, text: str, on_unknown: str = "error") -> np.ndarray:
        """Ids of ``text`` as int32.

        ``on_unknown``: "error" raises a one-line error naming the unknown
        characters; "skip" drops them.
        """
        codes, ids = self._table()
        points = _codepoints(text)
        pos = np.searchsorted(codes, points)
        pos_clipped = np.minimum(pos, len(codes) - 1)
        known = codes[pos_clipped] == points
        if not known.all():
            if on_unknown == "skip":
                return ids[pos_clipped[known]]
            names = ", ".join(describe_char(c) for c in self.unknown(text)[:10])
            raise RnnplayError(
                f"the model has never seen {names}: remove those characters "
                "or use a model trained on text that has them"
            )
        return ids[pos_clipped]

    def decode(self, ids: Iterable[int] | np.ndarray) -> str:
        chars = self.chars
        return "".join(chars[i] for i in np.asarray(ids, dtype=np.int64).ravel().tolist())
