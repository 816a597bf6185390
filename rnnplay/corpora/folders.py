"""Many files -> one text: ``dir:`` folders and the ``stdlib:`` code corpus.

Files are read in sorted order (the same folder always gives the same text) and
joined the way ``head a b`` shows several files: each starts with a header line
``==> relative/path <==``, and a blank line separates one file from the next. The
model sees where files begin and end, and a person reading the text can too.
The joined text is streamed a file and a chunk at a time (:class:`JoinedStream`), so a large
folder goes through an id file as a large text file does, never held whole.
"""

from __future__ import annotations

import hashlib
import os
import sys
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from rnnplay.core.errors import RnnplayError, printable
from rnnplay.corpora.base import Progress, no_progress
from rnnplay.corpora.text import is_folder, nothing_at, open_regular, probe, user_path
from rnnplay.corpora.text_stream import TextStream

# Folders of the standard library that are not the library itself: tests, bundled
# tools and apps, generated tables (encodings), deprecated packages, installed packages.
STDLIB_SKIP = frozenset({
    "test", "tests", "idle_test", "__pycache__", "site-packages", "dist-packages", "idlelib", "lib2to3",
    "ensurepip", "turtledemo", "tkinter", "pydoc_data", "encodings", "distutils",
})


def header(name: str) -> str:
    return f"==> {name} <==\n"


def as_text(piece: str | bytes) -> str:
    """A piece of streamed text as ``str`` (``bytes`` pieces are all ASCII)."""
    return piece if isinstance(piece, str) else piece.decode("ascii")


class JoinedStream:
    """The text of ``files`` joined (see the module), a piece at a time as a :class:`TextStream` gives one file's:
    each file is decoded as it is reached, and the sha256 is of the whole. So a large folder becomes an id file
    as a large file does, never held whole (:func:`~rnnplay.corpora.file_corpus.folder_corpus`); :meth:`text`
    joins a small one in memory. Files that look binary are skipped and counted; ``none_error`` is the one
    line for a folder with no text file at all."""

    def __init__(self, files: list[Path], root: Path, encoding: str, none_error: str = "", pattern: str = "") -> None:
        self.files, self.root, self.encoding, self.none_error = files, root, encoding, none_error
        self.pattern = pattern  # the dir: glob that listed the files ("": not a dir: folder's)
        self.size = sum(info.st_size for p in files if (info := probe(p)) is not None)  # bytes, when listed
        self.done = 0  # bytes read so far
        self.members = 0  # files joined so far
        self.skipped_binary = 0
        self._digest = hashlib.sha256()

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()

    @property
    def most_chars(self) -> int:
        """At most how many characters the joined text has: one a byte of the files, and the header lines."""
        return self.size + sum(len(header(self.name(p))) + 1 for p in self.files)

    def again(self) -> JoinedStream:
        """A new stream of the same files, read from their start."""
        return JoinedStream(self.files, self.root, self.encoding, self.none_error, self.pattern)

    def name(self, path: Path) -> str:
        """``path`` as its header line shows it: relative to the folder, a name not in UTF-8 with '�'s, and a line
        break escaped (a file's name cannot forge a header line of its own)."""
        name = path.relative_to(self.root).as_posix()
        return printable(name.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))

    def begin(self) -> bool:
        """Nothing to read ahead: each file is checked when it is reached."""
        return True

    def pieces(self, progress: Progress, label: str) -> Iterator[str | bytes]:
        """The joined text in pieces (``bytes`` when all ASCII, else ``str``); one line for a file that is not
        text in the encoding, or when no file is."""
        for path in self.files:
            yield from self._member(path, progress, label)
        if not self.members and self.none_error:
            raise RnnplayError(self.none_error)

    def text(self, progress: Progress = no_progress, label: str = "") -> str:
        """The whole joined text."""
        text = "".join(map(as_text, self.pieces(progress, label)))
        progress(label, self.done, self.done, "B")
        return text

    def _member(self, path: Path, progress: Progress, label: str) -> Iterator[str | bytes]:
        start = self.done

        def told(_label: str, done: int, _total: int | None, unit: str = "B") -> None:
            progress(label, start + done, max(self.size, start + done), unit)

        handle, info = self._open(path)
        with handle:
            stream = TextStream(handle, str(path), self.encoding, info.st_size, self._digest)
            if stream.begin(skip_binary=True):
                yield self._own(("\n" if self.members else "") + header(self.name(path)))
                last: str | bytes = ""
                for piece in stream.pieces(told, label):
                    last = piece[-1:]
                    yield piece
                if last not in ("\n", b"\n"):
                    yield self._own("\n")
                self.members += 1
            else:
                self.skipped_binary += 1
        self.done = start + info.st_size  # a skipped file too
        if self.done < self.size:
            progress(label, self.done, self.size, "B")

    def _open(self, path: Path) -> tuple[BinaryIO, os.stat_result]:
        """``path`` opened (:func:`open_regular`); a file listed, then removed before its turn, said as such."""
        try:
            return open_regular(path, in_memory=False)
        except RnnplayError:
            if os.path.lexists(path):
                raise
            raise RnnplayError(f"{path} was removed while the folder was read (it was listed, then gone before its "
                               "turn); run the command again once nothing removes files there") from None

    def _own(self, text: str) -> str:
        """``text`` of the joining itself (a header, a line break), hashed as the files' text is."""
        self._digest.update(text.encode("utf-8"))
        return text


DEFAULT_GLOB = "**/*"  # dir:FOLDER reads every file under FOLDER
LISTED_EVERY = 1000  # entries a folder's listing finds between two calls of its progress


def split_dir_spec(spec: str, base: Path = Path()) -> tuple[str, str]:
    """(FOLDER, GLOB) of the argument of ``dir:FOLDER[:GLOB]``, a relative FOLDER read from ``base``: all of it when
    it names a folder (a folder's name may have a colon), else split at its last colon; GLOB defaults to ``**/*``."""
    if not is_folder(base / user_path(spec)) and ":" in spec:
        folder, _, pattern = spec.rpartition(":")
        return folder, pattern
    return spec, DEFAULT_GLOB


@dataclass
class Listing:
    files: list[Path]  # the members, sorted
    outside: int  # files skipped because they resolve (through a symbolic link) outside the folder
    folders_outside: int  # links to folders outside it, never entered


def folder_files(root: Path, pattern: str, progress: Progress = no_progress) -> Listing:
    """Entries under ``root`` matching the glob ``pattern`` that are not folders, sorted, without hidden ones.

    Named pipes, devices and sockets are kept, so that reading them is refused by name rather than
    skipped without a word; symlinks that point nowhere are left out, and so are entries whose real path
    (symbolic links resolved) is outside ``root``'s: a link may lead anywhere, the glob only stays in the folder.
    Links to folders outside are counted too (the glob never enters them). ``progress`` hears how many entries
    the glob has found, each LISTED_EVERY of them (a folder of 200,000 files takes some 20 s to list).
    """
    if not is_folder(root):
        what = nothing_at(root, "folder") if probe(root) is None else "not a folder"
        raise RnnplayError(f"{root}: {what}; give dir:FOLDER or dir:FOLDER:GLOB")
    if not pattern or "\0" in pattern or Path(pattern).is_absolute() or ".." in Path(pattern).parts:
        raise RnnplayError(f"dir:{root}:{pattern}: the glob must stay inside the folder (no '..', no absolute "
                           "path); give a pattern such as **/*.txt")
    if "**" in pattern:  # the glob skips folders it cannot list without a word: name the first one instead
        _check_listable(root)
    try:
        found = sorted(p for p in _counted(root.glob(pattern), progress, f"listing {root.name or root}")
                       if _is_visible(p, root))
    except (OSError, ValueError) as err:
        raise RnnplayError(f"cannot list dir:{root}:{pattern} ({err}); check the folder and the pattern") from None
    real_root = os.path.realpath(root)
    outside = {p for p in found if not Path(os.path.realpath(p)).is_relative_to(real_root)}
    files = [p for p in found if not is_folder(p) and p not in outside]
    folders_out = sum(1 for p in outside if is_folder(p))
    return Listing(files, len(outside) - folders_out, folders_out)


def _counted(entries: Iterator[Path], progress: Progress, label: str) -> Iterator[Path]:
    """``entries`` as they come, ``progress`` told how many have come each LISTED_EVERY."""
    for n, entry in enumerate(entries, 1):
        if n % LISTED_EVERY == 0:
            progress(label, n, None, "files")
        yield entry


def _check_listable(root: Path) -> None:
    """A one-line error naming a folder under ``root`` (not hidden, links not followed) that cannot be listed."""
    def refuse(err: OSError) -> None:
        raise RnnplayError(f"cannot read the folder {err.filename}: {err.strerror}; check its permissions, or give "
                           "a glob that leaves it out (dir:FOLDER:GLOB)")

    for _folder, subfolders, _names in os.walk(root, onerror=refuse):
        subfolders[:] = [d for d in subfolders if not d.startswith(".")]


def _is_visible(path: Path, root: Path) -> bool:
    """Not hidden, and there (a symlink that points nowhere is not)."""
    hidden = any(part.startswith(".") for part in path.relative_to(root).parts)
    return not hidden and probe(path) is not None


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def stdlib_files(package: str = "") -> list[Path]:
    """The running Python's standard-library .py files (without tests and tools), sorted.

    ``package`` narrows them to one module or package, e.g. ``json``.
    """
    root = stdlib_root()
    files = []
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = [d for d in subfolders if d not in STDLIB_SKIP]  # prune: never walk into site-packages
        files += [Path(folder, n) for n in names if n.endswith(".py")]
    if package:
        files = [p for p in files if p.relative_to(root).parts[0] in (package, f"{package}.py")]
    files.sort()
    if not files:
        raise RnnplayError(f"the standard library of Python {sys.version.split()[0]} has no module {package!r}; "
                           "give stdlib: for all of it, or a module name such as stdlib:json")
    return files
