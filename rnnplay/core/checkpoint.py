"""Checkpoints: one ``.npz`` file per model (format documented in docs/checkpoint-format.md).

* ``__meta__``: a 0-d unicode array holding one JSON object (format, version,
  cell and the distribution that provides it, sizes, vocabulary, training state…)
* ``param/<name>``: every parameter under its stable name (``layers.0.W_xh``, …)
* ``opt/<slot>/<name>``: optimizer state; ``state/<layer>/<k>``: carried hidden state

Loading validates first and allocates after, so a hostile file costs nothing
beyond what a legal model of its declared sizes would: the zip directory and
every member's ``.npy`` header are checked (:mod:`.checkpoint_archive`), then
the metadata against the hard limits of :mod:`.limits`, then every member's
name, dtype and shape against what the cell creates for those sizes (asked of
the cell on tiny sizes, never at full size) — and only then are the arrays read,
refused if they hold NaN or infinity, and the model built from them. Nothing is
ever unpickled. Saving is atomic: write a temporary file in the same folder,
fsync, rename over the old one; temporary files left by a killed save are
removed by the next save to the same path.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from rnnplay.core.atomic_write import put_new, write_atomically
from rnnplay.core.cells.base import Cell
from rnnplay.core.checkpoint_archive import Member, member_headers, open_archive, read_member
from rnnplay.core.errors import RnnplayError, printable
from rnnplay.core.limits import MAX_PARAMS, check_model_size, check_state_size
from rnnplay.core.model import Model
from rnnplay.core.param_shapes import param_shapes
from rnnplay.core.plugin_record import Provider, installed_version, plugins_meta, read_providers, shell_quoted
from rnnplay.core.train_config import ModelSpec
from rnnplay.core.vocab import Vocab

FORMAT = "rnnplay-checkpoint"
VERSION = 1
FLOAT_DTYPES = ("float16", "float32", "float64")
MAX_META_CHARS = 4_000_000  # the metadata's JSON; a long run's loss history is thinned to fit
MAX_OPT_SLOTS = 4  # Adam keeps two (m, v)
MEMBER_NAME = re.compile(r"(__meta__|param/[^/]{1,200}|opt/[^/]{1,40}/[^/]{1,200}|state/\d{1,4}/\d{1,4})\.npy")
MEMBER_KINDS = {"param": "parameter", "opt": "optimizer state", "state": "carried state"}
CellResolver = Callable[[str, "str | None", "Provider | None"], Cell]  # name, cell_plugin, plugins.cell


@dataclass
class Checkpoint:
    model: Model
    meta: dict[str, Any]
    arrays: dict[str, np.ndarray]  # everything but the parameters (optimizer, carried state)
    sha256: str | None = None  # of the file's bytes as read, when asked for (load_checkpoint's with_sha256)

    @property
    def training(self) -> dict[str, Any] | None:
        return self.meta.get("training")


@dataclass(frozen=True)
class StoredModel:
    """What the metadata says the model is, checked against the hard limits: its shape and what goes with it."""

    spec: ModelSpec
    cell_plugin: str | None  # the distribution that provides the cell (None: built in)
    cell_provider: Provider | None  # that distribution and its version, when it was installed (plugins.cell)
    vocab: Vocab
    dtype: np.dtype


# -- saving ------------------------------------------------------------------------------
def save_checkpoint(
    path: str | os.PathLike[str],
    model: Model,
    *,
    cell_plugin: str | None = None,
    cell_provider: Provider | None = None,
    training: tuple[dict[str, Any], dict[str, np.ndarray]] | None = None,
    extra: dict[str, Any] | None = None,
    dtype: str | None = None,
    replace: bool = True, fix: str | None = None,
) -> Path:
    """Write ``model`` (and optionally a trainer's state) atomically to ``path``.

    A write that fails is one line, ``cannot write PATH: REASON``, ending ``; FIX`` when ``fix`` (what to do) is given;
    callers that go on to a rescue copy say what happens next themselves.

    ``replace=False``: a file that appears at ``path`` while this one is written (another process saving the
    same name) is kept, and this save fails in one line, instead of the rename replacing it.

    ``dtype`` ("float16") stores the parameters at a lower precision to halve the
    file; they are cast back to the model's own dtype when loaded. Weights that
    are NaN or infinite (or become so in ``dtype``) are refused: the previous
    file at ``path`` stays as it was.
    """
    path = Path(path)
    meta: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "cell": model.cell.name,
        "cell_plugin": cell_plugin,
        "plugins": plugins_meta({"cell": cell_provider} if cell_provider is not None else {}),
        "vocab": "".join(model.vocab.chars),
        "hidden_size": model.hidden_size,
        "num_layers": model.num_layers,
        "dropout": model.dropout,
        "dtype": model.dtype.name,
    }
    params = {f"param/{k}": v for k, v in model.params.items()}
    train_arrays: dict[str, np.ndarray] = {}
    if training is not None:
        meta["training"], train_arrays = training
    meta.update(extra or {})
    _refuse_nonfinite(path, {**params, **train_arrays})
    if dtype is not None:
        with np.errstate(over="ignore"):  # a weight beyond float16's range becomes inf, refused just below
            params = {k: v.astype(dtype, copy=False) for k, v in params.items()}
        _refuse_nonfinite(path, params, f" once stored as {dtype} (beyond its range)")
    meta_text = np.array(_metadata_text(path, meta))
    _write_atomically(path, {**params, **train_arrays, "__meta__": meta_text}, replace, fix)
    return path


def _refuse_nonfinite(path: Path, arrays: dict[str, np.ndarray], why: str = "") -> None:
    for key, array in arrays.items():
        if not np.isfinite(array).all():
            raise RnnplayError(f"not saving {path}: its {_described(key)} holds NaN or infinite values{why}; "
                               "the file there (if any) is unchanged")


def _metadata_text(path: Path, meta: dict[str, Any]) -> str:
    """The metadata as JSON within MAX_META_CHARS, keeping every other step of a long loss history."""
    meta = dict(meta)
    histories = []
    for key in ("training", "trained"):  # a run's state, or the summary `rnnplay export` keeps
        part = meta.get(key)
        if isinstance(part, dict) and isinstance(part.get("history"), dict):
            histories.append(dict(part["history"]))  # a thinned copy; the trainer keeps its own whole
            meta[key] = {**part, "history": histories[-1]}
    text = json.dumps(meta)
    while len(text) > MAX_META_CHARS and any(_thinnable(h) for h in histories):
        for history in filter(_thinnable, histories):
            history["steps"], history["losses"] = history["steps"][::2], list(history.get("losses") or [])[::2]
        text = json.dumps(meta)
    if len(text) > MAX_META_CHARS:
        raise RnnplayError(f"cannot save {path}: its metadata is {len(text):,} characters "
                           f"(at most {MAX_META_CHARS:,}); shorten what was passed as extra metadata")
    return text


def _thinnable(history: dict[str, Any]) -> bool:
    return isinstance(history.get("steps"), list) and len(history["steps"]) > 1


def _write_atomically(path: Path, arrays: dict[str, np.ndarray], replace: bool = True, fix: str | None = None) -> None:
    """The arrays as an ``.npz`` written whole or not at all (:func:`write_atomically`); with ``replace=False``
    put at ``path`` only if nothing is there (:func:`~rnnplay.core.atomic_write.put_new`)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RnnplayError(f"cannot write {path}: {err.strerror}; {fix or 'choose another folder'}") from None
    write_atomically(path, lambda f: np.savez(f, **arrays), fix=fix, put=os.replace if replace else put_new)


# -- loading -----------------------------------------------------------------------------


def load_checkpoint(path: str | os.PathLike[str], resolve_cell: CellResolver, *,
                    training_state: bool = True, with_sha256: bool = False) -> Checkpoint:
    """Load and validate a checkpoint; ``resolve_cell(name, plugin, provider)`` finds the cell by name.

    With ``training_state=False`` the optimizer and carried state are checked but not
    read (``arrays`` is empty): all that sampling, scoring or exporting needs. With
    ``with_sha256`` the file's sha256 is taken from the same open file, so that it names
    the bytes loaded even when the path is given another file later.
    """
    path = Path(path)
    bad = f"{path} is not a usable rnnplay checkpoint"
    with open_archive(path, bad) as archive:
        _refuse_unknown_members(archive, bad)
        members = member_headers(archive, bad)
        meta = _read_meta(archive, members.pop("__meta__", None), path, bad)
        stored = stored_model(meta, bad)
        spec = stored.spec
        cell = resolve_cell(spec.cell, stored.cell_plugin, stored.cell_provider)
        shapes = param_shapes(cell, spec, len(stored.vocab), stored.cell_plugin)
        _check_params(members, shapes, stored, path)
        _check_optimizer_state(members, shapes, bad)
        _check_carried_state(members, cell, spec, bad)
        wanted = {k: m for k, m in members.items() if training_state or k.startswith("param/")}
        arrays = {key: _read_finite(archive, member, bad) for key, member in wanted.items()}
        sha256 = _sha256(archive.fp, bad) if with_sha256 and archive.fp is not None else None
    params = {k.removeprefix("param/"): arrays.pop(k) for k in list(arrays) if k.startswith("param/")}
    params = {k: np.ascontiguousarray(v, dtype=stored.dtype) for k, v in params.items()}
    model = Model(cell, stored.vocab, spec.hidden, spec.layers, spec.dropout, dtype=stored.dtype, params=params)
    return Checkpoint(model, meta, arrays, sha256)


def _sha256(f: IO[bytes], bad: str) -> str:
    """The sha256 of the whole open file ``f``, read from its start."""
    try:
        f.seek(0)
        return hashlib.file_digest(f, "sha256").hexdigest()
    except OSError as err:
        raise RnnplayError(f"{bad}: cannot read it ({err.strerror}); use another copy") from None


def _refuse_unknown_members(archive: zipfile.ZipFile, bad: str) -> None:
    for name in archive.namelist():
        if not MEMBER_NAME.fullmatch(name):
            shown = repr(name) if len(name) <= 80 else repr(name[:80]) + "…"
            raise RnnplayError(f"{bad}: it holds an unknown member {shown} (a checkpoint holds only "
                               "__meta__, param/…, opt/… and state/… arrays)")


def _read_meta(archive: zipfile.ZipFile, member: Member | None, path: Path, bad: str) -> dict[str, Any]:
    if member is None or member.dtype.kind != "U" or member.shape != ():
        raise RnnplayError(f"{bad}: it has no rnnplay metadata")
    if member.dtype.itemsize // 4 > MAX_META_CHARS:
        raise RnnplayError(f"{bad}: its metadata declares {member.dtype.itemsize // 4:,} characters "
                           f"(at most {MAX_META_CHARS:,}); it is damaged or hostile")
    text = str(read_member(archive, member, bad)[()])
    try:
        meta = json.loads(text)
    except (ValueError, RecursionError):
        raise RnnplayError(f"{bad}: its metadata is not valid JSON") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise RnnplayError(f"{bad}: its metadata does not say format={FORMAT!r}")
    if meta.get("version") != VERSION:
        shown = printable(str(meta.get("version"))[:40])  # one line, whatever the file says
        raise RnnplayError(f"{path} has checkpoint version {shown}; this rnnplay reads version {VERSION}")
    return meta


def stored_model(meta: dict[str, Any], bad: str) -> StoredModel:
    """The model the metadata describes, or one line naming the field that is wrong."""
    cell, plugin, vocab = meta.get("cell"), meta.get("cell_plugin"), meta.get("vocab")
    dropout, dtype = meta.get("dropout", 0.0), meta.get("dtype", "float32")
    if not (isinstance(cell, str) and 0 < len(cell) <= 100
            and (plugin is None or (isinstance(plugin, str) and 0 < len(plugin) <= 100 and plugin.isprintable()))):
        raise RnnplayError(f"{bad}: bad metadata (cell {str(cell)[:40]!r} from {str(plugin)[:40]!r})")
    if not isinstance(vocab, str) or len(vocab) < 2 or len(set(vocab)) != len(vocab) or not _encodable(vocab):
        raise RnnplayError(f"{bad}: bad metadata (its vocabulary must be a string of at least two "
                           "distinct characters, none of them an unpaired surrogate)")
    hidden, layers, _ = check_model_size(meta.get("hidden_size"), meta.get("num_layers"), len(vocab),
                                         where=f"{bad}: impossible sizes in its metadata",
                                         advice="the file is damaged or was not written by rnnplay")
    if isinstance(dropout, bool) or not isinstance(dropout, int | float) or not 0 <= dropout < 1:
        raise RnnplayError(f"{bad}: bad metadata (dropout {printable(str(dropout)[:40])} is not a number in [0, 1))")
    if dtype not in FLOAT_DTYPES:
        raise RnnplayError(f"{bad}: bad metadata (dtype {str(dtype)[:40]!r} is not one of {', '.join(FLOAT_DTYPES)})")
    try:
        spec = ModelSpec(cell, layers, hidden, float(dropout))
    except RnnplayError as err:  # a cell named by spaces alone, say
        raise RnnplayError(f"{bad}: bad metadata ({err})") from None
    provider = read_providers(meta, bad).get("cell")
    return StoredModel(spec, plugin, provider, Vocab(tuple(vocab)), np.dtype(dtype))


def _encodable(text: str) -> bool:
    """No unpaired surrogates (U+D800-U+DFFF): no corpus yields them, and they cannot be printed."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# -- members against the model ------------------------------------------------------------
def _is_float(member: Member) -> bool:
    return member.dtype.kind == "f" and member.dtype.name in FLOAT_DTYPES


def _check_params(members: dict[str, Member], shapes: dict[str, tuple[int, ...]], model: StoredModel,
                  path: Path) -> None:
    spec = model.spec
    stored = {k.removeprefix("param/"): m for k, m in members.items() if k.startswith("param/")}
    missing, extra = sorted(set(shapes) - set(stored)), sorted(set(stored) - set(shapes))
    if missing or extra:
        raise RnnplayError(_mismatch(path, model, missing, extra))
    for name, expected in shapes.items():
        got = stored[name]
        if got.shape != expected or not _is_float(got):
            raise RnnplayError(f"{path}: parameter {name} has shape {got.shape} {got.dtype}, "
                               f"expected {expected} float")
    total = sum(math.prod(shape) for shape in shapes.values())
    if total > MAX_PARAMS:
        raise RnnplayError(f"{path}: its {spec.cell} model has {total:,} parameters (at most {MAX_PARAMS:,})")


def _mismatch(path: Path, model: StoredModel, missing: list[str], extra: list[str]) -> str:
    """The line for parameters that are not the cell's: what the file has that the cell does not take, what it lacks;
    for a plugin's cell, the version it was saved with beside the installed one and how to get the first back."""
    spec, plugin, saved = model.spec, model.cell_plugin, model.cell_provider
    what = "; ".join(([f"it has {_names(extra)}, which the cell does not take"] if extra else [])
                     + ([f"it lacks {_names(missing)}, which the cell needs"] if missing else []))
    if plugin is None:
        return f"{path} does not match a {spec.layers}-layer {spec.cell} of size {spec.hidden}: {what}"
    now = installed_version(plugin)  # '?': registered in code, or gone
    versions = ", ".join(([f"saved with {saved.version}"] if saved else [])
                         + ([f"{now} installed"] if now != "?" else []))
    fix = (f"`rnnplay plugins install {shell_quoted(saved.requirement)}` installs the version it was saved with"
           if saved is not None and saved.version != now else f"install the version of {plugin} it was saved with")
    return (f"{path}: its parameters do not match the cell {spec.cell!r} from the plugin {plugin}"
            f"{f' ({versions})' if versions else ''}: {what}: {fix}")


def _names(keys: list[str]) -> str:
    """'layers.0.b, layers.1.b' or, past five, the first five and how many more."""
    more = f" and {len(keys) - 5} more" if len(keys) > 5 else ""
    return ", ".join(keys[:5]) + more


def _check_optimizer_state(members: dict[str, Member], shapes: dict[str, tuple[int, ...]], bad: str) -> None:
    slots: dict[str, set[str]] = {}
    for key, member in members.items():
        if key.startswith("opt/"):
            _, slot, name = key.split("/", 2)
            if name not in shapes or member.shape != shapes[name] or not _is_float(member):
                raise RnnplayError(f"{bad}: its optimizer state {key} ({member.shape} {member.dtype}) "
                                   "fits no parameter of the model")
            slots.setdefault(slot, set()).add(name)
    if len(slots) > MAX_OPT_SLOTS:
        raise RnnplayError(f"{bad}: its optimizer state has {len(slots)} slots (at most {MAX_OPT_SLOTS})")
    for slot, names in slots.items():
        if names != set(shapes):
            raise RnnplayError(f"{bad}: its optimizer state {slot} lacks {sorted(set(shapes) - names)[0]}")


def _check_carried_state(members: dict[str, Member], cell: Cell, spec: ModelSpec, bad: str) -> None:
    state = {k: m for k, m in members.items() if k.startswith("state/")}
    if not state:
        return
    expected = {f"state/{i}/{k}" for i in range(spec.layers) for k in range(cell.state_size)}
    if set(state) != expected:
        odd = sorted(set(state) ^ expected)[0]
        raise RnnplayError(f"{bad}: its carried state does not fit a {spec.layers}-layer {spec.cell} "
                           f"({odd} is {'missing' if odd in expected else 'unexpected'})")
    batches = {m.shape[0] if len(m.shape) == 2 else -1 for m in state.values()}
    batch = batches.pop()
    if batches or batch < 1 or not all(m.shape == (batch, spec.hidden) and _is_float(m) for m in state.values()):
        raise RnnplayError(f"{bad}: its carried state is not {len(state)} float arrays of one shape "
                           f"(batch, {spec.hidden})")
    check_state_size(batch, spec.hidden, spec.layers, cell.state_size, where=f"{bad}: its carried state",
                     advice="the file is damaged or was not written by rnnplay")


def _read_finite(archive: zipfile.ZipFile, member: Member, bad: str) -> np.ndarray:
    array = read_member(archive, member, bad)
    if not np.isfinite(array).all():
        raise RnnplayError(f"{bad}: its {_described(member.key)} holds NaN or infinite values; "
                           "use an earlier checkpoint")
    return array


def _described(key: str) -> str:
    """``param/head.b_y`` as "parameter head.b_y", and so on."""
    kind, _, name = key.partition("/")
    return f"{MEMBER_KINDS[kind]} {name}"
