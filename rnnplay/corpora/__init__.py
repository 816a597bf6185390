"""Corpora: turning a corpus spec into checked training text.

A spec is what a user types where a corpus is named (``rnnplay train SPEC``, the
app's /train): a file path; ``PREFIX:ARGUMENT`` for a registered corpus loader
(built-in: ``file:``, ``dir:``, ``url:``, ``stdlib:``, ``card:``; plugins add
more); or the name of a corpus card (``tinyshakespeare``). :func:`load_corpus`
(in :mod:`rnnplay.corpora.loading`) is the one entry point.

The names below are given lazily, each from its module when it is first asked for: importing
one module of the package (``rnnplay.corpora.text``, which every command line imports) then
costs that module alone, not the cards, downloads and id files a command that loads no corpus
never uses.

May import: ``rnnplay.plugins`` (the loader registry), ``rnnplay.core``, ``rnnplay.folders``.
Never ``rnnplay.models``, ``rnnplay.builtin``, the session or a face.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # what the lazy names are, for readers and type checkers
    from rnnplay.corpora.base import Corpus, Progress, no_progress
    from rnnplay.corpora.loading import PREFIX, load_corpus, load_resolved, resolve, takes_encoding
    from rnnplay.corpora.text import read_text_file
    from rnnplay.plugins.contracts import CorpusLoader

__all__ = ["PREFIX", "Corpus", "CorpusLoader", "Progress", "load_corpus", "load_resolved", "no_progress",
           "read_text_file", "resolve", "takes_encoding"]

# each name in __all__ -> the module that defines it
_HOMES = {
    "Corpus": "rnnplay.corpora.base", "Progress": "rnnplay.corpora.base", "no_progress": "rnnplay.corpora.base",
    "PREFIX": "rnnplay.corpora.loading", "load_corpus": "rnnplay.corpora.loading",
    "load_resolved": "rnnplay.corpora.loading", "resolve": "rnnplay.corpora.loading",
    "takes_encoding": "rnnplay.corpora.loading", "read_text_file": "rnnplay.corpora.text",
    "CorpusLoader": "rnnplay.plugins.contracts",
}


def __getattr__(name: str) -> object:
    """``rnnplay.corpora.NAME``: imported from its module on first use (then kept here)."""
    home = _HOMES.get(name)
    if home is None:  # a submodule not imported yet (``from rnnplay.corpora import download``) is found by import
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
