"""Hostile table: `rnnplay plugins install` given a plugin that cannot be built or is not what its name says.

Each row makes its package in the sandbox's work folder (a folder, a wheel or a source archive, as a user would have
downloaded or written it) and runs the real command, with pip, against an empty package index on 127.0.0.1 and
setuptools from Python's own ensurepip wheels (nothing from the network). It ends with exit 1 and rnnplay's one line
last, saying what is wrong with the package and what to do; pip's own messages above it only where they hold the
package's own error (its build raised); no traceback of pip's; and nothing installed: `rnnplay plugins --json` is
the same afterwards. Found: pip ended in its traceback for a pyproject.toml that is not TOML or not UTF-8, a .tar.gz
that is not gzip, and a build-backend that cannot be imported, and rnnplay said "pip install failed (exit 2)"; for the
others it said "pip install failed (exit 1); see pip's messages above", whatever they were.

A row that pip never gets to (the package is refused before it runs) runs the command in the test's process through
rnnplay.ui.cli.main, as do the listings before and after; a row whose pipe could hang the command, and every row that
runs pip (whose messages go to the command's own stdout and stderr), runs it in a process of its own.
"""

from __future__ import annotations

import ensurepip
import io
import json
import os
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rnnplay.plugins.host import reset_host

from .harness import Outcome, Sandbox, assert_nothing_outside, assert_one_line_error

BUNDLED_WHEELS = str(Path(ensurepip.__file__).parent / "_bundled")  # setuptools, for a build that gets that far
SETUPTOOLS = '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
PROJECT = '\n[project]\nname = "rnnplay-hostile"\nversion = "0.1"\n'
MEND = "mend it and install again"
NO_LIST = '[build-system]\nrequires = "setuptools"\n' + PROJECT
NO_BACKEND = '[build-system]\nrequires = ["nosuchbackend"]\nbuild-backend = "nosuchbackend.api"\n' + PROJECT
AGAIN = "download or build it again"


def folder(files: dict[str, str | bytes]) -> Callable[[Path], str]:
    """A plugin folder ./hostile holding ``files``."""
    def make(work: Path) -> str:
        for name, text in files.items():
            path = work / "hostile" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(text if isinstance(text, bytes) else text.encode())
        return "./hostile"
    return make


def fifo(work: Path) -> str:
    """A plugin folder ./hostile whose pyproject.toml is a named pipe no one writes to."""
    (work / "hostile").mkdir()
    os.mkfifo(work / "hostile" / "pyproject.toml")
    return "./hostile"


def wheel_zip(members: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return out.getvalue()


def wheel(metadata: str = "") -> bytes:
    """A wheel of a plugin, whose METADATA ends with the lines ``metadata``."""
    return wheel_zip({
        "rnnplay_hostile/__init__.py": "X = 1\n" * 500,
        "rnnplay_hostile-0.1.dist-info/METADATA": "Metadata-Version: 2.1\nName: rnnplay-hostile\nVersion: 0.1\n"
                                                  + metadata,
        "rnnplay_hostile-0.1.dist-info/WHEEL": "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        "rnnplay_hostile-0.1.dist-info/entry_points.txt": "[rnnplay]\nhostile = rnnplay_hostile\n",
        "rnnplay_hostile-0.1.dist-info/RECORD": "",
    })


WHEEL = wheel()


def sdist(files: dict[str, bytes] | None = None) -> bytes:
    """A gzipped tar of a plugin's folder holding ``files`` (by default a pyproject.toml and a module of
    incompressible text, so that half of it is cut off)."""
    files = files or {"pyproject.toml": (SETUPTOOLS + PROJECT).encode(), "x.py": os.urandom(30000).hex().encode()}
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for name, data in files.items():
            member = tarfile.TarInfo(f"rnnplay_hostile-0.1/{name}")
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data))
    return out.getvalue()


SDIST = sdist()


def file(name: str, data: bytes) -> Callable[[Path], str]:
    """A file ./NAME holding ``data``."""
    def make(work: Path) -> str:
        (work / name).write_bytes(data)
        return f"./{name}"
    return make


HTML = b"<!DOCTYPE html>\n<html><body>Sign in to download</body></html>\n"
PY3 = "rnnplay_hostile-0.1-py3-none-any"
NEVER, QUIET, SHOWN = "pip never runs", "pip runs, its messages not shown", "pip's messages shown"
ROWS = [
    # a folder whose pyproject.toml pip cannot read: checked before pip runs
    pytest.param(folder({"pyproject.toml": SETUPTOOLS + "\n[project\nname = 'x'\n"}), NEVER,
                 ("./hostile's pyproject.toml is not valid TOML", "(at line 5, column 9)", MEND),
                 id="pyproject-not-toml"),
    pytest.param(folder({"pyproject.toml": SETUPTOOLS.encode() + b'\n[project]\nname = "caf\xe9"\n'}), NEVER,
                 ("./hostile's pyproject.toml is not UTF-8 text (byte ", MEND), id="pyproject-not-utf8"),
    pytest.param(folder({"pyproject.toml": NO_LIST}), NEVER,
                 ("[build-system] needs requires, a list of strings", MEND), id="build-requires-not-a-list"),
    pytest.param(folder({"pyproject.toml": "[build-system]\nbuild-backend = 'setuptools.build_meta'\n" + PROJECT}),
                 NEVER, ("[build-system] needs requires",), id="build-system-without-requires"),
    pytest.param(folder({"pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = 3\n' + PROJECT}), NEVER,
                 ("build-backend must be a string",), id="build-backend-not-a-string"),
    pytest.param(fifo, NEVER, ("./hostile's pyproject.toml is not a regular file",), id="pyproject-a-fifo"),
    pytest.param(folder({"pyproject.toml": SETUPTOOLS + PROJECT + "#" * (1 << 21) + "\n"}), NEVER,
                 ("./hostile's pyproject.toml is over 1,048,576 bytes", MEND), id="pyproject-of-2-mb"),
    pytest.param(folder({"pyproject.toml": SETUPTOOLS + PROJECT + 'requires-python = ">=3.99"\n'}), NEVER,
                 ("./hostile needs Python >=3.99 (its pyproject.toml's requires-python), and rnnplay runs on Python",),
                 id="folder-for-a-later-python"),
    # a folder pip gets to build: the backend, then the package's own build code
    pytest.param(folder({"pyproject.toml": SETUPTOOLS.replace("setuptools.build_meta", "nosuchbackend.api") + PROJECT}),
                 QUIET, ("its build-backend 'nosuchbackend.api' cannot be imported from what its [build-system] "
                         "requires (setuptools)",), id="build-backend-not-importable"),
    pytest.param(folder({"pyproject.toml": SETUPTOOLS + PROJECT,
                         "setup.py": "raise RuntimeError('this plugin does not build here')\n"}), SHOWN,
                 ("building ./hostile failed in the plugin's own build code", "nothing was installed"),
                 id="setup-py-raises"),
    # wheels: checked before pip runs
    pytest.param(file(f"{PY3}.whl", WHEEL[: len(WHEEL) // 2]), NEVER, ("is not a whole wheel", AGAIN),
                 id="wheel-cut-off"),
    pytest.param(file(f"{PY3}.whl", HTML), NEVER, ("is not a whole wheel",), id="wheel-an-html-page"),
    pytest.param(file("rnnplay_hostile-0.1-cp27-cp27m-win32.whl", WHEEL), NEVER,
                 ("is built for cp27-cp27m-win32, which this Python", "use a wheel built for this Python"),
                 id="wheel-for-another-python-and-platform"),
    pytest.param(file(f"{PY3}.whl", wheel("Requires-Python: >=3.99\n")), NEVER,
                 ("needs Python >=3.99 (its METADATA's Requires-Python)", "use a version of the plugin made for it"),
                 id="wheel-for-a-later-python"),
    pytest.param(file("rnnplay_hostile.whl", WHEEL), NEVER, ("is not named as a wheel is",), id="wheel-misnamed"),
    pytest.param(file(f"{PY3}.whl", wheel_zip({"rnnplay_hostile/__init__.py": ""})), NEVER,
                 ("a zip file but not a wheel: it holds no .dist-info",), id="wheel-without-dist-info"),
    pytest.param(lambda work: os.mkfifo(work / f"{PY3}.whl") or f"./{PY3}.whl", NEVER,
                 ("is not a regular file (a pipe or a device)",), id="wheel-a-fifo"),
    # source archives: checked before pip runs
    pytest.param(file("rnnplay_hostile-0.1.tar.gz", HTML), NEVER, ("is not a gzip file, which a .tar.gz is", AGAIN),
                 id="sdist-not-gzip"),
    pytest.param(file("rnnplay_hostile-0.1.tar.gz", SDIST[: len(SDIST) // 2]), NEVER,
                 ("is not a whole .tar.gz source archive",), id="sdist-gzip-cut-off"),
    pytest.param(file("rnnplay_hostile-0.1.tar.gz", sdist({"pyproject.toml": b"[project\n"})), NEVER,
                 ("./rnnplay_hostile-0.1.tar.gz's pyproject.toml is not valid TOML", "(at line 1, column 9)",
                  "install the plugin's folder, or another version of it"), id="sdist-pyproject-not-toml"),
    pytest.param(file("rnnplay_hostile-0.1.zip", wheel_zip({"rnnplay_hostile-0.1/pyproject.toml": NO_LIST})), NEVER,
                 ("0.1.zip's pyproject.toml: [build-system] needs requires",), id="sdist-zip-requires-not-a-list"),
    pytest.param(file("rnnplay_hostile-0.1.tar.gz", sdist({"pyproject.toml": NO_BACKEND.encode()})), SHOWN,
                 ("building ./rnnplay_hostile-0.1.tar.gz needs 'nosuchbackend' (its pyproject.toml's [build-system] "
                  "requires it), which the package index does not have",), id="sdist-build-requirement-not-on-index"),
    pytest.param(file("rnnplay_hostile-0.1.tar.bz2", HTML), NEVER, ("is not a bzip2 file",), id="sdist-not-bzip2"),
    pytest.param(file("rnnplay_hostile-0.1.zip", HTML), NEVER, ("is not a whole zip file",), id="sdist-zip-not-zip"),
    pytest.param(file("rnnplay_hostile-0.1.zip", wheel_zip({"rnnplay_hostile-0.1/README": "a plugin\n"})), NEVER,
                 ("0.1.zip holds no Python project: no pyproject.toml or setup.py",), id="sdist-zip-without-a-project"),
    pytest.param(file("rnnplay_hostile-0.1.tar.gz", sdist({"src/pyproject.toml": (SETUPTOOLS + PROJECT).encode()})),
                 NEVER, ("0.1.tar.gz holds no Python project", "as its authors published it"),
                 id="sdist-project-a-folder-too-deep"),
]


FIFOS = ("pyproject-a-fifo", "wheel-a-fifo")  # in a process of their own: one reading the pipe would time out


@pytest.fixture
def fresh_host() -> Iterator[None]:
    """This process finds the installed plugins afresh, and leaves them to be found afresh after the test."""
    reset_host()
    yield
    reset_host()


def listing(sandbox: Sandbox, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> dict:
    """`rnnplay plugins --json` in this process (whose sys.path is the commands' but for their own PYTHONPATH, this
    checkout): a package pip installed into the environment, whole or half-way, is found as a new process finds it."""
    reset_host()
    out = sandbox.run_in_process(["plugins", "--json"], capsys, monkeypatch)
    assert out.code == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.parametrize(("make", "pip", "mentions"), ROWS)
def test_install_refuses(make: Callable[[Path], str], pip: str, mentions: tuple[str, ...], sandbox: Sandbox,
                         empty_index: str, fresh_host: None, capsys: pytest.CaptureFixture[str],
                         monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    target = make(sandbox.work)
    env = {"PIP_CONFIG_FILE": os.devnull, "PIP_NO_INPUT": "1", "PIP_INDEX_URL": empty_index,
           "PIP_FIND_LINKS": BUNDLED_WHEELS}
    plugins_before = listing(sandbox, capsys, monkeypatch)
    before = sandbox.snapshot()
    if pip == NEVER and request.node.callspec.id not in FIFOS:  # refused before pip runs: the same code in process
        out = sandbox.run_in_process(["plugins", "install", target], capsys, monkeypatch, env=env)
    else:  # pip's output goes to the command's stdout and stderr, which only a process of its own has to itself
        out = sandbox.run(["plugins", "install", target], timeout=180, env=env)
    if pip == SHOWN:  # the package's own error, in pip's indented output of its build, stays above rnnplay's line
        assert_after_pip(out, mentions)
    else:
        assert_one_line_error(out, mentions=mentions)
        assert (out.stdout == "") == (pip == NEVER), out.stdout  # pip says "Processing ./hostile" on stdout first
    # pip may cache what it fetched; its User-Agent runs `rustc --version`, and rustup's proxy writes its settings
    assert_nothing_outside(before, sandbox.snapshot(), allowed=("cache/pip/", "home/.rustup/", "work/hostile/"))
    assert listing(sandbox, capsys, monkeypatch) == plugins_before  # nothing installed half-way


def assert_after_pip(out: Outcome, mentions: tuple[str, ...]) -> None:
    assert out.code == 1, out.stderr[-2000:]
    errors = [ln for ln in out.error_lines if ln.startswith("rnnplay: ")]
    assert len(errors) == 1 and out.error_lines[-1] == errors[0], out.error_lines[-5:]
    for words in mentions:
        assert words in errors[0], errors[0]
    assert not [ln for ln in out.stderr.splitlines() if ln.startswith("Traceback")], out.stderr  # pip's own


def test_uninstall_given_a_folder_whose_pyproject_is_a_fifo(sandbox: Sandbox) -> None:
    """Told it is a path, as for any folder; it hung reading the pipe for the package's name to suggest."""
    target = fifo(sandbox.work)
    out = sandbox.run(["plugins", "uninstall", target], timeout=60)
    assert_one_line_error(out, mentions="./hostile is a path: uninstall takes the plugin's distribution name")
