"""A corpus's ids in a file in the cache, read through a memory map: corpora larger than memory.

``cache_dir()/ids/`` holds, for each text (named by the sha256 of its UTF-8, so the same
text gives the same files whatever its path or encoding):

- ``SHA.json``, the sidecar: the text's length, its vocabulary (sorted, as
  :class:`~rnnplay.core.vocab.Vocab`), each character's count and first position;
- ``SHA-VOCAB.ids``, its ids in a vocabulary (VOCAB: :func:`vocab_key`) as raw
  unsigned integers of :attr:`Vocab.id_dtype` (uint8 up to 256 characters, else uint16,
  uint32): first the text's own, then any other a run asked for (a model's, when
  resuming or fine-tuning), renumbered from the own file through a table ``own id -> id``,
  a chunk at a time, never from the text.

- ``SHA.lock``, held shared by every process that uses the text's ids (:mod:`~rnnplay.corpora.id_hold`),
  so that ``rnnplay corpus cache --prune`` leaves them alone; :attr:`IdFile.use` is this process's use.

Every file is written under a temporary name with ordinary writes and renamed into place
when complete, the sidecar last, so a reader finds whole files or none, and a writer
killed midway leaves only a temporary file that the next build removes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rnnplay.core.atomic_write import as_plainly_opened
from rnnplay.core.errors import RnnplayError
from rnnplay.core.vocab import Vocab, unknown_error
from rnnplay.corpora.base import Progress, cache_advice, no_progress
from rnnplay.corpora.id_hold import Hold, hold, new_held, remove_unheld
from rnnplay.folders import cache_dir

FORMAT = 1  # the sidecar's format: a sidecar of another is ignored (and the ids built again)
CHUNK_IDS = 1 << 20  # ids read and written at a time when renumbering
CHECK_IDS = 1 << 22  # ids counted at a time when a file is checked against its sidecar's counts
SHOWN_CHECK = 1 << 26  # bytes of ids from which a check's progress is shown (a check takes a few seconds a GB)
TEMP = re.compile(r"\.tmp-(\d+)-")


def ids_folder() -> Path:
    return cache_dir() / "ids"


def vocab_key(vocab: Vocab) -> str:
    """A short name for a vocabulary: the start of the sha256 of its characters in id order."""
    return hashlib.sha256(json.dumps(vocab.chars).encode("utf-8", "surrogatepass")).hexdigest()[:16]


@dataclass(frozen=True)
class IdFile:
    """What the sidecar says of one text; its ids in any vocabulary that covers it (:meth:`ids`)."""

    folder: Path
    sha256: str
    chars: int
    vocab: Vocab
    counts: np.ndarray  # by own id
    first: np.ndarray  # by own id: the position of the character's first appearance
    use: Hold = field(default_factory=Hold, compare=False, repr=False)  # the text held from a prune while used

    def path(self, vocab: Vocab) -> Path:
        return self.folder / f"{self.sha256}-{vocab_key(vocab)}.ids"

    def unknown(self, vocab: Vocab) -> list[str]:
        """The text's characters that ``vocab`` lacks, in order of first appearance (as :meth:`Vocab.unknown`)."""
        have = set(vocab.chars)
        missing = [i for i, c in enumerate(self.vocab.chars) if c not in have]
        return [self.vocab.chars[i] for i in sorted(missing, key=lambda i: int(self.first[i]))]

    def ids(self, vocab: Vocab) -> np.memmap:
        """The text as ids of ``vocab``, read-only and mapped; renumbered from the own ids once, then cached."""
        missing = self.unknown(vocab)
        if missing:
            raise unknown_error(missing)
        path = self.path(vocab)
        if vocab == self.vocab:  # the own ids: checked when found (:meth:`find`), or just written
            return np.memmap(path, dtype=vocab.id_dtype, mode="r", shape=(self.chars,))
        table = self._table(vocab)
        counts = np.zeros(len(vocab), dtype=np.int64)
        counts[table] = self.counts
        if not _sound(path, self.chars, vocab.id_dtype, counts):  # missing, cut short or damaged: made again
            check_room(self.folder, self.chars * np.dtype(vocab.id_dtype).itemsize)
            with writing(path) as out:
                renumber(self.path(self.vocab), self.vocab.id_dtype, out, table, vocab.id_dtype)
        return np.memmap(path, dtype=vocab.id_dtype, mode="r", shape=(self.chars,))

    def ids_in_memory(self, vocab: Vocab) -> np.ndarray:
        """:meth:`ids` renumbered into memory, a chunk at a time, when the cache has no room for their file."""
        out = np.empty(self.chars, dtype=vocab.id_dtype)
        convert = _converter(self.vocab.id_dtype, self._table(vocab), vocab.id_dtype)
        done = 0
        with open(self.path(self.vocab), "rb") as src:
            while block := src.read(CHUNK_IDS * self.vocab.id_dtype.itemsize):
                ids = np.frombuffer(convert(block), dtype=vocab.id_dtype)
                out[done : done + len(ids)] = ids
                done += len(ids)
        return out

    def _table(self, vocab: Vocab) -> np.ndarray:
        """own id -> id in ``vocab`` (which covers the text)."""
        index = {c: i for i, c in enumerate(vocab.chars)}
        return np.array([index[c] for c in self.vocab.chars], dtype=np.int64)

    def save(self) -> None:
        """Write the sidecar (after the own ids are in place): from now on the text's ids are found."""
        record = {"format": FORMAT, "sha256": self.sha256, "chars": self.chars, "vocab": "".join(self.vocab.chars),
                  "counts": self.counts.tolist(), "first": self.first.tolist()}
        with writing(self.folder / f"{self.sha256}.json") as out:
            out.write(json.dumps(record, ensure_ascii=True).encode("ascii"))

    @classmethod
    def find(cls, sha256: str, folder: Path | None = None, progress: Progress = no_progress,
             name: str = "") -> IdFile | None:
        """The text ``sha256``'s ids if the cache has them whole (a damaged or partial entry counts as none).

        Counting them takes a few seconds a GB: from SHOWN_CHECK bytes on, ``progress`` hears it, labelled with the
        text's ``name``, and last "checked the cached ids of NAME in S s (FOLDER)".
        """
        folder = folder or ids_folder()
        use = hold(folder, sha256)  # before reading: a prune leaves the text's files alone from now on
        try:
            record = json.loads((folder / f"{sha256}.json").read_text("ascii"))
            vocab = Vocab(tuple(record["vocab"]))
            found = cls(folder, sha256, record["chars"], vocab, np.array(record["counts"], dtype=np.int64),
                        np.array(record["first"], dtype=np.int64), use)
            sound = (record["format"] == FORMAT and record["sha256"] == sha256 and isinstance(found.chars, int)
                     and isinstance(record["vocab"], str) and list(vocab.chars) == sorted(set(vocab.chars))
                     and len(found.counts) == len(found.first) == len(vocab) >= 2 and found.counts.sum() == found.chars)
        except (OSError, ValueError, KeyError, TypeError):
            sound = False
        if sound and _sound(found.path(vocab), found.chars, vocab.id_dtype, found.counts,
                            _check_progress(progress, name, folder, found.chars * vocab.id_dtype.itemsize)):
            return found
        use.release()  # built again by the caller, which holds it anew
        return None


def _check_progress(progress: Progress, name: str, folder: Path, size: int) -> Callable[[int, bool], None]:
    """``checked(bytes_done, finished)`` for :func:`_sound`: ``progress`` told of a check of SHOWN_CHECK bytes or
    more, the last call saying where the ids are and how long the check took."""
    if size < SHOWN_CHECK:
        return lambda done, finished: None
    start = time.monotonic()

    def checked(done: int, finished: bool) -> None:
        if done >= size and not finished:
            return  # the last chunk: told once the counts agree
        label = (f"checked the cached ids of {name} in {time.monotonic() - start:.1f} s ({folder})" if finished
                 else f"checking the cached ids of {name}")
        progress(label, done, size, "B")

    return checked


def _sound(path: Path, chars: int, dtype: np.dtype, counts: np.ndarray,
           checked: Callable[[int, bool], None] = lambda done, finished: None) -> bool:
    """Whether ``path`` holds ``chars`` ids of ``dtype`` that count up to ``counts``, id by id (``checked`` hears
    the bytes counted, and last that they all were).

    One pass of plain reads, a chunk at a time (a memory map would keep every page it touched): a byte changed
    on the disk changes two counts, or gives an id past the vocabulary, which a run would otherwise read as
    another text, or fail on as an index out of range.
    """
    dtype = np.dtype(dtype)
    seen = np.zeros(len(counts), dtype=np.int64)
    try:
        if path.stat().st_size != chars * dtype.itemsize:
            return False
        with path.open("rb") as f:
            while (chunk := np.fromfile(f, dtype=dtype, count=CHECK_IDS)).size:
                found = np.bincount(chunk)
                if len(found) > len(seen):  # an id past the vocabulary
                    return False
                seen[: len(found)] += found
                checked(f.tell(), False)
    except (OSError, ValueError):
        return False
    sound = bool(np.array_equal(seen, counts))
    if sound:
        checked(chars * dtype.itemsize, True)
    return sound


@contextmanager
def writing(path: Path) -> Iterator[TempFile]:
    """A temporary file beside ``path``, renamed to it when the block ends well, removed when it does not."""
    temp = TempFile(path.parent)
    try:
        yield temp
        temp.commit(path)
    except BaseException:
        temp.discard()
        raise


class TempFile:
    """A file being built in ``folder`` with ordinary writes: committed (renamed into place) or discarded.

    Its writer holds it locked (:func:`~rnnplay.corpora.id_hold.new_held`) until it has its name, so that a prune,
    or a build, in any process that sees the cache leaves it alone. Disk errors (a full disk, a folder that cannot
    be written) become one line naming the folder; the file removed by another process, one line saying so.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        try:
            folder.mkdir(parents=True, exist_ok=True)
            remove_stale_temporaries(folder)
            fd, self.path = new_held(folder, f".tmp-{os.getpid()}-", ".part")
            as_plainly_opened(fd)
        except OSError as err:
            raise cache_error(folder, err) from None
        self.handle = os.fdopen(fd, "wb")

    def write(self, data: bytes | np.ndarray) -> None:
        try:
            self.handle.write(data)  # an array's own buffer: no copy
        except OSError as err:
            raise self.error(err) from None

    def commit(self, path: Path) -> None:
        try:
            self.handle.flush()
            os.replace(self.path, path)  # still held: its lock goes with the descriptor, once it has its name
            self.handle.close()
        except OSError as err:
            self.discard()
            raise self.error(err) from None

    def discard(self) -> None:
        with suppress(OSError):
            self.handle.close()
        with suppress(OSError):
            os.unlink(self.path)

    def error(self, err: OSError) -> CacheError:
        """The line for ``err``: the part file gone from under this writer (another process removed it), or the
        cache's trouble (:func:`cache_error`)."""
        if isinstance(err, FileNotFoundError) and not self.path.exists():
            return CacheError(f"the corpus's ids being built in {self.path} were removed by another process (a "
                              "`rnnplay corpus cache --prune` or a cleanup that did not see this build's lock, as "
                              "over NFS without working locks); load the corpus again to build them, and prune while "
                              "no build runs")
        return cache_error(self.folder, err)


class CacheError(RnnplayError):
    """The cache cannot take a corpus's ids (a folder that cannot be written, a full disk)."""


def check_room(folder: Path, size: int) -> None:
    """A one-line error now, rather than a full disk later, if ``size`` bytes will not fit in ``folder``."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(folder).free
    except OSError as err:
        raise cache_error(folder, err) from None
    if size > free:
        raise CacheError(f"the corpus's ids need {size:,} bytes in {folder} and only {free:,} are free; free some "
                         "space there, or set RNNPLAY_CACHE_DIR to a folder with room")


def cache_error(folder: Path, err: OSError) -> CacheError:
    return CacheError(f"cannot write the corpus's ids in {folder}: {err.strerror or err}; {cache_advice(folder, err)}")


def remove_stale_temporaries(folder: Path) -> None:
    """Remove temporary files no writer holds (killed midway through a build): :mod:`~rnnplay.corpora.id_hold`."""
    for path in folder.glob(".tmp-*.part"):
        if TEMP.match(path.name):
            remove_unheld(folder, path.name)


def renumber(source: Path, source_dtype: np.dtype, out: TempFile, table: np.ndarray, dtype: np.dtype) -> None:
    """Every id read from ``source``, written to ``out`` as ``table[id]`` in ``dtype``, a chunk at a time."""
    convert = _converter(source_dtype, table, dtype)
    with open(source, "rb") as src:
        while block := src.read(CHUNK_IDS * np.dtype(source_dtype).itemsize):
            out.write(convert(block))


def renumber_in_place(path: Path, source_dtype: np.dtype, table: np.ndarray, dtype: np.dtype, count: int) -> None:
    """The ``count`` ids of ``path`` rewritten as ``table[id]`` in ``dtype`` within the same file: no second file.

    A wider ``dtype`` grows the file, and its chunks go from the last to the first, so that no id is overwritten
    before it is read (chunk k's new bytes cover only old ids of chunk k and after).
    """
    convert = _converter(source_dtype, table, dtype)
    size, new_size = np.dtype(source_dtype).itemsize, np.dtype(dtype).itemsize
    starts = range(0, count, CHUNK_IDS)
    with open(path, "r+b") as f:
        for start in reversed(starts) if new_size > size else starts:
            f.seek(start * size)
            block = f.read(min(CHUNK_IDS, count - start) * size)
            f.seek(start * new_size)
            f.write(convert(block))


def _converter(source_dtype: np.dtype, table: np.ndarray, dtype: np.dtype) -> Callable[[bytes], bytes | np.ndarray]:
    """A block of ids of ``source_dtype`` to ``table[id]`` in ``dtype``: uint8 to uint8 one ``bytes.translate``,
    other types a lookup in the table, already of ``dtype``."""
    if source_dtype == dtype == np.uint8:
        byte_table = bytes(table.tolist()).ljust(256, b"\0")
        return lambda block: block.translate(byte_table)
    typed = table.astype(dtype)
    return lambda block: typed[np.frombuffer(block, dtype=source_dtype)]
