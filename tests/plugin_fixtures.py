"""The plugin packages of tests/fixtures/, pip-installed for real into a folder to put on sys.path or PYTHONPATH,
and rnnplay-hang loaded from there into the test's own process."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
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
