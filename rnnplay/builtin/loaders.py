"""The built-in corpus loaders, one per spec prefix: file:, dir:, url:, stdlib:, card:.

They are registered through ``register_corpus_loaders`` like any plugin's loaders;
the work is done in :mod:`rnnplay.corpora` (reading, joining, downloading, cards).
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING

from rnnplay.core.errors import RnnplayError, counted, has_control, printable
from rnnplay.corpora.base import Corpus, Progress
from rnnplay.corpora.download import discard, fetch, inside, max_download
from rnnplay.corpora.folders import JoinedStream, folder_files, split_dir_spec, stdlib_files, stdlib_root
from rnnplay.corpora.text import (
    BINARY_SNIFF,
    check_not_binary,
    decode,
    empty_corpus,
    looks_binary,
    probe,
    user_path,
    wide_encoding,
)
from rnnplay.folders import cache_dir
from rnnplay.plugins.hookspecs import Register, hookimpl

if TYPE_CHECKING:
    from rnnplay.corpora.cards import Card

# Every command builds the plugin host, which imports this module; the corpus loading itself (rnnplay.corpora.loading,
# .cards, .file_corpus: the id files, the cards' TOML) is imported by the loaders' load() when a corpus is loaded.

BUILT_IN = frozenset({"file", "dir", "url", "stdlib", "card"})  # the prefixes of this module's loaders
MAX_CARD_DEPTH = 8  # a card whose spec names a card whose spec names a card ...
_open_cards: ContextVar[tuple[Path, ...]] = ContextVar("open_cards", default=())


class FileLoader:
    name = "file"
    help = "one text file: file:PATH (a plain path works too); from 4 MiB on, its ids are kept in the cache"

    def load(self, spec: str, progress: Progress, encoding: str = "utf-8") -> Corpus:
        if not spec.strip():
            raise RnnplayError("file: needs a path after it, e.g. file:notes.txt")
        from rnnplay.corpora.file_corpus import text_file_corpus

        return text_file_corpus(user_path(spec), encoding, progress)


class DirLoader:
    name = "dir"
    help = "every file in a folder, joined with '==> name <==' headers: dir:FOLDER[:GLOB] (default **/*)"

    def load(self, spec: str, progress: Progress, encoding: str = "utf-8") -> Corpus:
        from rnnplay.corpora.file_corpus import folder_corpus

        folder, pattern = split_dir_spec(spec)
        if not folder.strip():  # never the folder the user happens to be in, read whole without a word
            raise RnnplayError("dir: needs a folder after it, e.g. dir:notes or dir:notes:*.txt (dir:. is the folder "
                               "you are in)")
        root = user_path(folder)
        listing = folder_files(root, pattern, progress)
        outside = _linked_out(listing.outside, listing.folders_outside, folder)
        if outside:
            none = (f"dir:{printable(folder)}:{printable(pattern)} matched no text files inside {printable(folder)}/ "
                    f"({outside}); give the folder they link to itself, or copy the files into {printable(folder)}/")
        else:
            none = (f"dir:{folder}:{pattern} matched no text files; check the folder or the pattern "
                    f"(e.g. dir:{folder}:*.txt)")
        joined = JoinedStream(listing.files, root, encoding, none, pattern)
        corpus = folder_corpus(joined, root.resolve().name, progress)
        corpus.description += f", {outside}" if outside else ""
        return corpus


def _linked_out(files: int, folders: int, folder: str) -> str:
    """What the summary says of the files and folders that a symbolic link leads outside ``folder``; "" for none."""
    if not files + folders:
        return ""
    what = " and ".join(counted(n, kind) for n, kind in ((files, "file"), (folders, "folder")) if n)
    verb = "links" if files + folders == 1 else "link"
    return f"skipped {what} that {verb} outside {printable(folder.rstrip('/'))}/"


class UrlLoader:
    name = "url"
    help = "a text file on the web, downloaded once into the cache: url:https://HOST/PATH"

    def load(self, spec: str, progress: Progress, encoding: str = "utf-8") -> Corpus:
        from rnnplay.corpora.file_corpus import text_file_corpus

        dest = fetch_url(spec, progress)
        with dest.open("rb") as f:
            head = f.read(BINARY_SNIFF)
        if not head or (looks_binary(head, encoding) and not wide_encoding(head)):
            discard(dest)  # no text in any encoding: not kept, so the next load downloads it again
            if not head:
                raise empty_corpus(spec)
            check_not_binary(head, spec, encoding)
        try:
            corpus = text_file_corpus(dest, encoding, progress)  # as a file's: its ids in the cache from 4 MiB on
        except RnnplayError as err:  # named by the address the user gave, not the cache file it went to
            raise RnnplayError(str(err).replace(str(dest), spec)) from None
        corpus.name, corpus.source = dest.name, spec
        return corpus


class StdlibLoader:
    name = "stdlib"
    help = "this Python's standard-library source, a code corpus every machine has: stdlib: or stdlib:MODULE"

    def load(self, spec: str, progress: Progress) -> Corpus:
        version = sys.version.split()[0]
        root = stdlib_root()
        joined = JoinedStream(stdlib_files(spec), root, "utf-8")
        return Corpus(
            f"stdlib:{spec}" if spec else "stdlib", joined.text(progress, "reading the standard library"),
            f"Python {version} standard library at {root}", licence="PSF-2.0",
            description=f"{joined.members} source files of Python {version}'s standard library",
        )


class CardLoader:
    name = "card"
    help = "a corpus card by name (`rnnplay corpus list`), or card:PATH.toml"

    def load(self, spec: str, progress: Progress) -> Corpus:
        from rnnplay.corpora.cards import require_card
        from rnnplay.corpora.loading import load_resolved, resolve, takes_encoding

        card = require_card(spec)
        if card.spec is not None:
            spec = _beside(card, card.spec)
            loader, argument = resolve(spec)
            with _opening(card):
                inner = load_resolved(spec, loader, argument, card.encoding if takes_encoding(loader) else "utf-8",
                                      progress)
            text, source = inner.text, inner.source
        else:
            hint = f"set encoding = \"latin-1\" (or the file's real encoding) in [source] of the card {card.path}"
            text = decode(card.read_bytes(progress), str(card.cache_path), card.encoding, hint)
            source = str(card.url)
        return Corpus(card.name, text, source, card.licence, card.description, dict(card.train))


def _beside(card: Card, spec: str) -> str:
    """``spec`` with a relative path in it (``t.txt``, ``file:t.txt``, ``dir:notes:*.txt``, ``card:b.toml``, a
    plugin's ``epub:book.epub``) read from the card's folder, as a card's local copy of its download is; names
    and addresses stay as they are.

    The path must stay inside the card's folder once symbolic links are resolved: a card may come from anyone,
    and a corpus read from ``dir:..`` or ``/home/me/.ssh`` could leak through a model trained on it.
    """
    plugin = _plugin_prefix(spec)
    if plugin is not None:
        return _plugin_argument_beside(card, spec, plugin)
    prefix, _, rest = spec.partition(":") if spec.startswith(("file:", "dir:", "card:")) else ("", "", spec)
    if not rest or (prefix == "card" and not rest.endswith(".toml")):
        return spec
    home = card.path.parent
    where, pattern = split_dir_spec(rest, home) if prefix == "dir" else (rest, "")
    target = home / user_path(where)  # an absolute path stays itself, and is then outside
    if not prefix and probe(target) is None:  # a bare word that is no file or folder there is a card's name
        return spec
    return _kept_inside(card, spec, prefix, target, pattern)


def _plugin_prefix(spec: str) -> str | None:
    """The prefix of ``spec`` when a plugin's loader reads it (``epub:book.epub``), else None."""
    from rnnplay.corpora.loading import PREFIX
    from rnnplay.plugins.host import get_host  # the plugins layer: imported late, it imports these loaders

    match = PREFIX.fullmatch(spec)
    if match and match[1] not in BUILT_IN and match[1] in get_host().corpus_loaders:
        return match[1]
    return None


def _plugin_argument_beside(card: Card, spec: str, prefix: str) -> str:
    """A plugin's ``prefix:ARGUMENT`` from a card: the argument may be a path or not (a catalogue number, a name).

    One that names a file or folder beside the card, or is written as a path that leaves the
    card's folder (absolute, ``~``, ``..``), is a path: read from the card's folder and kept
    inside it, as a built-in spec's is. Anything else reaches the plugin as written.
    """
    where = user_path(spec[len(prefix) + 1:])
    target = card.path.parent / where
    if not (where.is_absolute() or ".." in where.parts) and probe(target) is None:
        return spec
    return _kept_inside(card, spec, prefix, target, "")


def _kept_inside(card: Card, spec: str, prefix: str, target: Path, pattern: str) -> str:
    """``prefix:target`` (and ``:pattern``), or a one-line error when ``target`` resolves outside the card's folder."""
    home = card.path.parent
    real, real_home = Path(os.path.realpath(target)), Path(os.path.realpath(home))
    located = f"{prefix}:{target}" if prefix else str(target)
    if not real.is_relative_to(real_home):
        direct = f"{prefix or 'file'}:{real}" + (f":{pattern}" if pattern and pattern != "**/*" else "")
        raise RnnplayError(f"corpus card {printable(str(card.path))}: its spec {printable(spec)} reads outside the "
                           f"card's folder {printable(str(real_home))}; move the text next to the card, or name it "
                           f"directly: rnnplay train {printable(direct)}")
    return f"{located}:{pattern}" if pattern else located


def url_cache_path(spec: str) -> tuple[str, Path]:
    """(the address to download, where the cache keeps it) for url:``spec``: corpora/urls/<hash of spec>/<name>."""
    parts, host = _http_address(spec)
    file_name = Path(urllib.parse.unquote(parts.path)).name or host
    key = hashlib.sha256(spec.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return _ascii_address(parts), inside(cache_dir() / "corpora" / "urls", key, file_name)


def fetch_url(spec: str, progress: Progress, *, force: bool = False) -> Path:
    """The cached download of url:``spec``, downloaded first if it is not in the cache yet (or ``force``)."""
    address, dest = url_cache_path(spec)
    if force or not os.path.isfile(dest):  # False too where the cache may not be entered: fetch says why
        fetch(address, dest, limit=max_download(), progress=progress, label=f"downloading {dest.name}")
    return dest


def _http_address(spec: str) -> tuple[urllib.parse.SplitResult, str]:
    """(the parts of an http(s) URL, its host), or a one-line error."""
    if has_control(spec):  # urlsplit would drop a line break without a word
        raise RnnplayError(f"url:{printable(spec[:200])} has control characters (a line break?); check the address")
    try:
        parts = urllib.parse.urlsplit(spec)
        host = parts.hostname
    except ValueError:  # an unbalanced [ in the host
        parts, host = None, None
    if parts is None or parts.scheme not in ("http", "https") or not host:
        raise RnnplayError(f"url:{spec[:200]} is not an http(s) address; give url:https://... (or a file's path)")
    if parts.username is not None or parts.password is not None:  # urllib would take them for the host
        raise RnnplayError(f"url:https://{host}/...: addresses with a user name or password are not supported; "
                           "download the file by hand and give its path")
    return parts, host


def _ascii_address(parts: urllib.parse.SplitResult) -> str:
    """The address as HTTP sends it: a host like 例え.テスト in IDNA, a path like /ü.txt percent-encoded (browsers
    show them decoded, and urllib refuses anything but ASCII)."""
    try:
        host = parts.hostname.encode("idna").decode("ascii") if parts.hostname else ""
    except UnicodeError:
        raise RnnplayError(f"url:{parts.geturl()[:200]}: {parts.hostname!r} is not a valid host name; check the "
                           "address") from None
    try:
        port = parts.port
    except ValueError:
        raise RnnplayError(f"url:{parts.geturl()[:200]}: the port is not a number from 0 to 65535; check the "
                           "address") from None
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    quote = functools.partial(urllib.parse.quote, safe="/%:@!$&'()*+,;=~-._")
    return urllib.parse.urlunsplit((parts.scheme, netloc, quote(parts.path), quote(parts.query), ""))


@contextmanager
def _opening(card: Card) -> Iterator[None]:
    """Note ``card`` as being read while its spec loads, refusing a chain of cards that comes back to one."""
    chain = _open_cards.get()
    here = card.path.resolve()
    if here in chain:
        raise RnnplayError(f"corpus card {card.path} leads back to itself (spec = {card.spec!r}); point its spec "
                           "at a file, a folder or a url")
    if len(chain) >= MAX_CARD_DEPTH:
        raise RnnplayError(f"corpus card {card.path} is one of more than {MAX_CARD_DEPTH} cards that name each "
                           "other through spec; point a card's spec at a file, a folder or a url")
    token = _open_cards.set((*chain, here))
    try:
        yield
    finally:
        _open_cards.reset(token)


@hookimpl
def register_corpus_loaders(register: Register) -> None:
    for loader in (FileLoader(), DirLoader(), UrlLoader(), StdlibLoader(), CardLoader()):
        register(loader)
