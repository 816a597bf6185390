"""How much memory a text read whole takes, told from its widest character before it is read.

A text read into memory whole (when the cache cannot take its ids: :mod:`~rnnplay.corpora.file_corpus`) is held as
its bytes, its ``str`` and its ids at once, and CPython's ``str`` takes as many bytes a character as its widest
character needs: 1 up to U+00FF, 2 up to U+FFFF, 4 past it (an emoji, the CJK extension planes) — one emoji in an
ASCII text makes every character of it 4 bytes. A text of ``size`` bytes and ``chars`` characters (at most one a
byte), its widest character ``w`` bytes in a ``str``, is weighed at

    held_bytes = BASE_HELD * size (its bytes; its ids, one or two bytes a character; the slices decoded and
                                   encoded on the way) + w * chars (its str)

(docs/corpora.md has the peaks measured). :func:`shape` finds ``w`` and ``chars`` in one streaming pass, a piece at
a time (:func:`file_pieces` for a file), so nothing as large as the text is allocated to weigh it.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from rnnplay.corpora.char_width import held_weight, str_width
from rnnplay.corpora.text import text_codec

BASE_HELD = 3  # bytes held a byte of a text read whole, beside its str: its bytes, its ids, the slices on the way
SCAN_BYTES = 1 << 20  # bytes decoded at a time to find a file's widest character


def held_bytes(size: int, width: int, chars: int) -> int:
    """Bytes held while a text of ``size`` bytes and ``chars`` characters, its widest ``width`` bytes in a str, is
    read whole (see the module): :func:`~rnnplay.corpora.char_width.held_weight` of BASE_HELD bytes a byte, whose
    str is counted a character (``width`` bytes each), not a byte."""
    return held_weight(BASE_HELD, size, width, chars) + chars


def shape(pieces: Iterable[str | bytes]) -> tuple[int, int]:
    """(the width of its widest character (:func:`str_width`), its characters) of a text given a piece at a time
    (``bytes``: ASCII)."""
    width = chars = 0
    for piece in pieces:
        chars += len(piece)
        if width < 4 and isinstance(piece, str):
            width = max(width, str_width(piece))
    return max(width, 1), chars


def file_pieces(handle: BinaryIO, encoding: str) -> Iterator[str]:
    """The text of the open file ``handle`` (from where it is) decoded SCAN_BYTES at a time; bytes that are not
    valid ``encoding`` become U+FFFD (reading the text whole says what is wrong with them), a UTF-8 byte-order mark
    is dropped as a read drops it."""
    codec = text_codec(encoding)
    decoder = codecs.getincrementaldecoder("utf-8-sig" if codec == "utf-8" else codec)(errors="replace")
    while data := handle.read(SCAN_BYTES):
        yield decoder.decode(data)
    yield decoder.decode(b"", final=True)
