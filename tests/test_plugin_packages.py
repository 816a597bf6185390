"""Plugin packages installed for real with pip into a fresh virtual environment this module creates.

The environment gets rnnplay (editable, from this checkout); its dependencies,
pip, setuptools and pytest are those of the environment running the tests, on
its path after its own packages. Build isolation is turned off
(PIP_NO_BUILD_ISOLATION=0) so each local package builds in seconds. Packages are copied to a
temporary folder before installing, since building writes into the source tree.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sysconfig
import time
import venv
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow, pytest.mark.long_file]  # long_file: run first (tests/conftest.py)


class Env:
    """A virtual environment and a way to run commands in it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.bin = path / ("Scripts" if os.name == "nt" else "bin")
        self.environ = {**os.environ, "VIRTUAL_ENV": str(path), "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}",
                        "PIP_NO_BUILD_ISOLATION": "0", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
                        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
        for name in ("PYTHONPATH", "RNNPLAY_LOAD_PLUGINS", "PYTHONHOME"):
            self.environ.pop(name, None)

    def run(self, *args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        exe = str(self.bin / args[0]) if (self.bin / args[0]).exists() else args[0]
        done = subprocess.run([exe, *args[1:]], capture_output=True, text=True, cwd=cwd, env=self.environ,
                              timeout=600)
        if check and done.returncode != 0:
            raise AssertionError(f"{' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done

    def plugins(self, cwd: Path) -> dict:
        return json.loads(self.run("rnnplay", "plugins", "--json", cwd=cwd).stdout)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Env:
    start = time.perf_counter()
    path = tmp_path_factory.mktemp("venv") / "env"
    e = make_env(path)  # rnnplay itself installed into it, editable
    e.run("python", "-m", "pip", "install", "-q", "--no-deps", "-e", str(ROOT), cwd=path.parent)
    print(f"\nfresh venv with rnnplay installed in {time.perf_counter() - start:.1f} s")
    return e


def make_env(path: Path) -> Env:
    """A new virtual environment whose rnnplay's dependencies, pip, setuptools and pytest come from the environment
    running these tests, put after the new one's own site-packages (a .pth line adds the folder; its own .pth
    files, such as the editable rnnplay's, are not read). PyTorch (a test extra out there) is hidden, as a user
    would not have it."""
    venv.create(path)
    e = Env(path)
    site_of = "import sysconfig; print(sysconfig.get_path('purelib'))"
    child_site = Path(e.run("python", "-c", site_of, cwd=path.parent).stdout.strip())
    (child_site / "outer-environment.pth").write_text(sysconfig.get_path("purelib") + "\n")
    (child_site / "torch.py").write_text('raise ModuleNotFoundError("no PyTorch here", name="torch")\n')
    return e


@pytest.fixture(scope="module")
def installed_env(tmp_path_factory: pytest.TempPathFactory) -> Env:
    """rnnplay installed as a user installs it, from a wheel (not editable): no checkout beside the package."""
    here = tmp_path_factory.mktemp("wheel-venv")
    source = here / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "rnnplay", source / "rnnplay", ignore=shutil.ignore_patterns("__pycache__"))
    e = make_env(here / "env")
    e.run("python", "-m", "pip", "install", "-q", "--no-deps", str(source), cwd=here)
    shutil.rmtree(source)
    return e


@pytest.fixture
def copies(tmp_path: Path) -> Path:
    """A folder holding a copy of plugins/rnnplay-gru, the way a user would have it checked out."""
    shutil.copytree(ROOT / "plugins" / "rnnplay-gru", tmp_path / "rnnplay-gru",
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".pytest_cache"))
    return tmp_path


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.startswith("rnnplay: error: ") and done.stderr.count("\n") == 1, done.stderr
    return done.stderr


def test_gru_plugin_installs_trains_is_remembered_and_is_asked_for_once_gone(
    env: Env, copies: Path, small_file: Path
) -> None:
    work = copies
    env.run("python", "-m", "pip", "install", "-q", "./rnnplay-gru", cwd=work)
    listing = env.plugins(work)
    gru = next(p for p in listing["plugins"] if p["name"] == "rnnplay-gru")
    assert (gru["version"], gru["hooks"], gru["cells"]) == ("0.1.0", ["register_cells"], ["gru"])
    assert listing["failed"] == []

    # The package's own tests pass where it is installed (its PyTorch comparison skips: no torch here).
    tests = env.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "rnnplay-gru/tests", cwd=work)
    assert " passed" in tests.stdout and "failed" not in tests.stdout

    train = ["rnnplay", "train", str(small_file), "--hidden", "32", "--batch-size", "8", "--seq-length", "32"]
    env.run(*train, "--cell", "gru", "--layers", "2", "--steps", "50", "--val-every", "25", "--out", "g.npz", cwd=work)
    meta = json.loads(str(np.load(work / "g.npz")["__meta__"]))
    assert (meta["cell"], meta["cell_plugin"], meta["num_layers"]) == ("gru", "rnnplay-gru", 2)
    version = meta["plugins"]["cell"]["version"]  # the installed distribution's, recorded at save
    assert meta["plugins"] == {"cell": {"name": "rnnplay-gru", "version": version}} and version[0].isdigit()

    uninstalled = env.run("rnnplay", "plugins", "uninstall", "rnnplay-gru", cwd=work)
    assert uninstalled.stdout.endswith("uninstalled rnnplay-gru\n")
    assert "rnnplay-gru" not in {p["name"] for p in env.plugins(work)["plugins"]}
    wanted = (f"the cell 'gru' from the plugin rnnplay-gru {version}, which is not installed: "  # this checkout's:
              f"run `rnnplay plugins install {ROOT / 'plugins' / 'rnnplay-gru'}` (an example plugin of rnnplay")
    assert wanted in one_line_error(env.run(*train, "--resume", "g.npz", "--steps", "51", cwd=work, check=False))
    load = env.run("python", "-c", "import sys\nfrom rnnplay.core.errors import RnnplayError\n"
                   "from rnnplay.models.bundled import "
                   "load_model\ntry:\n    load_model('g.npz')\nexcept RnnplayError as e:\n    sys.exit(str(e))",
                   cwd=work, check=False)
    assert wanted in load.stderr
    if (ROOT / "rnnplay" / "cli" / "cmd_sample.py").exists():
        assert wanted in one_line_error(env.run("rnnplay", "sample", "g.npz", cwd=work, check=False))

    # Back through `rnnplay plugins install PATH`: the checkpoint loads and training resumes.
    installed = env.run("rnnplay", "plugins", "install", "./rnnplay-gru", cwd=work)
    assert "installed plugin rnnplay-gru 0.1.0 (cells: gru)" in installed.stdout
    again = env.run("rnnplay", "plugins", "install", "./rnnplay-gru", cwd=work)
    assert "rnnplay-gru 0.1.0 installed again from ./rnnplay-gru, as the folder has it now" in again.stdout, \
        again.stdout  # pip did replace it: "nothing changed" was not so for an edited folder
    env.run(*train, "--resume", "g.npz", "--steps", "52", "--out", "g.npz", cwd=work)
    env.run("rnnplay", "plugins", "uninstall", "rnnplay-gru", cwd=work)


def test_scaffolded_plugin_passes_its_own_tests_after_an_editable_install(env: Env, tmp_path: Path,
                                                                         small_file: Path) -> None:
    made = env.run("rnnplay", "plugins", "new", "demo", cwd=tmp_path)
    assert "created rnnplay-demo/" in made.stdout
    package = tmp_path / "rnnplay-demo"
    assert sorted(str(p.relative_to(package)) for p in package.rglob("*") if p.is_file()) == [
        "README.md", "pyproject.toml", "src/rnnplay_demo/__init__.py", "src/rnnplay_demo/cell.py",
        "tests/test_cell.py",
    ]
    installed = env.run("rnnplay", "plugins", "install", "-e", "./rnnplay-demo", cwd=tmp_path)
    assert "installed plugin rnnplay-demo 0.1.0 (cells: demo)" in installed.stdout
    tests = env.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=package)
    assert "6 passed" in tests.stdout, tests.stdout
    env.run("rnnplay", "train", str(small_file), "--cell", "demo", "--layers", "2", "--hidden", "16",
            "--batch-size", "4", "--seq-length", "16", "--steps", "10", "--out", "demo.npz", cwd=tmp_path)
    meta = json.loads(str(np.load(tmp_path / "demo.npz")["__meta__"]))
    assert (meta["cell"], meta["cell_plugin"]) == ("demo", "rnnplay-demo")
    cell = package / "src" / "rnnplay_demo" / "cell.py"  # renamed in the editable install: 'demo' is free again
    cell.write_text(cell.read_text().replace('name = "demo"', 'name = "demo2"'))
    (tmp_path / "other").mkdir()
    twin = env.run("rnnplay", "plugins", "new", "demo", "--dir", "other", cwd=tmp_path, check=False)
    assert "rnnplay-demo 0.1.0 is installed already, and installing a new package of that name would replace " \
           "it" in twin.stderr and not list((tmp_path / "other").iterdir())  # it replaced it, and said nothing
    env.run("rnnplay", "plugins", "uninstall", "rnnplay-demo", cwd=tmp_path)


def test_from_the_folder_holding_a_clone_plugins_install_and_ray_workers_find_the_installed_rnnplay(
        env: Env, copies: Path, small_file: Path) -> None:
    """The folder a user cloned the repository into holds ./rnnplay (the clone: no __init__.py, a plugins/ folder),
    and rnnplay suggests `rnnplay plugins install ./rnnplay/plugins/rnnplay-gru` there. Both the check after pip and
    Ray's workers imported ./rnnplay for the editable rnnplay: the install exited 1 although pip had installed the
    plugin, and `--workers 2` failed with "No module named 'rnnplay.plugins.host'"."""
    work = copies
    shutil.copytree(work / "rnnplay-gru", work / "rnnplay" / "plugins" / "rnnplay-gru")
    installed = env.run("rnnplay", "plugins", "install", "./rnnplay/plugins/rnnplay-gru", cwd=work, check=False)
    assert installed.returncode == 0 and "installed plugin rnnplay-gru 0.1.0" in installed.stdout, installed.stderr
    train = env.run("rnnplay", "train", str(small_file), "--cell", "gru", "--hidden", "8", "--batch-size", "4",
                    "--seq-length", "16", "--steps", "3", "--workers", "2", "--out", "w.npz", cwd=work, check=False)
    assert train.returncode == 0 and "each step on 2 workers on local Ray" in train.stderr, train.stderr
    env.run("rnnplay", "plugins", "uninstall", "rnnplay-gru", cwd=work)


def test_an_installed_rnnplay_points_a_first_plugin_at_what_it_has(installed_env: Env, tmp_path: Path) -> None:
    """Installed from a wheel, rnnplay has no plugins/ or docs/ beside it; its hint said "(docs/plugins.md)", a file
    a user of the wheel does not have. It names the scaffold alone, and the scaffold works there."""
    listing = installed_env.run("rnnplay", "plugins", cwd=tmp_path)
    assert listing.stdout.endswith("\nno plugins installed; write one with `rnnplay plugins new NAME` (a working cell "
                                   "plugin, with its tests, to edit and install)\n"), listing.stdout
    assert "docs/" not in listing.stdout + listing.stderr and "plugins/" not in listing.stdout
    made = installed_env.run("rnnplay", "plugins", "new", "demo", cwd=tmp_path)
    assert "created rnnplay-demo/" in made.stdout and (tmp_path / "rnnplay-demo" / "pyproject.toml").is_file()
