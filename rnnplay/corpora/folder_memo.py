"""A ``dir:`` folder's text remembered by its listing, so that an unchanged folder is not encoded again.

A folder whose joined text (:class:`~rnnplay.corpora.folders.JoinedStream`) is large enough for an id file was
encoded anew at each load: nothing told an unchanged folder from a changed one short of reading it all. Its
listing does, as a file's identity and state do for a file (:mod:`~rnnplay.corpora.id_build`): each member's
name, size, mtime, ctime and inode, in the order joined (:func:`listing_signature`). Any write to a member
changes its ctime; a member added, removed or renamed changes the names. A memo in ``ids/files/`` keyed by the
folder's real path, the glob, the encoding and that signature keeps the text's sha256 and what the join counted
(members, binary files skipped). ``rnnplay corpus cache`` names the folder as ``dir:PATH[:GLOB]`` and judges the
memo by listing the folder again (:func:`listing_state`).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

from rnnplay.core.errors import RnnplayError
from rnnplay.corpora.folders import DEFAULT_GLOB, JoinedStream, folder_files
from rnnplay.corpora.id_build import memo_path, write_memo
from rnnplay.corpora.text import text_codec

SOURCE_KEYS = ("path", "pattern", "encoding", "listing")  # a folder memo's "source"


def listing_signature(files: list[Path], root: Path) -> str | None:
    """The sha256 of ``files``' names (from ``root``), sizes, mtimes, ctimes and inodes, in order; None when one
    cannot be looked at (removed meanwhile)."""
    try:
        rows = [[p.relative_to(root).as_posix(), *(getattr(os.stat(p), f"st_{name}")
                                                    for name in ("size", "mtime_ns", "ctime_ns", "ino"))]
                for p in files]
    except (OSError, ValueError):
        return None
    return hashlib.sha256(json.dumps(rows).encode("utf-8", "surrogateescape")).hexdigest()


def _state(joined: JoinedStream) -> list[str | int] | None:
    """The folder's identity and listing, in the order of SOURCE_KEYS; None for a join of no ``dir:`` glob."""
    signature = listing_signature(joined.files, joined.root) if joined.pattern else None
    if signature is None:
        return None
    return [os.path.realpath(joined.root), joined.pattern, text_codec(joined.encoding), signature]


def remembered(folder: Path, joined: JoinedStream) -> str | None:
    """The sha256 of ``joined``'s text if an earlier load of the folder, listed as it is now, noted it; the join's
    counts (members, binary files skipped) set from the memo, as a read would have set them."""
    state = _state(joined)
    try:
        record = json.loads(memo_path(folder, state).read_text("ascii")) if state else None
        sha, members, skipped = record["sha256"], record["members"], record["skipped_binary"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not (isinstance(sha, str) and len(sha) == 64 and all(type(n) is int and n >= 0 for n in (members, skipped))):
        return None
    joined.members, joined.skipped_binary = members, skipped
    return sha


def remember(folder: Path, joined: JoinedStream, sha256: str) -> None:
    """Note the sha256 of ``joined``'s text (just read) under the folder's listing (a cache: no error if it fails)."""
    state = _state(joined)
    if state is not None:
        write_memo(memo_path(folder, state), {"sha256": sha256, "source": dict(zip(SOURCE_KEYS, state, strict=True)),
                                              "members": joined.members, "skipped_binary": joined.skipped_binary})


def memo_source(joined: JoinedStream) -> str | None:
    """The spec ``joined``'s memos are listed by (:func:`folder_spec`); None for a join of no ``dir:`` glob."""
    return folder_spec({"path": os.path.realpath(joined.root), "pattern": joined.pattern}) if joined.pattern else None


def is_folder_source(source: dict) -> bool:
    """Whether a memo's ``source`` is a folder's (the keys :func:`remember` writes)."""
    return all(isinstance(source.get(key), str) for key in SOURCE_KEYS)


def folder_spec(source: dict) -> str:
    """A folder memo's source as the spec that loads it: ``dir:PATH``, and ``:GLOB`` unless the default."""
    return f"dir:{source['path']}" + ("" if source["pattern"] == DEFAULT_GLOB else f":{source['pattern']}")


def listing_state(source: dict) -> str:
    """"unchanged" or "changed" for the listing a folder memo recorded, "gone" without the folder; "unknown" when
    it cannot be listed (no rights, a NUL in the path)."""
    root = Path(source["path"])
    try:
        if not stat.S_ISDIR(os.stat(root).st_mode):
            return "changed"  # a file in the folder's place
        files = folder_files(root, source["pattern"]).files
    except (FileNotFoundError, NotADirectoryError):
        return "gone"
    except (RnnplayError, OSError, ValueError):  # not allowed to look, a NUL in the path, a glob leaving the folder
        return "unknown"
    signature = listing_signature(files, root)
    return "unknown" if signature is None else "unchanged" if signature == source["listing"] else "changed"
