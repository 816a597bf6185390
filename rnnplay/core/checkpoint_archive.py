"""The zip layer of a checkpoint: every claim a file makes is checked before it costs memory.

An ``.npz`` is a zip archive of ``.npy`` members. :func:`open_archive` refuses
anything that is not a regular file (a FIFO would block), then reads the zip's
end record and refuses a directory larger than a checkpoint ever needs before
:mod:`zipfile` parses it. :func:`member_headers` parses each member's ``.npy``
header straight from the member's stream (a few hundred bytes; no array data)
and refuses object (pickled) and structured dtypes and any member whose
uncompressed size in the zip directory differs from what its header says — so
a zip bomb, a header declaring 10¹² floats or a truncated member is refused from
its directory entry and header alone. :func:`read_member` then reads exactly the
bytes the header announced, in chunks (``numpy.lib.format.read_array`` on a
stream), and the zip layer checks the member's CRC.
"""

from __future__ import annotations

import contextlib
import math
import os
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from numpy.lib import format as npy

from rnnplay.core.errors import RnnplayError, flat

MAX_MEMBERS = 10_000  # a 64-layer model with its optimizer state and carried state has a few hundred
MAX_DIRECTORY_BYTES = 4 << 20  # the zip's central directory (about 100 bytes a member)
READABLE_COMPRESSION = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)  # np.savez, np.savez_compressed
NOT_ZIP = "not a zip archive"  # why a file that zipfile cannot open is no checkpoint, in the user's words
# What a damaged or hostile archive makes zipfile, zlib or numpy's header parser raise.
DAMAGE = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, NotImplementedError,
          RuntimeError, struct.error, zlib.error, OverflowError, SyntaxError)


@dataclass(frozen=True)
class Member:
    """One ``.npy`` member as its header describes it (no data read)."""

    key: str  # the name without ``.npy``, as np.load calls it
    info: zipfile.ZipInfo
    dtype: np.dtype
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@contextlib.contextmanager
def open_archive(path: Path, bad: str) -> Iterator[zipfile.ZipFile]:
    """The checkpoint at ``path`` as an open zip archive; ``bad`` starts every refusal."""
    with _open_regular_file(path) as f:
        try:
            magic = f.read(4)
        except OSError as err:
            raise RnnplayError(f"{path}: cannot read it ({err.strerror}); use another copy") from None
        if magic != b"PK\x03\x04":  # every .npz starts with a zip local header
            raise RnnplayError(f"{bad}: it is corrupt or truncated ({NOT_ZIP}); use another copy")
        _check_directory(f, bad)
        try:
            archive = zipfile.ZipFile(f)
        except DAMAGE as err:
            raise _damaged(bad, err) from None
        with archive:
            yield archive


def _open_regular_file(path: Path) -> BinaryIO:
    """Open ``path`` for reading without blocking on a FIFO; refuse anything but a regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise RnnplayError(f"{path}: no such file; check the path, or train one with `rnnplay train`") from None
    except OSError as err:
        raise RnnplayError(f"{path}: cannot open it ({err.strerror}); check the path and its permissions") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = "a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "a socket or device"
        raise RnnplayError(f"{path} is not a regular file but {kind}; give the path of a checkpoint file")
    return os.fdopen(fd, "rb")


def _check_directory(f: BinaryIO, bad: str) -> None:
    """Refuse a zip directory too large for a checkpoint before zipfile builds an object per entry."""
    try:
        end = zipfile._EndRecData(f)  # the end-of-directory record zipfile itself reads first
    except DAMAGE as err:
        raise _damaged(bad, err) from None
    if end is None:
        raise RnnplayError(f"{bad}: it is corrupt or truncated (no zip directory); use another copy")
    entries, size = end[zipfile._ECD_ENTRIES_TOTAL], end[zipfile._ECD_SIZE]
    if entries > MAX_MEMBERS or size > MAX_DIRECTORY_BYTES:
        raise RnnplayError(f"{bad}: its zip directory lists {entries:,} members in {size:,} bytes "
                           f"(a checkpoint has at most {MAX_MEMBERS:,}); it is damaged or not a checkpoint")


def member_headers(archive: zipfile.ZipFile, bad: str) -> dict[str, Member]:
    """Every member's ``.npy`` header, checked against its size in the zip directory."""
    members: dict[str, Member] = {}
    for info in archive.infolist():
        key = info.filename.removesuffix(".npy")
        if key in members:
            raise RnnplayError(f"{bad}: it holds the member {info.filename!r} twice; it is damaged or hostile")
        if info.flag_bits & 0x1 or info.compress_type not in READABLE_COMPRESSION:
            raise RnnplayError(f"{bad}: its member {info.filename!r} is encrypted or compressed in a way "
                               "numpy never writes; re-save it with rnnplay")
        members[key] = _header(archive, info, key, bad)
    return members


def _header(archive: zipfile.ZipFile, info: zipfile.ZipInfo, key: str, bad: str) -> Member:
    try:
        with archive.open(info) as stream:
            version = npy.read_magic(stream)
            if version not in ((1, 0), (2, 0)):
                raise ValueError(f".npy format version {version}")
            read_header = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
            shape, _, dtype = read_header(stream)
            header_bytes = stream.tell()
    except DAMAGE as err:
        raise RnnplayError(f"{bad}: its member {key} has no readable array header "
                           f"({_reason(err)}); it is corrupt or truncated") from None
    if dtype.hasobject:
        raise RnnplayError(f"{bad}: it holds pickled objects ({key}), which rnnplay never loads")
    member = Member(key, info, dtype, tuple(shape))
    if info.file_size != header_bytes + member.size * dtype.itemsize:
        raise RnnplayError(f"{bad}: its member {key} is {info.file_size:,} bytes uncompressed but its header "
                           f"announces {member.shape} {dtype}; it is damaged or hostile")
    return member


def read_member(archive: zipfile.ZipFile, member: Member, bad: str) -> np.ndarray:
    """The array of ``member``: exactly the bytes its (checked) header announced."""
    try:
        with archive.open(member.info) as stream:
            array = npy.read_array(stream, allow_pickle=False)
            stream.read(1)  # reach the end of the member, where zipfile checks its CRC
    except DAMAGE as err:
        raise _damaged(bad, err) from None
    return array


def _damaged(bad: str, err: BaseException) -> RnnplayError:
    return RnnplayError(f"{bad}: it is corrupt or truncated ({_reason(err)}); use another copy")


def _reason(err: BaseException) -> str:
    """A short, one-line reason from a library's exception."""
    if isinstance(err, zipfile.BadZipFile):
        return NOT_ZIP
    text = flat(err)
    return f"{err.__class__.__name__}: {text[:120]}" if text else err.__class__.__name__
