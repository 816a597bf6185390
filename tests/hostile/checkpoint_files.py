"""Valid and hostile checkpoint files: for the checkpoint table, its fuzz and its memory test.

``write_checkpoint`` saves a tiny resumable LSTM the way ``rnnplay train`` does
(parameters, Adam's two slots, the carried state); ``rewrite`` changes its
metadata or members; ``write_zip`` writes a zip archive byte by byte, so that a
row can lie in the zip directory, and ``zero_bomb`` a member that inflates to
gigabytes of zeros from a few megabytes (a deflate block of 1 MiB of zeros
repeated: deflating the zeros for real would take seconds).
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rnnplay.core.checkpoint import save_checkpoint
from rnnplay.core.model import Model
from rnnplay.core.vocab import Vocab
from rnnplay.plugins.host import get_host

VOCAB = "\n abcdef"
HIDDEN, BATCH = 8, 2


def tiny_model(layers: int = 1) -> Model:
    return Model(get_host().cell("lstm"), Vocab(tuple(VOCAB)), HIDDEN, layers, seed=1)


def write_checkpoint(path: Path, layers: int = 1) -> Path:
    """A resumable checkpoint of a tiny LSTM: parameters, Adam's m and v, the carried (h, c)."""
    model = tiny_model(layers)
    arrays = {f"opt/{slot}/{k}": np.full_like(v, 0.01) for slot in ("m", "v") for k, v in model.params.items()}
    arrays.update({f"state/{i}/{k}": np.zeros((BATCH, HIDDEN), np.float32) for i in range(layers) for k in (0, 1)})
    training = {"config": {"batch_size": BATCH, "seq_length": 8, "optimizer": "adam", "lr": 0.004, "steps": 3},
                "step": 3, "optimizer_t": 3, "data": {"epoch": 0, "position": 2},
                "rng": np.random.default_rng(0).bit_generator.state,
                "history": {"steps": [1, 2, 3], "losses": [2.1, 2.0, 1.9], "val_steps": [], "val_losses": []}}
    return save_checkpoint(path, model, training=(training, arrays))


def read_members(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def write_members(path: Path, members: dict[str, Any], compressed: bool = False) -> None:
    with path.open("wb") as f:
        (np.savez_compressed if compressed else np.savez)(f, **members)


def rewrite(path: Path, meta: Callable[[dict], Any] | None = None,
            arrays: dict[str, Callable[[np.ndarray], Any]] | None = None,
            drop: tuple[str, ...] = (), add: dict[str, Any] | None = None) -> None:
    """Change a checkpoint in place: its metadata, some members (a function of the old array), more or fewer."""
    members = read_members(path)
    data = json.loads(str(members["__meta__"]))
    if meta is not None:
        data = meta(data) or data  # change in place, or return a replacement
    members["__meta__"] = np.array(json.dumps(data))
    for key, change in (arrays or {}).items():
        members[key] = change(members[key])
    for key in drop:
        del members[key]
    write_members(path, {**members, **(add or {})})


def npy_bytes(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.lib.format.write_array(out, array, allow_pickle=False)
    return out.getvalue()


def npy_header(shape: tuple[int, ...], dtype: str = "<f4") -> bytes:
    """The ``.npy`` header of an array of ``shape`` (version 1.0), without its data."""
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(out, {"descr": dtype, "fortran_order": False, "shape": shape})
    return out.getvalue()


@dataclass
class Entry:
    """One member of a hand-written zip archive; ``file_size`` may lie about the data."""

    name: str
    data: bytes  # as stored (already deflated when method is ZIP_DEFLATED)
    file_size: int | None = None  # uncompressed size claimed in both headers (default: len(data))
    method: int = zipfile.ZIP_STORED
    flags: int = 0
    crc: int | None = None  # default: the CRC of data (right for stored members)


def write_zip(path: Path, entries: list[Entry]) -> None:
    local, central = io.BytesIO(), io.BytesIO()
    for e in entries:
        name = e.name.encode()
        size = len(e.data) if e.file_size is None else e.file_size
        crc = zlib.crc32(e.data) if e.crc is None else e.crc
        fields = (e.flags, e.method, 0, 0x21, crc, len(e.data), size, len(name))
        central.write(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, *fields, 0, 0, 0, 0, 0, local.tell()))
        central.write(name)
        local.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, *fields, 0) + name + e.data)
    directory = central.getvalue()
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(directory), local.tell(), 0)
    path.write_bytes(local.getvalue() + directory + end)


def zero_bomb(header: bytes, uncompressed: int) -> bytes:
    """A raw deflate stream of ``header`` followed by zeros, ``uncompressed`` bytes in all."""
    block = 1 << 20
    squeeze = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = squeeze.compress(header + bytes(block - len(header))) + squeeze.flush(zlib.Z_FULL_FLUSH)
    repeated = squeeze.compress(bytes(block)) + squeeze.flush(zlib.Z_FULL_FLUSH)  # the same bytes every time
    whole, rest = divmod(uncompressed - block, block)
    tail = squeeze.compress(bytes(rest)) + squeeze.flush()
    return first + repeated * whole + tail
