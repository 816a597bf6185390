"""The plugin packages of tests/fixtures/, pip-installed for real into a folder to put on sys.path or PYTHONPATH,
and rnnplay-hang loaded from there into the test's own process.

Each package is built into a wheel once per test session (one process for all of them), pip installs all the wheels
once per session, and each set of packages is copied out of that once per session, shared by the session's processes
(xdist's workers) in the folder ``$TESTS_FIXTURE_WHEELS`` (tests/conftest.py makes it). pip built and installed each
set from source in every test process that used it; then it built each wheel in three processes and ran once a
set."""

from __future__ import annotations

import atexit
import csv
import fcntl
import hashlib
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import pytest

from rnnplay.plugins.host import reset_host

FIXTURES = Path(__file__).resolve().parent / "fixtures"
INSTALLED: dict[tuple[str, ...], Path] = {}  # the sets of fixture packages this process has had, by names
WHEELS = "TESTS_FIXTURE_WHEELS"  # the session's folder of fixture wheels and sets (not RNNPLAY_: sandboxes keep it)


def pip_install_fixtures(names: list[str], work: Path) -> Path:
    """The fixture packages ``names`` pip-installed (no index, no build isolation) into ``work/site``, returned.

    pip runs once per set of names in a test session (:func:`installed_set`); each call gets a copy of what pip
    wrote, byte for byte, to change as it likes (added to what ``work/site`` holds already, as pip's ``--target``
    adds).
    """
    key = tuple(sorted(names))
    if key not in INSTALLED:
        INSTALLED[key] = installed_set(key)
    return Path(shutil.copytree(INSTALLED[key], work / "site", symlinks=True, dirs_exist_ok=True))


def installed_set(names: tuple[str, ...]) -> Path:
    """A folder holding what pip installed (``--target``) of the fixture packages ``names``, made by the first
    process of the session that asks; the others wait on the session folder's lock and take it as it is.

    pip installs every fixture wheel once per session, into ``all``; a set is the files each of its packages' RECORD
    lists there (what pip wrote for that package, ``__pycache__`` included), copied. A test process outside such a
    session (``$TESTS_FIXTURE_WHEELS`` unset) uses a folder of its own."""
    if not os.environ.get(WHEELS):
        os.environ[WHEELS] = tempfile.mkdtemp(prefix="rnnplay-fixture-wheels-")
        atexit.register(shutil.rmtree, os.environ[WHEELS], ignore_errors=True)
    folder = Path(os.environ[WHEELS])
    site = folder / "sets" / hashlib.sha256(" ".join(names).encode()).hexdigest()[:16] / "site"
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # let go when the file closes
        if not site.is_dir():
            everything = all_installed(folder)
            scratch = Path(tempfile.mkdtemp(prefix="site-", dir=folder))  # the whole set or nothing under `site`
            for name in names:
                for file in recorded_files(everything, name):
                    (scratch / file).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(everything / file, scratch / file)
            site.parent.mkdir(parents=True)
            scratch.rename(site)
    return site


def all_installed(folder: Path) -> Path:
    """``folder/all``: every fixture package pip-installed (``--target``, no index) from its wheel, in one pip run
    (the caller holds the session's lock)."""
    everything = folder / "all"
    if not everything.is_dir():
        scratch = Path(tempfile.mkdtemp(prefix="all-", dir=folder))
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target",
                        str(scratch), *map(str, fixture_wheels(folder))], check=True, capture_output=True)
        scratch.rename(everything)
    return everything


def recorded_files(site: Path, name: str) -> list[str]:
    """The files pip installed into ``site`` for the package ``name``: its dist-info's RECORD, a CSV whose first
    column is each path relative to ``site``."""
    [info] = site.glob(f"{name.replace('-', '_')}-*.dist-info")
    with open(info / "RECORD", newline="") as record:
        return [row[0] for row in csv.reader(record) if row]


NOT_BUILT = ("rnnplay-unbuildable",)  # a folder no wheel can be built of: the tests try to install it as it is
BUILD_WHEELS = """import os, sys
from setuptools import build_meta
wheels, *sources = sys.argv[1:]  # read first: build_wheel sets sys.argv
for source in sources:
    os.chdir(source)
    build_meta.build_wheel(wheels)
"""


def fixture_wheels(folder: Path) -> list[Path]:
    """The wheel of every fixture package (but :data:`NOT_BUILT`) in ``folder``, built now if need be.

    Each fixture's pyproject.toml names setuptools.build_meta as its backend; one process calls the backend's
    build_wheel hook for every package, in the environment running the tests, as pip's ``wheel --no-build-isolation``
    does in three processes a package."""
    names = sorted(p.name for p in FIXTURES.iterdir() if (p / "pyproject.toml").is_file() and p.name not in NOT_BUILT)
    if missing := [name for name in names if not built_wheel(folder, name)]:
        with tempfile.TemporaryDirectory(prefix="rnnplay-fixture-sources-") as sources:
            for name in missing:  # copied, since building writes into the source tree
                shutil.copytree(FIXTURES / name, Path(sources) / name)
            sources_of = [str(Path(sources) / name) for name in missing]
            subprocess.run([sys.executable, "-c", BUILD_WHEELS, str(folder), *sources_of], check=True,
                           capture_output=True)
    wheels = {name: built_wheel(folder, name) for name in names}
    if not all(wheels.values()):
        raise FileNotFoundError(f"no wheel was built for {[n for n, w in wheels.items() if not w]} in {folder}")
    return list(wheels.values())


def built_wheel(folder: Path, name: str) -> Path | None:
    """The wheel of the package ``name`` in ``folder``, if it has been built (its file is named ``name`` with
    underscores for dashes, then a dash and the version)."""
    return next(folder.glob(f"{name.replace('-', '_')}-*.whl"), None)


@contextmanager
def hang_loaded(site: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """rnnplay-hang, pip-installed in ``site``, loaded afresh in this process (its event clear, no forward counted);
    whatever waits on its event is let go at the end."""
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("RNNPLAY_LOAD_PLUGINS", "rnnplay-hang")
    reset_host()
    module = importlib.import_module("rnnplay_hang")
    module.RELEASE.clear()
    module.forwards = 0
    try:
        yield module
    finally:
        module.RELEASE.set()
        reset_host()
