"""How wide a text's characters are in CPython's ``str``, found a piece at a time (its widest decides for all).

CPython's ``str`` takes as many bytes a character as its widest character needs: 1 up to U+00FF, 2 up to U+FFFF, 4
past it (an emoji, the CJK extension planes), so one emoji in an ASCII text makes every character of it 4 bytes.
:mod:`~rnnplay.corpora.text_weight` weighs a file by it before the file is read; :class:`BytesShape` finds it for
bytes that come a block at a time and cannot be read twice (stdin: :func:`rnnplay.corpora.text.read_stream`). A
module of its own, below both: text_weight imports text, which weighs its streams with this.
"""

from __future__ import annotations

import codecs


def str_width(text: str) -> int:
    """Bytes a character of ``text`` takes in CPython's str: 1 up to U+00FF, 2 up to U+FFFF, 4 past it; found with
    C-level passes (an encode to Latin-1 fails at the first character past U+00FF; in UTF-16 a character past
    U+FFFF takes two units)."""
    if text.isascii():  # O(1): a str knows its widest character
        return 1
    try:
        text.encode("latin-1")
        return 1
    except UnicodeEncodeError:
        pass
    return 4 if len(text.encode("utf-16-le", "surrogatepass")) > 2 * len(text) else 2


def held_weight(held: int, size: int, width: int, chars: int) -> int:
    """Bytes a text of ``size`` bytes and ``chars`` characters, its widest ``width`` bytes in a str, takes while it is
    held whole by work that holds ``held`` bytes a byte of an ASCII text (its str of one byte a character among
    them)::

        weight = held · size + (width - 1) · chars
    """
    return held * size + (width - 1) * chars


def wider(width: int) -> str:
    """What a width past one byte adds, for the line that names a weight: ', and 3 more a character: …'."""
    return f", and {width - 1} more a character: its widest takes {width} bytes in a Python str" if width > 1 else ""


class BytesShape:
    """The widest character's width (:func:`str_width`) and the characters of a text in ``codec`` (a name
    :func:`~rnnplay.corpora.text.text_codec` gave) given as bytes, a block at a time (:meth:`add`). Bytes that are
    not valid text count as U+FFFD (decoding the text whole says what is wrong with them); a UTF-8 block of ASCII
    bytes is its characters, not decoded."""

    def __init__(self, codec: str) -> None:
        self.utf8 = codec == "utf-8"
        self.decoder = codecs.getincrementaldecoder("utf-8-sig" if self.utf8 else codec)(errors="replace")
        self.width, self.chars = 1, 0
        self._first = True  # a UTF-8 mark can only come first

    def add(self, data: bytes) -> None:
        if self.utf8 and data.isascii() and not self._first and not self.decoder.getstate()[0]:
            self.chars += len(data)
            return
        self._first = False
        text = self.decoder.decode(data)
        self.chars += len(text)
        if self.width < 4:
            self.width = max(self.width, str_width(text))
