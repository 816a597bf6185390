"""A text file's characters a piece at a time, for a model that reads a text larger than memory
(``rnnplay score --file``, ``rnnplay sample --seed-file``): never held whole, read as often as asked.

Each reading opens the file again and decodes it through
:class:`~rnnplay.corpora.text_stream.TextStream` (the same one-line errors as a whole
file's: binary, not valid in its encoding); CRLF line ends may be read as LF, a CR at
the end of one piece joined to the LF that starts the next; the first characters may be
skipped (the training part before a validation split). :meth:`TextFile.tally` is the
pass before the model's: how many characters, and which of them a vocabulary lacks.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rnnplay.core.vocab import Vocab
from rnnplay.corpora.base import Progress, no_progress
from rnnplay.corpora.folders import as_text
from rnnplay.corpora.text import open_regular, probe
from rnnplay.corpora.text_stream import TextStream


@dataclass
class Tally:
    """What a pass over a text found: its characters, and those a vocabulary lacks."""

    chars: int = 0
    unknown: dict[str, None] = field(default_factory=dict)  # the distinct unseen characters, in order of appearance
    unknown_count: int = 0  # how many characters are unseen

    def add(self, piece: str, vocab: Vocab) -> None:
        self.chars += len(piece)
        left_out = len(piece) - len(vocab.encode(piece, on_unknown="skip"))
        if left_out:
            self.unknown_count += left_out
            self.unknown.update(dict.fromkeys(vocab.unknown(piece)))


class TextPieces:
    """A text read a piece at a time, each time :meth:`pieces` is asked: CRLF as LF when asked (counted in
    :attr:`crlf`), its first characters skipped when asked. :class:`TextFile` reads a file; this class, a text
    already in memory (``--text``, stdin), as one piece."""

    def __init__(self, text: str = "", crlf_as_lf: bool = False) -> None:
        self.text, self.crlf_as_lf = text, crlf_as_lf
        self.crlf = 0  # CRLF line ends read as LF by the last reading

    def pieces(self, start: int = 0, progress: Progress = no_progress, label: str = "") -> Iterator[str]:
        """The text from its character ``start`` on (``progress`` hears a file's bytes read)."""
        text = self._read(progress, label)
        return skipped(self._line_ends(text) if self.crlf_as_lf else text, start)

    def tally(self, vocab: Vocab, start: int = 0, progress: Progress = no_progress, label: str = "") -> Tally:
        """A pass over the text from character ``start`` on, without the model."""
        found = Tally()
        for piece in self.pieces(start, progress, label):
            found.add(piece, vocab)
        return found

    @property
    def bytes_hint(self) -> int:
        """About how large the text is, in bytes, before it is read."""
        return len(self.text)

    def _read(self, progress: Progress, label: str) -> Iterator[str]:
        yield self.text

    def _line_ends(self, pieces: Iterable[str]) -> Iterator[str]:
        """``pieces`` with each CRLF as LF, counted in :attr:`crlf`."""
        self.crlf, held = 0, ""
        for piece in pieces:
            piece = held + piece
            held = "\r" if piece.endswith("\r") else ""  # its LF, if any, starts the next piece
            piece = piece[: len(piece) - len(held)]
            crlf = piece.count("\r\n") if "\r" in piece else 0  # most text has no CR: one quick look
            self.crlf += crlf
            if piece:
                yield piece.replace("\r\n", "\n") if crlf else piece
        if held:
            yield held


class TextFile(TextPieces):
    """A regular file's text, read a piece at a time each time it is asked, never whole."""

    def __init__(self, path: Path, encoding: str = "utf-8", crlf_as_lf: bool = False) -> None:
        super().__init__(crlf_as_lf=crlf_as_lf)
        self.path, self.encoding = path, encoding
        self.size: int | None = None  # its bytes at the first reading: another size later is an error

    @property
    def bytes_hint(self) -> int:
        info = probe(self.path)
        return info.st_size if info is not None else 0

    def _read(self, progress: Progress, label: str) -> Iterator[str]:
        handle, info = open_regular(self.path, in_memory=False)
        with handle:
            if self.size is None:
                self.size = info.st_size
            stream = TextStream(handle, str(self.path), self.encoding, self.size)
            stream.begin()
            yield from (as_text(piece) for piece in stream.pieces(progress, label))
            progress(label, stream.done, stream.done, "B")


def skipped(pieces: Iterable[str], start: int) -> Iterator[str]:
    """``pieces`` without their first ``start`` characters."""
    for piece in pieces:
        if start >= len(piece):
            start -= len(piece)
            continue
        yield piece[start:]
        start = 0
