"""`rnnplay repl` in a real pseudo-terminal with a history file it cannot write: one warning line, then it works on.

The REPL keeps each line typed in the input history file. A file that is read-only, one to be made in a folder that
is read-only, or one on a disk gone full used to be skipped without a word, and the user's history silently stopped
being kept. The REPL runs held to permission bits as a user is, even when the tests run as root
(``harness.drop_root_rights``), and the full disk is a real one (a small tmpfs).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from file_limits import small_disk
from hostile.harness import drop_root_rights
from on_a_terminal import EMPTY_PROMPT, PROMPT, STARTED, ended, run_line
from pty_screen import TIMEOUT, environment

from rnnplay.models.bundled import BUNDLED_MODEL

pexpect = pytest.importorskip("pexpect")
pytestmark = pytest.mark.skipif(not BUNDLED_MODEL.exists(), reason="the bundled model is not installed")

WARNING = b"the input history will not be kept: cannot write "
EARLIER = "\n# an earlier session\n+ROMEO\n"


def held_to_permissions(folder: Path) -> None:
    """Skip where a child cannot be held to permission bits (root in a container that forbids it)."""
    secret = folder / "secret"
    secret.write_text("x")
    secret.chmod(0)
    probe = subprocess.run([sys.executable, "-c", f"open({str(secret)!r})"],
                           preexec_fn=drop_root_rights, capture_output=True, text=True, check=False)
    if "PermissionError" not in probe.stderr:
        pytest.skip(f"a child of these tests reads past permission bits here: {probe.stderr[-300:]!r}")


def repl_with_history(home: Path, history: Path) -> pexpect.spawn:
    """``rnnplay repl`` on the bundled model keeping its history in ``history``, its first prompt drawn."""
    env = environment(home)
    del env["RNNPLAY_NOHISTORY"]
    env["RNNPLAY_HISTORY_FILE"] = str(history)
    child = pexpect.spawn(sys.executable, ["-m", "rnnplay", "repl"], env=env, dimensions=(30, 250),
                          timeout=TIMEOUT, preexec_fn=drop_root_rights)
    child.expect_exact(STARTED)
    return child


def read_only_file(folder: Path) -> Path:
    history = folder / "history"
    history.write_text(EARLIER)
    history.chmod(0o444)
    return history


def in_a_read_only_folder(folder: Path) -> Path:
    (folder / "ro").mkdir()
    (folder / "ro").chmod(0o555)
    return folder / "ro" / "history"


@pytest.mark.parametrize(("make", "reason"), [(read_only_file, b"Permission denied"),
                                               (in_a_read_only_folder, b"cannot be written")])
def test_a_history_that_cannot_be_written_is_said_at_start(tmp_path: Path, make: Callable[[Path], Path],
                                                           reason: bytes) -> None:
    held_to_permissions(tmp_path)
    history = make(tmp_path)
    before = history.read_text() if history.exists() else None
    try:
        with repl_with_history(tmp_path, history) as child:
            child.expect_exact(WARNING + str(history).encode())
            child.expect_exact(reason)
            child.expect_exact(b"RNNPLAY_HISTORY_FILE")
            run_line(child, "/show", b"vocab ")  # the REPL works on
            run_line(child, "/set seed 1", b"seed = 1")
            child.sendcontrol("d")
            assert ended(child) == 0
            assert child.before.count(WARNING) == 0  # said once
    finally:
        for path in tmp_path.rglob("*"):
            path.chmod(0o755)
    assert (history.read_text() if history.exists() else None) == before


def test_a_disk_gone_full_is_said_at_the_first_line_not_kept(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", "64k") as disk:
        history = disk / "history"
        history.write_text("")
        with pytest.raises(OSError), open(disk / "filler", "wb") as filler:
            while True:
                filler.write(os.urandom(4096))
                filler.flush()
        with repl_with_history(tmp_path, history) as child:
            child.expect_exact(PROMPT)
            child.send("/show\r")
            child.expect_exact(b"vocab ")
            child.expect_exact(WARNING + str(history).encode())
            child.expect_exact(b"No space left on device")
            child.expect_exact(EMPTY_PROMPT)
            run_line(child, "/set seed 1", b"seed = 1")  # the REPL works on, and says it once
            child.sendcontrol("d")
            assert ended(child) == 0
            assert WARNING not in child.before
        assert history.read_text() == ""
