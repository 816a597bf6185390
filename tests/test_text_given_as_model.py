"""A text file given where a model goes is said to be a text, not a corrupt checkpoint to replace.

`rnnplay sample notes.txt`, `rnnplay tui notes.txt`, `/load notes.txt` (a corpus taken for a model, as a new user
does) said "notes.txt is not a usable rnnplay checkpoint: it is corrupt or truncated (not a zip archive); use another
copy": there is no other copy to use. A file named .npz keeps that line (a checkpoint damaged, or a download cut).
Real subprocesses and files, as a user runs them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from child_env import child_env

TEXT = "ROMEO:\nBut soft, what light through yonder window breaks?\n" * 20


def rnnplay(args: list[str], cwd: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = child_env(XDG_DATA_HOME=str(cwd / "data"), RNNPLAY_NOHISTORY="1")
    return subprocess.run([sys.executable, "-m", "rnnplay", *args], cwd=cwd, env=env, input=stdin,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("args", [["sample", "notes.txt", "--seed", "RO"], ["score", "notes.txt", "--text", "ROMEO"],
                                  ["export", "notes.txt", "out.npz"]])
def test_a_text_as_the_model_of_a_command_says_so(args: list[str], tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text(TEXT)
    done = rnnplay(args, tmp_path)
    assert done.returncode == 1 and done.stdout == "", done.stderr
    assert done.stderr == ("rnnplay: error: notes.txt is not a usable rnnplay checkpoint: it is a text file, not a "
                           "model (a .npz that training saved); `rnnplay train notes.txt`, or /train notes.txt in the "
                           "app, trains one on it\n")
    assert not (tmp_path / "out.npz").exists()


def test_load_of_a_text_in_the_repl_says_so(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text(TEXT)
    done = rnnplay(["repl"], tmp_path, "/load notes.txt\n")
    assert done.returncode == 1
    assert "it is a text file, not a model (a .npz that training saved)" in done.stdout, done.stdout


def test_a_damaged_npz_keeps_its_own_line(tmp_path: Path) -> None:
    (tmp_path / "m.npz").write_text(TEXT)
    done = rnnplay(["sample", "m.npz", "--seed", "RO"], tmp_path)
    assert done.returncode == 1 and "corrupt or truncated (not a zip archive); use another copy" in done.stderr
