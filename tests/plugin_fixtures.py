"""The plugin packages of tests/fixtures/, pip-installed for real into a folder to put on sys.path or PYTHONPATH,
and rnnplay-hang loaded from there into the test's own process."""

from __future__ import annotations

import atexit
import importlib
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


def pip_install_fixtures(names: list[str], work: Path) -> Path:
    """The fixture packages ``names`` pip-installed (no index, no build isolation) into ``work/site``, returned.

    pip runs once per set of names in a test process, into a folder of its own (the packages copied there first,
    since building writes into the source tree); each call gets a copy of what pip wrote, byte for byte, to change
    as it likes (added to what ``work/site`` holds already, as pip's ``--target`` adds).
    """
    key = tuple(sorted(names))
    if key not in INSTALLED:
        pristine = Path(tempfile.mkdtemp(prefix="rnnplay-fixtures-"))
        atexit.register(shutil.rmtree, pristine, ignore_errors=True)
        for name in key:
            shutil.copytree(FIXTURES / name, pristine / name)
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--no-build-isolation",
             "--target", str(pristine / "site"), *(str(pristine / n) for n in key)],
            check=True, capture_output=True,
        )
        INSTALLED[key] = pristine / "site"
    return Path(shutil.copytree(INSTALLED[key], work / "site", symlinks=True, dirs_exist_ok=True))


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
