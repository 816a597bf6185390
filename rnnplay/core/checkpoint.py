"""Checkpoints: one ``.npz`` file per model (format documented in docs/checkpoint-format.md).

* ``__meta__``: a 0-d unicode array holding one JSON object (format, version,
  cell and the distribution that provides it, sizes, vocabulary, training state…)
* ``param/<name>``: every parameter under its stable name (``layers.0.W_xh``, …)
* ``opt/<slot>/<name>``: optimizer state; ``state/<layer>/<k>``: carried hidden state

Loading never unpickles (``allow_pickle=False``) and checks every name, shape
and dtype against what the cell would create, so a corrupt, truncated,
wrong-shaped or hostile file is refused with one line. Saving is atomic: write a
temporary file in the same folder, fsync, rename over the old one.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import RnnplayError
from .cells.base import Cell
from .model import Model
from .vocab import Vocab

FORMAT = "rnnplay-checkpoint"
VERSION = 1
MAX_HIDDEN, MAX_LAYERS = 1 << 16, 64  # refuse metadata that would allocate absurd models
CellResolver = Callable[[str, "str | None"], Cell]


@dataclass
class Checkpoint:
    model: Model
    meta: dict[str, Any]
    arrays: dict[str, np.ndarray]  # everything but the parameters (optimizer, carried state)

    @property
    def training(self) -> dict[str, Any] | None:
        return self.meta.get("training")


def save_checkpoint(
    path: str | os.PathLike[str],
    model: Model,
    *,
    cell_plugin: str | None = None,
    training: tuple[dict[str, Any], dict[str, np.ndarray]] | None = None,
    extra: dict[str, Any] | None = None,
    dtype: str | None = None,
) -> Path:
    """Write ``model`` (and optionally a trainer's state) atomically to ``path``.

    ``dtype`` ("float16") stores the parameters at a lower precision to halve the
    file; they are cast back to the model's own dtype when loaded.
    """
    path = Path(path)
    meta: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "cell": model.cell.name,
        "cell_plugin": cell_plugin,
        "vocab": "".join(model.vocab.chars),
        "hidden_size": model.hidden_size,
        "num_layers": model.num_layers,
        "dropout": model.dropout,
        "dtype": model.dtype.name,
    }
    arrays = {f"param/{k}": v.astype(dtype or v.dtype, copy=False) for k, v in model.params.items()}
    if training is not None:
        meta["training"], train_arrays = training
        arrays.update(train_arrays)
    meta.update(extra or {})
    arrays["__meta__"] = np.array(json.dumps(meta))
    folder = path.parent if str(path.parent) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as err:
        raise RnnplayError(f"cannot write {path}: {err.strerror}; choose another --out folder") from None
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp makes 0600; a saved model gets the usual permissions
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(folder)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise RnnplayError(f"cannot write {path}: {err.strerror or err}") from None
        raise
    return path


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_meta(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The metadata and all arrays of a checkpoint, validated only as far as the file format."""
    path = Path(path)
    bad = f"{path} is not a usable rnnplay checkpoint"
    if not path.exists():
        raise RnnplayError(f"{path}: no such file; check the path, or train one with `rnnplay train`")
    if path.is_dir():
        raise RnnplayError(f"{path} is a folder, not a checkpoint file")
    with path.open("rb") as f:
        magic = f.read(4)
    if magic != b"PK\x03\x04":  # every .npz is a zip file
        raise RnnplayError(f"{bad}: it is corrupt or truncated (not a zip archive); use another copy")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except ValueError as err:
        if "pickle" in str(err):
            raise RnnplayError(f"{bad}: it holds pickled objects, which rnnplay never loads") from None
        raise RnnplayError(f"{bad} ({err}); re-save or re-train it") from None
    except (zipfile.BadZipFile, OSError, EOFError, KeyError) as err:
        raise RnnplayError(f"{bad}: it is corrupt or truncated ({err.__class__.__name__}); use another copy") from None
    raw = arrays.pop("__meta__", None)
    if raw is None or raw.dtype.kind != "U" or raw.shape != ():
        raise RnnplayError(f"{bad}: it has no rnnplay metadata")
    try:
        meta = json.loads(str(raw))
    except json.JSONDecodeError:
        raise RnnplayError(f"{bad}: its metadata is not valid JSON") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise RnnplayError(f"{bad}: its metadata does not say format={FORMAT!r}")
    if meta.get("version") != VERSION:
        raise RnnplayError(f"{path} has checkpoint version {meta.get('version')}; this rnnplay reads version {VERSION}")
    return meta, arrays


def load_checkpoint(path: str | os.PathLike[str], resolve_cell: CellResolver) -> Checkpoint:
    """Load and validate a checkpoint; ``resolve_cell(name, plugin)`` finds the cell by name."""
    meta, arrays = read_meta(path)
    try:
        vocab = Vocab(tuple(meta["vocab"]))
        hidden, layers = int(meta["hidden_size"]), int(meta["num_layers"])
        dropout, dtype = float(meta.get("dropout", 0.0)), np.dtype(meta.get("dtype", "float32"))
        cell_name = str(meta["cell"])
    except (KeyError, TypeError, ValueError) as err:
        raise RnnplayError(f"{path} is not a usable rnnplay checkpoint: bad metadata ({err})") from None
    sizes_ok = 1 <= hidden <= MAX_HIDDEN and 1 <= layers <= MAX_LAYERS and dtype.kind == "f"
    if len(vocab) < 2 or len(set(vocab.chars)) != len(vocab) or not sizes_ok:
        raise RnnplayError(f"{path} is not a usable rnnplay checkpoint: impossible sizes in its metadata")
    cell = resolve_cell(cell_name, meta.get("cell_plugin"))
    template = Model(cell, vocab, hidden, layers, dropout, dtype=dtype)
    params = {k[6:]: arrays.pop(k) for k in list(arrays) if k.startswith("param/")}
    missing = sorted(set(template.params) - set(params))
    extra = sorted(set(params) - set(template.params))
    if missing or extra:
        what = f"missing {', '.join(missing)}" if missing else f"unexpected {', '.join(extra)}"
        raise RnnplayError(f"{path} does not match a {layers}-layer {cell_name} of size {hidden}: {what}")
    for name, expected in template.params.items():
        got = params[name]
        if got.shape != expected.shape or got.dtype.kind != "f":
            raise RnnplayError(
                f"{path}: parameter {name} has shape {got.shape} {got.dtype}, expected {expected.shape} float"
            )
        params[name] = np.ascontiguousarray(got, dtype=dtype)
    model = Model(cell, vocab, hidden, layers, dropout, dtype=dtype, params=params)
    return Checkpoint(model, meta, arrays)
