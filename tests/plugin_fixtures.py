"""The plugin packages of tests/fixtures/, pip-installed for real into a folder to put on sys.path or PYTHONPATH,
and rnnplay-hang loaded from there into the test's own process.

Each package is built into a wheel once per test session, shared by the session's processes (xdist's workers) in
the folder ``$TESTS_FIXTURE_WHEELS`` (tests/conftest.py makes it); pip then installs the wheels. Building was most
of what pip did, once for every set of packages in every test process."""

from __future__ import annotations

import atexit
import fcntl
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
INSTALLED: dict[tuple[str, ...], Path] = {}  # the fixture packages installed so far in this process, by names
WHEELS = "TESTS_FIXTURE_WHEELS"  # the session's folder of built fixture wheels (not RNNPLAY_: sandboxes keep it)


def pip_install_fixtures(names: list[str], work: Path) -> Path:
    """The fixture packages ``names`` pip-installed (no index, no build isolation) into ``work/site``, returned.

    pip runs once per set of names in a test process, into a folder of its own, from the packages' wheels
    (:func:`fixture_wheels`); each call gets a copy of what pip wrote, byte for byte, to change as it likes (added
    to what ``work/site`` holds already, as pip's ``--target`` adds).
    """
    key = tuple(sorted(names))
    if key not in INSTALLED:
        pristine = Path(tempfile.mkdtemp(prefix="rnnplay-fixtures-"))
        atexit.register(shutil.rmtree, pristine, ignore_errors=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
             "--target", str(pristine / "site"), *map(str, fixture_wheels(key))],
            check=True, capture_output=True,
        )
        INSTALLED[key] = pristine / "site"
    return Path(shutil.copytree(INSTALLED[key], work / "site", symlinks=True, dirs_exist_ok=True))


def fixture_wheels(names: tuple[str, ...]) -> list[Path]:
    """The wheels of the fixture packages ``names``, those not built yet this session built now (no index, no build
    isolation), in one pip run, by the first process that asks: the others wait on the folder's lock and take them.

    A test process outside such a session (``$TESTS_FIXTURE_WHEELS`` unset) builds into a folder of its own."""
    if not os.environ.get(WHEELS):
        os.environ[WHEELS] = tempfile.mkdtemp(prefix="rnnplay-fixture-wheels-")
        atexit.register(shutil.rmtree, os.environ[WHEELS], ignore_errors=True)
    folder = Path(os.environ[WHEELS])
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # let go when the file closes
        if missing := [name for name in names if not built_wheel(folder, name)]:
            with tempfile.TemporaryDirectory(prefix="rnnplay-fixture-sources-") as sources:
                for name in missing:  # copied, since building writes into the source tree
                    shutil.copytree(FIXTURES / name, Path(sources) / name)
                subprocess.run(
                    [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-index", "--no-build-isolation",
                     "--wheel-dir", str(folder), *(str(Path(sources) / n) for n in missing)],
                    check=True, capture_output=True,
                )
        wheels = {name: built_wheel(folder, name) for name in names}
    if not all(wheels.values()):
        raise FileNotFoundError(f"pip built no wheel for {[n for n, w in wheels.items() if not w]} in {folder}")
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
