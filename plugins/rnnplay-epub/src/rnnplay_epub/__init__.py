"""rnnplay-epub: the ``epub:`` corpus loader. ``rnnplay train epub:moby-dick.epub`` trains on the book's text.

rnnplay finds this module through the ``rnnplay`` entry-point group (see
pyproject.toml) and calls its ``register_corpus_loaders`` hook.
"""

from __future__ import annotations

from pathlib import Path

from rnnplay.core.errors import RnnplayError
from rnnplay.corpora import Corpus, Progress
from rnnplay.plugins import Register, hookimpl

from .book import read_epub

__all__ = ["EpubLoader", "read_epub", "register_corpus_loaders"]


class EpubLoader:
    name = "epub"
    help = "the text of an EPUB book, chapters in reading order: epub:PATH"

    def load(self, spec: str, progress: Progress) -> Corpus:
        if not spec.strip():  # Path("") is ".", which would be said as ".: no such file"
            raise RnnplayError("epub: needs a book's path after it, as in epub:moby-dick.epub")
        path = Path(spec).expanduser()
        book = read_epub(path, progress)
        by = f" by {book.author}" if book.author else ""
        return Corpus(book.title or path.stem, book.text, str(path), licence=book.rights or "unknown",
                      description=f"EPUB book{by}, {book.chapters} chapters")


@hookimpl
def register_corpus_loaders(register: Register) -> None:
    register(EpubLoader())
