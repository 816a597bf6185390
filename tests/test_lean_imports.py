"""A command imports what it uses: the faces (Textual, prompt-toolkit), Ray, matplotlib, numba, the downloads' HTTP
and the corpus machinery stay out of the commands that do not use them (each costs every run of the command its
import). Checked in the real command: ``rnnplay ARGS`` in a fresh interpreter, its ``sys.modules`` written as it
ends."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from child_env import child_env

# what runs ``rnnplay ARGS`` (argv[2:]) as the console script does and writes the modules it imported to argv[1], even
# for a command that leaves without the interpreter's teardown (train: atexit's os._exit)
SHOW_MODULES = """\
import sys
from rnnplay.__main__ import main
shown, sys.argv = sys.argv[1], ["rnnplay", *sys.argv[2:]]
try:
    main()
finally:
    with open(shown, "w") as out:
        out.write("\\n".join(sys.modules))
"""

FACES = {"textual", "prompt_toolkit", "matplotlib"}  # the app, the REPL, --plot
HTTP = {"http.client", "urllib.request", "ssl", "rnnplay.corpora.http_get"}  # a download's
CORPUS_LOADING = {"rnnplay.corpora.loading", "rnnplay.corpora.cards", "rnnplay.corpora.file_corpus"}
TRAINING = {"rnnplay.core.trainer", "rnnplay.session.training_runs"}
BLAS_THREADS = {"threadpoolctl"}  # what sets BLAS's threads (rnnplay.core.threads): for a command that multiplies
TEXT = "To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer.\n" * 20


def imported(tmp_path: Path, *args: str, site: Path | None = None) -> set[str]:
    """The modules ``rnnplay ARGS`` had imported when it ended (it must end well); ``site``: a folder of installed
    packages on its path."""
    shown = tmp_path / "modules.txt"
    folders = {name: str(tmp_path / name.lower()) for name in ("XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME")}
    done = subprocess.run([sys.executable, "-c", SHOW_MODULES, shown, *args], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, env=child_env(*([site] if site else []), **folders))
    assert done.returncode == 0, done.stderr
    return set(shown.read_text().split())


def top_level(modules: set[str]) -> set[str]:
    return {name.partition(".")[0] for name in modules}


@pytest.mark.parametrize("args", [
    ["sample", "--seed", "ROMEO:", "--length", "20", "--rng-seed", "1"],
    ["score", "--text", "ROMEO: But soft, what light through yonder window breaks?"],
])  # fmt: skip
def test_sample_and_score_import_no_face_no_ray_no_kernels_and_no_corpus_loading(tmp_path: Path,
                                                                                   args: list[str]) -> None:
    modules = imported(tmp_path, *args)
    assert top_level(modules) & (FACES | {"ray", "numba"}) == set()  # a short text: the kernels cost more than save
    assert modules & (HTTP | CORPUS_LOADING | TRAINING) == set()


def test_train_without_workers_imports_no_ray_no_face_and_no_http(tmp_path: Path) -> None:
    (tmp_path / "small.txt").write_text(TEXT)
    modules = imported(tmp_path, "train", "small.txt", "--cell", "rnn", "--layers", "1", "--hidden", "16",
                       "--batch-size", "4", "--seq-length", "16", "--steps", "1", "--out", "m.npz")
    assert (tmp_path / "m.npz").is_file()
    assert top_level(modules) & (FACES | {"ray"}) == set()
    assert modules & HTTP == set()  # a file's corpus downloads nothing


@pytest.mark.parametrize("args", [["--help"], ["models"]])
def test_commands_that_load_no_corpus_import_none_of_its_machinery(tmp_path: Path, args: list[str]) -> None:
    modules = imported(tmp_path, *args)
    assert top_level(modules) & (FACES | {"ray", "numba"}) == set()
    assert modules & (HTTP | CORPUS_LOADING | TRAINING) == set()


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["--threads", "1", "--help"]])
def test_the_help_imports_no_numpy(tmp_path: Path, args: list[str]) -> None:
    assert top_level(imported(tmp_path, *args)) & {"numpy", *BLAS_THREADS} == set()  # it touches no array


@pytest.mark.parametrize("args", [["models"], ["corpus", "list"], ["plugins"], ["--threads", "1", "corpus", "list"]])
def test_commands_that_multiply_nothing_leave_blas_threads_alone(tmp_path: Path, args: list[str]) -> None:
    assert top_level(imported(tmp_path, *args)) & BLAS_THREADS == set()


def test_the_corpus_list_imports_no_trainer_and_no_http(tmp_path: Path) -> None:
    modules = imported(tmp_path, "corpus", "list")  # one module, cmd_corpus, for every corpus subcommand
    assert top_level(modules) & (FACES | {"ray", "numba"}) == set()
    assert modules & (HTTP | TRAINING) == set()  # nothing downloaded, nothing trained


def test_the_plugins_listed_from_child_processes_are_not_loaded_in_the_parent(tmp_path: Path) -> None:
    site = tmp_path / "site"  # a third-party plugin installed by hand: its metadata, a module that registers nothing
    info = site / "rnnplay_lean_probe-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: rnnplay-lean-probe\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[rnnplay]\nlean_probe = rnnplay_lean_probe\n")
    (site / "rnnplay_lean_probe.py").write_text("")
    modules = imported(tmp_path, "plugins", site=site)  # the listing comes from `rnnplay plugins --json` children
    assert "rnnplay_lean_probe" not in modules
    assert top_level(modules) & {"numpy", *BLAS_THREADS} == set()
    assert "rnnplay.plugins.host" not in modules
