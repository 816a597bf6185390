"""Loading a corpus spec: the loader the registry holds for it, run and its result checked.

A spec is what a user types where a corpus is named (``rnnplay train SPEC``, the
app's /train): a file path; ``PREFIX:ARGUMENT`` for a registered corpus loader
(built-in: ``file:``, ``dir:``, ``url:``, ``stdlib:``, ``card:``; plugins add
more); or the name of a corpus card (``tinyshakespeare``). :func:`load_corpus` is
the one entry point: it picks the loader through the plugin registry, runs it and
checks the result, so every source fails the same clear way. The package
``rnnplay.corpora`` gives these names too, importing this module only when one is asked for.
"""

from __future__ import annotations

import inspect
import os
import re

from rnnplay.core.errors import RnnplayError, printable
from rnnplay.core.params import did_you_mean
from rnnplay.corpora.base import Corpus, Progress, no_progress
from rnnplay.corpora.cards import builtin_cards, find_card
from rnnplay.corpora.file_corpus import FileCorpus
from rnnplay.corpora.text import check_text, encoding_option, probe, user_path
from rnnplay.plugins.contracts import CorpusLoader
from rnnplay.plugins.problems import what_to_do

NAME_CHARS = 200  # a corpus name longer than this is cut
PREFIX = re.compile(r"([A-Za-z][A-Za-z0-9_-]+):(.*)", re.DOTALL)  # two letters or more: C:\ stays a path


def resolve(spec: str) -> tuple[CorpusLoader, str]:
    """The loader for ``spec`` and the argument it gets.

    Order: a registered ``prefix:``; a bare http(s) URL; an existing path; a card
    name. Anything else is an error naming the closest prefix or card.
    """
    from rnnplay.plugins.host import get_host  # the plugins layer: imported late, it imports the loaders

    host = get_host()
    loaders = host.corpus_loaders
    if spec.startswith(("http://", "https://")):
        return host.get("corpus_loaders", "url"), spec
    match = PREFIX.fullmatch(spec)
    if match and match[1] in loaders:
        return loaders[match[1]].obj, match[2]
    if not spec.strip():
        raise RnnplayError("no corpus given; give a file path, a card name (`rnnplay corpus list`) or a spec")
    if probe(user_path(spec)) is not None or os.path.lexists(user_path(spec)):  # a dangling link: the file says
        return host.get("corpus_loaders", "file"), spec
    if match:
        prefix = match[1]
        raise RnnplayError(f"unknown corpus prefix {prefix + ':'!r}{did_you_mean(prefix, list(loaders))}; "
                           f"known prefixes: {', '.join(sorted(loaders))} (`rnnplay corpus list`)")
    if find_card(spec) is not None:
        return host.get("corpus_loaders", "card"), spec
    names = list(builtin_cards())
    raise RnnplayError(f"{spec}: no such file or corpus card{did_you_mean(spec, names)}; give a file path, "
                       f"a card name ({', '.join(names)}) or a spec such as dir:FOLDER")


def takes_encoding(loader: CorpusLoader) -> bool:
    """Whether ``loader`` reads text in an encoding the user chooses (its ``load`` has an ``encoding`` keyword)."""
    return "encoding" in inspect.signature(loader.load).parameters


def load_corpus(spec: str, encoding: str = "utf-8", progress: Progress | None = None) -> Corpus:
    """The corpus ``spec`` names, checked: not empty, at least two distinct characters.

    ``encoding`` reaches the loaders that read text files (file:, dir:, url:);
    ``progress`` hears about downloads and long folder reads.
    """
    return load_resolved(spec, *resolve(spec), encoding, progress)


def load_resolved(spec: str, loader: CorpusLoader, argument: str, encoding: str = "utf-8",
                  progress: Progress | None = None) -> Corpus:
    """:func:`load_corpus` of ``spec`` once :func:`resolve` has found its ``loader`` and ``argument``."""
    from rnnplay.plugins.host import get_host

    owner = get_host().corpus_loaders[loader.name].plugin if loader.name in get_host().corpus_loaders else "?"
    report = what_to_do(owner)
    with get_host().blame("corpus_loaders", loader.name, f"loading {spec[:80]!r}"):  # a plugin's bug: one line
        kwargs = {}
        if takes_encoding(loader):
            kwargs["encoding"] = encoding
        elif encoding.lower().replace("_", "-") not in ("utf-8", "utf8"):
            raise RnnplayError(f"{loader.name}: corpora choose their own encoding; drop {encoding_option()}")
        corpus = loader.load(argument, progress or no_progress, **kwargs)
    if isinstance(corpus, Corpus):  # its name is shown on screen and kept in checkpoints: one short line
        corpus.name = printable(str(corpus.name))[:NAME_CHARS]
    if isinstance(corpus, FileCorpus):
        return corpus  # checked while its ids were written, and its text is not held to check again
    if not isinstance(corpus, Corpus) or not isinstance(corpus.text, str):
        what = (f"a Corpus whose text is {type(corpus.text).__name__}, not a str" if isinstance(corpus, Corpus)
                else f"{type(corpus).__name__}, not a Corpus")
        raise RnnplayError(f"the corpus loader {loader.name!r} (from {owner}) returned {what}; {report}")
    check_text(corpus.text, corpus.name)
    try:
        corpus.sha256  # noqa: B018 (computed now: it also proves the text is encodable)
    except UnicodeEncodeError:
        raise RnnplayError(f"the corpus loader {loader.name!r} (from {owner}) returned text with unpaired surrogates "
                           f"(U+D800-U+DFFF), which no file can hold; {report}") from None
    return corpus
