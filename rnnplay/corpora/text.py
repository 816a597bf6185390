"""Bytes -> checked text: the one place that says what is wrong with a would-be corpus.

Every loader ends here, so every source (a file, a folder, a download) gives the
same one-line answers for the same mistakes: missing, empty, binary, not valid in
its encoding (with the byte offset and line), or too few distinct characters.
"""

from __future__ import annotations

import codecs
import hashlib
from pathlib import Path

from ..errors import RnnplayError

BINARY_SNIFF = 8192  # a NUL byte in the first 8 kB means "not text" (what git and grep use too)


def looks_binary(data: bytes, encoding: str = "utf-8") -> bool:
    """True when ``data`` has a NUL byte near its start (UTF-16/32 text legitimately has them)."""
    if codecs.lookup(encoding).name.startswith(("utf-16", "utf-32")):
        return False
    return b"\x00" in data[:BINARY_SNIFF]


def decode(data: bytes, where: str, encoding: str = "utf-8") -> str:
    """``data`` as text, or a one-line error naming ``where`` and what to do."""
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise RnnplayError(f"unknown text encoding {encoding!r}; try --encoding utf-8 or latin-1") from None
    if looks_binary(data, encoding):
        raise RnnplayError(f"{where} looks like a binary file (it has NUL bytes); give a plain text file")
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        hint = "try --encoding latin-1 (or the file's real encoding)" if encoding != "latin-1" else "check the file"
        raise RnnplayError(f"{where} is not valid {encoding} (byte {err.start}, line {line}); {hint}") from None


def read_text_file(path: Path, encoding: str = "utf-8") -> str:
    """The text of ``path``, or a one-line error that says what is wrong with it."""
    if not path.exists():
        raise RnnplayError(f"{path}: no such file; check the path (or give a corpus spec: `rnnplay corpus list`)")
    if path.is_dir():
        raise RnnplayError(f"{path} is a folder; give a text file, or dir:{path} to use every file in it")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise RnnplayError(f"cannot read {path}: {err.strerror}; check its permissions") from None
    return decode(data, str(path), encoding)


def check_text(text: str, name: str) -> str:
    """``text`` if a model can learn from it: not empty, at least two distinct characters."""
    if not text:
        raise RnnplayError(f"corpus {name} is empty; give a file with some text in it")
    first = text[0]
    if text.count(first) == len(text):  # one C-level pass instead of building set(text)
        raise RnnplayError(
            f"corpus {name} has fewer than two distinct characters (only {first!r}); there is nothing to learn"
        )
    return text


def text_sha256(text: str, chunk: int = 1 << 22) -> str:
    """sha256 of the UTF-8 encoding of ``text``, encoded a slice at a time (no full second copy)."""
    digest = hashlib.sha256()
    for start in range(0, len(text), chunk):
        digest.update(text[start : start + chunk].encode("utf-8"))
    return digest.hexdigest()
