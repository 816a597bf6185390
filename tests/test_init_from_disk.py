"""`rnnplay train NEW --init-from MODEL`: a disk too small for the checkpoint is refused before the text is read (or,
for the rows of the text's new characters, before the model reads it), the size weighed is the file's, and the line
that says what the model reads counts what it reads.

The free-disk check for --out came once the run was made: after the corpus was read and the model had read its start
to place a new character (seconds to minutes on a large model), as the grown vocabulary, and so the checkpoint's
size, is known only then. What the checkpoint takes is known from the model, the settings and the number of new
characters (rnnplay/session/checkpoint_floor.py): the floor for a text without any is weighed before the text is read,
the text's own once it is read, and a disk that cannot hold it is the only line. The floor had left out the carried
states and the new characters' rows (docs/training.md says how much for the bundled model). The placing reads the
first 4,096 characters of the training split, and the line said the whole text's count for a shorter text, the 10%
held out for validation among them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from child_env import child_env
from file_limits import small_disk
from tiny_model import TEXT

from rnnplay.core.data import split_point
from rnnplay.core.train_config import TrainConfig
from rnnplay.models.bundled import load_model
from rnnplay.session.checkpoint_floor import checkpoint_bytes
from rnnplay.session.training_runs import METADATA_ROOM

TIMEOUT = 300  # a bound that catches a hang, not a speed claim
NEW = "§"  # a character the tiny model (tests/tiny_model.py) lacks
TUNE = ["--steps", "1", "--batch-size", "2", "--seq-length", "8", "--val-every", "0"]
TUNED = TrainConfig(steps=1, batch_size=2, seq_length=8, val_every=0)  # what TUNE sets


def train(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rnnplay", "train", *args], env=child_env(
        XDG_DATA_HOME=str(tmp_path / "d")), capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL,
        cwd=tmp_path)


def test_a_disk_too_small_for_the_models_checkpoint_is_refused_before_the_text_is_read(tiny_path: Path,
                                                                                       tmp_path: Path) -> None:
    least = checkpoint_bytes(load_model(tiny_path, training_state=False).model, TUNED)
    notes = tmp_path / "notes.txt"
    notes.write_text((TEXT + NEW + "\n") * 4)
    with small_disk(tmp_path / "disk", f"{(least - METADATA_ROOM) // 1024}k") as disk:  # less than the least
        done = train(tmp_path, str(notes), "--init-from", str(tiny_path), *TUNE, "--out", str(disk / "n.npz"))
        assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr  # no "adding 1 new character"
        assert done.stderr.startswith(f"rnnplay: error: --out {disk / 'n.npz'}: a checkpoint of this run takes about "
                                      f"{least:,} bytes, and only "), done.stderr
        assert list(disk.iterdir()) == []


def test_the_placing_line_counts_the_training_split_it_reads(tiny_path: Path, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    text = NEW + TEXT[:999]
    notes.write_text(text)
    done = train(tmp_path, str(notes), "--init-from", str(tiny_path), *TUNE, "--out", "n.npz")
    assert done.returncode == 0, done.stderr
    read = split_point(len(text), 0.1)  # the first 90%: the rest is held out for validation, and not read
    assert done.stderr.splitlines()[0] == (f"rnnplay: adding 1 new character to tiny.npz: reading {read:,} characters "
                                           "of notes.txt"), done.stderr


def test_the_size_weighed_is_the_size_of_the_file_a_run_writes(tiny_path: Path, tmp_path: Path) -> None:
    """The estimate's arrays are the written file's, byte for byte (the carried states and the new characters' rows
    among them: they were left out), and the file fits in it, metadata included."""
    notes = tmp_path / "notes.txt"
    notes.write_text((TEXT + NEW + "\n") * 4)
    done = train(tmp_path, str(notes), "--init-from", str(tiny_path), *TUNE, "--out", "n.npz")
    assert done.returncode == 0, done.stderr
    size = checkpoint_bytes(load_model(tiny_path, training_state=False).model, TUNED, added=1)
    with np.load(tmp_path / "n.npz") as written:
        arrays = sum(written[name].nbytes for name in written.files if name != "__meta__")
    assert size - METADATA_ROOM == arrays and (tmp_path / "n.npz").stat().st_size <= size


def test_a_disk_too_small_for_the_new_characters_rows_is_refused_before_the_model_reads_the_text(
        tiny_path: Path, tmp_path: Path) -> None:
    """A disk that holds the checkpoint of a text without new characters but not this text's: refused once the text
    is read, before the model reads it to place them (it said so after, when the run was made)."""
    model = load_model(tiny_path, training_state=False).model
    new = "".join(chr(0x4E00 + i) for i in range(300))  # characters the tiny model lacks
    notes = tmp_path / "notes.txt"
    notes.write_text((TEXT + new + "\n") * 4)
    without, grown = checkpoint_bytes(model, TUNED), checkpoint_bytes(model, TUNED, added=len(new))
    with small_disk(tmp_path / "disk", f"{(without + grown) // 2 // 1024}k") as disk:
        done = train(tmp_path, str(notes), "--init-from", str(tiny_path), *TUNE, "--out", str(disk / "n.npz"))
        assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr  # no "adding 300 new characters"
        assert done.stderr.startswith(f"rnnplay: error: --out {disk / 'n.npz'}: a checkpoint of this run takes about "
                                      f"{grown:,} bytes, and only "), done.stderr
        assert list(disk.iterdir()) == []
