"""Ctrl+Q twice (the app) or Ctrl+C twice (the REPL) while the first seed waits for the kernels' compilation leaves
with exit 0, the seed kept.

On a first run the kernels compile for tens of seconds on a busy machine, and a seed typed meanwhile waits for
them. Ctrl+Q twice then left after the stop grace without the seed's thread (nothing interrupts a compilation)
and the app ended 130, as if a plugin had been left behind, though the user asked to leave and lost nothing: the
seed is in the recovery file, and the next start compiles the kernels again. Here `rnnplay` runs in a
pseudo-terminal, its kernels' loading held for good (a ``sitecustomize`` the child imports as it starts), so the
app must leave without the compilation, not wait for it. The REPL had the same 130.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import termios
from fcntl import ioctl
from pathlib import Path

import pytest
from child_env import child_env
from on_a_terminal import ended, started_repl
from pty_screen import TIMEOUT, screen_of
from terminal_reader import TerminalReader
from waiting import wait_for

from rnnplay.models.bundled import BUNDLED_MODEL

ROWS, COLUMNS = 30, 120
SHELL_ONLY = ("RNNPLAY_", "XDG_", "NO_COLOR", "COLUMNS", "LINES")  # what the app must not take from this shell
# the kernels' loading, in the child: marked under way (as jit._import marks it) and never done
HOLD_KERNELS = """\
import threading
from rnnplay.core import jit

def held(module):
    jit._importing.add(module)
    threading.Event().wait()

jit._import = held
"""


def shown(reader: TerminalReader) -> str:
    """The text on the pty's screen now."""
    return "\n".join(screen_of(reader.shown(), ROWS, COLUMNS).display)


def held_kernels_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """An environment whose rnnplay never finishes loading its kernels (HOLD_KERNELS), a short stop grace."""
    if not BUNDLED_MODEL.exists():
        pytest.skip("the bundled model is not installed")
    hold = tmp_path / "hold"
    hold.mkdir()
    (hold / "sitecustomize.py").write_text(HOLD_KERNELS)
    base = {k: v for k, v in os.environ.items() if not k.startswith(SHELL_ONLY)}
    return child_env(hold, base=base, HOME=str(tmp_path), XDG_DATA_HOME=str(tmp_path / "data"), RNNPLAY_NOHISTORY="1",
                     RNNPLAY_STOP_GRACE_SECONDS="0.2", TERM="xterm-256color", **extra)


def kept_conversations(tmp_path: Path) -> str:
    return "".join(f.read_text() for f in (tmp_path / "data" / "rnnplay" / "conversations").glob("*.md"))


def test_ctrl_q_twice_while_the_kernels_compile_leaves_with_0_and_the_seed_kept(tmp_path: Path) -> None:
    env = held_kernels_env(tmp_path)
    master, slave = os.openpty()
    ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "rnnplay"], stdin=slave, stdout=slave, stderr=slave, env=env,
                            start_new_session=True)
    os.close(slave)
    reader = TerminalReader(master)
    try:
        wait_for(lambda: "type a few characters" in shown(reader), "the app's banner", TIMEOUT)
        os.write(master, b"ROMEO:\r")
        wait_for(lambda: "waiting for the compiled kernels" in shown(reader), "the seed waiting for them", TIMEOUT)
        os.write(master, b"\x11")  # Ctrl+Q: the turn under way is said to be stopped, and the same key leaves
        wait_for(lambda: "Ctrl+Q again leaves" in shown(reader), "the first Ctrl+Q's warning", TIMEOUT)
        os.write(master, b"\x11")
        assert proc.wait(TIMEOUT) == 0
        wait_for(reader.ended, "the app's last words", TIMEOUT)
        said = reader.shown().decode(errors="replace")
        assert "left while rnnplay's kernels compiled" in said
        assert "left without it" not in said
        assert "ROMEO:" in kept_conversations(tmp_path)
    finally:
        if proc.poll() is None:
            proc.kill()
        reader.stop()
        os.close(master)


def test_ctrl_c_twice_while_the_kernels_compile_leaves_the_repl_with_0_and_the_seed_kept(tmp_path: Path) -> None:
    child = started_repl([], held_kernels_env(tmp_path, PROMPT_TOOLKIT_NO_CPR="1", NO_COLOR="1"))
    with child:
        child.send("ROMEO:\r")
        child.expect_exact(b"waiting for the compiled kernels")
        child.sendintr()  # the turn is told to stop, and cannot: Ctrl+C again leaves
        child.expect_exact(b"it waits for rnnplay's compiled kernels, which a first run compiles; Ctrl+C again "
                           b"leaves rnnplay")
        child.sendintr()
        child.expect_exact(b"left while rnnplay's kernels compiled")
        assert ended(child) == 0
    assert "ROMEO:" in kept_conversations(tmp_path)
