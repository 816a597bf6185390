"""The plugin packages of tests/fixtures/, pip-installed for real into a folder to put on sys.path or PYTHONPATH,
and rnnplay-hang loaded from there into the test's own process.

Each package is built into a wheel once per test session, and pip installs each set of packages from the wheels once
per session, shared by the session's processes (xdist's workers) in the folder ``$TESTS_FIXTURE_WHEELS``
(tests/conftest.py makes it). pip built and installed each set from source in every test process that used it."""

from __future__ import annotations

import atexit
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
    """The folder pip installed the fixture packages ``names`` into (``--target``), from their wheels, by the first
    process of the session that asks; the others wait on the session folder's lock and take it as it is.

    A test process outside such a session (``$TESTS_FIXTURE_WHEELS`` unset) uses a folder of its own."""
    if not os.environ.get(WHEELS):
        os.environ[WHEELS] = tempfile.mkdtemp(prefix="rnnplay-fixture-wheels-")
        atexit.register(shutil.rmtree, os.environ[WHEELS], ignore_errors=True)
    folder = Path(os.environ[WHEELS])
    site = folder / "sets" / hashlib.sha256(" ".join(names).encode()).hexdigest()[:16] / "site"
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # let go when the file closes
        if not site.is_dir():
            scratch = Path(tempfile.mkdtemp(prefix="site-", dir=folder))  # the whole set or nothing under `site`
            subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target",
                            str(scratch), *map(str, fixture_wheels(folder, names))], check=True, capture_output=True)
            site.parent.mkdir(parents=True)
            scratch.rename(site)
    return site


def fixture_wheels(folder: Path, names: tuple[str, ...]) -> list[Path]:
    """The wheels of the fixture packages ``names`` in ``folder``, those not built yet built now (no index, no build
    isolation), in one pip run."""
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
