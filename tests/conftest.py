"""Shared fixtures: the benchmark corpus (skipped cleanly when absent), small texts, the kernels on."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from plugin_fixtures import WHEELS, pip_install_fixtures
from tiny_model import build_tiny_model

from rnnplay.core import jit
from rnnplay.session.session import Session

# BLAS sums round differently for each thread count: runs compared bit for bit (in-process
# or in the subprocesses that inherit this) keep one count whatever the machine's load.
os.environ.setdefault("RNNPLAY_THREADS", "1")

# A pytest started as a script's background job (`bash -c '... &'`) has SIGINT ignored, and so has every process it
# starts (an ignored signal stays ignored across exec): the tests of Ctrl-C failed there, nothing interrupted. They
# need what a start from a terminal gives: KeyboardInterrupt here, the default action in the processes started.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# pytest-xdist's workers are given COLUMNS=80 and LINES=24 (a plain pytest has neither), and every process a test
# starts inherits them: rich takes them over a pseudo-terminal's own size, so a 250-column pty's status line was drawn
# 80 wide and folded, only when the suite ran on workers. The processes started see their terminal's size, as a
# user's do.
for _size in ("COLUMNS", "LINES"):
    os.environ.pop(_size, None)

ROOT = Path(__file__).resolve().parents[1]
SHARED_CORPORA = ROOT / ".." / "shared" / "corpora"
SHAKESPEARE = SHARED_CORPORA / "tinyshakespeare.txt"


def pytest_configure(config: pytest.Config) -> None:
    """The session's folder of fixture wheels (tests/plugin_fixtures.py), made by the process that starts the
    workers (or runs the tests) before it starts them, so that every worker inherits it in its environment; and
    bytecode written and read again, whatever the host's environment says (below)."""
    if not hasattr(config, "workerinput") and not os.environ.get(WHEELS):
        os.environ[WHEELS] = tempfile.mkdtemp(prefix="rnnplay-fixture-wheels-")
        config.add_cleanup(lambda: shutil.rmtree(os.environ.pop(WHEELS), ignore_errors=True))
    # PYTHONDONTWRITEBYTECODE=1 (some hosts set it for every process) made each of the suite's thousand `rnnplay`
    # processes compile rnnplay's modules from source, and each worker rewrite every test module's asserts again:
    # the workers, and the processes the tests start, keep bytecode as a default Python does.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    sys.dont_write_bytecode = False


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The order in which .ci/run's workers (``--dist loadfile --no-loadscope-reorder``) are given the test files:
    those marked ``long_file`` first, then the others, each group by its number of tests, most first (xdist's own
    order). By number of tests alone, the long files of a few tests came last, one worker busy with one of them
    while the other had nothing more to do; now each worker starts on long files and short ones fill the end."""
    counts = Counter(item.nodeid.split("::")[0] for item in items)
    long_files = {item.nodeid.split("::")[0] for item in items if item.get_closest_marker("long_file")}

    def place(item: pytest.Item) -> tuple[bool, int]:
        path = item.nodeid.split("::")[0]
        return path not in long_files, -counts[path]

    items.sort(key=place)  # stable: each file's tests stay together, in the order collected


@pytest.fixture(autouse=True)
def compiled_kernels_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with the kernels on: an in-process `rnnplay sample` turns them off for its process."""
    monkeypatch.setattr(jit, "_disabled", False)


@pytest.fixture(autouse=True)
def own_history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test has its own input history and data folder (models, rescued checkpoints), empty at the start."""
    path = tmp_path / "history"
    monkeypatch.setenv("RNNPLAY_HISTORY_FILE", str(path))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.delenv("RNNPLAY_NOHISTORY", raising=False)
    return path


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small trained model saved once per test module (tests/tiny_model.py)."""
    return build_tiny_model(tmp_path_factory.mktemp("model"))


@pytest.fixture
def shakespeare_path() -> Path:
    if not SHAKESPEARE.exists():
        pytest.skip(f"benchmark corpus not found at {SHAKESPEARE}")
    return SHAKESPEARE


@pytest.fixture
def small_text() -> str:
    """A few kB of varied text, enough for a handful of training steps."""
    line = "To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer.\n"
    return "".join(line[i:] + line[:i] for i in range(0, 80, 3)) * 4


@pytest.fixture
def small_file(tmp_path: Path, small_text: str) -> Path:
    path = tmp_path / "small.txt"
    path.write_text(small_text)
    return path


@pytest.fixture(scope="session")
def hang_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """rnnplay-hang (tests/fixtures: a cell, a sampler and a command that can be made to hang) pip-installed for
    real, once per test process: the folder to put on sys.path or PYTHONPATH."""
    return pip_install_fixtures(["rnnplay-hang"], tmp_path_factory.mktemp("hang"))


@pytest.fixture
def tiny_session(tiny_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Session]:
    """A session on the tiny model, its model library in a fresh folder; closed (a training saved) at the end."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    s = Session()
    s.load(str(tiny_path))
    yield s
    s.close()


@pytest.fixture(autouse=True)
def stop_signals_as_they_were() -> Iterator[None]:
    """An in-process ``rnnplay train`` leaves its stop signals ignored on purpose (a late one must not kill the
    exiting program); the tests after it, and the processes they start, get the handlers back as they were."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    yield
    for sig, handler in saved.items():
        if handler is not None:
            signal.signal(sig, handler)


@pytest.fixture
def held_kernels(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """The LSTM's kernels not loaded yet in this process, and their loading held until the event is set (at the
    test's end if not before): a seed typed meanwhile is read only then, as on a first run compiling them."""
    if not jit.enabled() or jit.load(jit.BUILT_IN[0]) is None:
        pytest.skip("no compiled kernels here (RNNPLAY_JIT=0 or no numba)")
    kernels, release = jit.load(jit.BUILT_IN[0]), threading.Event()
    warm_up = kernels.warm_up
    with jit._lock:  # a load under way (an earlier test's, released as it ended) puts its module in the old dict
        monkeypatch.setattr(jit, "_loaded", {})
    monkeypatch.setattr(kernels, "warm_up", lambda: (release.wait(), warm_up()))  # set at the latest as the test ends
    yield release
    release.set()
