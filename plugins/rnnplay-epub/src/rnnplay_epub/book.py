"""Reading an EPUB: a zip of XHTML chapters, listed in reading order by the OPF package file.

1. ``META-INF/container.xml`` names the package (.opf) file;
2. the package's ``<manifest>`` maps ids to files and its ``<spine>`` lists ids
   in reading order (``linear="no"`` items, such as footnote pages, are skipped);
3. each chapter's XHTML becomes plain text: one paragraph per block element,
   paragraphs separated by a blank line, scripts and styles dropped.
"""

from __future__ import annotations

import posixpath
import re
import urllib.parse
import zipfile
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from xml.etree import ElementTree

from rnnplay.core.errors import RnnplayError
from rnnplay.corpora import Progress, no_progress

NS = {
    "container": "urn:oasis:names:tc:opendocument:xmlns:container",
    "opf": "http://www.idpf.org/2007/opf",
    "dc": "http://purl.org/dc/elements/1.1/",
}
BLOCKS = frozenset({"p", "div", "section", "article", "blockquote", "pre", "h1", "h2", "h3", "h4", "h5", "h6",
                    "li", "dt", "dd", "tr", "table", "hr", "title"})
SKIP = frozenset({"script", "style", "head"})


@dataclass
class Book:
    title: str
    author: str
    rights: str
    text: str
    chapters: int


class TextOfHtml(HTMLParser):
    """XHTML -> text: whitespace runs become one space, block elements end a paragraph, <br> ends a line."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in SKIP:
            self.skipping += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag in BLOCKS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(re.sub(r"\s+", " ", data))

    def text(self) -> str:
        text = re.sub(r" *\n *", "\n", "".join(self.parts))  # no spaces at either end of a line
        return re.sub(r"\n{3,}", "\n\n", text).strip()


def html_to_text(xhtml: str) -> str:
    parser = TextOfHtml()
    parser.feed(xhtml)
    parser.close()
    return parser.text()


def read_epub(path: Path, progress: Progress = no_progress) -> Book:
    """The book at ``path``: its metadata and its chapters' text in spine order."""
    if not path.is_file():
        raise RnnplayError(f"{path}: no such file; give the path of an .epub book")
    try:
        with zipfile.ZipFile(path) as book:
            return _read(book, path, progress)
    except zipfile.BadZipFile:
        raise RnnplayError(f"{path} is not an EPUB (it is not a zip archive); give an .epub book") from None


def _xml(book: zipfile.ZipFile, name: str, path: Path) -> ElementTree.Element:
    try:
        return ElementTree.fromstring(book.read(name))
    except KeyError:
        raise RnnplayError(f"{path} is not a valid EPUB: it lacks {name}; is it damaged?") from None
    except ElementTree.ParseError as err:
        raise RnnplayError(f"{path} is not a valid EPUB: {name} is not well-formed XML ({err})") from None


def _read(book: zipfile.ZipFile, path: Path, progress: Progress) -> Book:
    rootfile = _xml(book, "META-INF/container.xml", path).find(".//container:rootfile", NS)
    if rootfile is None or not rootfile.get("full-path"):
        raise RnnplayError(f"{path} is not a valid EPUB: its container.xml names no package file")
    opf_name = rootfile.get("full-path", "")
    package = _xml(book, opf_name, path)
    folder = posixpath.dirname(opf_name)
    files = {item.get("id"): item.get("href", "") for item in package.iterfind("opf:manifest/opf:item", NS)}
    spine = [ref.get("idref") for ref in package.iterfind("opf:spine/opf:itemref", NS) if ref.get("linear") != "no"]
    chapters = []
    for i, idref in enumerate(spine, 1):
        if idref not in files:
            raise RnnplayError(f"{path} is not a valid EPUB: its spine names {idref!r}, which the manifest lacks")
        name = posixpath.normpath(posixpath.join(folder, urllib.parse.unquote(files[idref])))
        try:
            text = html_to_text(book.read(name).decode("utf-8"))
        except KeyError:
            raise RnnplayError(f"{path} is not a valid EPUB: it lacks the chapter {name}") from None
        except UnicodeDecodeError as err:
            raise RnnplayError(f"{path}: chapter {name} is not valid UTF-8 (byte {err.start})") from None
        if text:
            chapters.append(text)
        progress(f"reading {path.name}", i, len(spine), "chapters")

    if not chapters:
        raise RnnplayError(f"{path} has no text in its chapters; give a book with some text in it")

    def meta(tag: str) -> str:
        element = package.find(f"opf:metadata/dc:{tag}", NS)
        return (element.text or "").strip() if element is not None else ""

    return Book(meta("title"), meta("creator"), meta("rights"), "\n\n".join(chapters) + "\n", len(chapters))
