"""Downloads that are either complete and verified or not there at all.

A download goes to a temporary ``.part`` file beside its destination, is hashed
while it streams, and is renamed into place only once its length and sha256
match. Anything else (a dropped connection, a short body, a wrong checksum,
Ctrl-C) deletes the temporary file, so the cache never holds half a corpus.
urllib does the fetching, so ``file://`` URLs (a mirror folder) take the same path.

Every download is bounded: it stops with a one-line error past its size limit (a
card's declared ``size``, or $RNNPLAY_MAX_DOWNLOAD for ``url:``) and past its
deadline ($RNNPLAY_DOWNLOAD_TIMEOUT seconds for the whole transfer, not per read).
Every path built from a card, a URL or a name is checked to stay inside its folder.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import re
import tempfile
import time
import urllib.parse
from pathlib import Path, PurePosixPath
from typing import Any

from rnnplay.core.atomic_write import as_plainly_opened
from rnnplay.core.errors import RnnplayError, flat, has_control, printable
from rnnplay.corpora.base import Progress, cache_advice, no_progress
from rnnplay.corpora.text import is_regular, user_path
from rnnplay.env_values import seconds_from_env

MIRROR_ENV = "RNNPLAY_CORPUS_MIRROR"
MAX_DOWNLOAD_ENV = "RNNPLAY_MAX_DOWNLOAD"
TIMEOUT_ENV = "RNNPLAY_DOWNLOAD_TIMEOUT"
MAX_DOWNLOAD = 1 << 30  # bytes a url: download may have unless $RNNPLAY_MAX_DOWNLOAD says otherwise (1 GiB)
DEADLINE = 600.0  # seconds a whole download may take unless $RNNPLAY_DOWNLOAD_TIMEOUT says otherwise
CHUNK = 1 << 16
TIMEOUT = 30.0  # seconds one read may wait for the server
UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
DRIVE = re.compile(r"[A-Za-z]:")
GITHUB_BLOB = re.compile(r"https?://(?:www\.)?github\.com/(?P<repo>[^/]+/[^/]+)/blob/(?P<rest>.+)", re.IGNORECASE)
RAW_GITHUB = "https://raw.githubusercontent.com"


class NotFound(RnnplayError):
    """The server answered 404 (a mirror may simply not have this file)."""


def name_problem(name: object) -> str | None:
    """Why ``name`` cannot be one file or folder name inside a folder, or None when it can."""
    if not isinstance(name, str) or not name.strip():
        return "is empty"
    if "\0" in name:
        return "contains a NUL character"
    if has_control(name):
        return "contains a control character"
    if "/" in name or "\\" in name:
        return "is a path, not a name (it has a slash)"
    if name in (".", ".."):
        return f"is {name!r}, which names a folder, not a file"
    if DRIVE.match(name):
        return "starts with a drive letter"
    if len(name.encode("utf-8", "surrogatepass")) > 255:
        return "is longer than 255 bytes"
    return None


def inside(folder: Path, *names: str) -> Path:
    """``folder/name/...``, refused in one line unless each name is a plain name and the result,
    resolved (symlinks followed), is still inside ``folder``."""
    for name in names:
        if (problem := name_problem(name)) is not None:
            raise RnnplayError(f"the name {name!r} {problem}; a corpus card, a URL or a name must not lead "
                               f"outside {folder}: fix the card or the address")
    path = folder.joinpath(*names)
    if not path.resolve().is_relative_to(folder.resolve()):
        raise RnnplayError(f"{path} leads outside {folder} (through a symbolic link); remove the link from the cache")
    return path


def parse_size(raw: str) -> int | None:
    """A byte count from ``2G``, ``500M``, ``64K`` or ``1000000``; None when ``raw`` is no size of 1 byte or more."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?", raw.strip(), re.IGNORECASE)
    value = float(match[1]) * UNITS[match[2].upper()] if match else 0.0  # 1e400 digits: inf, refused below
    return int(value) if 1 <= value < float("inf") else None


SIZE_HINT = "give bytes or a number with K, M or G"


def size_from_env(name: str, default: int) -> int:
    """A byte count from $name (see :func:`parse_size`), or ``default`` when unset."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if (value := parse_size(raw)) is None:
        raise RnnplayError(f"{name}={raw[:40]} is not a size; {SIZE_HINT}, e.g. {name}=2G")
    return value


def mirror_urls(file_names: list[str]) -> list[str] | None:
    """Where $RNNPLAY_CORPUS_MIRROR offers a file, trying ``file_names`` in order; None when no mirror is set.

    The mirror is a base URL (``https://host/corpora``; ``file:///folder`` too) or a local folder.
    """
    mirror = os.environ.get(MIRROR_ENV, "").strip()
    if not mirror:
        return None
    if "://" in mirror:
        scheme = mirror.partition("://")[0].lower()
        if scheme not in ("http", "https", "file"):  # urllib would try data:, ftp: ... and fail in its own words
            raise RnnplayError(f"{MIRROR_ENV}={printable(mirror[:200])} is a {printable(scheme[:20])}:// address, "
                               "which rnnplay does not download from; give an http:// or https:// address or a "
                               f"local folder, or unset {MIRROR_ENV}")
        return [f"{mirror.rstrip('/')}/{urllib.parse.quote(name, safe='')}" for name in file_names]
    folder = user_path(mirror).resolve()
    found = [(folder / name).as_uri() for name in file_names if is_regular(folder / name)]
    if not found:
        raise no_mirror_copy(file_names)
    return found


def no_mirror_copy(file_names: list[str], how: str = "") -> RnnplayError:
    """The mirror (``$RNNPLAY_CORPUS_MIRROR``) has none of ``file_names`` (``how``: how it said so)."""
    mirror = printable(os.environ.get(MIRROR_ENV, "").strip()[:200])
    return RnnplayError(f"{MIRROR_ENV}={mirror} has none of {', '.join(file_names)}{how}; put one there or unset "
                        f"{MIRROR_ENV}")


def fetch(url: str, dest: Path, *, sha256: str | None = None, size: int | None = None, limit: int | None = None,
          progress: Progress = no_progress, label: str = "") -> Path:
    """Download ``url`` to ``dest`` atomically, checking its length and (if given) its sha256.

    ``size`` is the exact length expected (a card's); ``limit`` the most a download of
    unknown length may have (a ``url:``'s, :func:`max_download`). Both stop the transfer
    as soon as it goes past them, and so does the deadline (:func:`deadline_seconds`).
    """
    label = label or f"downloading {dest.name}"
    limit = size if size is not None else limit
    from rnnplay.corpora.http_get import open_url  # urllib's HTTP and ssl: imported by a download alone

    tmp = _temporary(dest)
    try:
        with open(tmp, "wb") as out, open_url(url, deadline_seconds()) as response:
            got, digest, length = _stream(response, out, url, limit, progress, label, size)
            out.flush()
            os.fsync(out.fileno())
        if length is not None and got != length:
            raise RnnplayError(f"the download of {url} stopped after {got:,} of {length:,} bytes; try again")
        if size is not None and got != size:
            raise RnnplayError(f"{url} sent {got:,} bytes but {size:,} were expected; the file there is not the "
                               "expected one: check the address or the mirror's copy")
        if sha256 is not None and digest != sha256.lower():
            raise RnnplayError(f"checksum mismatch for {url}: sha256 {digest[:16]}..., expected "
                               f"{sha256[:16]}...; the copy is corrupt or changed: check the source or the mirror")
        _replace(tmp, dest)
    except OSError as err:  # the disk, not the network: full, read-only, a folder in the way
        raise RnnplayError(f"cannot write the download to {dest}: {err.strerror or err}; "
                           f"{cache_advice(dest.parent, err)}") from None
    finally:
        discard(tmp)  # already renamed on success; else the partial file goes, and a folder made for it alone
    return dest


def discard(path: Path) -> None:
    """Remove the cache file ``path``, and its folder if that is left empty (a failed download's hash folder)."""
    for gone in (path.unlink, path.parent.rmdir):
        with contextlib.suppress(OSError):
            gone()


def max_download() -> int:
    """The most bytes a ``url:`` download may have: $RNNPLAY_MAX_DOWNLOAD, else 1 GiB."""
    return size_from_env(MAX_DOWNLOAD_ENV, MAX_DOWNLOAD)


def deadline_seconds() -> float:
    """How long a whole download may take: $RNNPLAY_DOWNLOAD_TIMEOUT, else 600 s."""
    return seconds_from_env(TIMEOUT_ENV, DEADLINE)


def stale_part(info: os.stat_result) -> bool:
    """Whether a download's ``.part`` file (``info``) is older than any download may last: a killed process's."""
    return info.st_mtime < time.time() - deadline_seconds() - TIMEOUT


def _temporary(dest: Path) -> Path:
    """A new empty ``.part`` file beside ``dest`` (its folder created), or a one-line error.

    ``.part`` files of ``dest`` older than any download may last were left by a killed
    process, and go; a younger one may be another process's download in progress, and stays.
    """
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        for old in dest.parent.glob(f".{glob.escape(dest.name)}.*.part"):
            with contextlib.suppress(OSError):
                if stale_part(old.stat()):
                    old.unlink()
        fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        as_plainly_opened(fd)
    except OSError as err:
        raise RnnplayError(f"cannot write into {dest.parent}: {err.strerror or err}; "
                           f"{cache_advice(dest.parent, err)}") from None
    os.close(fd)
    return Path(name)


def _replace(tmp: Path, dest: Path) -> None:
    if os.path.isdir(dest):
        raise RnnplayError(f"{dest} is a folder in the cache where a downloaded file belongs; remove it and retry")
    os.replace(tmp, dest)


def _stream(response: Any, out: Any, url: str, limit: int | None, progress: Progress, label: str,
            size: int | None) -> tuple[int, str, int | None]:
    """Copy the body to ``out`` within the limit and the deadline: (bytes, sha256 hex, Content-Length)."""
    from rnnplay.corpora.http_get import read_chunk  # imported already by the download that opened ``response``

    coding = (response.headers.get("Content-Encoding") or "identity").strip().lower()
    if coding not in ("", "identity"):  # urllib asks for none and unpacks none: these bytes are not the file
        raise RnnplayError(f"{url} was sent compressed (Content-Encoding: {flat(coding)[:40]}), which rnnplay does "
                           "not unpack; download it by hand (e.g. curl --compressed) and give the file's path")
    _refuse_a_web_page(response.headers.get("Content-Type") or "", url)
    header = response.headers.get("Content-Length")
    length = int(header) if header and header.strip().isdigit() else None
    if limit is not None and length is not None and length > limit:
        raise RnnplayError(_too_big(url, length, limit, size))
    digest = hashlib.sha256()
    got = 0
    give_up = time.monotonic() + deadline_seconds()
    progress(label, 0, length if length is not None else size)
    while chunk := read_chunk(response, url, got):
        got += len(chunk)
        if limit is not None and got > limit:
            raise RnnplayError(_too_big(url, got, limit, size, more=True))
        out.write(chunk)
        digest.update(chunk)
        progress(label, got, length if length is not None else size)
        if time.monotonic() > give_up:
            raise RnnplayError(f"the download of {url} took longer than {deadline_seconds():g} s ({got:,} bytes "
                               f"so far); try again, use a mirror ({MIRROR_ENV}) or raise {TIMEOUT_ENV}")
    return got, digest.hexdigest(), length


def _refuse_a_web_page(content_type: str, url: str) -> None:
    """A page of HTML where the address names some other kind of file (``notes.txt``, or any ``…/blob/…`` on
    GitHub): the page around the file, not the file. Refused before its body is read, with the raw file's
    address if known. An address of a page (``/``, ``/story``, ``.html``) is taken as it comes."""
    kind = content_type.partition(";")[0].strip().lower()
    path = urllib.parse.urlsplit(url).path
    suffix = "" if path.endswith("/") else PurePosixPath(path).suffix.lower()  # "" for "/", "/v1.2/" and "/story"
    blob = GITHUB_BLOB.fullmatch(url.split("?", 1)[0].split("#", 1)[0])
    names_another_file = suffix not in ("", ".html", ".htm", ".xhtml")
    if kind not in ("text/html", "application/xhtml+xml") or not (blob or names_another_file):
        return
    fix = (f"give the raw file's address, {RAW_GITHUB}/{blob['repo']}/{blob['rest']}" if blob else
           "give the address of the file itself (a \"raw\" link), or save the page and give its path")
    raise RnnplayError(f"{flat(url)[:200]} is a web page (Content-Type: {flat(kind)[:40]}), not the text file "
                       f"itself; {fix}")


def _too_big(url: str, got: int, limit: int, size: int | None, more: bool = False) -> str:
    amount = f"more than {limit:,}" if more else f"{got:,}"
    if size is not None:
        return (f"{url} sends {amount} bytes but its card declares {size:,}; the file there is not the expected "
                "one: check the card's url and size")
    return (f"{url} sends {amount} bytes, over the {limit:,}-byte limit for url: downloads; raise it with "
            f"{MAX_DOWNLOAD_ENV}=4G (or --max-download) if you mean it")
