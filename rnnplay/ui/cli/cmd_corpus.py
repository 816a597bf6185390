"""``rnnplay corpus``: list the corpus cards and spec prefixes, look inside a corpus, download a card's file."""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import textwrap
from collections.abc import Iterator

from rnnplay.builtin.loaders import fetch_url, url_cache_path
from rnnplay.core.errors import RnnplayError, counted
from rnnplay.core.vocab import Vocab, describe_char
from rnnplay.corpora import Corpus, resolve
from rnnplay.corpora.cards import Card, builtin_cards, require_card
from rnnplay.corpora.download import MAX_DOWNLOAD_ENV, MIRROR_ENV, SIZE_HINT, parse_size, size_from_env
from rnnplay.corpora.id_cache import STALE_MEMOS, Survey, Text, prune, survey
from rnnplay.folders import cache_dir
from rnnplay.plugins.host import BUILTIN, get_host
from rnnplay.ui.cli import add_encoding_option
from rnnplay.ui.cli.bars import ProgressBar, amount, read_corpus
from rnnplay.ui.console import visible

EXAMPLES = """\
corpus specs (anywhere a corpus is named, e.g. `rnnplay train SPEC`):
  notes.txt  file:notes.txt          one text file
  dir:essays  dir:src:**/*.py        every file in a folder (optionally matching a glob)
  url:https://example.org/book.txt   a text file on the web, downloaded once into the cache
  stdlib:  stdlib:json               this Python's standard-library source
  tinyshakespeare                    a corpus card (see `rnnplay corpus list`)

examples:
  rnnplay corpus list
  rnnplay corpus show tinyshakespeare
  rnnplay corpus fetch tinyshakespeare
  rnnplay corpus fetch url:https://example.org/notes.txt --force
  rnnplay corpus cache                        the id files of large corpora and the downloads, with their sizes
  rnnplay corpus cache --prune                remove id files whose source file is gone or changed
  rnnplay corpus cache --prune --all          remove every id file no running rnnplay uses (loads encode again)
  RNNPLAY_CORPUS_MIRROR=/data/corpora rnnplay train tinyshakespeare --steps 2000

downloads stop past 1 GiB for url: (RNNPLAY_MAX_DOWNLOAD=4G raises it; a card's file
stops at its declared size) and past 600 s in all (RNNPLAY_DOWNLOAD_TIMEOUT=1200)."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "corpus", help="list, inspect and download training corpora",
        description="Corpus cards, corpus specs and downloads.", epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("list", help="the corpus cards and the spec prefixes").set_defaults(func=run_list)
    show = actions.add_parser("show", help="size, characters, vocabulary and a preview of a corpus")
    show.add_argument("corpus", metavar="NAME|SPEC", help="a card name, a file path or a corpus spec")
    add_encoding_option(show, "the files")
    show.add_argument("--preview", type=int, default=400, metavar="N", help="characters to preview (default 400)")
    show.set_defaults(func=run_show)
    fetch = actions.add_parser("fetch", help="download a card's corpus (checking its sha256) or a url: into the cache")
    fetch.add_argument("name", metavar="NAME|URL", help="a corpus card name, or url:https://HOST/PATH")
    fetch.add_argument("--force", action="store_true", help="download again even if it is cached")
    for parser in (show, fetch):
        parser.add_argument("--max-download", metavar="SIZE", type=download_size,
                            help=f"the most a url: download may have, e.g. 4G (default 1G, or ${MAX_DOWNLOAD_ENV})")
    fetch.set_defaults(func=run_fetch)
    cache = actions.add_parser("cache", help="the cache's id files and downloads; --prune removes what no load reads")
    cache.add_argument("--prune", action="store_true",
                       help="remove id files whose source is gone or changed, and part files of killed builds")
    cache.add_argument("--all", action="store_true", dest="everything",
                       help="with --prune: also id files whose source is unchanged or unknown (not one in use)")
    cache.set_defaults(func=run_cache)


def download_size(text: str) -> str:
    """``--max-download``'s value as given, if it is a size; else argparse's one-line error (exit 2) naming the flag,
    not the variable the value is handed on as."""
    if parse_size(text) is None:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a size; {SIZE_HINT}, e.g. --max-download 2G")
    return text


def card_status(card: Card) -> str:
    if card.url is None:
        return f"local ({card.spec})"
    return "cached" if card.cached else "not downloaded"


def run_list(args: argparse.Namespace) -> int:
    cards = builtin_cards()
    name_w = max(len(n) for n in cards)
    print("corpus cards (`rnnplay corpus show NAME`, `rnnplay train NAME`):")
    for card in cards.values():
        size = amount(card.size, "B") if card.size else "-"
        print(f"  {card.name:<{name_w}}  {size:>8}  {card_status(card):<16} {card.licence:<14} {card.description}")
    print("\nspec prefixes (PREFIX:ARGUMENT):")
    loaders = get_host().corpus_loaders
    for name in sorted(loaders):
        entry = loaders[name]
        origin = "" if entry.plugin == BUILTIN else f"  [{entry.plugin}]"
        print(f"  {name + ':':<8} {getattr(entry.obj, 'help', '')}{origin}")
    mirror = os.environ.get(MIRROR_ENV) or "not set"
    print(f"\ncache: {cache_dir() / 'corpora'}\nmirror ({MIRROR_ENV}): {mirror}")
    return 0


def vocabulary_line(vocab: Vocab) -> str:
    """The characters in id order: printable ones as themselves, the rest by name ('\\n', U+00A0)."""
    shown = [c if c.isprintable() and not c.isspace() else describe_char(c) for c in vocab.chars]
    return " ".join(shown)


def describe(corpus: Corpus, preview: int, spec: str) -> str:
    """What ``corpus show SPEC`` prints, from the corpus's vocabulary and counts and a bounded head of its text (a
    corpus larger than memory is never read whole). The suggested command names ``spec``, which found the corpus:
    a card read from a file is not found by its name."""
    vocab, counts = corpus.vocab(), corpus.counts()
    size = int(sum(int(n) * len(c.encode("utf-8")) for c, n in zip(vocab.chars, counts.tolist(), strict=True)))
    newlines = int(counts[vocab.chars.index("\n")]) if "\n" in vocab.chars else 0
    lines = [f"{corpus.name}" + (f": {corpus.description}" if corpus.description else "")]
    lines.append(f"source:      {corpus.source}")
    lines.append(f"licence:     {corpus.licence}")
    lines.append(f"size:        {counted(size, 'byte')} ({amount(size, 'B')}), {counted(corpus.chars, 'character')}, "
                 f"{counted(newlines, 'line')}")
    lines.append(f"sha256:      {corpus.sha256}")
    wrapped = textwrap.wrap(vocabulary_line(vocab), 100, break_on_hyphens=False)
    lines.append(f"vocabulary:  {counted(vocab.size, 'character')}")
    lines += [f"  {row}" for row in wrapped]
    if corpus.settings:
        options = " ".join(f"--{k} {v}" for k, v in corpus.settings.items())
        lines.append(f"suggested:   rnnplay train {shlex.quote(spec)} {options}")
    if preview > 0:
        lines.append("preview:")
        lines += [f"  | {row}" for row in corpus.head(preview).splitlines()]
    return "\n".join(lines)


def describe_card(card: Card, spec: str, name: str) -> str:
    """What a card says about a corpus that is not downloaded yet: shown without touching the network. The commands
    it suggests name the card as ``spec`` (for ``train``) and ``name`` (for ``corpus fetch``) found it."""
    lines = [f"{card.name}" + (f": {card.description}" if card.description else "")]
    lines.append(f"source:      {card.url}")
    lines.append(f"licence:     {card.licence}")
    if card.homepage:
        lines.append(f"homepage:    {card.homepage}")
    lines.append(f"size:        {card.size:,} bytes ({amount(card.size, 'B')}), as the card declares")
    lines.append(f"sha256:      {card.sha256} (of the file)")
    if card.train:
        options = " ".join(f"--{k} {v}" for k, v in card.train.items())
        lines.append(f"suggested:   rnnplay train {shlex.quote(spec)} {options}")
    lines.append(f"not downloaded: `rnnplay corpus fetch {shlex.quote(name)}` downloads it (or from {MIRROR_ENV}, a "
                 "folder or URL that has it); then `corpus show` shows its characters")
    return "\n".join(lines)


@contextlib.contextmanager
def max_download_flag(value: str | None) -> Iterator[None]:
    """``--max-download`` for this command alone: the loaders read it as $RNNPLAY_MAX_DOWNLOAD."""
    before = os.environ.get(MAX_DOWNLOAD_ENV)
    if value is not None:
        os.environ[MAX_DOWNLOAD_ENV] = value
    try:
        size_from_env(MAX_DOWNLOAD_ENV, 0)  # refuse a bad size now, before any download
        yield
    finally:
        if before is None:
            os.environ.pop(MAX_DOWNLOAD_ENV, None)
        else:
            os.environ[MAX_DOWNLOAD_ENV] = before


def run_show(args: argparse.Namespace) -> int:
    with max_download_flag(args.max_download):
        return _show(args)


def _show(args: argparse.Namespace) -> int:
    loader, argument = resolve(args.corpus)
    card = require_card(argument) if loader.name == "card" else None
    if card is not None and card.url is not None and not card.cached:
        print(visible(describe_card(card, args.corpus, argument)))  # no card download; its text may hold escapes
        return 0
    corpus = read_corpus(args.corpus, args.encoding)
    print(visible(describe(corpus, args.preview, args.corpus)))  # the preview as text, never as terminal commands
    return 0


def run_fetch(args: argparse.Namespace) -> int:
    if args.name.startswith(("url:", "http://", "https://")):
        with max_download_flag(args.max_download):
            return fetch_address(args.name.removeprefix("url:"), args.force)
    card = require_card(args.name.removeprefix("card:"))  # `card:PATH.toml`, the spec train takes, as well
    if card.url is None:
        print(f"{card.name} is read from {card.spec} on this machine; there is nothing to download")
        return 0
    source = None
    with ProgressBar() as bar:
        if args.force or not card.cached:
            source = card.download(bar)
        card.read_bytes(bar)  # a damaged cached copy is fetched again
    state = "already cached" if source is None else fetched_from(source)
    print(f"{card.name}: {state}, {card.size:,} bytes, sha256 verified: {card.cache_path}")
    return 0


def fetch_address(spec: str, force: bool) -> int:
    """`corpus fetch url:https://...`: the download into the cache, again with --force."""
    cached = os.path.isfile(url_cache_path(spec)[1]) and not force
    with ProgressBar() as bar:
        path = fetch_url(spec, bar, force=force)
    state = "already cached" if cached else fetched_from(spec)
    print(f"{path.name}: {state}, {path.stat().st_size:,} bytes (no checksum to verify): {path}")
    return 0


def fetched_from(source: str) -> str:
    """'downloaded from https://...', or 'copied from /folder/file' for a local copy (a file:// address)."""
    if source.startswith("file:"):
        import urllib.request  # urllib's HTTP side with it: only for this line of a copied card

        return f"copied from {urllib.request.url2pathname(urllib.parse.urlsplit(source).path)}"
    return f"downloaded from {source}"


STATES = {"changed": "source changed", "gone": "source gone", "unknown": "source unknown", "memo, changed":
          "memo, source changed", "memo, gone": "memo, source gone"}
NO_SOURCE = {"unknown": "(noted by an older rnnplay, or not checkable)", "no memo": "(a dir: folder's, or its "
             "build was killed before its memo)", "incomplete": "(its sidecar or ids missing)"}


def run_cache(args: argparse.Namespace) -> int:
    if args.everything and not args.prune:
        raise RnnplayError("--all goes with --prune: `rnnplay corpus cache --prune --all` removes every id file "
                           "no running rnnplay uses")
    if not args.prune:
        print(visible("\n".join(cache_lines(survey()))))
        return 0
    done = prune(args.everything)
    rows = [("removed ", size, STATES.get(why, why), shown_path(where)) for where, size, why in done.removed]
    rows += [("kept    ", text.size, "in use", source_of(text)) for text in done.held]
    for line in aligned(rows):
        print(visible(line))
    print(f"freed {amount(done.freed, 'B')}" if done.removed else "nothing to remove")
    return 0


def cache_lines(found: Survey) -> list[str]:
    """What `corpus cache` prints: a row a text (its sidecar and id files), then the files of no text, the total."""
    texts = [("  ", text.size, STATES.get(text.state, text.state),
              source_of(text) + (f" ({text.id_files} id files)" if text.id_files > 1 else "")) for text in found.texts]
    loose = [("  ", x.size, x.state, shown_path(x.where)) for x in found.loose]
    rows = aligned(texts + loose)  # one state column for both parts, as wide as its longest state
    lines = [f"id files in {found.folder / 'ids'} (a row a text: its id files and sidecar):", *rows[: len(texts)]]
    if not found.texts:
        lines.append("  none")
    stale = sum(m.state in STALE_MEMOS for m in found.memos)
    lines.append(f"  memos: {len(found.memos)} ({amount(sum(m.size for m in found.memos), 'B')}), {stale} stale")
    if found.loose:
        lines += ["other files:", *rows[len(texts) :]]
    lines.append(f"total {amount(found.size, 'B')} in {found.folder}; `rnnplay corpus cache --prune` frees "
                 f"{amount(found.freed(), 'B')} (with --all: {amount(found.freed(everything=True), 'B')})")
    return lines


def aligned(rows: list[tuple[str, int, str, str]]) -> list[str]:
    """Rows of (lead, size, state, what) as lines whose columns line up: the state column 17 wide, or as wide as
    its longest state and two spaces ("left alone: not a name rnnplay gives")."""
    width = max([17, *(len(state) + 2 for _, _, state, _ in rows)])
    return [f"{lead}{amount(size, 'B'):>9}  {state:<{width}}{what}" for lead, size, state, what in rows]


def source_of(text: Text) -> str:
    """The source file a text's memo names, or why there is none."""
    return shown_path(text.source) if text.source else NO_SOURCE.get(text.state, "(no memo)")


def shown_path(path: str) -> str:
    """A path as text to show: bytes that are not UTF-8 as \\xNN (never an encoding error on the way out)."""
    try:
        raw = path.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raw = path.encode("utf-8", "backslashreplace")
    return raw.decode("utf-8", "backslashreplace")
