"""`rnnplay train --init-from` says what it reads before its run, and only once the run's checks have passed.

`rnnplay train zen.txt --init-from shakespeare` was silent for seconds before its first line while the model read
4,096 characters of the text to place a new character (rnnplay/core/finetune.py). It now says so in one line, with
a bar on a terminal, and Ctrl-C there ends the command with nothing written. The line comes as the reading begins,
after every check that can refuse the run (a vocabulary past its limit, --best with no text held out): a refusal is
the only line. It comes before the run's announcement (`fine-tuning tiny.npz …`), as a corpus's loading bar does:
both are the run being made ready; the announcement says what the run is, and from it on Ctrl-C stops between steps.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from child_env import child_env
from on_a_terminal import ended, spawn, terminal_env
from plugin_fixtures import hang_loaded
from pty_screen import screen_of
from tiny_model import TEXT
from waiting import wait_for

from rnnplay.core.train_config import ModelSpec, TrainConfig
from rnnplay.corpora import Corpus
from rnnplay.session.training_runs import new_run

TIMEOUT = 120  # a bound that catches a hang, not a speed claim
NEW = "§"  # a character the tiny model (tests/tiny_model.py) lacks
TUNE = ["--steps", "1", "--batch-size", "2", "--seq-length", "8", "--val-every", "0"]
READING = "rnnplay: adding 1 new character to tiny.npz: reading 4,096 characters of notes.txt"


def text_with_a_new_character(tmp_path: Path) -> Path:
    path = tmp_path / "notes.txt"
    path.write_text((TEXT + NEW + "\n") * 4)
    return path


def train(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rnnplay", "train", *args], env=child_env(
        XDG_DATA_HOME=str(tmp_path / "d")), capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL,
        cwd=tmp_path)


def test_off_a_terminal_one_line_says_what_the_model_reads_before_the_run(tiny_path: Path, tmp_path: Path) -> None:
    notes = text_with_a_new_character(tmp_path)
    done = train(tmp_path, str(notes), "--init-from", str(tiny_path), *TUNE, "--out", "n.npz")
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert lines[0] == READING and lines[1].startswith("fine-tuning tiny.npz"), lines


def test_a_refused_run_says_only_its_refusal_and_reads_nothing(tiny_path: Path, tmp_path: Path) -> None:
    """--best with no text held out is refused before the corpus loads: the reading line came before it (two
    'rnnplay:' lines for one mistake)."""
    notes = text_with_a_new_character(tmp_path)
    done = train(tmp_path, str(notes), "--init-from", str(tiny_path), *TUNE, "--val-fraction", "0", "--best", "b.npz",
                 "--out", "n.npz")
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("rnnplay: error: --best keeps the checkpoint with the lowest validation loss")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_on_a_terminal_a_bar_shows_the_share_read(tiny_path: Path, tmp_path: Path) -> None:
    notes = text_with_a_new_character(tmp_path)
    shown = io.BytesIO()
    with spawn(["train", str(notes), "--init-from", str(tiny_path), *TUNE, "--out", str(tmp_path / "n.npz")],
               terminal_env(tmp_path), columns=160) as child:
        child.logfile_read = shown
        assert ended(child) == 0, shown.getvalue()
    lines = [line.rstrip() for line in screen_of(shown.getvalue(), 30, 160).display if line.strip()]
    assert lines[0] == READING, lines
    assert lines[1].startswith("reading notes.txt [") and lines[1].endswith("100% 4,096 chars / 4,096 chars"), lines
    assert lines[2].startswith("fine-tuning tiny.npz"), lines


def stuck_model(tmp_path: Path) -> Path:
    """An untrained 1×8 model of rnnplay-hang's cell 'stuck' on TEXT, saved (no forward made)."""
    run = new_run(Corpus("tiny.txt", TEXT, "tests"), ModelSpec("stuck", 1, 8), TrainConfig(steps=1, seed=1))
    return run.save(tmp_path / "stuck.npz")


def test_ctrl_c_while_the_model_reads_ends_the_run_with_nothing_written(hang_site: Path, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The reading is held in the cell (``HANG_READS=wait``) until Ctrl-C comes: no race with its end."""
    with hang_loaded(hang_site, monkeypatch):
        model = stuck_model(tmp_path)
    notes, out, mark = text_with_a_new_character(tmp_path), tmp_path / "out" / "n.npz", tmp_path / "reading"
    out.parent.mkdir()
    env = terminal_env(tmp_path, hang_site, RNNPLAY_LOAD_PLUGINS="rnnplay-hang", HANG_READS="wait",
                        HANG_MARK=str(mark), RNNPLAY_JIT="0")
    shown = io.BytesIO()
    with spawn(["train", str(notes), "--init-from", str(model), *TUNE, "--out", str(out)], env, columns=160) as child:
        child.logfile_read = shown
        child.expect_exact(b"reading notes.txt")  # the bar's label
        wait_for(mark.exists, "the reading to begin")
        child.sendintr()
        assert ended(child) == 130, shown.getvalue()
    lines = [line.rstrip() for line in screen_of(shown.getvalue(), 30, 160).display if line.strip()]
    assert lines[-1] == "rnnplay: interrupted before the first step: nothing was trained or saved", lines
    assert list(out.parent.iterdir()) == []  # no checkpoint, no rescue copy, no lock file left


def test_a_text_too_short_for_the_batches_is_refused_before_the_reading(tiny_path: Path, tmp_path: Path) -> None:
    """A text shorter than one batch (the default 64 x 100) was refused only after the model had read it to place its
    new character: the reading line, seconds of reading (5 s on the bundled model), then the refusal."""
    notes = tmp_path / "notes.txt"
    notes.write_text(TEXT[:3000] + NEW + "\n")  # 2,700 training characters: 64 streams of 101 need 6,464
    done = train(tmp_path, str(notes), "--init-from", str(tiny_path), "--steps", "1", "--out", "n.npz")
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("rnnplay: error: the training text is too short for batch size 64 x sequence length")
    assert "(--batch-size, --seq-length)" in done.stderr and not (tmp_path / "n.npz").exists()
