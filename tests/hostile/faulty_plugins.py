"""The faulty plugin packages of tests/fixtures/, pip-installed once a module into a folder that every row of
test_plugin_faults.py and test_plugin_advice.py puts on PYTHONPATH, and a model of their cell 'flaky'; and an empty
package index for the rows that run pip (test_plugin_builds.py's too)."""

from __future__ import annotations

import functools
import http.server
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from child_env import python_path
from plugin_fixtures import pip_install_fixtures

from rnnplay.plugins.host import reset_host

from .harness import Outcome, Sandbox

FAULTY = ["rnnplay-fault-sampler", "rnnplay-fault-cell", "rnnplay-fault-loader", "rnnplay-slow-import",
          "rnnplay-interrupt-import", "rnnplay-exit-import", "rnnplay-odd-import", "rnnplay-garbage-hook",
          "rnnplay-sly-names", "rnnplay-wild", "rnnplay-noisy"]
BROKEN_ON_LOAD = "rnnplay-interrupt-import,rnnplay-exit-import,rnnplay-odd-import,rnnplay-garbage-hook"
CORPUS = "To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer.\n" * 6
TINY = ["--hidden", "8", "--layers", "1", "--batch-size", "2", "--seq-length", "8", "--steps", "2"]
MODEL = "flaky.npz"  # a model of the plugin cell 'flaky', in every sandbox's work folder


def on_path(site: Path) -> str:
    """PYTHONPATH with the installed fixtures first (and whatever it held before)."""
    return python_path(site)


def run_here(sandbox: Sandbox, args: list[str], site: Path | None, env: dict[str, str],
             capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Outcome:
    """``rnnplay ARGS`` through rnnplay.ui.cli.main in this process (:meth:`Sandbox.run_in_process`), the plugins
    installed in ``site`` on sys.path (None: none installed) and their modules imported afresh, as a new process
    finds them (rnnplay-garbage-hook prints as it is imported)."""
    if site is not None:
        monkeypatch.syspath_prepend(str(site))
    for module in [name for name in sys.modules if name.startswith("rnnplay_")]:
        monkeypatch.delitem(sys.modules, module)
    reset_host()
    try:
        return sandbox.run_in_process(args, capsys, monkeypatch, env=env)
    finally:
        reset_host()


@pytest.fixture(scope="module")
def faulty_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return pip_install_fixtures(FAULTY, tmp_path_factory.mktemp("faulty"))


@pytest.fixture(scope="module")
def flaky_model(faulty_site: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model of the cell 'flaky', trained while the cell does not fail."""
    box = Sandbox.make(tmp_path_factory.mktemp("model"))
    (box.work / "corpus.txt").write_text(CORPUS)
    out = box.run(["train", "corpus.txt", "--cell", "flaky", *TINY, "--out", MODEL],
                  env={"PYTHONPATH": on_path(faulty_site), "RNNPLAY_LOAD_PLUGINS": "rnnplay-fault-cell"})
    assert out.code == 0, out.stderr
    return box.work / MODEL


@pytest.fixture(scope="module")
def empty_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A package index on 127.0.0.1 that has no distributions at all (every project page is a 404)."""
    root = tmp_path_factory.mktemp("index")
    (root / "simple").mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/simple/"
    server.shutdown()
    server.server_close()
