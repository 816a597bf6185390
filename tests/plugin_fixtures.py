"""The plugin packages of tests/fixtures/, pip-installed for real into a folder to put on sys.path or PYTHONPATH;
rnnplay-hang loaded by the test's own process."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from rnnplay.plugins.host import reset_host

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def pip_install_fixtures(names: list[str], work: Path) -> Path:
    """Install the fixture packages ``names`` into ``work/site`` (no index, no build isolation) and return it.

    Each package is copied into ``work`` first, since building writes into the source tree.
    """
    site = work / "site"
    for name in names:
        shutil.copytree(FIXTURES / name, work / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--no-build-isolation",
         "--target", str(site), *(str(work / n) for n in names)],
        check=True, capture_output=True,
    )
    return site


def load_hang(site: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """rnnplay-hang, installed in ``site``, loaded afresh by this process, nothing of it held yet (its event clear,
    no forward counted); the caller sets its event and calls ``reset_host()`` at the end."""
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("RNNPLAY_LOAD_PLUGINS", "rnnplay-hang")
    reset_host()
    module = importlib.import_module("rnnplay_hang")
    module.RELEASE.clear()
    module.forwards = 0
    return module
