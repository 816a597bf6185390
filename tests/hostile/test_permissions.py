"""Hostile table: files and folders a user's own rights do not reach, each one row.

Root reads and writes past permission bits, and CI runs as root; so each row runs the real
command held to those bits as a user is (``harness.drop_root_rights``: root's child loses the
capabilities that pass them). A row takes rights away (chmod) from a folder, a corpus, a
checkpoint, the history file or the corpus cache. Each ends in one line saying what and what to do, or
works without the part it cannot reach; it never ends in a traceback or writes elsewhere.
"""

from __future__ import annotations

import hashlib
import http.server
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from rnnplay.core.cells import LSTMCell
from rnnplay.core.model import Model
from rnnplay.core.vocab import Vocab
from rnnplay.models.bundled import save_model

from .harness import Sandbox, assert_nothing_outside, assert_one_line_error, drop_root_rights

TEXT = "ROMEO: But soft, what light through yonder window breaks?\n" * 40
TINY = ("--steps", "2", "--hidden", "8", "--layers", "1", "--batch-size", "2", "--seq-length", "8",
        "--val-every", "0", "--sample-every", "0")
Prepare = Callable[[Path], None]  # takes rights away below the sandbox root


def locked(*names: str, mode: int = 0) -> Prepare:
    """chmod ``mode`` on each path (relative to the sandbox root)."""
    def prepare(root: Path) -> None:
        for name in names:
            (root / name).chmod(mode)
    return prepare


def read_only(*names: str) -> Prepare:
    return locked(*names, mode=0o555)


def library(mode: int) -> Prepare:
    """The model library made, then chmod ``mode``."""
    def prepare(root: Path) -> None:
        folder = root / "data" / "rnnplay" / "models"
        folder.mkdir()
        folder.chmod(mode)
    return prepare


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    prepare: Prepare
    error: str | tuple[str, ...] | None = None  # the one line's words; None: the command works
    code: int = 0  # its exit code when it works (1: a REPL script with a line that failed)
    out: str | tuple[str, ...] = ""  # what stdout and stderr must hold
    stdin: str | None = None
    cwd: str = "work"  # where it runs, below the sandbox root
    writes: tuple[str, ...] = ()  # what it may create or change (below the sandbox root)


def row(id: str, *args: str, **kw: object) -> object:
    return pytest.param(Case(args, **kw), id=id)  # type: ignore[arg-type]


CANNOT_WRITE = ("cannot write", "permission denied")
REPL = "ROMEO\n/score But soft\n"
ROWS = [
    # rnnplay's data folder (the model library, the input history): unreadable or read-only
    row("models-data-home-unreadable", "models", prepare=locked("data"), out="cannot be reached (permission"),
    row("models-library-unreadable", "models", prepare=library(0), out="cannot be read (permission"),
    row("models-data-folder-read-only", "models", prepare=read_only("data/rnnplay"),
        out="cannot be written (Permission"),
    row("models-library-read-only", "models", prepare=library(0o555), out="cannot be written (Permission"),
    row("sample-bundled-data-home-unreadable", "sample", "shakespeare", "--seed", "ROMEO", "--length", "5",
        prepare=locked("data"), out="ROMEO"),
    row("repl-data-home-unreadable", "repl", "m.npz", stdin=REPL, prepare=locked("data"), out="bits/char"),
    row("repl-history-unreadable", "repl", "m.npz", stdin=REPL, prepare=locked("data/rnnplay/history"),
        out="bits/char"),
    row("repl-data-home-read-only", "repl", "m.npz", stdin=REPL, prepare=read_only("data", "data/rnnplay"),
        out="bits/char"),
    row("train-data-home-unreadable", "train", "c.txt", *TINY, "--out", "new.npz", prepare=locked("data"),
        writes=("work/new.npz",)),
    # outputs in a folder the user cannot write: refused before the first step
    row("train-out-read-only", "train", "c.txt", *TINY, "--out", "ro/m.npz", prepare=read_only("work/ro"),
        error=CANNOT_WRITE),
    row("train-out-unreachable", "train", "c.txt", *TINY, "--out", "ro/m.npz", prepare=locked("work/ro"),
        error=CANNOT_WRITE),
    row("train-default-out-cwd-read-only", "train", "../c.txt", *TINY, cwd="work/ro", prepare=read_only("work/ro"),
        error=("model.npz", *CANNOT_WRITE)),
    row("train-best-read-only", "train", "c.txt", *TINY, "--out", "new.npz", "--best", "ro/best.npz",
        prepare=read_only("work/ro"), error=("best", *CANNOT_WRITE)),
    row("train-plot-read-only", "train", "c.txt", *TINY, "--out", "new.npz", "--plot", "ro/loss.png",
        prepare=read_only("work/ro"), error=("--plot", *CANNOT_WRITE)),
    row("train-resume-out-read-only", "train", "c.txt", *TINY, "--resume", "m.npz", "--out", "ro/m2.npz",
        prepare=read_only("work/ro"), error=CANNOT_WRITE),
    row("train-resume-in-a-read-only-folder", "train", "c.txt", *TINY, "--resume", "ro/m.npz",
        prepare=read_only("work/ro"), error=("--resume ro/m.npz", "or give --out PATH to save the resumed run")),
    row("export-into-read-only", "export", "m.npz", "ro/w.npz", prepare=read_only("work/ro"),
        error=CANNOT_WRITE),
    # inputs the user cannot read
    row("train-corpus-unreadable", "train", "c.txt", *TINY, "--out", "new.npz", prepare=locked("work/c.txt"),
        error=("c.txt", "permission denied")),
    row("train-corpus-folder-unreadable", "train", "dir:texts", *TINY, "--out", "new.npz",
        prepare=locked("work/texts"), error=("texts", "permission denied")),
    row("train-corpus-file-in-folder-unreadable", "train", "dir:texts", *TINY, "--out", "new.npz",
        prepare=locked("work/texts/b.txt"), error=("b.txt", "permission denied")),
    row("corpus-show-unreadable", "corpus", "show", "c.txt", prepare=locked("work/c.txt"),
        error=("c.txt", "permission denied")),
    row("score-file-unreadable", "score", "m.npz", "--file", "c.txt", prepare=locked("work/c.txt"),
        error=("c.txt", "permission denied")),
    row("sample-checkpoint-unreadable", "sample", "m.npz", "--length", "5", prepare=locked("work/m.npz"),
        error=("m.npz", "permission denied")),
    row("score-checkpoint-unreadable", "score", "m.npz", "--text", "ROMEO", prepare=locked("work/m.npz"),
        error=("m.npz", "permission denied")),
    row("neurons-checkpoint-unreadable", "neurons", "m.npz", "--unit", "0:1", "--text", "ROMEO",
        prepare=locked("work/m.npz"), error=("m.npz", "permission denied")),
    row("export-checkpoint-unreadable", "export", "m.npz", "w.npz", prepare=locked("work/m.npz"),
        error=("m.npz", "permission denied")),
    row("resume-checkpoint-unreadable", "train", "c.txt", *TINY, "--resume", "m.npz", "--out", "new.npz",
        prepare=locked("work/m.npz"), error=("m.npz", "permission denied")),
    row("init-from-checkpoint-unreadable", "train", "c.txt", *TINY, "--init-from", "m.npz", "--out", "new.npz",
        prepare=locked("work/m.npz"), error=("m.npz", "permission denied")),
    row("repl-checkpoint-unreadable", "repl", "m.npz", stdin=REPL, prepare=locked("work/m.npz"),
        error=("m.npz", "permission denied")),
    # the app's and the REPL's commands that read or write a path (the session, shared by both)
    row("repl-save-into-read-only", "repl", "m.npz", stdin="/save ro/x.npz\n", prepare=read_only("work/ro"),
        out=("cannot write the checkpoint ro/x.npz: Permission denied"), code=1),
    row("repl-save-into-unreachable", "repl", "m.npz", stdin="/save ro/x.npz\n", prepare=locked("work/ro"),
        out=("cannot write the checkpoint ro/x.npz: Permission denied"), code=1),
    row("repl-transcript-into-read-only", "repl", "m.npz", stdin="ROMEO\n/transcript save ro/t.md\n",
        prepare=read_only("work/ro"), out="cannot write the transcript ro/t.md: Permission denied", code=1),
    row("repl-transcript-into-unreachable", "repl", "m.npz", stdin="ROMEO\n/transcript save ro/t.md\n",
        prepare=locked("work/ro"), out="cannot write the transcript ro/t.md: Permission denied", code=1),
    row("repl-load-unreadable", "repl", "m.npz", stdin="/load ro/m.npz\n", prepare=locked("work/ro/m.npz"),
        out="ro/m.npz: cannot open it (Permission denied)", code=1),
    row("repl-load-from-unreachable", "repl", "m.npz", stdin="/load ro/m.npz\n", prepare=locked("work/ro"),
        out="ro/m.npz: cannot open it (Permission denied)", code=1),
    row("repl-train-library-unreachable", "repl", "m.npz", stdin="/train c.txt steps=2\n", prepare=locked("data"),
        out=("cannot write the model library", "Permission denied", "out=PATH"), code=1),
    row("repl-train-out-read-only", "repl", "m.npz", stdin="/train c.txt steps=2 out=ro/x.npz\n",
        prepare=read_only("work/ro"), out=("cannot write out= ro/x.npz: Permission denied"), code=1),
    row("repl-train-corpus-unreadable", "repl", "m.npz", stdin="/train c.txt steps=2\n",
        prepare=locked("work/c.txt"), out="c.txt: Permission denied", code=1),
    # the corpus cache a download goes to
    row("url-into-read-only-cache", "corpus", "show", "url:{url}/c.txt", prepare=read_only("cache"),
        error=("cache", "permission denied")),
    row("url-into-unreachable-cache", "corpus", "show", "url:{url}/c.txt", prepare=locked("cache"),
        error=("cache", "permission denied")),
    row("card-fetch-into-read-only-cache", "corpus", "fetch", "mini.toml", prepare=read_only("cache"),
        error=("cache", "permission denied")),
    row("card-fetch-into-unreachable-cache", "corpus", "fetch", "mini.toml", prepare=locked("cache"),
        error=("cache", "permission denied")),
    row("card-train-unreachable-cache", "train", "card:mini.toml", *TINY, "--out", "new.npz", prepare=locked("cache"),
        error=("cache", "permission denied")),
    row("card-show-unreachable-cache", "corpus", "show", "card:mini.toml", prepare=locked("cache"),
        out="not downloaded"),
    row("corpus-list-unreachable-cache", "corpus", "list", prepare=locked("cache"), out="cache"),
    # plugins from a folder that cannot be read, or made in one that cannot be written
    row("plugin-install-from-unreadable", "plugins", "install", "ro", prepare=locked("work/ro"),
        error=("cannot read ro", "permission denied")),
    row("plugin-install-below-unreachable", "plugins", "install", "ro/plugin", prepare=locked("work/ro"),
        error=("cannot read ro/plugin", "permission denied")),
    row("plugin-new-into-read-only", "plugins", "new", "x", "--dir", "ro", prepare=read_only("work/ro"),
        error=("cannot create", "permission denied")),
]


@pytest.fixture(scope="module")
def obeys_permissions(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Skip the table where a child cannot be held to permission bits (root in a container that forbids it)."""
    secret = tmp_path_factory.mktemp("probe") / "secret"
    secret.write_text("x")
    secret.chmod(0)
    probe = subprocess.run([sys.executable, "-c", f"open({str(secret)!r})"], preexec_fn=drop_root_rights,
                           capture_output=True, text=True, check=False)
    if "PermissionError" not in probe.stderr:
        pytest.skip(f"a child of these tests reads past permission bits here: {probe.stderr[-300:]!r}")


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 serving c.txt."""
    served = tmp_path_factory.mktemp("served")
    (served / "c.txt").write_text(TEXT)
    handler = type("Quiet", (http.server.SimpleHTTPRequestHandler,), {"log_message": lambda *a: None})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: handler(*a, directory=str(served)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def furnish(box: Sandbox, url: str) -> None:
    """A corpus, a folder of texts, a model, a card of the served text, an earlier session's history, a folder ro."""
    work = box.work
    (work / "c.txt").write_text(TEXT)
    (work / "texts").mkdir()
    for name in ("a.txt", "b.txt"):
        (work / "texts" / name).write_text(TEXT)
    (work / "ro").mkdir()
    (box.root / "data" / "rnnplay").mkdir(parents=True)
    (box.root / "data" / "rnnplay" / "history").write_text("\n# an earlier line\n+ROMEO\n")
    save_model(work / "m.npz", Model(LSTMCell(), Vocab.from_text(TEXT), 8, 1, seed=1))
    shutil.copy(work / "m.npz", work / "ro" / "m.npz")
    (work / "mini.toml").write_text(f'name = "mini"\n[source]\nurl = "{url}/c.txt"\nsize = {len(TEXT)}\n'
                                    f'sha256 = "{hashlib.sha256(TEXT.encode()).hexdigest()}"\n')


@pytest.mark.parametrize("case", ROWS)
def test_a_place_the_user_has_no_rights_to(sandbox: Sandbox, obeys_permissions: None, url: str, case: Case) -> None:
    furnish(sandbox, url)
    case.prepare(sandbox.root)
    before = sandbox.snapshot()
    try:
        out = sandbox.run([a.format(url=url) for a in case.args], stdin=case.stdin, obey_permissions=True,
                          cwd=sandbox.root / case.cwd)
    finally:  # pytest removes the sandbox afterwards: give its folders back their rights
        for path in [sandbox.root, *sandbox.root.rglob("*")]:
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o755)
    said = out.stderr + out.stdout
    assert "Traceback" not in said and "PermissionError" not in said and "bug in rnnplay" not in said, said[-3000:]
    if case.error is not None:
        assert_one_line_error(out, mentions=case.error)
    else:
        assert out.code == case.code, f"exit {out.code}: {out.stderr[-2000:]}"
    for words in (case.out,) if isinstance(case.out, str) else case.out:
        assert words in out.stdout + out.stderr, (out.stdout[-2000:], out.stderr[-2000:])
    assert_nothing_outside(before, sandbox.snapshot(), allowed=(*case.writes, "home/", "data/rnnplay/history"))
