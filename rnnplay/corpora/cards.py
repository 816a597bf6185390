"""Corpus cards: small TOML files that name a corpus and say where it comes from.

A card gives a name, a description, a licence, a ``[source]`` (a ``url`` with its
``sha256`` and ``size``, or a local ``spec`` such as ``stdlib:``) and a ``[train]``
table of suggested ``rnnplay train`` options. The built-in cards ship inside the
package (``rnnplay/corpus_cards/``, which the repository's ``corpora/`` links to);
``card:PATH.toml`` reads any other card. See docs/corpora.md for the format.
"""

from __future__ import annotations

import contextlib
import hashlib
import tomllib
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import RnnplayError
from ..plugins import suggest
from . import download
from .base import Progress, no_progress

CARDS_DIR = Path(__file__).resolve().parents[1] / "corpus_cards"


@dataclass(frozen=True)
class Card:
    name: str
    description: str
    licence: str
    path: Path  # the .toml file
    url: str | None = None
    filename: str | None = None  # the file's name in the cache and on a mirror
    sha256: str | None = None
    size: int | None = None
    spec: str | None = None  # a local source instead of a download, e.g. "stdlib:"
    encoding: str = "utf-8"
    homepage: str = ""
    train: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_file(cls, path: Path) -> Card:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RnnplayError(f"{path}: no such corpus card; check the path") from None
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
            raise RnnplayError(f"corpus card {path} is unreadable ({err}); fix its TOML") from None
        source = data.get("source", {})
        problem = None
        if not isinstance(source, dict) or not (source.get("url") or source.get("spec")):
            problem = "needs a [source] table with a url (plus sha256 and size) or a local spec"
        elif source.get("url") and not (isinstance(source.get("sha256"), str) and isinstance(source.get("size"), int)):
            problem = "[source] with a url also needs sha256 (a hex string) and size (bytes, an integer)"
        if problem:
            raise RnnplayError(f"corpus card {path} {problem}; fix the card")
        url = source.get("url")
        return cls(
            name=str(data.get("name") or path.stem), description=str(data.get("description", "")),
            licence=str(data.get("licence", "unknown")), path=path, url=url,
            filename=source.get("filename") or (Path(urllib.parse.urlsplit(url).path).name if url else None),
            sha256=source.get("sha256"), size=source.get("size"), spec=source.get("spec"),
            encoding=source.get("encoding", "utf-8"), homepage=str(data.get("homepage", "")),
            train=dict(data.get("train", {})),
        )

    # -- the downloaded file ----------------------------------------------------------
    @property
    def cache_path(self) -> Path:
        """Where the verified download lives: <cache>/corpora/<card name>/<filename>."""
        return download.cache_dir() / "corpora" / self.name / str(self.filename)

    @property
    def mirror_names(self) -> list[str]:
        """File names to look for on a mirror: the card's filename, the url's, then <name>.txt."""
        url_name = Path(urllib.parse.urlsplit(self.url or "").path).name
        return list(dict.fromkeys(n for n in (self.filename, url_name, f"{self.name}.txt") if n))

    def fetch(self, progress: Progress = no_progress, force: bool = False) -> Path:
        """The verified local copy, downloading it (from the mirror when one is set) if needed."""
        if self.url is None:
            raise RnnplayError(f"corpus {self.name} is read from {self.spec} on this machine; nothing to fetch")
        if self.cache_path.exists() and not force:
            return self.cache_path
        urls = download.mirror_urls(self.mirror_names) or [self.url]
        for url in urls[:-1]:  # a mirror may lack one file name and have the next
            with contextlib.suppress(download.NotFound):
                return self._fetch_from(url, progress)
        return self._fetch_from(urls[-1], progress)

    def _fetch_from(self, url: str, progress: Progress) -> Path:
        return download.fetch(url, self.cache_path, sha256=self.sha256, size=self.size, progress=progress,
                              label=f"downloading {self.name}")

    def read_bytes(self, progress: Progress = no_progress) -> bytes:
        """The corpus file's bytes, checked against the card; a damaged cached copy is fetched again once."""
        data = self.fetch(progress).read_bytes()
        if hashlib.sha256(data).hexdigest() != self.sha256:
            data = self.fetch(progress, force=True).read_bytes()  # fetch verifies, so this copy is sound
        return data


def builtin_cards() -> dict[str, Card]:
    """The cards shipped with rnnplay, by name."""
    cards = (Card.from_file(path) for path in sorted(CARDS_DIR.glob("*.toml")))
    return {card.name: card for card in cards}


def require_card(name: str) -> Card:
    """:func:`find_card`, or a one-line error naming the closest cards."""
    card = find_card(name)
    if card is None:
        names = list(builtin_cards())
        raise RnnplayError(f"no corpus card {name!r}{suggest(name, names)}; the cards are: {', '.join(names)}")
    return card


def find_card(name: str) -> Card | None:
    """A card by name (case-insensitive), or from a ``.toml`` path; None when there is none."""
    if name.endswith(".toml"):
        return Card.from_file(Path(name).expanduser())
    cards = builtin_cards()
    return cards.get(name) or next((c for n, c in cards.items() if n.lower() == name.lower()), None)
