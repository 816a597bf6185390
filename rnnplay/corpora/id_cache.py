"""What the corpus cache holds, and what a prune removes (``rnnplay corpus cache [--prune [--all]]``).

:func:`survey` reads the cache without changing it: in ``ids/``, each text's files (sidecar, id files,
lock file: :mod:`~rnnplay.corpora.id_file`) and the memos of ``ids/files/`` that lead to it, each memo's
source file (or ``dir:`` folder, listed again: :mod:`~rnnplay.corpora.folder_memo`) judged by the state it
recorded (:mod:`~rnnplay.corpora.id_build`): still there unchanged,
changed, gone, or unknown (a memo of an older rnnplay records no state, or one that cannot be checked);
build part files, live or left by a killed build; and in ``corpora/``, the downloads. :func:`prune`
removes what no load will read again: a text whose every memo's source is gone or changed, or that no
memo leads to (a build killed before its memo, or a ``dir:`` folder's of an older rnnplay), with its
memos; memos that are damaged, stale or lead to no text; part files no writer holds (killed builds), and
stdin spool files (``tmp/``) of processes that run no more. ``everything``
removes every text no process holds too. Never a text a running rnnplay holds (:mod:`id_hold`), never a
download but a stale part file, and only files of the names rnnplay gives, by name in their own folder
(never through a link): whatever else is there is listed and left alone.
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from rnnplay.core.atomic_write import process_alive
from rnnplay.corpora.download import stale_part
from rnnplay.corpora.folder_memo import folder_spec, is_folder_source, listing_state
from rnnplay.corpora.id_build import SOURCE_FIELDS
from rnnplay.corpora.id_file import TEMP
from rnnplay.corpora.id_hold import in_use, lock_path, remove_unheld, take
from rnnplay.corpora.text_pieces import SPOOL
from rnnplay.folders import cache_dir

TEXT_FILE = re.compile(r"([0-9a-f]{64})(?:\.json|\.lock|-[0-9a-f]{16}\.ids)")
MEMO = re.compile(r"[0-9a-f]{32}\.json")
MEMO_PART = re.compile(r"[0-9a-f]{32}\.json\.(\d+)\.part")
PRUNED = ("gone", "changed", "no memo", "incomplete")  # a text's states a plain prune removes
STALE_MEMOS = ("gone", "changed", "damaged")
OWN = ("ids", "corpora", "tmp")  # the cache's folders of rnnplay's (tmp: the stdin spool, listed by _spool)
MEMO_BYTES = 1 << 16  # the most of a memo read: one of rnnplay's is a few hundred bytes


@dataclass
class Memo:
    name: str
    size: int
    sha256: str | None  # None: not a memo a load can read (damaged)
    source: str | None  # the path it records; None for a memo of an older rnnplay, or one that cannot be read
    state: str  # "unchanged", "changed", "gone", "unknown" or "damaged"


@dataclass
class Text:
    sha256: str
    names: list[str] = field(default_factory=list)  # its files in ids/
    size: int = 0
    id_files: int = 0
    state: str = "no memo"  # "in use", "unchanged", "unknown", "changed", "gone", "no memo", "incomplete"
    source: str | None = None  # the path of the memo that decided the state


@dataclass
class Loose:
    """A file (or other entry) that belongs to no text: a part file, a download, or something left alone."""

    where: str  # its path in the cache, from the cache folder
    size: int
    state: str  # "killed build", "building", "download", "downloading", "killed download", "stdin spool",
    # "spooling", "killed spool", "left alone: WHY"

    @property
    def stale(self) -> bool:
        return self.state.startswith("killed")


@dataclass
class Survey:
    folder: Path  # the cache folder
    texts: list[Text]
    memos: list[Memo]
    loose: list[Loose]

    @property
    def size(self) -> int:
        return sum(t.size for t in self.texts) + sum(m.size for m in self.memos) + sum(x.size for x in self.loose)

    def freed(self, everything: bool = False) -> int:
        """The bytes a prune would free now (``everything``: ``--prune --all``)."""
        kept = {t.sha256 for t in self.texts if not goes(t, everything)}
        return (sum(t.size for t in self.texts if t.sha256 not in kept)
                + sum(m.size for m in self.memos if memo_goes(m, kept)) + sum(x.size for x in self.loose if x.stale))


def goes(text: Text, everything: bool) -> bool:
    """Whether a prune removes ``text`` (unless a process takes it meanwhile)."""
    return text.state in PRUNED or (everything and text.state != "in use")


def memo_goes(memo: Memo, kept: set[str]) -> bool:
    """Whether a prune removes ``memo``, the texts ``kept`` staying: a stale memo, or one that leads nowhere."""
    return memo.state in STALE_MEMOS or memo.sha256 not in kept


def survey() -> Survey:
    """The cache as it is (nothing changed): memos read first, so a text built meanwhile counts as held."""
    folder = cache_dir()
    memos = _memos(folder / "ids" / "files")
    loose = [Loose(e.name, 0, "left alone: a symbolic link" if e.is_symlink() else "left alone: not rnnplay's")
             for e in _entries(folder) if not (e.name in OWN and e.is_dir(follow_symlinks=False))]
    loose += _spool(folder / "tmp")
    texts = _texts(folder / "ids", loose)
    for text in texts.values():
        text.state, text.source = judge(text, memos, in_use(lock_path(folder / "ids", text.sha256)))
    loose += _downloads(folder / "corpora")
    return Survey(folder, sorted(texts.values(), key=lambda t: t.sha256), memos, loose)


def judge(text: Text, memos: list[Memo], held: bool) -> tuple[str, str | None]:
    """A text's state from the memos that lead to it, and the source that decided it."""
    mine = [m for m in memos if m.sha256 == text.sha256]
    if held:
        return "in use", next((m.source for m in mine), None)
    if not text.id_files or f"{text.sha256}.json" not in text.names:  # no load finds it (IdFile.find)
        return "incomplete", next((m.source for m in mine), None)
    for state in ("unchanged", "unknown", "changed", "gone"):
        found = [m for m in mine if m.state == state]
        if found:
            return state, found[0].source
    return "no memo", None


def _entries(folder: Path) -> list[os.DirEntry]:
    """The entries of ``folder`` if it is a real folder (never through a link), sorted by name."""
    try:
        if not stat.S_ISDIR(os.lstat(folder).st_mode):
            return []
        with os.scandir(folder) as found:
            return sorted(found, key=lambda e: e.name)
    except OSError:
        return []


def _size(entry: os.DirEntry) -> int:
    try:
        return entry.stat(follow_symlinks=False).st_size
    except OSError:
        return 0


def superseded(ids: Path, source: str, sha256: str) -> int:
    """The bytes of the ids in ``ids`` of earlier texts of ``source``, whose text is now ``sha256``: texts a memo
    of ``source`` leads to, that no memo of a source still unchanged (or not judged) leads to, and that no process
    holds. No load reads them again, and a prune removes them. ``source``: a file's real path, or a ``dir:``
    folder's spec (:func:`~rnnplay.corpora.folder_memo.folder_spec`), whose memos alone are judged by listing the
    folder again."""
    memos = [read_memo(ids / "files" / m.name, m.size) if m.source == source and source.startswith("dir:") else m
             for m in _memos(ids / "files", folders=False)]
    earlier = {m.sha256 for m in memos if m.source == source and m.sha256 != sha256 and m.state in ("changed", "gone")}
    kept = {m.sha256 for m in memos if m.state not in ("changed", "gone")}
    texts = _texts(ids, [])
    return sum(texts[sha].size for sha in earlier - kept if sha in texts and not in_use(lock_path(ids, sha)))


def _memos(folder: Path, folders: bool = True) -> list[Memo]:
    memos = []
    for entry in _entries(folder):
        if MEMO.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
            memos.append(read_memo(Path(entry.path), _size(entry), folders))
    return memos


def read_memo(path: Path, size: int, folders: bool = True) -> Memo:
    """What a memo says, and whether its source is still there unchanged (any content read without failing); a
    ``dir:`` folder's is judged by listing the folder again, or, without ``folders``, left "unknown"."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)  # a FIFO put there: no wait
        with open(fd, "rb") as f:
            data = f.read(MEMO_BYTES) if stat.S_ISREG(os.fstat(fd).st_mode) else b""
        record = json.loads(data.decode("ascii"))
        sha = record["sha256"] if isinstance(record, dict) else None
    except (OSError, ValueError, KeyError, RecursionError):
        sha = None
    if not (isinstance(sha, str) and re.fullmatch(r"[0-9a-f]{64}", sha)):
        return Memo(path.name, size, None, None, "damaged")
    source = record.get("source")
    if isinstance(source, dict) and is_folder_source(source):  # a dir: folder's, named as the spec that loads it
        return Memo(path.name, size, sha, folder_spec(source), listing_state(source) if folders else "unknown")
    if not (isinstance(source, dict) and isinstance(source.get("path"), str)):
        return Memo(path.name, size, sha, None, "unknown")
    return Memo(path.name, size, sha, source["path"], source_state(source))


def source_state(source: dict) -> str:
    """"unchanged", "changed" or "gone" for the state a memo recorded; "unknown" when it cannot be checked."""
    recorded = [source.get(name) for name in SOURCE_FIELDS[1:6]]
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in recorded):
        return "unknown"
    try:
        info = os.stat(source["path"])
    except (FileNotFoundError, NotADirectoryError):
        return "gone"
    except (OSError, ValueError):  # not allowed to look, a NUL in the path
        return "unknown"
    now = [info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns]
    return "unchanged" if now == recorded else "changed"


def _texts(folder: Path, loose: list[Loose]) -> dict[str, Text]:
    texts: dict[str, Text] = {}
    for entry in _entries(folder):
        match, where = TEXT_FILE.fullmatch(entry.name), f"ids/{entry.name}"
        if entry.name == "files" and entry.is_dir(follow_symlinks=False):
            loose += [_part(f"ids/files/{e.name}", e, MEMO_PART) for e in _entries(Path(entry.path))
                      if not (MEMO.fullmatch(e.name) and e.is_file(follow_symlinks=False))]
        elif match and entry.is_file(follow_symlinks=False):
            text = texts.setdefault(match[1], Text(match[1]))
            text.names.append(entry.name)
            text.size += _size(entry)
            text.id_files += entry.name.endswith(".ids")
        else:
            loose.append(_part(where, entry, TEMP))
    return texts


def _part(where: str, entry: os.DirEntry, pattern: re.Pattern) -> Loose:
    """A build's part file (a name ``pattern`` matches), alive while its writer holds it, or an entry left alone."""
    match = pattern.match(entry.name)
    if not entry.is_file(follow_symlinks=False):
        why = "a symbolic link" if entry.is_symlink() else "not a file"
        return Loose(where, 0, f"left alone: {why}")
    if match is None or not entry.name.endswith(".part"):
        return Loose(where, _size(entry), "left alone: not a name rnnplay gives")
    return Loose(where, _size(entry), "building" if in_use(Path(entry.path)) else "killed build")  # its writer's lock


def _spool(folder: Path) -> list[Loose]:
    """The stdin spool folder ``tmp/`` (:func:`rnnplay.corpora.text_pieces.spool`), if it is a real folder, and
    what is in it: a spool file has no name while it is used (unlinked at once, or never named); one named
    ``.spool-PID-…`` was left by a process killed before it unlinked it, dead when that process runs no more."""
    if not (os.path.isdir(folder) and not os.path.islink(folder)):
        return []
    found = [Loose("tmp/", 0, "stdin spool")]
    for entry in _entries(folder):
        match, where = SPOOL.fullmatch(entry.name), f"tmp/{entry.name}"
        if match and entry.is_file(follow_symlinks=False):
            found.append(Loose(where, _size(entry), "spooling" if process_alive(int(match[1])) else "killed spool"))
        else:
            found.append(Loose(where, _size(entry), "left alone: not a name rnnplay gives"))
    return found


def _downloads(folder: Path) -> list[Loose]:
    """The files under ``corpora/`` (never through a link): downloads, and their part files."""
    found: list[Loose] = []
    if not os.path.isdir(folder):
        return found
    for top, _, names, dir_fd in os.fwalk(folder, follow_symlinks=False):
        for name in sorted(names):
            with_name = Path(top, name)
            try:
                info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except OSError:
                continue
            where = str(with_name.relative_to(folder.parent))
            if not stat.S_ISREG(info.st_mode):
                found.append(Loose(where, 0, "left alone: a symbolic link"))
            elif name.startswith(".") and name.endswith(".part"):
                found.append(Loose(where, info.st_size, "killed download" if stale_part(info) else "downloading"))
            else:
                found.append(Loose(where, info.st_size, "download"))
    return found


@dataclass
class Pruned:
    removed: list[tuple[str, int, str]]  # each removal: what (a source, or a file in the cache), bytes, why
    held: list[Text]  # texts a running rnnplay holds

    @property
    def freed(self) -> int:
        return sum(size for _, size, _ in self.removed)


def prune(everything: bool = False) -> Pruned:
    """Remove what no load will read again (see the module); with ``everything``, every text no process holds."""
    found = survey()
    ids, done = found.folder / "ids", Pruned([], [])
    kept = set()
    for text in found.texts:
        if goes(text, everything):
            freed = _remove_text(ids, text.sha256, everything)
            if freed is not None:
                done.removed.append((text.source or f"ids/{text.sha256}.*", freed, text.state))
                continue
        elif text.state == "in use":
            done.held.append(text)
        kept.add(text.sha256)
    for memo in found.memos:
        if memo_goes(memo, kept):
            why = f"memo, {memo.state}" if memo.state in STALE_MEMOS else "memo of no text"
            _unlink(ids / "files", memo.name, memo.size, f"ids/files/{memo.name}", why, done)
    for entry in found.loose:
        where = found.folder / entry.where
        if entry.state == "killed build":  # judged again under its lock: a build may have made it since
            if remove_unheld(where.parent, where.name):
                done.removed.append((entry.where, entry.size, entry.state))
        elif entry.stale:
            _unlink(where.parent, where.name, entry.size, entry.where, entry.state, done)
    return done


def _remove_text(ids: Path, sha256: str, everything: bool) -> int | None:
    """Remove a text's files under its exclusive lock, judged again there; the bytes freed, or None when a process
    holds it (or, judged again, it is to stay)."""
    lock = take(lock_path(ids, sha256))
    if lock is None:
        return None
    try:
        text = _texts(ids, []).get(sha256, Text(sha256))
        state, _ = judge(text, _memos(ids / "files"), False)
        if state not in PRUNED and not everything:
            return None
        folder = os.open(ids, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            for name in sorted(text.names, key=lambda n: n.endswith(".lock")):  # the lock file last
                os.unlink(name, dir_fd=folder)
        finally:
            os.close(folder)
        return text.size
    except OSError:
        return None
    finally:
        os.close(lock)


def _unlink(folder: Path, name: str, size: int, where: str, why: str, done: Pruned) -> None:
    """Remove ``name`` from ``folder`` by name, the folder opened without following a link; noted in ``done``."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return
    try:
        if stat.S_ISREG(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode):
            os.unlink(name, dir_fd=fd)
            done.removed.append((where, size, why))
    except OSError:
        pass
    finally:
        os.close(fd)
