"""One streaming pass from a text file to its id file: decode, hash, find the vocabulary, write the ids.

:func:`encode_file` reads the file a chunk at a time (:class:`~rnnplay.corpora.text_stream.TextStream`),
numbers its characters as they come (:class:`~rnnplay.corpora.stream_encoder.StreamEncoder`)
and appends each chunk's ids to a temporary file with ordinary writes. When a new
character renumbers the ids already written (kept in sorted order while little has been
rewritten: ``REORDER_BUDGET``), or widens their type, the part written so far is rewritten
through the table, in the same file; at the end, if the numbering is not sorted, the whole file is, once. The
file is then renamed to its place (named by the text's sha256 and vocabulary) and the
sidecar written: :class:`~rnnplay.corpora.id_file.IdFile`.

:func:`remembered_sha256` and :func:`remember` keep, for a file, the sha256 of its text
under the file's identity and state — (path, device, inode, size, mtime_ns, ctime_ns,
encoding) — so loading the same, unchanged file again reads none of it: any write to the
file changes its ctime, and a copy elsewhere has another inode. The memo records that state
too (``source``), by which ``rnnplay corpus cache`` tells a file still there unchanged; a memo
of an older rnnplay holds the sha256 alone.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import suppress
from pathlib import Path
from typing import BinaryIO

import numpy as np

from rnnplay.core.vocab import Vocab
from rnnplay.corpora import text_stream
from rnnplay.corpora.base import Progress
from rnnplay.corpora.id_file import (
    IdFile,
    TempFile,
    check_room,
    remove_stale_temporaries,
    renumber_in_place,
)
from rnnplay.corpora.id_hold import Hold, held_anew, hold
from rnnplay.corpora.stream_encoder import Piece, StreamEncoder
from rnnplay.corpora.text import empty_corpus, one_character, text_codec
from rnnplay.corpora.text_stream import TextSource, TextStream

REORDER_BUDGET = 1 << 26  # ids rewritten to keep the numbering sorted while streaming, before it waits for the end


class Build:
    """The id file of one text while it is written: the current temporary file and the type of its ids."""

    def __init__(self, folder: Path, size: int) -> None:
        self.folder, self.size = folder, size
        remove_stale_temporaries(folder)  # a killed build's part file must not count against the room
        check_room(folder, size)  # at most one id per byte, one byte an id until the vocabulary passes 256
        self.temp = TempFile(folder)
        self.dtype = np.dtype(np.uint8)
        self.rewritten = 0  # ids rewritten so far to keep them sorted

    def keep_sorted(self, written: int) -> bool:
        return self.rewritten + written < REORDER_BUDGET

    def rewrite(self, table: np.ndarray, dtype: np.dtype, written: int) -> None:
        """The ``written`` ids so far renumbered through ``table`` into ``dtype``, in the temporary file itself.

        In place, so a build never needs room for a second copy; a build killed midway leaves a part file whose
        name no reader looks for (removed by the next build), never an id file with half its ids renumbered.
        """
        if dtype != self.dtype:
            check_room(self.folder, self.size * np.dtype(dtype).itemsize)
        try:
            self.temp.handle.flush()
            renumber_in_place(self.temp.path, self.dtype, table, dtype, written)
            self.temp.handle.seek(0, os.SEEK_END)  # a wider type made the file longer
        except OSError as err:
            raise self.temp.error(err) from None
        self.dtype, self.rewritten = np.dtype(dtype), self.rewritten + written


def encode_file(handle: BinaryIO, size: int, where: str, name: str, encoding: str, progress: Progress,
                folder: Path) -> IdFile:
    """The id file of the text in ``handle`` (``size`` bytes), built in one pass; one line for bad text.

    ``progress`` hears "encoding NAME" as the bytes are read, and last "encoded N chars in S s, its ids kept in ...".
    """
    return encode_text(TextStream(handle, where, encoding, size, hashed=True), size, name, progress, folder)


def encode_text(stream: TextSource, size: int, name: str, progress: Progress, folder: Path) -> IdFile:
    """The id file of the text ``stream`` gives, of at most ``size`` characters, built in one pass (see
    :func:`encode_file`)."""
    started = time.perf_counter()
    stream.begin()  # a binary file is said to be one before the cache is asked for room
    encoder = StreamEncoder()
    build = Build(folder, size)
    use = Hold()
    try:
        for piece in coalesced(stream.pieces(progress, f"encoding {name}")):
            written = encoder.position
            encoded = encoder.encode(piece, build.keep_sorted(written))
            if encoded.renumbered is not None and written:
                build.rewrite(encoded.renumbered, encoder.dtype, written)
            build.temp.write(encoded.ids)
        if encoder.position == 0:
            raise empty_corpus(name)
        if len(encoder.chars) < 2:
            raise one_character(name, encoder.chars[0])
        table = encoder.sort()
        if table is not None:
            build.rewrite(table, encoder.dtype, encoder.position)
        use = hold(folder, stream.sha256)  # from before the ids are in place: a prune leaves them there
        ids = IdFile(folder, stream.sha256, encoder.position, Vocab(tuple(encoder.chars)), encoder.counts,
                     encoder.first, use)
        build.temp.commit(ids.path(ids.vocab))
        ids.save()
    except BaseException:
        build.temp.discard()
        use.release()
        raise
    seconds = time.perf_counter() - started
    progress(f"encoded {ids.chars:,} chars in {seconds:.1f} s, its ids kept in {folder} for the next load", stream.done,
             stream.done, "B")
    return ids


def coalesced(pieces: Iterable[Piece]) -> Iterator[Piece]:
    """``pieces`` joined into pieces of an eighth of a read or more: a ``dir:`` folder of small files streams three
    pieces a file (its header, its text, the blank line after it), and an encoder call costs as much as
    encoding some thousands of characters. ASCII ``bytes`` pieces alone stay ``bytes`` (the encoder's quick path).
    A piece of an eighth of a read (text_stream.CHUNK_BYTES) or more goes as it comes; so do a test's small reads."""
    limit = text_stream.CHUNK_BYTES // 8
    held: list[Piece] = []
    size = 0
    for piece in pieces:
        held.append(piece)
        size += len(piece)
        if size >= limit:
            yield _joined(held)
            held, size = [], 0
    if held:
        yield _joined(held)


def _joined(pieces: list[Piece]) -> Piece:
    if len(pieces) == 1:
        return pieces[0]
    if all(isinstance(p, bytes) for p in pieces):
        return b"".join(pieces)  # type: ignore[arg-type]
    return "".join(p if isinstance(p, str) else p.decode("ascii") for p in pieces)


SOURCE_FIELDS = ("path", "device", "inode", "size", "mtime_ns", "ctime_ns", "encoding")  # a memo's "source"


def _state(path: Path, info: os.stat_result, encoding: str) -> list[str | int]:
    """A file's identity and state, in the order of SOURCE_FIELDS."""
    return [os.path.realpath(path), info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns,
            text_codec(encoding)]


def memo_path(folder: Path, state: list[str | int]) -> Path:
    """The memo of a source in its ``state`` (a file's, or a ``dir:`` folder's: :mod:`.folder_memo`)."""
    key = hashlib.sha256(json.dumps(state).encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return folder / "files" / f"{key}.json"


def read_memo_sha256(memo: Path) -> str | None:
    """The sha256 a memo records (None when it cannot be read, or records none)."""
    try:
        sha = json.loads(memo.read_text("ascii"))["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return sha if isinstance(sha, str) and len(sha) == 64 else None


def write_memo(memo: Path, record: dict) -> None:
    """Write ``record`` to ``memo`` whole (a cache: failing to write it is no error), through a part file this
    process holds while it writes (:func:`~rnnplay.corpora.id_hold.held_anew`: a prune leaves it alone)."""
    with suppress(OSError):
        memo.parent.mkdir(parents=True, exist_ok=True)
        part = memo.with_name(f"{memo.name}.{os.getpid()}.part")
        if (fd := held_anew(part)) is None:
            return
        try:  # a path that is not UTF-8 kept as its escaped surrogates
            with open(fd, "w", encoding="ascii", closefd=False) as out:
                out.write(json.dumps(record))
            os.replace(part, memo)
        finally:
            os.close(fd)


def remembered_sha256(folder: Path, path: Path, info: os.stat_result, encoding: str) -> str | None:
    """The sha256 of the text of ``path`` in its state ``info``, if an earlier load noted it."""
    return read_memo_sha256(memo_path(folder, _state(path, info, encoding)))


def remember(folder: Path, path: Path, info: os.stat_result, encoding: str, sha256: str) -> None:
    """Note the sha256 of ``path``'s text in its state ``info`` (a cache: failing to note it is no error), and that
    state itself, by which ``rnnplay corpus cache`` tells whether the file is still there unchanged."""
    state = _state(path, info, encoding)
    write_memo(memo_path(folder, state), {"sha256": sha256, "source": dict(zip(SOURCE_FIELDS, state, strict=True))})
