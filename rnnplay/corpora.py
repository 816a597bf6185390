"""Reading training text. (The corpora issue widens this to specs: dir:, url:, stdlib:, cards.)"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from .errors import RnnplayError


@dataclass
class Corpus:
    name: str
    text: str
    source: str
    licence: str = "unknown"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def read_text_file(path: Path, encoding: str = "utf-8") -> str:
    """The text of ``path``, or a one-line error that says what is wrong with it."""
    if not path.exists():
        raise RnnplayError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise RnnplayError(f"{path} is a folder; give a text file")
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        raise RnnplayError(f"{path} looks like a binary file (it has NUL bytes); give a plain text file")
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise RnnplayError(
            f"{path} is not valid {encoding} (byte {err.start}, line {line}); try --encoding latin-1"
        ) from None
    if not text:
        raise RnnplayError(f"{path} is empty; give a file with some text in it")
    if len(set(text[:100000])) < 2 and len(set(text)) < 2:
        raise RnnplayError(f"{path} has fewer than two distinct characters; there is nothing to learn")
    return text


def load_corpus(spec: str, encoding: str = "utf-8") -> Corpus:
    path = Path(spec)
    return Corpus(path.name, read_text_file(path, encoding), str(path))
