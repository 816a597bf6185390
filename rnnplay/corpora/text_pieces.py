"""A text file's characters a piece at a time, for a model that reads a text larger than memory
(``rnnplay score --file``, ``rnnplay sample --seed-file``): never held whole, read as often as asked.

Each reading opens the file again and decodes it through
:class:`~rnnplay.corpora.text_stream.TextStream` (the same one-line errors as a whole
file's: binary, not valid in its encoding); CRLF line ends may be read as LF, a CR at
the end of one piece joined to the LF that starts the next; the first characters may be
skipped (the training part before a validation split). :meth:`TextFile.tally` is the
pass before the model's: how many characters, and which of them a vocabulary lacks.
A file changed between two readings, or during one (another inode, size, mtime or ctime
than at the first), is one line: a score of two texts mixed is no score.

A pipe cannot be read twice: :func:`stdin_pieces` holds a short one in memory and keeps a
longer one in a temporary file (unlinked at once) in the cache's ``tmp/`` folder, block
by block, each block only once the disk there has room for it and SPOOL_MARGIN more; a
stdin that is a regular file is read again through its descriptor, as a file is.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import BinaryIO

from rnnplay.core.errors import RnnplayError
from rnnplay.core.vocab import Vocab
from rnnplay.corpora.base import Progress, cache_advice, no_progress
from rnnplay.corpora.folders import as_text
from rnnplay.corpora.text import decode, open_regular, probe, read_blocks
from rnnplay.corpora.text_stream import TextStream
from rnnplay.folders import cache_dir

try:
    import fcntl
except ImportError:  # Windows: no /proc/self/fd either, so stdin is never read again by its descriptor
    fcntl = None  # type: ignore[assignment]

SPOOL_FROM = 1 << 22  # stdin of more bytes than this is kept in a temporary file, not in memory
SPOOL = re.compile(r"\.spool-(\d{1,10})-\w+")  # a spool file's name, where the file system gives it one (no O_TMPFILE)
SPOOL_MARGIN = 64 << 20  # bytes a spooled stdin leaves free on its disk, for the other programs there


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
    """A regular file's text, read a piece at a time each time it is asked, never whole; a change to the file
    between readings or during one is one line (see the module)."""

    def __init__(self, path: Path, encoding: str = "utf-8", crlf_as_lf: bool = False, where: str = "") -> None:
        """``where``: how messages name the file (default: its path)."""
        super().__init__(crlf_as_lf=crlf_as_lf)
        self.path, self.encoding, self.where = path, encoding, where or str(path)
        self.size: int | None = None  # its bytes at the first reading: another size later is an error
        self.state: tuple[int, ...] | None = None  # its identity and state at the first reading

    @property
    def bytes_hint(self) -> int:
        info = probe(self.path)
        return info.st_size if info is not None else 0

    def _read(self, progress: Progress, label: str) -> Iterator[str]:
        handle, info = open_regular(self.path, in_memory=False)
        with handle:
            if self.state is None:
                self.size, self.state = info.st_size, file_state(info)
            self._unchanged(info)
            yield from text_of(handle, self.where, self.encoding, self.size, progress, label)
            self._unchanged(os.fstat(handle.fileno()))

    def _unchanged(self, info: os.stat_result) -> None:
        if file_state(info) != self.state:
            raise RnnplayError(f"{self.where} changed while it was read (another file, size or time than at the "
                               "first of rnnplay's passes over it): the result would mix two texts; run the command "
                               "again once nothing writes to it, or on a copy of it")


class SpooledText(TextPieces):
    """A text kept in an open temporary file (stdin's, :func:`stdin_pieces`), read from its start each time."""

    def __init__(self, handle: BinaryIO, where: str, encoding: str, size: int) -> None:
        super().__init__()
        self.handle, self.where, self.encoding, self.size = handle, where, encoding, size

    @property
    def bytes_hint(self) -> int:
        return self.size

    def _read(self, progress: Progress, label: str) -> Iterator[str]:
        self.handle.seek(0)
        yield from text_of(self.handle, self.where, self.encoding, self.size, progress, label)


def text_of(handle: BinaryIO, where: str, encoding: str, size: int | None, progress: Progress,
            label: str) -> Iterator[str]:
    """The text of ``handle`` (``size`` bytes) from where it stands, a piece at a time, hashing nothing."""
    stream = TextStream(handle, where, encoding, size)
    stream.begin()
    yield from (as_text(piece) for piece in stream.pieces(progress, label))
    progress(label, stream.done, stream.done, "B")


def stdin_pieces(stream: BinaryIO, encoding: str, instead: str) -> TextPieces:
    """stdin's text (see the module): in memory up to SPOOL_FROM bytes, else in a temporary file; a disk without
    room for it is one line, saying what to do ``instead`` as well. A regular file (``< big.txt``) is read as a
    file is, through its descriptor, with no copy."""
    if readable_file(stream):
        return TextFile(Path(f"/proc/self/fd/{stream.fileno()}"), encoding, where="stdin")
    blocks, size = [], 0
    reader = read_blocks(stream, "stdin", encoding)
    for data in reader:
        blocks.append(data)
        size += len(data)
        if size > SPOOL_FROM:
            handle, size = spool(chain(blocks, reader), instead)
            return SpooledText(handle, "stdin", encoding, size)
    return TextPieces(decode(b"".join(blocks), "stdin", encoding))


def readable_file(stream: BinaryIO) -> bool:
    """Whether ``stream`` is a regular file open for reading that this system lets rnnplay open again by its
    descriptor (``/proc/self/fd``), as a file is read at each pass."""
    if fcntl is None:
        return False
    try:
        fd = stream.fileno()
        readable = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE != os.O_WRONLY  # `0>file` gives no text to read
        return readable and stat.S_ISREG(os.fstat(fd).st_mode) and os.path.exists(f"/proc/self/fd/{fd}")
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return False


def spool(blocks: Iterable[bytes], instead: str) -> tuple[BinaryIO, int]:
    """``blocks`` written to a temporary file in the cache's ``tmp/``, each only once the disk has room for it and
    SPOOL_MARGIN more: the file (open, gone once closed) and its size."""
    folder = cache_dir() / "tmp"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = tempfile.TemporaryFile(dir=folder, prefix=f".spool-{os.getpid()}-")  # noqa: SIM115  # returned open
    except OSError as err:
        raise spool_error(folder, err, instead) from None
    written = 0
    for data in blocks:
        free = shutil.disk_usage(folder).free
        if len(data) + SPOOL_MARGIN > free:
            handle.close()
            raise RnnplayError(f"stdin has sent more than {written:,} bytes, and {folder} has {free:,} bytes free "
                               f"to keep it in for the passes over it (leaving {SPOOL_MARGIN >> 20} MiB); free some "
                               f"space there, set RNNPLAY_CACHE_DIR to a folder with room, or {instead}")
        try:
            handle.write(data)
        except OSError as err:
            handle.close()
            raise spool_error(folder, err, instead) from None
        written += len(data)
    handle.flush()
    return handle, written


def spool_error(folder: Path, err: OSError, instead: str) -> RnnplayError:
    return RnnplayError(f"cannot keep stdin in {folder} for the passes over it: {err.strerror or err}; "
                        f"{cache_advice(folder, err)}; or {instead}")


def file_state(info: os.stat_result) -> tuple[int, ...]:
    """What changes when a file is replaced or written to: its device and inode, size, mtime and ctime."""
    return info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns


def skipped(pieces: Iterable[str], start: int) -> Iterator[str]:
    """``pieces`` without their first ``start`` characters."""
    for piece in pieces:
        if start >= len(piece):
            start -= len(piece)
            continue
        yield piece[start:]
        start = 0
