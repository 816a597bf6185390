"""The model library: checkpoints in rnnplay's data folder, found by name and listed from their metadata alone.

``/load NAME`` finds ``NAME`` or ``NAME.npz`` in ``<data folder>/models`` (the
bundled model answers to ``shakespeare``); ``/models`` and ``rnnplay models`` list
them. Listing reads only each file's ``__meta__.npy`` member (the weights stay on
disk), after checking its size and header, so a large or hostile file costs
nothing. ``/train`` saves new checkpoints here under names that never replace an
existing file: readme.npz, then readme-2.npz, readme-3.npz, …
"""

from __future__ import annotations

import datetime
import fcntl
import io
import json
import os
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.cells import cell_len

from rnnplay.core.checkpoint import FORMAT
from rnnplay.core.checkpoint_archive import NOT_ZIP
from rnnplay.core.errors import RnnplayError, printable
from rnnplay.core.limits import check_model_size
from rnnplay.core.model import Model
from rnnplay.core.params import did_you_mean
from rnnplay.core.plugin_record import Provider, installed_version, read_providers
from rnnplay.folders import data_dir
from rnnplay.models.bundled import BUNDLED_MODEL, load_model
from rnnplay.plugins.discovery import install_hint
from rnnplay.plugins.host import loaded_host
from rnnplay.plugins.unloaded import CellsWithoutImport

BUNDLED_NAME = BUNDLED_MODEL.stem  # "shakespeare"
META_MEMBER = "__meta__.npy"
MAX_META_BYTES = 64 << 20  # a long run's loss history is the largest part of the metadata
CORPUS_WIDTH = 24  # a longer corpus name keeps its end in the table


def models_dir() -> Path:
    """Where /train saves and /load NAME looks: <data folder>/models."""
    return data_dir() / "models"


@dataclass(frozen=True)
class ModelEntry:
    """One checkpoint as /models lists it; ``problem`` says why a file that is there cannot be read."""

    name: str
    path: Path
    cell: str = "?"
    layers: int | None = None
    hidden: int | None = None
    corpus: str = "?"
    val_loss: float | None = None
    date: str = ""
    problem: str | None = None
    needs: str | None = None  # the plugin of its cell, not loaded now ('?': a cell that no plugin provides)
    provider: Provider | None = None  # the distribution and version its cell came from, when it was recorded
    unchecked: bool = False  # a plugin's cell, its plugin not named in the file: loading it tells whether one has it

    @property
    def size(self) -> str:
        """'2×512' (layers × hidden units)."""
        return f"{self.layers}×{self.hidden}" if self.layers and self.hidden else "?"

    def row(self) -> tuple[str, str, str, str, str, str]:
        """(name, cell, size, corpus, validation loss, date) as text."""
        if self.problem:  # the whole reason is long for a table: loading it gives it
            return printable(self.name), "-", "-", "unreadable (loading it says why)", "", self.date
        val = f"{self.val_loss:.3f}" if self.val_loss is not None else "n/a"
        corpus = printable(self.corpus)  # escaped first, so that the cut below keeps the table's width
        corpus = corpus if len(corpus) <= CORPUS_WIDTH else "…" + corpus[-(CORPUS_WIDTH - 1):]
        cell = printable(self.cell) + (f" (needs {printable(self.needs)})" if self.needs else
                                       " (plugin cell)" if self.unchecked else "")
        return printable(self.name), cell, self.size, corpus, val, self.date


HEADER = ("NAME", "CELL", "SIZE", "CORPUS", "VAL LOSS", "DATE")


def model_table(entries: list[ModelEntry], current: Path | None = None) -> list[str]:
    """Aligned lines, a header first; with ``current``, a '*' column marks the entry at that path."""
    rows = [HEADER, *(e.row() for e in entries)]
    widths = [max(cell_len(row[i]) for row in rows) for i in range(len(HEADER))]  # columns a terminal draws
    lines = ["  ".join(cell + " " * (w - cell_len(cell)) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    if current is not None:
        here = current.resolve()
        marks = [" ", *("*" if e.path.resolve() == here else " " for e in entries)]
        lines = [f"{mark} {line}" for mark, line in zip(marks, lines, strict=True)]
    needed = [e for e in entries if e.needs]
    if needed:
        lines.append(f"a model marked (needs PLUGIN) has a cell that no loaded plugin provides: {needs_hint(needed)}")
    if any(e.unchecked for e in entries):
        lines.append("a model marked (plugin cell) does not name its plugin: loading it says whether an installed "
                     "plugin provides that cell")
    return lines


def needs_hint(needed: list[ModelEntry]) -> str:
    """What to do for models whose cells come from plugins not loaded now: install those that are not installed
    (one named, with the version its models were saved with when they agree; else PLUGIN); a plugin that is
    installed but not loaded is in `rnnplay plugins`."""
    missing = sorted({e.needs for e in needed if e.needs and e.needs != "?" and installed_version(e.needs) == "?"})
    if len(missing) == 1:
        versions = {e.provider for e in needed if e.needs == missing[0]}
        return install_hint(missing[0], versions.pop() if len(versions) == 1 else None)
    if missing:
        return install_hint("PLUGIN")
    return "`rnnplay plugins` says why it is not loaded"


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A checkpoint's metadata, reading nothing but its ``__meta__.npy`` member (checked before it is read)."""
    path = Path(path)
    bad = f"{path} is not a usable rnnplay checkpoint"
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo(META_MEMBER)
            if info.file_size > MAX_META_BYTES:
                raise RnnplayError(f"{bad}: its metadata claims {info.file_size:,} bytes, "
                                   f"more than the {MAX_META_BYTES:,} rnnplay reads")
            with archive.open(info) as member:
                data = member.read(MAX_META_BYTES + 1)
    except KeyError:
        raise RnnplayError(f"{bad}: it has no rnnplay metadata") from None
    except FileNotFoundError:
        raise RnnplayError(f"{path}: no such file; /models lists the models there are") from None
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, RuntimeError, NotImplementedError) as err:
        reason = NOT_ZIP if isinstance(err, zipfile.BadZipFile) else err.__class__.__name__  # as /load says it
        raise RnnplayError(f"{bad}: it is corrupt or truncated ({reason}); use another copy") from None
    if len(data) > MAX_META_BYTES:  # the zip directory understated it
        raise RnnplayError(f"{bad}: its metadata is larger than the {MAX_META_BYTES:,} bytes rnnplay reads")
    try:
        meta = json.loads(_unicode_scalar(data, bad))
    except (json.JSONDecodeError, RecursionError):
        raise RnnplayError(f"{bad}: its metadata is not valid JSON") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise RnnplayError(f"{bad}: its metadata does not say format={FORMAT!r}")
    return meta


def resumable_step(path: str | os.PathLike[str]) -> int | None:
    """The step of the training run the checkpoint ``path`` can resume; None for a weights-only copy, or a file that
    is no checkpoint."""
    try:
        training = read_metadata(path).get("training")
    except RnnplayError:
        return None
    step = training.get("step") if isinstance(training, dict) else None
    return step if isinstance(step, int) else None


def _unicode_scalar(data: bytes, bad: str) -> str:
    """The string a 0-d unicode ``.npy`` holds, from its bytes; its header is checked before any array is made."""
    stream = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(stream)
        read_header = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
        if version not in read_header:
            raise ValueError(f"npy version {version}")
        shape, _, dtype = read_header[version](stream)
    except (ValueError, TypeError, SyntaxError) as err:
        raise RnnplayError(f"{bad}: its metadata is unreadable ({err.__class__.__name__})") from None
    if shape != () or dtype.kind != "U" or dtype.itemsize > len(data) - stream.tell():
        raise RnnplayError(f"{bad}: its metadata is not one string")
    try:
        return str(np.frombuffer(data, dtype=dtype, count=1, offset=stream.tell())[0])
    except ValueError:  # code points no character has
        raise RnnplayError(f"{bad}: its metadata is not text") from None


def describe(path: Path, name: str | None = None, cells: CellsWithoutImport | None = None) -> ModelEntry:
    """The library entry of the checkpoint at ``path`` (a ``problem`` instead of an error when it is unreadable).

    Whether its cell is there is asked of the plugins when they are loaded already (the app, the REPL), else of
    ``cells``, which reads the installed plugins' metadata and imports none (`rnnplay models`)."""
    name = name or path.stem
    try:
        mtime = path.stat().st_mtime
    except OSError:
        mtime = None
    date = datetime.datetime.fromtimestamp(mtime).strftime("%Y-%m-%d %H:%M") if mtime is not None else ""
    try:
        meta = read_metadata(path)
        layers, hidden = meta.get("num_layers"), meta.get("hidden_size")
        check_model_size(hidden, layers, None, f"{path} is not a usable rnnplay checkpoint: its metadata",
                         advice="the file is damaged or was not written by rnnplay")  # what loading it would refuse
        provider = read_providers(meta, f"{path} is not a usable rnnplay checkpoint").get("cell")
    except RnnplayError as err:
        return ModelEntry(name, path, date=date, problem=str(err))
    cell, plugin = str(meta.get("cell", "?")), meta.get("cell_plugin")
    needs, unchecked = cell_need(cell, plugin if isinstance(plugin, str) else None, cells)
    return ModelEntry(name, path, cell, layers, hidden, _field(meta.get("corpus"), "name") or "?",
                      _float(_field(meta.get("history"), "val_loss")), _saved_at(meta) or date,
                      needs=needs, provider=provider if needs else None, unchecked=unchecked)


def cell_need(cell: str, plugin: str | None, cells: CellsWithoutImport | None) -> tuple[str | None, bool]:
    """The plugin a model's cell comes from when it is not loaded now ('?' when the model names none), or None;
    and whether that could not be told without importing plugins."""
    host = loaded_host()
    if host is None:
        return (cells or CellsWithoutImport()).need(cell, plugin)
    try:
        host.resolve_cell(cell, plugin)
    except RnnplayError:
        return plugin or "?", False
    return None, False


def _field(value: Any, key: str) -> Any:
    return value.get(key) if isinstance(value, dict) else None


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _saved_at(meta: dict[str, Any]) -> str:
    """'2026-11-26 03:02' from the metadata's saved_at, or ''."""
    try:
        return datetime.datetime.fromisoformat(str(meta.get("saved_at"))).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return ""


def library_files(folder: Path | None = None) -> list[Path]:
    """The checkpoints in the library folder, by name (none when the folder does not exist yet)."""
    folder = folder or models_dir()
    try:
        files = [p for p in folder.iterdir() if p.suffix == ".npz" and p.is_file() and not p.name.startswith(".")]
    except OSError:
        return []
    return sorted(files, key=lambda p: p.stem)  # readme before readme-2


def list_models(folder: Path | None = None) -> list[ModelEntry]:
    """The bundled model (when installed), then every checkpoint in the library folder."""
    cells = CellsWithoutImport() if loaded_host() is None else None  # the installed plugins read once
    bundled = [describe(BUNDLED_MODEL, BUNDLED_NAME, cells)] if BUNDLED_MODEL.exists() else []
    return bundled + [describe(path, cells=cells) for path in library_files(folder)]


def model_names(folder: Path | None = None) -> list[str]:
    """The names /load NAME understands."""
    return ([BUNDLED_NAME] if BUNDLED_MODEL.exists() else []) + [p.stem for p in library_files(folder)]


def find_model(name: str, folder: Path | None = None) -> Path:
    """The checkpoint ``name`` means: a path to a file, else a library model by name (with or without .npz),
    else the bundled model for 'shakespeare'."""
    if not name:  # Path("") is the current folder, which the loader would name as '.'
        raise RnnplayError("the model's name is empty: give a checkpoint's path, or a name from `rnnplay models`")
    given = Path(os.path.expanduser(name))
    if os.path.isfile(given):
        return given
    folder = folder or models_dir()
    is_path = os.sep in name or "/" in name
    named = None if is_path else _by_name(name, folder)
    if named is not None:
        return named
    if (saved := saved_as(name)) != given:
        return saved
    if is_there(given):
        return given  # a folder, a dangling or looping link, a folder we may not enter: loading it says what
    if is_path:
        raise RnnplayError(f"{name}: no such file; check the path (/models lists the models you can load by name)")
    names = model_names(folder)
    close = did_you_mean(name.removesuffix(".npz"), names)
    listed = f"; models: {', '.join(map(printable, names))}" if names else f"; {folder} holds no models yet"
    if name.endswith(".npz"):
        raise RnnplayError(f"{name}: no such file, nor a model of that name in {folder}{close}{listed}")
    raise RnnplayError(f"no model {name!r}: not a file, nor a name in {folder}{close}{listed}")


def saved_as(name: str) -> Path:
    """The checkpoint file ``name`` means as a path: ``name`` itself, or, when that is no file and has no suffix,
    ``name.npz`` if that is one (what ``train --out NAME`` and ``/save NAME`` wrote)."""
    given = Path(os.path.expanduser(name))
    if not os.path.isfile(given) and not given.suffix and os.path.isfile(given.with_suffix(".npz")):
        return given.with_suffix(".npz")
    return given


def _by_name(name: str, folder: Path) -> Path | None:
    stem = name.removesuffix(".npz")
    if stem and os.path.isfile(folder / f"{stem}.npz"):  # False too when the library cannot be entered
        return folder / f"{stem}.npz"
    if stem == BUNDLED_NAME and BUNDLED_MODEL.exists():
        return BUNDLED_MODEL
    return None


def free_path(path: Path) -> Path:
    """``path`` if nothing is there, else the first free of stem-2, stem-3, … in the same folder.

    A name a training is writing (its ``.lock`` held) is taken too; a lock file a killed run left behind is not.
    In the library folder the bundled model's name counts as taken, so 'shakespeare' always means one model.
    """
    reserved = {BUNDLED_NAME} if path.parent == models_dir() else set()
    stem, number = path.stem, 1
    candidate = path
    while os.path.lexists(candidate) or being_written(candidate) or candidate.stem in reserved:  # False if unreachable
        number += 1
        candidate = path.with_name(f"{stem}-{number}{path.suffix}")
    return candidate


def is_there(path: Path) -> bool:
    """Whether anything is at ``path`` (a dangling link too), or a folder on the way may not be searched, so that
    nobody can tell (``Path.exists`` raises there)."""
    try:
        os.lstat(path)
    except PermissionError:
        return True
    except (OSError, ValueError):
        return False
    return True


def lock_file(path: str | os.PathLike[str]) -> Path:
    """The lock file of an output ``path``: beside the file it names, symbolic links followed, so that a link and
    its target are one output."""
    target = Path(os.path.realpath(os.path.expanduser(path)))
    return target.with_name(target.name + ".lock")


def being_written(path: Path) -> bool:
    """Whether a training holds ``path``'s lock file now (an flock, which the system lets go when its process
    dies: the file of a killed run holds nothing)."""
    try:
        with lock_file(path).open("rb") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(lock, fcntl.LOCK_UN)
    except BlockingIOError:
        return True
    except OSError:  # no lock file, or none that can be read
        return False
    return False


def library_path(corpus_name: str) -> Path:
    """Where /train saves a new run on ``corpus_name`` by default: its lowercased stem in the library, never taken."""
    stem = Path(corpus_name).stem.lower() or "model"
    return free_path(models_dir() / f"{stem}.npz")


def open_model(name: str | None) -> Model:
    """The weights of the model a user names on a command line: a checkpoint path, a library name,
    'shakespeare', or the bundled model when ``name`` is None (the optimizer state is checked, not read)."""
    if name is None and not BUNDLED_MODEL.exists():
        raise RnnplayError("no MODEL given and the bundled model is not installed: "
                           "name a checkpoint made by `rnnplay train`, or a model from `rnnplay models`")
    return load_model(None if name is None else find_model(name), training_state=False).model
