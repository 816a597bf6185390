"""Downloads that are either complete and verified or not there at all.

A download goes to a temporary ``.part`` file beside its destination, is hashed
while it streams, and is renamed into place only once its length and sha256
match. Anything else (a dropped connection, a short body, a wrong checksum,
Ctrl-C) deletes the temporary file, so the cache never holds half a corpus.
urllib does the fetching, so ``file://`` URLs (a mirror folder) take the same path.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from ..errors import RnnplayError
from .base import Progress, no_progress

MIRROR_ENV = "RNNPLAY_CORPUS_MIRROR"
CHUNK = 1 << 16
TIMEOUT = 30.0


class NotFound(RnnplayError):
    """The server answered 404 (a mirror may simply not have this file)."""


def cache_dir() -> Path:
    """Where downloads live: $RNNPLAY_CACHE_DIR, else $XDG_CACHE_HOME/rnnplay, else ~/.cache/rnnplay."""
    if os.environ.get("RNNPLAY_CACHE_DIR"):
        return Path(os.environ["RNNPLAY_CACHE_DIR"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "rnnplay"


def mirror_urls(file_names: list[str]) -> list[str] | None:
    """Where $RNNPLAY_CORPUS_MIRROR offers a file, trying ``file_names`` in order; None when no mirror is set.

    The mirror is a base URL (``https://host/corpora``) or a local folder.
    """
    mirror = os.environ.get(MIRROR_ENV, "").strip()
    if not mirror:
        return None
    if "://" in mirror:
        return [f"{mirror.rstrip('/')}/{urllib.parse.quote(name)}" for name in file_names]
    folder = Path(mirror).expanduser().resolve()
    found = [(folder / name).as_uri() for name in file_names if (folder / name).is_file()]
    if not found:
        raise RnnplayError(
            f"{MIRROR_ENV}={mirror} has none of {', '.join(file_names)}; put one there or unset {MIRROR_ENV}"
        )
    return found


def fetch(url: str, dest: Path, *, sha256: str | None = None, size: int | None = None,
          progress: Progress = no_progress, label: str = "") -> Path:
    """Download ``url`` to ``dest`` atomically, checking its length and (if given) its sha256."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    label = label or f"downloading {dest.name}"
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, _open(url) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else size
            got = 0
            progress(label, 0, total)
            while chunk := _read(response, url):
                out.write(chunk)
                digest.update(chunk)
                got += len(chunk)
                progress(label, got, total)
            out.flush()
            os.fsync(out.fileno())
        if length and got != int(length):
            raise RnnplayError(f"the download of {url} stopped after {got:,} of {int(length):,} bytes; try again")
        if size is not None and got != size:
            raise RnnplayError(f"{url} sent {got:,} bytes but {size:,} were expected; the file there is not the "
                               "expected one: check the address or the mirror's copy")
        if sha256 is not None and digest.hexdigest() != sha256.lower():
            raise RnnplayError(f"checksum mismatch for {url}: sha256 {digest.hexdigest()[:16]}..., expected "
                               f"{sha256[:16]}...; the copy is corrupt or changed: check the source or the mirror")
        os.replace(tmp, dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()  # already renamed on success; otherwise the partial file goes
    return dest


def _open(url: str) -> Any:  # an http.client.HTTPResponse, or urllib's response for file:// URLs
    """urlopen with one-line errors: 404 (NotFound), other HTTP codes, unreachable hosts."""
    request = urllib.request.Request(url, headers={"User-Agent": "rnnplay"})
    try:
        return urllib.request.urlopen(request, timeout=TIMEOUT)
    except urllib.error.HTTPError as err:
        if err.code == 404:
            raise NotFound(f"{url} was not found (HTTP 404); check the address") from None
        raise RnnplayError(f"{url} answered HTTP {err.code} {err.reason}; check the address or try later") from None
    except urllib.error.URLError as err:
        reason = getattr(err.reason, "strerror", None) or err.reason
        raise RnnplayError(f"cannot reach {_where(url)} ({reason}); check the address and your connection, "
                           f"or set {MIRROR_ENV} to a folder or URL holding the corpus") from None
    except (TimeoutError, OSError) as err:
        raise RnnplayError(f"cannot reach {_where(url)} ({err}); check the address and your connection") from None


def _read(response: Any, url: str) -> bytes:
    try:
        return response.read(CHUNK)
    except (OSError, ValueError, http.client.HTTPException) as err:  # reset, timeout, IncompleteRead
        raise RnnplayError(f"the download of {url} broke off ({err.__class__.__name__}); try again") from None


def _where(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return parts.netloc or url
