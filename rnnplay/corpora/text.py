"""Bytes -> checked text: the one place that says what is wrong with a would-be corpus.

Every loader ends here, so every source (a file, a folder, a download) gives the same one-line answers for the
same mistakes: missing, empty, binary, invalid in its encoding (byte offset and line), or too few distinct characters.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import stat
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import BinaryIO

from rnnplay.core import address_space
from rnnplay.core.errors import RnnplayError
from rnnplay.corpora.char_width import BytesShape, held_weight, wider
from rnnplay.corpora.memory import memory_room, usable_memory

BINARY_SNIFF = 8192  # a NUL byte in the first 8 kB means "not text" (what git and grep use too)
BOM = codecs.BOM_UTF8
STREAM_COPIES = 3  # a text read from a stream is held this many times over while it is read (blocks, joined, text)

# How the user names an encoding where the text is read: the command line's flag, or the app's key=value.
ENCODING_OPTION: ContextVar[str] = ContextVar("encoding_option", default="--encoding ")


def encoding_option(value: str = "") -> str:
    """The option that chooses the encoding, as the user types it here: ``--encoding utf-16`` on the command
    line, ``encoding=utf-16`` in the app (where :data:`ENCODING_OPTION` is set to ``"encoding="``)."""
    return f"{ENCODING_OPTION.get()}{value}".strip()


# Byte-order marks of the encodings whose text has NUL bytes (UTF-32's first: its LE mark starts with UTF-16's).
WIDE_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"),
             (codecs.BOM_UTF16_BE, "utf-16"))


def wide_encoding(data: bytes) -> str | None:
    """"utf-16" or "utf-32" when ``data`` starts with that encoding's byte-order mark, else None."""
    return next((name for bom, name in WIDE_BOMS if data.startswith(bom)), None)


def unmarked_utf16(data: bytes) -> str | None:
    """"utf-16-le" or "utf-16-be" when ``data`` (no byte-order mark) looks like text of that encoding: a NUL in nearly
    every odd (LE) or even (BE) byte, as Latin text has, and almost none in the others; else None. A head shorter than
    64 bytes must also read as printable text in that encoding (a few 16-bit numbers have the same NULs)."""
    head = data[:BINARY_SNIFF]
    half = len(head) // 2
    for name, nuls, chars in (("utf-16-le", head[1::2], head[0::2]), ("utf-16-be", head[0::2], head[1::2])):
        if half >= 2 and nuls.count(0) > 0.9 * half and chars.count(0) < 0.05 * half \
                and (len(head) >= 64 or printable(head[:2 * half], name)):
            return name
    return None


def printable(data: bytes, encoding: str) -> bool:
    """True when ``data`` decodes in ``encoding`` to printable characters and line breaks and tabs alone."""
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        return False
    return all(c.isprintable() or c in "\n\r\t" for c in text)


def looks_binary(data: bytes, encoding: str = "utf-8") -> bool:
    """True when ``data`` has a NUL byte near its start (UTF-16/32 text legitimately has them)."""
    if codecs.lookup(encoding).name.startswith(("utf-16", "utf-32")):
        return False
    return b"\x00" in data[:BINARY_SNIFF]


def decode(data: bytes, where: str, encoding: str = "utf-8", hint: str = "") -> str:
    """``data`` as text, or a one-line error naming ``where`` and what to do (``hint``, if the usual advice,
    :func:`encoding_option`, does not apply).

    A UTF-8 byte-order mark at the start is dropped: it marks the encoding, it is not a character to learn.
    """
    codec = text_codec(encoding)
    check_not_binary(data, where, encoding)
    skipped = len(BOM) if codec == "utf-8" and data.startswith(BOM) else 0
    try:
        return data.decode("utf-8-sig" if skipped else encoding)
    except UnicodeDecodeError as err:
        at = err.start + skipped  # utf-8-sig counts from after the mark
        raise invalid_text(where, encoding, at, data.count(b"\n", 0, at) + 1, hint=hint) from None
    except UnicodeError as err:  # codecs that do not say where
        raise invalid_text(where, encoding, detail=str(err), hint=hint) from None


def check_not_binary(head: bytes, where: str, encoding: str) -> None:
    """A one-line error when the start of a file, ``head``, looks binary (:func:`looks_binary`); UTF-16/32 text
    (NUL bytes after a byte-order mark) is named as such."""
    if looks_binary(head, encoding) and (wide := wide_encoding(head)):
        raise RnnplayError(f"{where} is {wide.upper()} text (it starts with a {wide.upper()} byte-order mark), not "
                           f"{encoding}; give {encoding_option(wide)}")
    if looks_binary(head, encoding) and (wide := unmarked_utf16(head)):
        raise RnnplayError(f"{where} looks like {wide.upper()} text without a byte-order mark, not {encoding}; "
                           f"give {encoding_option(wide)}")
    if looks_binary(head, encoding):
        raise RnnplayError(f"{where} looks like a binary file (it has NUL bytes); give a plain text file")


def invalid_text(where: str, encoding: str, at: int = 0, line: int = 0, detail: str = "",
                 hint: str = "") -> RnnplayError:
    """The one-line error for bytes that are not valid ``encoding``: at byte ``at`` of line ``line`` (counted in
    the file, a byte-order mark included), or, for codecs that do not say where, their own ``detail``."""
    latin = text_codec(encoding) == "iso8859-1"
    hint = hint or ("check the file" if latin else f"try {encoding_option('latin-1')} (or the file's real encoding)")
    place = f"({detail[:100]})" if detail else f"(byte {at}, line {line})"
    return RnnplayError(f"{where} is not valid {encoding} {place}; {hint}")


def text_codec(encoding: str) -> str:
    """The codec's name if ``encoding`` is one for text files, else a one-line error.

    Codecs that are not text encodings (rot13, zlib, base64) and those meant for domain
    names (idna, punycode: slow on anything long) are refused.
    """
    try:
        info = codecs.lookup(encoding)
    except (LookupError, ValueError, TypeError):
        info = None
    name = info.name if info is not None and getattr(info, "_is_text_encoding", True) else ""  # what str.decode asks
    if not name or name in ("idna", "punycode"):
        raise RnnplayError(f"unknown text encoding {encoding[:40]!r}; try {encoding_option('utf-8')} or latin-1")
    return name


def user_path(text: str) -> Path:
    """``text`` as a path with ``~`` expanded; left as it is when there is no such home folder."""
    try:
        return Path(text).expanduser()
    except RuntimeError:  # ~nosuchuser, or no HOME at all
        return Path(text)


def probe(path: Path) -> os.stat_result | None:
    """``path``'s status (symlinks followed), or None when nothing usable is there.

    Unlike ``Path.exists``, a name too long for the system or with a NUL in it is "nothing
    there" rather than an exception.
    """
    try:
        return path.stat()
    except (OSError, ValueError):
        return None


def nothing_at(path: Path, what: str) -> str:
    """Why :func:`probe` found nothing at ``path``: no such ``what``, or a symbolic link there that leads nowhere."""
    if os.path.lexists(path):
        return "a symbolic link that leads nowhere (its target is missing, or the links go round in a loop)"
    return f"no such {what}"


def is_folder(path: Path) -> bool:
    info = probe(path)
    return info is not None and stat.S_ISDIR(info.st_mode)


def is_regular(path: Path) -> bool:
    info = probe(path)
    return info is not None and stat.S_ISREG(info.st_mode)


def kind_of(mode: int) -> str:
    """What a non-regular file is, in a user's words."""
    kinds = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder"))
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def read_regular_file(path: Path, what: str = "file", limit: int | None = None) -> bytes:
    """The bytes of ``path`` if it is a regular file (after symlinks) of at most ``limit`` bytes, else one line.

    The file is opened without blocking and checked on the open descriptor, so a named pipe,
    a device or a socket is refused at once instead of blocking or streaming forever.
    """
    handle, info = open_regular(path, what, limit)
    with handle:
        try:
            return handle.read()
        except OSError as err:
            raise RnnplayError(f"cannot read {path}: {err.strerror}; check the file") from None
        except MemoryError:
            raise RnnplayError(f"{path} ({info.st_size:,} bytes) does not fit in the memory left; close other "
                               "programs or use a part of it") from None


def read_stream(stream: BinaryIO, where: str, encoding: str = "utf-8", instead: str = "give a part of it",
                held: int = STREAM_COPIES) -> str:
    """All of ``stream``'s text (a pipe, a terminal), read a block at a time (:func:`read_blocks`): one that would
    not fit in this process's memory is refused before it fills it, saying what to do ``instead``. It is weighed as
    it comes, as a file is before it is read (:mod:`~rnnplay.corpora.text_weight`), at
    :func:`~rnnplay.corpora.char_width.held_weight`: ``held`` bytes a byte while it is used (STREAM_COPIES while it
    is read: the blocks, joined, decoded into a str of one byte a character), and w - 1 bytes more a character when
    its widest character takes w bytes in a str (one emoji in an ASCII text makes each of its characters 4 bytes)."""
    blocks, size, (memory, whence) = [], 0, memory_room() or (0, "")
    shape = BytesShape(text_codec(encoding))
    for data in read_blocks(stream, where, encoding):
        blocks.append(data)
        size += len(data)
        shape.add(data)
        weight = held_weight(held, size, shape.width, shape.chars)
        if memory and weight > memory:
            raise RnnplayError(f"{where} has sent {size:,} bytes so far, and its text is held whole: about "
                               f"{weight:,} bytes while it is used ({held} a byte{wider(shape.width)}), more than the "
                               f"{memory:,} bytes of memory rnnplay may use now ({whence}); {address_space.advice()}"
                               f"{instead}")
    return decode(b"".join(blocks), where, encoding)


def read_blocks(stream: BinaryIO, where: str, encoding: str, block: int = 1 << 20) -> Iterator[bytes]:
    """``stream``'s bytes a block at a time, so that Ctrl-C lands between blocks; one that starts binary
    (``< /dev/zero``) is refused at its first block. A short read is the end (read again, a terminal would wait
    for a second ^D)."""
    data, wanted = stream.read(BINARY_SNIFF), BINARY_SNIFF
    check_not_binary(data, where, encoding)
    while True:
        yield data
        if len(data) < wanted:
            return
        data, wanted = stream.read(block), block


def open_regular(path: Path, what: str = "file", limit: int | None = None,
                 in_memory: bool = True) -> tuple[BinaryIO, os.stat_result]:
    """``path`` opened for reading and its status, if it is a regular file (after symlinks), else one line.

    Opened without blocking and checked on the open descriptor (see :func:`read_regular_file`).
    ``in_memory``: the file will be held in memory, so one larger than the machine's memory is refused too.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise RnnplayError(f"{path}: no such {what}; check the path") from None
    except IsADirectoryError:
        raise RnnplayError(f"{path} is a folder, not a {what}; give a {what}") from None
    except (OSError, ValueError) as err:  # ValueError: a NUL in the path
        raise RnnplayError(f"cannot read {path}: {getattr(err, 'strerror', None) or err}; check the path and "
                           "its permissions") from None
    info = os.fstat(fd)
    problem = _unreadable(info, what, limit, in_memory)
    if problem:
        os.close(fd)
        raise RnnplayError(f"{path} {problem}")
    return os.fdopen(fd, "rb"), info


def _unreadable(info: os.stat_result, what: str, limit: int | None, in_memory: bool) -> str:
    """Why a file with status ``info`` is not read (not regular, over ``limit``, over memory if held there), or ""."""
    if not stat.S_ISREG(info.st_mode):
        return f"is {kind_of(info.st_mode)}, not a regular {what}; give a regular file"
    if limit is not None and info.st_size > limit:
        return f"has {info.st_size:,} bytes, more than the {limit:,} a {what} may have; check that it is the right file"
    memory = usable_memory() if in_memory else None
    if memory and info.st_size > memory:
        return (f"has {info.st_size:,} bytes, more than the {memory:,} bytes of memory rnnplay may use here, and "
                f"this {what} is read into memory whole; use a part of it")
    return ""


def read_text_file(path: Path, encoding: str = "utf-8") -> str:
    """The text of ``path``, or a one-line error that says what is wrong with it."""
    check_text_path(path)
    return decode(read_regular_file(path), str(path), encoding)


def check_text_path(path: Path) -> None:
    """A one-line error when nothing is at ``path`` or it is a folder (what else it may be is checked on opening)."""
    if probe(path) is None:
        raise RnnplayError(f"{path}: {nothing_at(path, 'file')}; check the path (or give a corpus spec: "
                           "`rnnplay corpus list`)")
    if is_folder(path):
        raise RnnplayError(f"{path} is a folder; give a text file, or dir:{path} to use every file in it")


def check_text(text: str, name: str) -> str:
    """``text`` if a model can learn from it: not empty, at least two distinct characters."""
    if not text:
        raise empty_corpus(name)
    first = text[0]
    if text.count(first) == len(text):  # one C-level pass instead of building set(text)
        raise one_character(name, first)
    return text


def empty_corpus(name: str) -> RnnplayError:
    return RnnplayError(f"corpus {name} is empty; give a file with some text in it")


def one_character(name: str, char: str) -> RnnplayError:
    return RnnplayError(f"corpus {name} has fewer than two distinct characters (only {char!r}); there is nothing "
                        "to learn")


def text_sha256(text: str, chunk: int = 1 << 22) -> str:
    """sha256 of the UTF-8 encoding of ``text``, encoded a slice at a time (no full second copy)."""
    digest = hashlib.sha256()
    for start in range(0, len(text), chunk):
        digest.update(text[start : start + chunk].encode("utf-8"))
    return digest.hexdigest()
