"""Corpus cards: small TOML files that name a corpus and say where it comes from.

A card gives a name, a description, a licence, a ``[source]`` (a ``url`` with its
``sha256`` and ``size``, or a local ``spec`` such as ``stdlib:``) and a ``[train]``
table of suggested ``rnnplay train`` options. The built-in cards ship inside the
package (``rnnplay/corpora/bundled_cards/``, which the repository's ``corpora/`` links to);
``card:PATH.toml`` reads any other card. See docs/corpora.md for the format.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import stat
import tomllib
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnplay.core.errors import RnnplayError
from rnnplay.core.params import did_you_mean
from rnnplay.corpora import download
from rnnplay.corpora.base import Progress, no_progress
from rnnplay.corpora.text import probe, read_regular_file, text_codec, user_path
from rnnplay.folders import cache_dir

CARDS_DIR = Path(__file__).resolve().parent / "bundled_cards"
MAX_CARD_BYTES = 1 << 20  # a card is a few hundred bytes of TOML; anything this big is not one
SHA256 = re.compile(r"[0-9a-fA-F]{64}")
OPTION = re.compile(r"[a-z][a-z0-9-]{0,39}")  # a `rnnplay train` option name in [train]


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
        """The card in ``path``, every field checked; any problem is one line that names the card and the field."""
        try:
            data = tomllib.loads(read_regular_file(path, "corpus card", limit=MAX_CARD_BYTES).decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
            raise RnnplayError(f"corpus card {path} is unreadable ({str(err)[:200]}); fix its TOML") from None
        except RecursionError:  # tomllib parses nested arrays and tables by recursion
            raise RnnplayError(f"corpus card {path} nests arrays or tables too deeply to read; fix its TOML") from None
        fields = CardFields(path, data)
        source = fields.table("source")
        url, spec = fields.url(source), fields.text(source, "spec", "")
        if url and spec:
            raise fields.problem("has both a url and a spec in [source]: keep one, not both")
        if not (url or spec):
            raise fields.problem("needs a [source] table with a url (plus sha256 and size) or a local spec")
        name = fields.name("name", data, path.stem)
        return cls(
            name=name, description=fields.text(data, "description", ""),
            licence=fields.text(data, "licence", "unknown"), path=path, url=url or None,
            filename=fields.filename(source, url, name) if url else None,
            sha256=fields.sha256(source) if url else None, size=fields.size(source) if url else None,
            spec=spec or None, encoding=fields.encoding(source), homepage=fields.text(data, "homepage", ""),
            train=fields.train(data),
        )

    # -- the downloaded file ----------------------------------------------------------
    @property
    def cache_path(self) -> Path:
        """Where the verified download lives: <cache>/corpora/<card name>/<filename>, checked to stay there."""
        return download.inside(cache_dir() / "corpora", self.name, str(self.filename))

    @property
    def mirror_names(self) -> list[str]:
        """File names to look for on a mirror: the card's filename, the url's, then <name>.txt."""
        url_name = Path(urllib.parse.urlsplit(self.url or "").path).name
        return list(dict.fromkeys(n for n in (self.filename, url_name, f"{self.name}.txt") if n))

    def fetch(self, progress: Progress = no_progress, force: bool = False) -> Path:
        """The verified local copy, downloading it (from the mirror when one is set) if needed."""
        if self.url is None:
            raise RnnplayError(f"corpus {self.name} is read from {self.spec} on this machine; nothing to fetch")
        if force or not os.path.isfile(self.cache_path):  # False where the cache may not be entered: fetch says why
            self.download(progress)
        return self.cache_path

    def download(self, progress: Progress = no_progress) -> str:
        """Put a verified copy in the cache, whether or not one is there; the address it came from."""
        mirrored = download.mirror_urls(self.mirror_names)
        if mirrored is None:
            for copy in self.local_copies():  # a copy beside the card or in the working folder serves first
                with contextlib.suppress(RnnplayError):
                    return self._fetch_from(copy, progress)
        urls = mirrored or [str(self.url)]
        for url in urls[:-1]:  # a mirror may lack one file name and have the next
            with contextlib.suppress(download.NotFound):
                return self._fetch_from(url, progress)
        try:
            return self._fetch_from(urls[-1], progress)
        except download.NotFound:
            if mirrored is None:
                raise
            raise download.no_mirror_copy(self.mirror_names, " (HTTP 404 for each)") from None

    def local_copies(self) -> list[str]:
        """file:// URLs of files of the card's size under its file names, beside the card or in the working folder."""
        folders = dict.fromkeys(p.resolve() for p in (self.path.parent, Path.cwd()))
        return [
            (folder / name).as_uri() for folder in folders for name in self.mirror_names
            if (info := probe(folder / name)) is not None and stat.S_ISREG(info.st_mode) and info.st_size == self.size
        ]

    def _fetch_from(self, url: str, progress: Progress) -> str:
        doing = "copying" if url.startswith("file:") else "downloading"
        download.fetch(url, self.cache_path, sha256=self.sha256, size=self.size, progress=progress,
                       label=f"{doing} {self.name}")
        return url

    def read_bytes(self, progress: Progress = no_progress) -> bytes:
        """The corpus file's bytes, checked against the card; a damaged cached copy is fetched again once."""
        path = self.fetch(progress)
        data = read_regular_file(path) if path.stat().st_size == self.size else b""
        if hashlib.sha256(data).hexdigest() != self.sha256:
            try:
                data = read_regular_file(self.fetch(progress, force=True))  # fetch verifies, so this copy is sound
            except RnnplayError as err:  # say why it was fetched at all: "cannot reach …" alone misleads
                raise RnnplayError(f"the cached copy {path} does not match {self.name}'s sha256 (damaged, or "
                                   f"edited), and fetching it again failed: {err}") from None
        return data

    @property
    def cached(self) -> bool:
        """True when the verified download is in the cache (a local spec is never cached)."""
        return self.url is not None and os.path.isfile(self.cache_path)


class CardFields:
    """Reads a parsed card's fields, each checked for its type and shape, failing in one line naming the field."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path, self.data = path, data

    def problem(self, what: str) -> RnnplayError:
        return RnnplayError(f"corpus card {self.path} {what}; fix the card")

    def table(self, key: str) -> dict[str, Any]:
        value = self.data.get(key, {})
        if not isinstance(value, dict):
            raise self.problem(f"has {key} = {_short(value)}, which should be a [{key}] table")
        return value

    def text(self, table: dict[str, Any], key: str, default: str) -> str:
        value = table.get(key, default)
        if not isinstance(value, str):
            raise self.problem(f"has {key} = {_short(value)}, which should be a string")
        if "\0" in value:
            raise self.problem(f"has {key} = {_short(value)}, which contains a NUL character")
        return value

    def name(self, key: str, table: dict[str, Any], default: str) -> str:
        value = self.text(table, key, default) or default
        if (why := download.name_problem(value)) is not None:
            raise self.problem(f"has {key} = {_short(value)}, which {why}: a card's names must not lead outside "
                               "the cache; give a plain name such as \"mybook\"")
        return value

    def url(self, source: dict[str, Any]) -> str:
        url = self.text(source, "url", "")
        if url:
            try:
                parts = urllib.parse.urlsplit(url)
                usable = parts.scheme in ("http", "https") and bool(parts.hostname)
            except ValueError:  # "http://[::1/x": an unclosed IPv6 bracket
                usable = False
            if not usable:
                raise self.problem(f"has url = {_short(url)}, which is not an http(s) address")
        return url

    def filename(self, source: dict[str, Any], url: str, name: str) -> str:
        if "filename" in source:
            return self.name("filename", source, "")
        from_url = urllib.parse.unquote(Path(urllib.parse.urlsplit(url).path).name)
        return from_url if download.name_problem(from_url) is None else f"{name}.txt"

    def sha256(self, source: dict[str, Any]) -> str:
        value = self.required(source, "sha256")
        if not isinstance(value, str) or not SHA256.fullmatch(value):
            raise self.problem(f"has sha256 = {_short(value)}, which is not 64 hex digits")
        return value.lower()

    def size(self, source: dict[str, Any]) -> int:
        value = self.required(source, "size")
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise self.problem(f"has size = {_short(value)}, which is not a number of bytes (a positive integer)")
        return value

    def required(self, source: dict[str, Any], key: str) -> Any:
        if key not in source:
            raise self.problem("[source] with a url also needs sha256 (64 hex digits) and size (bytes)")
        return source[key]

    def encoding(self, source: dict[str, Any]) -> str:
        value = self.text(source, "encoding", "utf-8")
        try:
            text_codec(value)
        except RnnplayError:
            raise self.problem(f"has encoding = {_short(value)}, which is no text encoding Python knows; "
                               "try \"utf-8\"") from None
        return value

    def train(self, data: dict[str, Any]) -> dict[str, Any]:
        table = self.table("train")
        for key, value in table.items():
            if not OPTION.fullmatch(key):
                raise self.problem(f"has [train] {_short(key)}, which is not an option name such as seq-length")
            if not isinstance(value, (bool, int, float, str)):
                raise self.problem(f"has [train] {key} = {_short(value)}; give a number or a string")
        return dict(table)


def _short(value: object) -> str:
    """A value as the user wrote it, cut to fit in one line."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def builtin_cards() -> dict[str, Card]:
    """The cards shipped with rnnplay, by name."""
    cards = (Card.from_file(path) for path in sorted(CARDS_DIR.glob("*.toml")))
    return {card.name: card for card in cards}


def require_card(name: str) -> Card:
    """:func:`find_card`, or a one-line error naming the closest cards."""
    card = find_card(name)
    if card is None:
        names = list(builtin_cards())
        raise RnnplayError(f"no corpus card {name!r}{did_you_mean(name, names)}; the cards are: {', '.join(names)}")
    return card


def find_card(name: str) -> Card | None:
    """A card by name (case-insensitive), or from a ``.toml`` path; None when there is none."""
    if name.endswith(".toml"):
        card = Card.from_file(user_path(name))
        # names are matched as find_card matches them, whatever their case (some file systems ignore it too)
        builtin = next((c for n, c in builtin_cards().items() if n.lower() == card.name.lower()), None) \
            if card.url else None
        if builtin is not None and (builtin.filename, builtin.sha256) != (card.filename, card.sha256):
            raise RnnplayError(f"corpus card {card.path} has name = {card.name!r}, the name of a built-in card whose "
                               "download it would replace in the cache; give the card a name of its own")
        return card
    cards = builtin_cards()
    return cards.get(name) or next((c for n, c in cards.items() if n.lower() == name.lower()), None)
