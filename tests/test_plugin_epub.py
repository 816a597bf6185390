"""plugins/rnnplay-epub is a real package: pip installs it into a temporary --target folder and its own tests pass.

Nothing is installed into the running environment: the plugin's tests run in a
subprocess that finds the package (and its entry point) through PYTHONPATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from child_env import python_path

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = ROOT / "plugins" / "rnnplay-epub"


def test_the_epub_plugin_installs_and_passes_its_own_tests(tmp_path: Path) -> None:
    source = tmp_path / "rnnplay-epub"  # building writes into the tree, so build a copy
    shutil.copytree(PLUGIN, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".pytest_*"))
    target = tmp_path / "site"
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("RNNPLAY_LOAD_PLUGINS", None)
    install = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                              "--target", str(target), str(source)], capture_output=True, text=True, env=env,
                             timeout=300)
    assert install.returncode == 0, install.stderr
    assert (target / "rnnplay_epub").is_dir()
    env["PYTHONPATH"] = python_path(target)
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # its tests need none of the pytest plugins the suite has installed
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], cwd=source,
                           capture_output=True, text=True, env=env, timeout=300)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "5 passed" in tests.stdout
