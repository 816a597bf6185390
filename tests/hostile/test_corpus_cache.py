"""A hostile corpus cache: what `rnnplay corpus cache` lists and `--prune` (then `--prune --all`) removes.

Each row puts damaged, foreign or misleading entries in a sandbox's cache (``XDG_CACHE_HOME/rnnplay``),
and a precious file in a folder outside it that links lead to. Then the listing, a prune and a prune with
``--all`` each run through ``rnnplay.ui.cli.main``: each ends with exit 0 and no traceback; the listing
says what the row expects; after the prune what must go has gone and what must stay is there; and no file
outside the cache is created, changed or removed, whatever a link or a memo names.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .harness import Sandbox, assert_nothing_outside

SHA = "ab" * 32
KEY = "cd" * 8
MEMO = "ef" * 16 + ".json"
TEXT = (f"{SHA}.json", f"{SHA}-{KEY}.ids")  # a text's sidecar and id file, by the names rnnplay gives


@dataclass
class Row:
    setup: Callable[[Path, Path], None]  # (the cache folder, the outside folder)
    listed: tuple[str, ...] = ()  # fragments of the listing
    gone: tuple[str, ...] = ()  # paths in the cache a plain prune removes
    kept: tuple[str, ...] = ()  # paths in the cache (or links) a plain prune leaves


def text(cache: Path) -> None:
    (cache / "ids" / "files").mkdir(parents=True, exist_ok=True)
    for name in TEXT:
        (cache / "ids" / name).write_bytes(b"\0" * 100)


def memo(content: bytes | dict) -> Callable[[Path, Path], None]:
    def setup(cache: Path, outside: Path) -> None:
        text(cache)
        data = content if isinstance(content, bytes) else json.dumps(content).encode("ascii")
        (cache / "ids" / "files" / MEMO).write_bytes(data)
    return setup


def source(path: str, **changes: object) -> dict:
    return {"sha256": SHA, "source": {"path": path, "device": 1, "inode": 2, "size": 3, "mtime_ns": 4, "ctime_ns": 5,
                                      "encoding": "utf-8", **changes}}


def folder(path: str, pattern: str = "**/*") -> dict:
    """A `dir:` folder's memo (corpora/folder_memo.py), its listing's signature one no folder has."""
    return {"sha256": SHA, "source": {"path": path, "pattern": pattern, "encoding": "utf-8", "listing": "0" * 64},
            "members": 1, "skipped_binary": 0}


def outside_folder(cache: Path, outside: Path) -> None:
    """A folder memo naming the outside folder, whose files the judge lists (and must leave as they are)."""
    (outside / "notes").mkdir()
    (outside / "notes" / "a.txt").write_bytes(b"precious")
    memo(folder(str(outside / "notes")))(cache, outside)


def real_file_named_in_bytes(cache: Path, outside: Path) -> None:
    name = os.fsencode(outside) + b"/caf\xe9.txt"
    with open(name, "wb") as f:
        f.write(b"text")
    info = os.stat(name)
    memo({"sha256": SHA, "source": {"path": os.fsdecode(name), "device": info.st_dev, "inode": info.st_ino,
                                    "size": info.st_size, "mtime_ns": info.st_mtime_ns, "ctime_ns": info.st_ctime_ns,
                                    "encoding": "utf-8"}})(cache, outside)


def link(name: str, to: str, with_text: bool = True) -> Callable[[Path, Path], None]:
    def setup(cache: Path, outside: Path) -> None:
        if with_text:
            text(cache)
        target = outside / to
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            target.write_bytes(b"precious")
        (cache / name).parent.mkdir(parents=True, exist_ok=True)
        (cache / name).symlink_to(target)
    return setup


def linked_folder(name: str, files: tuple[str, ...]) -> Callable[[Path, Path], None]:
    def setup(cache: Path, outside: Path) -> None:
        (outside / "folder").mkdir()
        for file in files:
            (outside / "folder" / file).write_bytes(b"precious")
        os.utime(outside / "folder" / files[0], (1, 1))
        (cache / name).parent.mkdir(parents=True, exist_ok=True)
        (cache / name).symlink_to(outside / "folder")
    return setup


def made(*names: str, fifo: bool = False) -> Callable[[Path, Path], None]:
    def setup(cache: Path, outside: Path) -> None:
        (cache / "ids" / "files").mkdir(parents=True, exist_ok=True)
        for name in names:
            if fifo:
                os.mkfifo(cache / name)
            elif name.endswith("/"):
                (cache / name).mkdir()
            else:
                (cache / name).write_bytes(b"x" * 10)
    return setup


WRITERS: list[int] = []  # descriptors by which a row's part files are held, as a build holds its own


def held(name: str) -> Callable[[Path, Path], None]:
    """A part file its writer holds locked (:mod:`rnnplay.corpora.id_hold`), whatever PID its name holds."""
    def setup(cache: Path, outside: Path) -> None:
        made(name)(cache, outside)
        fd = os.open(cache / name, os.O_RDONLY)
        WRITERS.append(fd)
        fcntl.flock(fd, fcntl.LOCK_EX)
    return setup


@pytest.fixture(autouse=True)
def writers_let_go() -> Iterator[None]:
    yield
    while WRITERS:
        os.close(WRITERS.pop())


IDS = tuple(f"ids/{n}" for n in TEXT)
ROWS = {
    "memo not JSON": Row(memo(b"\xff\xfe\0garbage"), ("1 stale",), (f"ids/files/{MEMO}", *IDS)),
    "memo a JSON list": Row(memo(b"[1, 2]"), ("1 stale",), (f"ids/files/{MEMO}",)),
    "memo 5,000 lists deep": Row(memo(b"[" * 5000 + b"]" * 5000), ("1 stale",), (f"ids/files/{MEMO}",)),
    "memo of 10 MB": Row(memo(b'{"sha256": "' + b"a" * 10_000_000 + b'"}'), ("1 stale",), (f"ids/files/{MEMO}",)),
    "memo sha256 not hex": Row(memo({"sha256": "../../" + "a" * 58}), ("1 stale",), (f"ids/files/{MEMO}",)),
    "memo naming a path with NUL": Row(memo(source("/tmp/a\0b")), ("source unknown",), (), (*IDS, f"ids/files/{MEMO}")),
    "memo naming a lone surrogate": Row(memo(source("/tmp/\ud800.txt")), ("source unknown", "\\ud800"), (),
                                        (*IDS, f"ids/files/{MEMO}")),
    "memo sizes as strings": Row(memo(source("/etc/hostname", size="3")), ("source unknown",), (), IDS),
    "memo sizes as booleans": Row(memo(source("/etc/hostname", size=True)), ("source unknown",), (), IDS),
    "memo naming a file that is not UTF-8": Row(real_file_named_in_bytes, ("unchanged", "caf\\xe9.txt"), (),
                                                (*IDS, f"ids/files/{MEMO}")),
    "memo naming a gone file with escapes": Row(memo(source("/nowhere/\x1b[31mred")), ("source gone", "␛[31mred"),
                                                (*IDS, f"ids/files/{MEMO}")),
    "folder memo naming a path with NUL": Row(memo(folder("/tmp/a\0b")), ("source unknown", "dir:/tmp/a"), (),
                                              (*IDS, f"ids/files/{MEMO}")),
    "folder memo whose glob leaves the folder": Row(memo(folder("/tmp", "../*")), ("source unknown", "dir:/tmp:../*"),
                                                    (), (*IDS, f"ids/files/{MEMO}")),
    "folder memo naming a gone folder with escapes": Row(memo(folder("/nowhere/\x1b[31mred")),
                                                         ("source gone", "dir:/nowhere/␛[31mred"),
                                                         (*IDS, f"ids/files/{MEMO}")),
    "folder memo of a folder outside, changed": Row(outside_folder, ("source changed", "dir:"),
                                                    (*IDS, f"ids/files/{MEMO}")),
    "id file without a memo": Row(lambda cache, outside: text(cache), ("no memo",), IDS),
    "sidecar without its ids": Row(made(f"ids/{SHA}.json"), ("incomplete",), (f"ids/{SHA}.json",)),
    "id file a link out": Row(link(f"ids/{SHA}-{'ee' * 8}.ids", "precious.ids"), ("a symbolic link",), IDS,
                              (f"ids/{SHA}-{'ee' * 8}.ids",)),
    "sidecar a link out": Row(link(f"ids/{SHA}.json", "precious.json", with_text=False), ("a symbolic link",), (),
                              (f"ids/{SHA}.json",)),
    "lock file a link out": Row(link(f"ids/{SHA}.lock", "precious.lock"), ("a symbolic link",), (),
                                (*IDS, f"ids/{SHA}.lock")),
    "memo a link out": Row(link(f"ids/files/{MEMO}", "precious.json"), ("a symbolic link",), IDS,
                           (f"ids/files/{MEMO}",)),
    "ids a link out": Row(linked_folder("ids", TEXT), ("a symbolic link",), (), ("ids",)),
    "ids/files a link out": Row(linked_folder("ids/files", (MEMO, f"{MEMO}.1.part")), ("a symbolic link",), (),
                                ("ids/files",)),
    "corpora a link out": Row(linked_folder("corpora", (".x.txt.ab.part", "x.txt")), ("a symbolic link",), (),
                              ("corpora",)),
    "part file of a PID past any": Row(made("ids/.tmp-99999999999999999999-x.part"), ("killed build",),
                                       ("ids/.tmp-99999999999999999999-x.part",)),
    "part file of a live PID (1), held by none": Row(made("ids/.tmp-1-x.part"), ("killed build",),
                                                    ("ids/.tmp-1-x.part",)),
    "part file its writer holds, of a PID past any": Row(held("ids/.tmp-99999999999999999999-y.part"), ("building",),
                                                         (), ("ids/.tmp-99999999999999999999-y.part",)),
    "folder named like a sidecar": Row(made(f"ids/{SHA}.json/"), ("not a file",), (), (f"ids/{SHA}.json",)),
    "FIFO named like a memo": Row(made(f"ids/files/{MEMO}", fifo=True), ("not a file",), (), (f"ids/files/{MEMO}",)),
    "FIFO named like an id file": Row(made(f"ids/{SHA}-{KEY}.ids", fifo=True), ("not a file",), (),
                                      (f"ids/{SHA}-{KEY}.ids",)),
    "files foreign to rnnplay": Row(made("ids/notes.txt", "ids/files/notes.txt", "mine.txt"),
                                    ("not a name rnnplay gives", "not rnnplay's"), (),
                                    ("ids/notes.txt", "ids/files/notes.txt", "mine.txt")),
}


@pytest.mark.parametrize("name", list(ROWS))
def test_hostile_cache(name: str, sandbox: Sandbox, capsys: pytest.CaptureFixture[str],
                       monkeypatch: pytest.MonkeyPatch) -> None:
    row = ROWS[name]
    cache, outside = sandbox.root / "cache" / "rnnplay", sandbox.work / "outside"
    outside.mkdir()
    row.setup(cache, outside)
    before = sandbox.snapshot()
    listed = sandbox.run_in_process(["corpus", "cache"], capsys, monkeypatch)
    for word in row.listed:
        assert word in listed.stdout, listed.stdout
    for flags in (["--prune"], ["--prune", "--all"]):
        out = sandbox.run_in_process(["corpus", "cache", *flags], capsys, monkeypatch)
        assert out.code == 0 and "Traceback" not in out.stderr and not out.stderr, out.stderr
        if flags == ["--prune"]:
            assert not [p for p in row.gone if os.path.lexists(cache / p)], out.stdout
            assert all(os.path.lexists(cache / p) for p in row.kept), out.stdout
    assert listed.code == 0 and not listed.stderr, listed.stderr
    assert_nothing_outside(before, sandbox.snapshot(), allowed=("cache/rnnplay/",))
    assert all(p.read_bytes() == b"precious" for p in outside.rglob("*") if p.is_file() and "caf" not in p.name)
