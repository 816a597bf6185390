"""Many files -> one text: ``dir:`` folders and the ``stdlib:`` code corpus.

Files are read in sorted order (the same folder always gives the same text) and
joined the way ``head a b`` shows several files: each starts with a header line
``==> relative/path <==``, and a blank line separates one file from the next. The
model sees where files begin and end, and a person reading the text can too.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from rnnplay.core.errors import RnnplayError, printable
from rnnplay.corpora.base import Progress
from rnnplay.corpora.text import decode, is_folder, looks_binary, probe, read_regular_file, user_path, wide_encoding

# Folders of the standard library that are not the library itself: tests, bundled
# tools and apps, generated tables (encodings), deprecated packages, installed packages.
STDLIB_SKIP = frozenset({
    "test", "tests", "idle_test", "__pycache__", "site-packages", "dist-packages", "idlelib", "lib2to3",
    "ensurepip", "turtledemo", "tkinter", "pydoc_data", "encodings", "distutils",
})


def header(name: str) -> str:
    return f"==> {name} <==\n"


@dataclass
class Joined:
    text: str
    files: int
    skipped_binary: int


def join_files(files: list[Path], root: Path, encoding: str, progress: Progress, label: str) -> Joined:
    """The files' texts with a header before each; files that look binary are skipped and counted."""
    parts: list[str] = []
    skipped = 0
    for i, path in enumerate(files, 1):
        data = read_regular_file(path)
        if looks_binary(data, encoding) and not wide_encoding(data):  # UTF-16/32 text: decode says which --encoding
            skipped += 1
        else:
            text = decode(data, str(path), encoding)
            name = path.relative_to(root).as_posix().encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            # a name not in UTF-8 gets '�'s; one with a line break cannot forge a header line of its own
            parts.append(header(printable(name)) + text + ("" if text.endswith("\n") else "\n"))
        progress(label, i, len(files), "files")
    return Joined("\n".join(parts), len(parts), skipped)


def split_dir_spec(spec: str, base: Path = Path()) -> tuple[str, str]:
    """(FOLDER, GLOB) of the argument of ``dir:FOLDER[:GLOB]``, a relative FOLDER read from ``base``: all of it when
    it names a folder (a folder's name may have a colon), else split at its last colon; GLOB defaults to ``**/*``."""
    if not is_folder(base / user_path(spec)) and ":" in spec:
        folder, _, pattern = spec.rpartition(":")
        return folder, pattern
    return spec, "**/*"


@dataclass
class Listing:
    files: list[Path]  # the members, sorted
    outside: int  # entries skipped because they resolve (through a symbolic link) outside the folder


def folder_files(root: Path, pattern: str) -> Listing:
    """Entries under ``root`` matching the glob ``pattern`` that are not folders, sorted, without hidden ones.

    Named pipes, devices and sockets are kept, so that reading them is refused by name rather than
    skipped without a word; symlinks that point nowhere are left out, and so are entries whose real path
    (symbolic links resolved) is outside ``root``'s: a link may lead anywhere, the glob only stays in the folder.
    """
    if not is_folder(root):
        what = "no such folder" if probe(root) is None else "not a folder"
        raise RnnplayError(f"{root}: {what}; give dir:FOLDER or dir:FOLDER:GLOB")
    if not pattern or "\0" in pattern or Path(pattern).is_absolute() or ".." in Path(pattern).parts:
        raise RnnplayError(f"dir:{root}:{pattern}: the glob must stay inside the folder (no '..', no absolute "
                           "path); give a pattern such as **/*.txt")
    if "**" in pattern:  # the glob skips folders it cannot list without a word: name the first one instead
        _check_listable(root)
    try:
        found = sorted(p for p in root.glob(pattern) if _is_member(p, root))
    except (OSError, ValueError) as err:
        raise RnnplayError(f"cannot list dir:{root}:{pattern} ({err}); check the folder and the pattern") from None
    real_root = os.path.realpath(root)
    files = [p for p in found if Path(os.path.realpath(p)).is_relative_to(real_root)]
    return Listing(files, len(found) - len(files))


def _check_listable(root: Path) -> None:
    """A one-line error naming a folder under ``root`` (not hidden, links not followed) that cannot be listed."""
    def refuse(err: OSError) -> None:
        raise RnnplayError(f"cannot read the folder {err.filename}: {err.strerror}; check its permissions, or give "
                           "a glob that leaves it out (dir:FOLDER:GLOB)")

    for _folder, subfolders, _names in os.walk(root, onerror=refuse):
        subfolders[:] = [d for d in subfolders if not d.startswith(".")]


def _is_member(path: Path, root: Path) -> bool:
    """Not a folder, not hidden, and there (a symlink that points nowhere is not)."""
    hidden = any(part.startswith(".") for part in path.relative_to(root).parts)
    return not hidden and probe(path) is not None and not is_folder(path)


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
