"""The model library: names in the data folder, metadata read alone, numbered names that never overwrite."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from plugin_fixtures import pip_install_fixtures
from rich.cells import cell_len

from rnnplay.core.checkpoint import save_checkpoint
from rnnplay.core.errors import RnnplayError
from rnnplay.models import library
from rnnplay.models.bundled import BUNDLED_MODEL, load_model
from rnnplay.models.library import (
    BUNDLED_NAME,
    describe,
    find_model,
    free_path,
    library_path,
    list_models,
    model_table,
    models_dir,
    read_metadata,
)
from rnnplay.ui.cli import main


@pytest.fixture(autouse=True)
def data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """rnnplay's data folder in a fresh temporary folder (platformdirs reads XDG_DATA_HOME)."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path / "data"


def in_library(tiny_path: Path, name: str) -> Path:
    models_dir().mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(tiny_path, models_dir() / name))


def npz_with_meta(path: Path, member: bytes, name: str = "__meta__.npy") -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(name, member)
    return path


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def test_models_dir_follows_the_data_folder(data_home: Path) -> None:
    assert models_dir() == data_home / "rnnplay" / "models"


def test_read_metadata_reads_what_the_full_loader_reads(tiny_path: Path) -> None:
    assert read_metadata(tiny_path) == load_model(tiny_path).meta
    meta = read_metadata(tiny_path)
    assert (meta["cell"], meta["num_layers"], meta["hidden_size"]) == ("lstm", 1, 32)
    assert meta["corpus"]["name"] == "tiny.txt"


@pytest.mark.parametrize(("member", "expected"), [
    (b"not an npy file", "metadata is unreadable"),
    (npy_bytes(np.array(["a", "b"])), "not one string"),
    (npy_bytes(np.array({"format": "x"}, dtype=object)), "not one string"),  # a pickle is never read
    (npy_bytes(np.array("{not json")), "not valid JSON"),
    (npy_bytes(np.array(json.dumps({"format": "other"}))), "does not say format"),
])
def test_read_metadata_refuses_bad_metadata_in_one_line(tmp_path: Path, member: bytes, expected: str) -> None:
    path = npz_with_meta(tmp_path / "bad.npz", member)
    with pytest.raises(RnnplayError, match=expected) as err:
        read_metadata(path)
    assert "\n" not in str(err.value)


HEADERS = st.sampled_from([
    "{'descr': '<U40', 'fortran_order': False, 'shape': (), }",
    "{'descr': '<U999999999', 'fortran_order': False, 'shape': (), }",
    "{'descr': '|O', 'fortran_order': False, 'shape': (), }",
    "{'descr': '<U4', 'fortran_order': False, 'shape': (10000000000,), }",
    "{'descr': [('a', '<U2')], 'fortran_order': False, 'shape': (), }",
    "{'descr': '<U', 'fortran_order': False, 'shape': (-1,), }",
    "{'descr': 'nonsense', 'fortran_order': 3, 'shape': 'x', }",
    "__import__('os')",
])


def npy_with_header(header: str, body: bytes) -> bytes:
    text = header.encode("latin1")
    text += b" " * (-(10 + len(text) + 1) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text + body


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=HEADERS, body=st.binary(max_size=200), raw=st.binary(max_size=300), pick=st.integers(0, 3))
def test_any_metadata_member_is_read_or_refused_in_one_line(tmp_path: Path, header: str, body: bytes, raw: bytes,
                                                            pick: int) -> None:
    path = tmp_path / "fuzz.npz"
    member = [npy_with_header(header, body), raw, b"\x93NUMPY" + raw, npy_bytes(np.array(raw.decode("latin1")))][pick]
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED if pick % 2 else zipfile.ZIP_STORED) as archive:
        archive.writestr("__meta__.npy", member)
    try:
        read_metadata(path)
    except RnnplayError as err:
        assert "\n" not in str(err)
    entry = describe(path)
    assert entry.problem is None or "\n" not in entry.problem


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=400))
def test_any_file_is_listed_or_named_unreadable(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "junk.npz"
    path.write_bytes(b"PK\x03\x04" + data)
    assert describe(path).problem is not None


def test_a_file_that_is_no_zip_is_named_so_in_the_listing_as_when_loaded(tmp_path: Path) -> None:
    """`rnnplay models --json` said "(BadZipFile)" where `/load` says "(not a zip archive)"."""
    path = tmp_path / "broken.npz"
    path.write_bytes(b"ROMEO: hello\n" * 50)
    with pytest.raises(RnnplayError) as loaded:
        load_model(path)
    listed = describe(path).problem
    assert listed is not None and "corrupt or truncated (not a zip archive)" in listed and "BadZipFile" not in listed
    assert "(not a zip archive)" in str(loaded.value)


def test_deeply_nested_metadata_is_refused(tmp_path: Path) -> None:
    path = npz_with_meta(tmp_path / "deep.npz", npy_bytes(np.array("[" * 100_000 + "]" * 100_000)))
    with pytest.raises(RnnplayError, match="not valid JSON"):
        read_metadata(path)


def test_read_metadata_refuses_missing_members_and_non_zips(tmp_path: Path) -> None:
    with pytest.raises(RnnplayError, match="no rnnplay metadata"):
        read_metadata(npz_with_meta(tmp_path / "other.npz", b"x", name="param.npy"))
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(RnnplayError, match="corrupt or truncated"):
        read_metadata(tmp_path / "text.npz")
    with pytest.raises(RnnplayError, match="no such file"):
        read_metadata(tmp_path / "missing.npz")


def test_read_metadata_checks_the_size_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = npz_with_meta(tmp_path / "big.npz", npy_bytes(np.array(json.dumps({"format": "rnnplay-checkpoint",
                                                                                "pad": "x" * 1000}))))
    monkeypatch.setattr(library, "MAX_META_BYTES", 100)
    with pytest.raises(RnnplayError, match="more than the 100 rnnplay reads"):
        read_metadata(path)


def test_list_models_reads_the_library_and_names_unreadable_files(tiny_path: Path) -> None:
    in_library(tiny_path, "notes.npz")
    in_library(tiny_path, "alpha.npz")
    (models_dir() / "broken.npz").write_bytes(b"PK\x03\x04 truncated")
    (models_dir() / "readme.txt").write_text("not a model")
    entries = list_models()
    names = [e.name for e in entries]
    bundled = [BUNDLED_NAME] if BUNDLED_MODEL.exists() else []
    assert names == [*bundled, "alpha", "broken", "notes"]
    notes = entries[-1]
    assert (notes.cell, notes.size, notes.corpus) == ("lstm", "1×32", "tiny.txt")
    assert notes.date and notes.problem is None
    broken = entries[-2]
    assert broken.problem is not None and "corrupt" in broken.problem and "\n" not in broken.problem
    assert broken.row()[3] == "unreadable (loading it says why)"


@pytest.mark.parametrize(("layers", "hidden", "expected"), [(2, 10**12, "hidden size 1,000,000,000,000 is outside"),
                                                         (True, 8, "layers must be a whole number"),
                                                         (2, None, "hidden size must be a whole number")])
def test_sizes_that_loading_refuses_are_listed_unreadable(tiny_path: Path, layers: object, hidden: object,
                                                           expected: str) -> None:
    meta = {**read_metadata(tiny_path), "num_layers": layers, "hidden_size": hidden}
    models_dir().mkdir(parents=True)
    path = npz_with_meta(models_dir() / "huge.npz", npy_bytes(np.array(json.dumps(meta))))
    entry = next(e for e in list_models() if e.path == path)
    assert entry.problem is not None and expected in entry.problem, entry.problem
    assert entry.row()[3] == "unreadable (loading it says why)"


def test_a_long_corpus_name_keeps_its_end(tmp_path: Path) -> None:
    entry = library.ModelEntry("m", tmp_path / "m.npz", "lstm", 1, 8, "dir:/home/someone/texts/of/the/year/2026")
    assert entry.row()[3] == "…/texts/of/the/year/2026" and len(entry.row()[3]) == library.CORPUS_WIDTH


def test_model_table_aligns_columns_and_marks_the_loaded_model(tiny_path: Path) -> None:
    path = in_library(tiny_path, "notes.npz")
    lines = model_table(list_models(), path)
    assert lines[0].split() == ["NAME", "CELL", "SIZE", "CORPUS", "VAL", "LOSS", "DATE"]
    marked = [line for line in lines if line.startswith("*")]
    assert len(marked) == 1 and "notes" in marked[0] and "1×32" in marked[0]
    cell = lines[0][2:].find("CELL")  # every row's cell name (the bundled lnlstm's too) starts under its header
    assert all(line[2 + cell - 1] == " " and line[2 + cell :].split()[0] in ("lstm", "lnlstm") for line in lines[1:])


def test_find_model_by_name_path_or_the_bundled_name(tiny_path: Path, tmp_path: Path) -> None:
    path = in_library(tiny_path, "notes.npz")
    assert find_model("notes") == path and find_model("notes.npz") == path
    assert find_model(str(tiny_path)) == tiny_path
    if BUNDLED_MODEL.exists():
        assert find_model("shakespeare") == BUNDLED_MODEL and find_model("shakespeare.npz") == BUNDLED_MODEL
    with pytest.raises(RnnplayError, match=r"no model 'ntoes'.*did you mean 'notes'.*models: .*notes") as err:
        find_model("ntoes")
    assert "\n" not in str(err.value)
    with pytest.raises(RnnplayError, match=r"elsewhere/notes\.npz: no such file; check the path"):
        find_model(str(tmp_path / "elsewhere" / "notes.npz"))


def test_new_names_never_take_an_existing_file(tiny_path: Path) -> None:
    assert library_path("README.md") == models_dir() / "readme.npz"
    in_library(tiny_path, "readme.npz")
    assert library_path("README.md") == models_dir() / "readme-2.npz"
    in_library(tiny_path, "readme-2.npz")
    assert library_path("README.md") == models_dir() / "readme-3.npz"
    assert [e.name for e in list_models()][-2:] == ["readme", "readme-2"]
    assert library_path("shakespeare.txt") == models_dir() / "shakespeare-2.npz"  # the bundled name is taken


def test_free_path_outside_the_library(tmp_path: Path) -> None:
    (tmp_path / "shakespeare.npz").write_bytes(b"")
    assert free_path(tmp_path / "shakespeare.npz") == tmp_path / "shakespeare-2.npz"
    assert free_path(tmp_path / "new.npz") == tmp_path / "new.npz"


def test_rnnplay_models_lists_them(tiny_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models"]) == 0
    assert "holds no models yet" in capsys.readouterr().out
    in_library(tiny_path, "notes.npz")
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("NAME") and "notes" in out and "tiny.txt" in out
    assert main(["models", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    notes = next(e for e in listed if e["name"] == "notes")
    assert notes["path"] == str(models_dir() / "notes.npz") and notes["hidden"] == 32


def test_a_name_is_taken_while_a_training_holds_its_lock_and_free_once_the_lock_is_stale(tmp_path: Path) -> None:
    from rnnplay.session.output_paths import OutputLock

    target = tmp_path / "notes.npz"
    with OutputLock(target):  # a training writing notes.npz now
        assert free_path(target) == tmp_path / "notes-2.npz"
    (tmp_path / "notes.npz.lock").write_text("4194303\n")  # what a killed run leaves: a file nobody holds
    assert free_path(target) == target


def test_wide_names_keep_the_columns_where_a_terminal_draws_them(tiny_path: Path) -> None:
    in_library(tiny_path, "笔记.npz")  # two characters, four columns on a terminal
    in_library(tiny_path, "notes.npz")
    lines = model_table(list_models())
    column = cell_len(lines[0][: lines[0].find("CELL")])
    for line in lines[1:]:
        name, cell = line.split()[:2]
        assert cell_len(line[: line.find(cell, len(name))]) == column, line


def test_rnnplay_models_says_why_a_library_that_is_a_file_lists_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    """It said the file 'holds no models yet: /train FILE in the app saves one there', and /train then failed."""
    models_dir().parent.mkdir(parents=True, exist_ok=True)
    models_dir().write_text("not a folder")
    assert main(["models"]) == 0
    assert "is a file, not a folder" in capsys.readouterr().out


def test_an_unreadable_model_with_an_escape_in_its_name_is_listed_escaped(tmp_path: Path) -> None:
    entry = library.ModelEntry("evil\x1b]2;PWNED\x07", tmp_path / "m.npz", problem="corrupt")
    assert entry.row()[0] == "evil\\x1b]2;PWNED\\x07"


def test_rnnplay_models_imports_no_plugin_and_says_what_it_cannot_tell(tiny_path: Path, tmp_path: Path,
                                                                       data_home: Path) -> None:
    """A plugin calling os._exit on import ended `rnnplay models` (exit 3) before it listed anything. Without
    importing plugins, a plugin cell whose model names no plugin is "(plugin cell)" while a plugin could provide
    it, and "(needs ?)" when none could (RNNPLAY_LOAD_PLUGINS empty)."""
    site = pip_install_fixtures(["rnnplay-exit-import"], tmp_path / "fixtures")
    model = load_model(tiny_path).model
    models_dir().mkdir(parents=True)
    save_checkpoint(models_dir() / "mystery.npz", model, extra={"cell": "mystery"})  # no cell_plugin: unnamed
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
           "XDG_DATA_HOME": str(data_home), "EXIT_IMPORT_HARD": "1"}
    listed = subprocess.run([sys.executable, "-m", "rnnplay", "models"], env=env, capture_output=True, text=True,
                            check=False)
    assert (listed.returncode, listed.stderr) == (0, ""), listed.stderr
    assert row_of("mystery", listed.stdout)[:3] == ["mystery", "mystery", "(plugin"], listed.stdout
    assert "a model marked (plugin cell) does not name its plugin" in listed.stdout
    none = subprocess.run([sys.executable, "-m", "rnnplay", "models"], env={**env, "RNNPLAY_LOAD_PLUGINS": ""},
                          capture_output=True, text=True, check=False)
    assert row_of("mystery", none.stdout)[:4] == ["mystery", "mystery", "(needs", "?)"], none.stdout


def row_of(name: str, table: str) -> list[str]:
    return next(line.split() for line in table.splitlines() if line.startswith(f"{name} "))
