"""The plugin packages of tests/fixtures/, pip-installed for real into a folder to put on sys.path or PYTHONPATH."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

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
