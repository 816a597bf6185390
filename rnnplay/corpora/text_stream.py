"""A text file read a few MB at a time: pieces of text, the text's sha256, and the errors of :func:`decode`.

What :func:`~rnnplay.corpora.text.decode` says about a whole file — binary (a NUL in
the first 8 kB), not valid in its encoding (the byte offset and line, counted in the
file), a UTF-8 byte-order mark dropped — this says about a file it never holds whole.
An incremental decoder carries a character split between two chunks over to the next
one; a UnicodeDecodeError's offset counts from the bytes it still held, so the offset in
the file is ``bytes fed before this chunk - bytes held + err.start``.

For UTF-8, a chunk whose bytes are all ASCII (and with nothing held from the chunk
before) is passed on as those bytes, undecoded: its characters are its bytes. The
sha256 is that of the text in UTF-8 (:func:`~rnnplay.corpora.text.text_sha256`, what a
checkpoint records), so for a UTF-8 file it is the hash of its bytes after the mark.
"""

from __future__ import annotations

import codecs
import hashlib
from collections.abc import Iterator
from typing import Any, BinaryIO, Protocol

from rnnplay.core.errors import RnnplayError
from rnnplay.corpora.base import Progress
from rnnplay.corpora.text import BOM, check_not_binary, invalid_text, looks_binary, text_codec, wide_encoding

CHUNK_BYTES = 1 << 19  # bytes read at a time: a piece's scratch (about 20 bytes a character) stays near 10 MB


class TextSource(Protocol):
    """What an id file is built from (:func:`~rnnplay.corpora.id_build.encode_text`): a :class:`TextStream`, or
    the joined text of a folder (:class:`~rnnplay.corpora.folders.JoinedStream`)."""

    done: int  # bytes read so far

    @property
    def sha256(self) -> str: ...  # of the text in UTF-8, once every piece is read

    def begin(self) -> bool: ...

    def pieces(self, progress: Progress, label: str) -> Iterator[str | bytes]: ...


class TextStream:
    """The text of an open file, a piece at a time (:meth:`begin`, then :meth:`pieces`); :attr:`sha256` once they
    are all read, if it was asked for."""

    def __init__(self, handle: BinaryIO, where: str, encoding: str, size: int | None = None,
                 digest: Any = None, hashed: bool = False) -> None:
        """``size``: the file's bytes when it was opened (more or fewer by the end is an error); ``hashed``: the
        text's sha256 is wanted; ``digest``: a hashlib object that the text's UTF-8 goes into, if it is to hash
        more than this file's text. With neither, nothing is hashed."""
        self.handle, self.where, self.encoding, self.size = handle, where, encoding, size
        self.codec = text_codec(encoding)
        self.done = 0  # bytes read so far
        self._digest = digest if digest is not None else hashlib.sha256() if hashed else None
        self._first = b""  # the first chunk, read by begin()

    @property
    def sha256(self) -> str:
        if self._digest is None:
            raise ValueError("this TextStream hashes nothing: make it with hashed=True")
        return self._digest.hexdigest()

    def begin(self, skip_binary: bool = False) -> bool:
        """Read the first chunk: a one-line error now if the file looks binary, or False if ``skip_binary`` (text
        with a UTF-16/32 byte-order mark is never skipped: its error names its encoding); a UTF-8 byte-order
        mark dropped."""
        data = self._read()
        if skip_binary and looks_binary(data, self.encoding) and not wide_encoding(data):
            return False
        check_not_binary(data, self.where, self.encoding)
        if self.codec == "utf-8" and data.startswith(BOM):
            data = data[len(BOM) :]
        self._first = data
        return True

    def pieces(self, progress: Progress, label: str) -> Iterator[str | bytes]:
        """The text in pieces (after :meth:`begin`): ``bytes`` when a UTF-8 chunk is all ASCII, else ``str``;
        one line for bytes that are not valid text."""
        decoder = codecs.getincrementaldecoder(self.encoding)()
        raw = self.codec == "utf-8"
        data = self._first
        fed = self.done - len(data)  # the file's bytes before ``data``
        while True:
            held = decoder.getstate()[0]
            piece = data if raw and not held and data.isascii() else self._decode(decoder, data, fed - len(held))
            if self._digest is not None:
                self._digest.update(data if raw else piece.encode("utf-8"))
            if self.size is None or self.done < self.size:  # the last call is the caller's, when it is done
                progress(label, self.done, self.size, "B")
            if piece:
                yield piece
            if not data:
                if self.size is not None and self.done != self.size:  # grew or shrank: the text of neither
                    raise RnnplayError(f"{self.where} changed while it was read ({self.size:,} bytes, then "
                                       f"{self.done:,}); load it again once nothing writes to it")
                return
            fed = self.done
            data = self._read()

    def _read(self) -> bytes:
        try:
            data = self.handle.read(CHUNK_BYTES)
        except OSError as err:
            raise RnnplayError(f"cannot read {self.where}: {err.strerror}; check the file") from None
        self.done += len(data)
        return data

    def _decode(self, decoder: codecs.IncrementalDecoder, data: bytes, start: int) -> str:
        """``data`` through ``decoder`` (the last call, with no data, flushes it); ``start``: the file offset of the
        first byte the decoder works on (what it held, then ``data``)."""
        try:
            return decoder.decode(data, final=not data)
        except UnicodeDecodeError as err:
            at = start + err.start
            raise invalid_text(self.where, self.encoding, at, self._line_at(at)) from None
        except UnicodeError as err:  # codecs that do not say where
            raise invalid_text(self.where, self.encoding, detail=str(err)) from None

    def _line_at(self, offset: int) -> int:
        """The line (from 1) of the file's byte ``offset``: its newlines before it, read again."""
        self.handle.seek(0)
        lines, left = 0, offset
        while left > 0:
            block = self.handle.read(min(left, CHUNK_BYTES))
            if not block:
                break
            lines += block.count(b"\n")
            left -= len(block)
        return lines + 1
