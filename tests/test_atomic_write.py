"""A file written whole or not at all, and what a write killed midway leaves for the next one to clear."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rnnplay.core.atomic_write import write_atomically
from rnnplay.core.errors import RnnplayError

KILLED_MIDWAY = """
import os, signal, sys
from pathlib import Path
from rnnplay.core.atomic_write import write_atomically

def half(f):
    f.write(b"half a transcript"); f.flush(); os.kill(os.getpid(), signal.SIGKILL)

write_atomically(Path(sys.argv[1]), half)
"""


def test_a_write_killed_midway_leaves_the_file_and_the_next_write_clears_its_temporary(tmp_path: Path) -> None:
    path = tmp_path / "talk.md"
    path.write_text("the earlier transcript")
    killed = subprocess.run([sys.executable, "-c", KILLED_MIDWAY, str(path)], capture_output=True)
    assert killed.returncode == -9
    (left,) = tmp_path.glob(".talk.md.*.tmp")
    assert path.read_text() == "the earlier transcript"
    in_progress = tmp_path / f".talk.md.{os.getpid()}.abc123.tmp"  # this process is alive: a write in progress
    in_progress.write_bytes(b"being written")

    write_atomically(path, lambda f: f.write(b"the new transcript"))

    assert path.read_text() == "the new transcript"
    assert not left.exists()
    assert in_progress.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, in_progress.name])


def test_a_failed_write_is_one_line_with_or_without_a_fix_and_leaves_nothing(tmp_path: Path) -> None:
    def fails(f: object) -> None:
        raise OSError(28, "No space left on device")

    path = tmp_path / "plot.png"
    with pytest.raises(RnnplayError, match=r"^cannot write .*plot\.png: No space left on device; pick another$"):
        write_atomically(path, fails, fix="pick another")
    with pytest.raises(RnnplayError, match=r"^cannot write .*plot\.png: No space left on device$"):
        write_atomically(path, fails, fix=None)
    assert list(tmp_path.iterdir()) == []


def test_a_link_is_written_through_and_stays_a_link(tmp_path: Path) -> None:
    """`--resume link.npz` replaced the link with a file: the checkpoint it pointed at stayed at the old step."""
    (tmp_path / "kept").mkdir()
    target = tmp_path / "kept" / "real.npz"
    target.write_bytes(b"step 30")
    (tmp_path / "link.npz").symlink_to(target)
    write_atomically(tmp_path / "link.npz", lambda f: f.write(b"step 40"))
    assert (tmp_path / "link.npz").is_symlink() and target.read_bytes() == b"step 40"
    assert sorted(p.name for p in (tmp_path / "kept").iterdir()) == ["real.npz"]  # no temporary left beside it
