"""The epub: loader on EPUB files these tests build themselves (zipfile, no fixtures on disk).

Run after installing the package (the loader must be found through its entry point):
``pip install . && pytest``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from rnnplay.core.errors import RnnplayError
from rnnplay.corpora import load_corpus
from rnnplay.plugins.host import get_host, reset_host

from rnnplay_epub import EpubLoader

CONTAINER = """<?xml version="1.0"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
  <rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles>
</container>"""

PACKAGE = """<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id">
  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/">
    <dc:title>A Small Book</dc:title><dc:creator>A. Writer</dc:creator><dc:rights>Public domain</dc:rights>
  </metadata>
  <manifest>
    <item id="notes" href="text/notes.xhtml" media-type="application/xhtml+xml"/>
    <item id="two" href="text/chapter%202.xhtml" media-type="application/xhtml+xml"/>
    <item id="one" href="text/one.xhtml" media-type="application/xhtml+xml"/>
    <item id="css" href="style.css" media-type="text/css"/>
  </manifest>
  <spine><itemref idref="one"/><itemref idref="two"/><itemref idref="notes" linear="no"/></spine>
</package>"""

CHAPTERS = {
    "OEBPS/text/one.xhtml": """<html xmlns="http://www.w3.org/1999/xhtml"><head><title>One</title>
        <style>p { color: red }</style></head><body><h1>Chapter One</h1>
        <p>It was a  dark
        and stormy night &amp; the rain fell.</p><p>Line one<br/>line two</p>
        <script>var hidden = 1;</script></body></html>""",
    "OEBPS/text/chapter 2.xhtml": """<html xmlns="http://www.w3.org/1999/xhtml"><body>
        <h1>Chapter Two</h1><div><p>Café &#8212; au lait.</p></div></body></html>""",
    "OEBPS/text/notes.xhtml": "<html><body><p>Footnotes nobody reads in order.</p></body></html>",
}


def build_epub(path: Path, package: str = PACKAGE, chapters: dict[str, str] = CHAPTERS) -> Path:
    with zipfile.ZipFile(path, "w") as book:
        book.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        book.writestr("META-INF/container.xml", CONTAINER)
        book.writestr("OEBPS/content.opf", package)
        book.writestr("OEBPS/style.css", "p { margin: 0 }")
        for name, xhtml in chapters.items():
            book.writestr(name, xhtml)
    return path


EXPECTED = """Chapter One

It was a dark and stormy night & the rain fell.

Line one
line two

Chapter Two

Café — au lait.
"""


def test_chapters_come_in_spine_order_as_plain_paragraphs(tmp_path: Path) -> None:
    corpus = EpubLoader().load(str(build_epub(tmp_path / "small.epub")), lambda *a, **k: None)
    assert corpus.text == EXPECTED
    assert (corpus.name, corpus.licence) == ("A Small Book", "Public domain")
    assert corpus.description == "EPUB book by A. Writer, 2 chapters"


def test_the_installed_plugin_adds_the_epub_prefix(tmp_path: Path) -> None:
    reset_host()
    assert get_host().corpus_loaders["epub"].plugin == "rnnplay-epub"
    assert load_corpus(f"epub:{build_epub(tmp_path / 'small.epub')}").text == EXPECTED


def test_the_cli_trains_on_a_book(tmp_path: Path) -> None:
    book = build_epub(tmp_path / "small.epub")
    env = {**os.environ, "RNNPLAY_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("RNNPLAY_LOAD_PLUGINS", None)
    shown = subprocess.run([sys.executable, "-m", "rnnplay", "corpus", "show", f"epub:{book}"], capture_output=True,
                           text=True, env=env, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "A Small Book: EPUB book by A. Writer" in shown.stdout and "| Chapter One" in shown.stdout
    listed = subprocess.run([sys.executable, "-m", "rnnplay", "corpus", "list"], capture_output=True, text=True,
                            env=env, timeout=120)
    assert "epub:" in listed.stdout and "[rnnplay-epub]" in listed.stdout


def test_a_spec_with_no_path_says_what_to_give() -> None:
    """``epub:`` alone was read as the path '.', and said ".: no such file"."""
    for spec in ("", "  "):
        with pytest.raises(RnnplayError, match=r"^epub: needs a book's path after it, as in epub:moby-dick\.epub$"):
            EpubLoader().load(spec, lambda *a, **k: None)


def test_broken_books_get_one_line_errors(tmp_path: Path) -> None:
    loader = EpubLoader()
    (tmp_path / "fake.epub").write_text("just text")
    with pytest.raises(RnnplayError, match=r"not an EPUB .*not a zip archive"):
        loader.load(str(tmp_path / "fake.epub"), lambda *a, **k: None)
    with pytest.raises(RnnplayError, match="no such file"):
        loader.load(str(tmp_path / "missing.epub"), lambda *a, **k: None)
    broken = build_epub(tmp_path / "broken.epub", package=PACKAGE.replace('idref="two"', 'idref="three"'))
    with pytest.raises(RnnplayError, match="spine names 'three', which the manifest lacks"):
        loader.load(str(broken), lambda *a, **k: None)
    empty = build_epub(tmp_path / "empty.epub", chapters={n: "<html><body> </body></html>" for n in CHAPTERS})
    with pytest.raises(RnnplayError, match="has no text"):
        loader.load(str(empty), lambda *a, **k: None)
