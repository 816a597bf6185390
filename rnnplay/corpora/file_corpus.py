"""A text file as a corpus whose ids live in the cache: training reads them through a memory map.

:func:`file_corpus` opens the file (only a regular file; a FIFO or a device is refused at
once), looks up the sha256 of its text under the file's identity and state, and, if the
cache has that text's ids, is done without reading the file; otherwise one streaming pass
(:func:`~rnnplay.corpora.id_build.encode_file`) writes them. The result answers what a run
asks of a corpus (``chars``, ``vocab()``, ``encode(vocab)``, ``unknown(vocab)``, ``sha256``)
from the id file and its sidecar; ``text`` still reads the whole file, for the few commands
that show text (``head(n)`` reads only the start).

:func:`folder_corpus` does the same for a ``dir:`` folder's joined text
(:class:`~rnnplay.corpora.folders.JoinedStream`) once its files are large: a :class:`FolderCorpus`, found again
without reading the folder while its listing is unchanged (:mod:`~rnnplay.corpora.folder_memo`).
"""

from __future__ import annotations

import codecs
import os
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from rnnplay.core.errors import RnnplayError, counted
from rnnplay.core.vocab import Vocab
from rnnplay.corpora import folder_memo
from rnnplay.corpora.base import Corpus, Progress, no_progress
from rnnplay.corpora.folders import JoinedStream, as_text
from rnnplay.corpora.id_build import encode_file, encode_text, remember, remembered_sha256
from rnnplay.corpora.id_cache import superseded
from rnnplay.corpora.id_file import CacheError, IdFile, ids_folder
from rnnplay.corpora.memory import usable_memory
from rnnplay.corpora.text import (
    BOM,
    check_text_path,
    open_regular,
    probe,
    read_text_file,
    text_codec,
    text_sha256,
)
from rnnplay.corpora.text_weight import BASE_HELD, file_pieces, held_bytes, shape

ID_FILE_BYTES = 1 << 22  # text files from this size on go through an id file; smaller ones are read into memory
MEMORY_SHARE = 0.25  # the most of the machine's memory a file may have to be read into memory when the cache fails


class FileCorpus(Corpus):
    """A corpus read from ``path`` in ``encoding`` whose ids are :attr:`id_file`; its text is not held."""

    def __init__(self, name: str, path: Path, encoding: str, id_file: IdFile, **card: Any) -> None:
        self.name, self.source, self.path, self.encoding, self.id_file = name, str(path), path, encoding, id_file
        self.licence = card.get("licence", "unknown")
        self.description = card.get("description", "")
        self.left_out = card.get("left_out", "")
        self.settings = dict(card.get("settings", {}))
        self.notes: list[str] = list(card.get("notes", []))  # what the loader tells the user (Corpus.notes)

    def __repr__(self) -> str:
        return f"FileCorpus({self.name!r}, {self.source!r}, {self.chars:,} chars, sha256 {self.sha256[:12]})"

    __eq__ = object.__eq__
    __hash__ = object.__hash__

    @property
    def text(self) -> str:  # type: ignore[override]  # read on demand instead of held
        """The whole text, read from the file again; a one-line error if the file changed since it was loaded."""
        text = self.read_text()
        if text_sha256(text) != self.sha256:
            raise RnnplayError(f"{self.path} has changed since it was loaded; load it again")
        return text

    def read_text(self) -> str:
        return read_text_file(self.path, self.encoding)

    @property
    def sha256(self) -> str:  # type: ignore[override]
        return self.id_file.sha256

    @property
    def chars(self) -> int:
        return self.id_file.chars

    def vocab(self) -> Vocab:
        return self.id_file.vocab

    def encode(self, vocab: Vocab) -> np.ndarray:
        """The ids in ``vocab``: a read-only memory map of the cached id file (renumbered once for a new vocab).

        When the cache has no room for a new vocabulary's ids, they are renumbered into memory instead if they fit
        (MEMORY_SHARE), as a build's text is, and :attr:`notes` says so."""
        try:
            return self.id_file.ids(vocab)
        except CacheError as err:
            if not fits_in_memory(self.chars * np.dtype(vocab.id_dtype).itemsize):
                raise
            self.notes.append(f"{err} (this time the ids were renumbered in memory instead)")
            return self.id_file.ids_in_memory(vocab)

    def unknown(self, vocab: Vocab) -> list[str]:
        return self.id_file.unknown(vocab)

    def counts(self) -> np.ndarray:
        return self.id_file.counts

    def release(self) -> None:
        """The text's ids no longer held from a prune by this corpus (a memory map of them stays readable: a
        removed file's pages live as long as the map)."""
        self.id_file.use.release()

    def head(self, chars: int) -> str:
        """The first ``chars`` characters, decoded from the start of the file only."""
        handle, _ = open_regular(self.path, in_memory=False)  # still a regular file: nothing to block on
        with handle:
            data = handle.read(4 * chars + 4)  # no encoding takes more than 4 bytes a character
        if text_codec(self.encoding) == "utf-8" and data.startswith(BOM):
            data = data[len(BOM) :]
        return codecs.getincrementaldecoder(self.encoding)(errors="replace").decode(data)[:chars]


def text_file_corpus(path: Path, encoding: str = "utf-8", progress: Progress | None = None) -> Corpus:
    """The corpus of the text file ``path``: its ids in the cache from ID_FILE_BYTES on (:func:`file_corpus`),
    its text in memory below (quicker to load at that size, and nothing is written to the cache)."""
    check_text_path(path)
    info = probe(path)
    if info is not None and info.st_size >= ID_FILE_BYTES:
        return file_corpus(path, encoding, progress)
    return Corpus(path.name, read_text_file(path, encoding), str(path))


def file_corpus(path: Path, encoding: str = "utf-8", progress: Progress | None = None,
                folder: Path | None = None) -> Corpus:
    """The corpus of the text file ``path`` (see the module), its ids built in ``folder`` (default: the cache's).

    When the cache cannot take the ids (it cannot be written, the disk is full), a file that fits in memory
    with room to spare (MEMORY_SHARE) is read into memory instead, as a plain :class:`Corpus`; a larger one
    is the cache's one-line error.
    """
    check_text_path(path)
    folder = folder or ids_folder()
    handle, info = open_regular(path, in_memory=False)
    with handle:
        sha = remembered_sha256(folder, path, info, encoding)
        ids = IdFile.find(sha, folder, progress or no_progress, path.name) if sha is not None else None
        if ids is None:
            try:
                ids = encode_file(handle, info.st_size, str(path), path.name, encoding, progress or no_progress,
                                  folder)
            except CacheError as err:
                if not text_fits_in_memory(info.st_size, lambda: shape(file_pieces(rewound(handle), encoding))):
                    raise
                return Corpus(path.name, read_text_file(path, encoding), str(path), notes=[in_memory_note(err)])
            remember(folder, path, info, encoding, ids.sha256)
            notes = earlier_versions_note(folder, os.path.realpath(path), path.name, ids.sha256)
            return FileCorpus(path.name, path, encoding, ids, notes=notes)
    return FileCorpus(path.name, path, encoding, ids)


def earlier_versions_note(folder: Path, source: str | None, name: str, sha256: str) -> list[str]:
    """What the user is told when the text of ``source`` (a file's real path, or a ``dir:`` folder's spec:
    :func:`~rnnplay.corpora.id_cache.superseded`), encoded anew, left the ids of its earlier versions in the cache,
    each as large as the text: no load reads them again, and nothing removes them unless asked."""
    size = superseded(folder, source, sha256) if source else 0
    if not size:
        return []
    return [f"the cache also holds {size / 1e6:,.1f} MB of ids of earlier versions of {name}, which no load "
            f"will read again (in {folder}); `rnnplay corpus cache --prune` removes them"]


def in_memory_note(err: CacheError) -> str:
    """What the user is told when the cache could not take the ids and the text was read into memory."""
    return f"{err} (this time the text was read into memory instead)"


def fits_in_memory(size: int, held: int = 1) -> bool:
    """Whether ``size`` bytes, held ``held`` times over, may be read into memory when the cache cannot take their
    ids (MEMORY_SHARE)."""
    return size * held <= (usable_memory() or 0) * MEMORY_SHARE


def text_fits_in_memory(size: int, text_shape: Callable[[], tuple[int, int]]) -> bool:
    """Whether a text of ``size`` bytes may be read whole into memory when the cache cannot take its ids: weighed at
    :func:`~rnnplay.corpora.text_weight.held_bytes` of its shape (``text_shape()``: its widest character and its
    characters, a pass over the text before anything as large is allocated), unless its bytes alone do not fit."""
    return fits_in_memory(size, BASE_HELD) and fits_in_memory(held_bytes(size, *text_shape()))


def rewound(handle: BinaryIO) -> BinaryIO:
    """``handle`` at the start of its file again."""
    handle.seek(0)
    return handle


class FolderCorpus(FileCorpus):
    """A folder's joined text (``dir:``) as a corpus whose ids are :attr:`id_file`; its text is joined again when
    asked for."""

    def __init__(self, name: str, joined: JoinedStream, id_file: IdFile, notes: list[str] | None = None) -> None:
        super().__init__(name, joined.root, joined.encoding, id_file, description=joined_summary(joined),
                         left_out=skipped_files(joined), notes=notes or [])
        self.joined = joined

    def read_text(self) -> str:
        return self.joined.again().text()

    def head(self, chars: int) -> str:
        """The first ``chars`` characters, joined from the first files only."""
        pieces: list[str] = []
        got = 0
        with closing(self.joined.again().pieces(no_progress, "")) as stream:  # closed: no file left open
            for piece in stream:
                pieces.append(as_text(piece))
                got += len(piece)
                if got >= chars:
                    break
        return "".join(pieces)[:chars]


def folder_corpus(joined: JoinedStream, name: str, progress: Progress | None = None) -> Corpus:
    """The corpus of a folder's joined text: from ID_FILE_BYTES of files on, its ids in the cache as a large file's
    (found again while the folder's listing is unchanged: :mod:`.folder_memo`), else its text in memory (so too
    when the cache cannot take the ids and it fits)."""
    progress, notes = progress or no_progress, []
    if joined.size >= ID_FILE_BYTES:
        folder = ids_folder()
        sha = folder_memo.remembered(folder, joined)
        ids = IdFile.find(sha, folder, progress, name) if sha is not None else None
        if ids is not None:
            return FolderCorpus(name, joined, ids)
        joined = joined.again()  # counts a memo set are counted again by the read
        try:
            ids = encode_text(joined, joined.most_chars, name, progress, folder)
            folder_memo.remember(folder, joined, ids.sha256)
            notes = earlier_versions_note(folder, folder_memo.memo_source(joined), name, ids.sha256)
            return FolderCorpus(name, joined, ids, notes)
        except CacheError as err:
            if not text_fits_in_memory(joined.size, lambda: folder_shape(joined)):
                raise
            joined, notes = joined.again(), [in_memory_note(err)]
    text = joined.text(progress, f"reading {name}")
    return Corpus(name, text, str(joined.root), description=joined_summary(joined), notes=notes,
                  left_out=skipped_files(joined))


def folder_shape(joined: JoinedStream) -> tuple[int, int]:
    """The shape of a folder's joined text (:func:`~rnnplay.corpora.text_weight.shape`), its files read again a
    piece at a time."""
    with closing(joined.again().pieces(no_progress, "")) as pieces:  # closed: no file left open
        return shape(pieces)


def joined_summary(joined: JoinedStream) -> str:
    """What a corpus description says of a folder once joined: "3 files, 1 binary file skipped"."""
    return ", ".join(filter(None, [counted(joined.members, "file"), skipped_files(joined)]))


def skipped_files(joined: JoinedStream) -> str:
    """What joining a folder left out: "1 binary file skipped", or "" when it took every file."""
    return f"{counted(joined.skipped_binary, 'binary file')} skipped" if joined.skipped_binary else ""
