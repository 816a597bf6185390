"""`rnnplay corpus ...` and `rnnplay train` on corpus specs, run as real subprocesses in a fresh environment.

Fresh means: an empty HOME and cache folder, no plugins, and (for tiny shakespeare)
only the mirror folder ../shared/corpora to fetch from — no network needed.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from child_env import python_path

pytestmark = pytest.mark.long_file  # run first (tests/conftest.py)

ROOT = Path(__file__).resolve().parents[1]
MIRROR = ROOT / ".." / "shared" / "corpora"
needs_mirror = pytest.mark.skipif(not (MIRROR / "tinyshakespeare.txt").exists(), reason=f"no corpus at {MIRROR}")
TINY_MODEL = ["--hidden", "16", "--layers", "1", "--batch-size", "4", "--seq-length", "16"]


def rnnplay(tmp_path: Path, *args: str, mirror: str | None = None, cwd: Path | None = None,
            ) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path / "home"), "RNNPLAY_LOAD_PLUGINS": "",
           "RNNPLAY_CACHE_DIR": str(tmp_path / "cache"), "PYTHONIOENCODING": "utf-8"}
    if mirror is not None:
        env["RNNPLAY_CORPUS_MIRROR"] = mirror
    env["PYTHONPATH"] = python_path()  # a work tree tested with another's installed package
    return subprocess.run([sys.executable, "-m", "rnnplay", *args], capture_output=True, text=True, env=env,
                          cwd=cwd or tmp_path, timeout=300)


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("rnnplay: error: ")]
    assert len(lines) == 1, result.stderr
    assert all(f in lines[0] for f in fragments), lines[0]


def test_corpus_list_shows_cards_and_prefixes(tmp_path: Path) -> None:
    result = rnnplay(tmp_path, "corpus", "list")
    assert result.returncode == 0, result.stderr
    for expected in ("tinyshakespeare", "1.1 MB", "not downloaded", "stdlib", "local (stdlib:)",
                     "dir:", "url:", "file:", "card:", str(tmp_path / "cache" / "corpora")):
        assert expected in result.stdout


@needs_mirror
def test_fetch_then_show_a_card_from_the_mirror_folder(tmp_path: Path) -> None:
    fetched = rnnplay(tmp_path, "corpus", "fetch", "tinyshakespeare", mirror=str(MIRROR))
    assert fetched.returncode == 0, fetched.stderr
    copied = f"copied from {(MIRROR / 'tinyshakespeare.txt').resolve()}, 1,115,394 bytes, sha256 verified"
    assert copied in fetched.stdout  # not 'downloaded' from a folder on this machine
    assert "copying tinyshakespeare [" in fetched.stderr and "100%" in fetched.stderr
    shown = rnnplay(tmp_path, "corpus", "show", "tinyshakespeare")  # cached now: no mirror needed
    assert shown.returncode == 0, shown.stderr
    for expected in ("1,115,394 characters", "40,000 lines", "vocabulary:  65 characters", "| First Citizen:",
                     "licence:     public domain", "suggested:   rnnplay train tinyshakespeare --cell lstm"):
        assert expected in shown.stdout
    assert "cached" in rnnplay(tmp_path, "corpus", "list").stdout


def test_show_a_file_in_another_encoding(tmp_path: Path) -> None:
    path = tmp_path / "latin.txt"
    path.write_bytes("Ça va très bien.\n".encode("latin-1"))
    assert_one_line_error(rnnplay(tmp_path, "corpus", "show", str(path)), "byte 0, line 1", "--encoding latin-1")
    shown = rnnplay(tmp_path, "corpus", "show", str(path), "--encoding", "latin-1")
    assert shown.returncode == 0 and "| Ça va très bien." in shown.stdout
    assert "17 characters, 1 line\n" in shown.stdout  # not '1 lines'


def test_bad_specs_are_one_line_errors(tmp_path: Path) -> None:
    (tmp_path / "blob.bin").write_bytes(bytes(range(256)))
    assert_one_line_error(rnnplay(tmp_path, "corpus", "show", "blob.bin"), "binary file")
    assert_one_line_error(rnnplay(tmp_path, "corpus", "show", "tinyshakespear"), "did you mean 'tinyshakespeare'")
    assert_one_line_error(rnnplay(tmp_path, "corpus", "fetch", "shakespeare"), "no corpus card 'shakespeare'")
    assert_one_line_error(rnnplay(tmp_path, "corpus", "show", "dri:notes"), "unknown corpus prefix 'dri:'", "'dir'")
    assert_one_line_error(rnnplay(tmp_path, "train", "missing.txt", "--steps", "1"), "no such file")
    nothing = rnnplay(tmp_path, "corpus", "fetch", "tinyshakespeare", mirror=str(tmp_path))
    assert_one_line_error(nothing, "has none of tinyshakespeare.txt, input.txt")


def test_train_on_the_standard_library(tmp_path: Path) -> None:
    out = tmp_path / "code.npz"
    result = rnnplay(tmp_path, "train", "stdlib:", "--cell", "lstm", "--steps", "20", *TINY_MODEL, "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "on stdlib:" in result.stderr and out.exists()


@needs_mirror
def test_train_tinyshakespeare_from_the_mirror_in_a_fresh_environment(tmp_path: Path) -> None:
    out = tmp_path / "shakespeare.npz"
    result = rnnplay(tmp_path, "train", "tinyshakespeare", "--steps", "20", *TINY_MODEL, "--out", str(out),
                     mirror="../shared/corpora", cwd=ROOT)  # a relative mirror folder works too
    assert result.returncode == 0, result.stderr
    assert "on tinyshakespeare: 1,115,394 chars, vocabulary 65" in result.stderr and out.exists()
    assert (tmp_path / "cache" / "corpora" / "tinyshakespeare" / "tinyshakespeare.txt").exists()


def test_show_a_card_offline_without_downloading(tmp_path: Path) -> None:
    shown = rnnplay(tmp_path, "corpus", "show", "tinyshakespeare")  # no mirror, no cache: the card alone
    assert shown.returncode == 0, shown.stderr
    for expected in ("tinyshakespeare: 40,000 lines", "size:        1,115,394 bytes (1.1 MB), as the card declares",
                     "sha256:      86c4e6aa", "not downloaded: `rnnplay corpus fetch tinyshakespeare`",
                     "suggested:   rnnplay train tinyshakespeare --cell lstm"):
        assert expected in shown.stdout
    assert not (tmp_path / "cache").exists() and "downloading" not in shown.stderr


def suggestion(shown: subprocess.CompletedProcess) -> list[str]:
    line = next(line for line in shown.stdout.splitlines() if line.startswith("suggested:"))
    return shlex.split(line.removeprefix("suggested:"))


def test_a_card_read_from_a_file_is_suggested_by_its_spec(tmp_path: Path) -> None:
    folder = tmp_path / "my cards"
    folder.mkdir()
    (folder / "t.txt").write_text("To be, or not to be, that is the question.\n" * 40)
    head = 'name = "dcard"\ndescription = "d"\nlicence = "CC0"\n'
    (folder / "d.toml").write_text(f'{head}[source]\nspec = "t.txt"\n[train]\ncell = "lstm"\nhidden = 8\n')
    (folder / "u.toml").write_text(f'{head}[source]\nurl = "http://127.0.0.1:9/t.txt"\nsha256 = "{"0" * 64}"\n'
                                   'size = 1000\n[train]\nhidden = 8\n')  # nothing listens on port 9
    shown = rnnplay(tmp_path, "corpus", "show", "card:my cards/d.toml")
    assert shown.returncode == 0, shown.stderr
    command = suggestion(shown)  # it said `rnnplay train dcard`, which finds no such file or card
    assert command == ["rnnplay", "train", "card:my cards/d.toml", "--cell", "lstm", "--hidden", "8"]
    out = tmp_path / "d.npz"
    trained = rnnplay(tmp_path, *command[1:], "--steps", "1", "--batch-size", "2", "--seq-length", "8",
                      "--out", str(out))
    assert trained.returncode == 0 and out.exists(), trained.stderr
    offline = rnnplay(tmp_path, "corpus", "show", "card:my cards/u.toml")
    assert offline.returncode == 0, offline.stderr
    assert suggestion(offline)[:3] == ["rnnplay", "train", "card:my cards/u.toml"]
    assert "`rnnplay corpus fetch 'my cards/u.toml'`" in offline.stdout
    fetched = rnnplay(tmp_path, "corpus", "fetch", "card:my cards/d.toml")  # the spec as train takes it
    assert fetched.returncode == 0 and "there is nothing to download" in fetched.stdout, fetched.stderr
