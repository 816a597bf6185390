"""Keys typed as `rnnplay` starts, echoed on the shell's screen by the line mode, leave the next line to start afresh.

A seed typed at once after `rnnplay` Enter (as README invites: type `ROMEO:`) is echoed by the terminal's line mode
until rnnplay takes the keys; the app then draws on the alternate screen, and when it left, the shell's screen had
the cursor after that echo: its farewell came glued to it, "ROMEO:rnnplay: training stopped at step 391; saved …",
and so did the shell's next prompt. Here `rnnplay` runs in a pseudo-terminal, the seed typed before it has the
terminal; the shell's screen after it left (the bytes outside the alternate screen, on a terminal emulator) must
show the echo on a line of its own, the cursor at the start of the next.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pyte
import pytest
from on_a_terminal import STARTED, ended, spawn
from pty_screen import screen_of

from rnnplay.models.bundled import BUNDLED_MODEL

ROWS, COLUMNS = 30, 100
ALT_ON, ALT_OFF = b"\x1b[?1049h", b"\x1b[?1049l"  # Textual's alternate screen, which the shell's screen is not


def shells_screen(received: bytes) -> pyte.Screen:
    """The screen the shell shows after ``received``: what was written outside the alternate screen."""
    before, _, rest = received.partition(ALT_ON)
    _, _, after = rest.rpartition(ALT_OFF)
    return screen_of(before + after, ROWS, COLUMNS)


def test_a_seed_typed_before_the_app_has_the_terminal_leaves_the_shells_line_clean(tmp_path: Path) -> None:
    if not BUNDLED_MODEL.exists():
        pytest.skip("the bundled model is not installed")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RNNPLAY_", "XDG_"))}
    env.update({"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data"), "RNNPLAY_NOHISTORY": "1",
                "TERM": "xterm-256color"})
    received = io.BytesIO()
    with spawn([], env, rows=ROWS, columns=COLUMNS) as child:
        child.logfile_read = received
        child.send("ROMEO:")  # at once, in the line mode: echoed on the shell's screen
        child.expect_exact(STARTED)
        child.send("\x11")  # Ctrl+Q: the input holds the seed, so the first only says what leaving loses
        child.expect_exact(b"Ctrl+Q again leaves")
        child.send("\x11")
        assert ended(child) == 0
    screen = shells_screen(received.getvalue())
    rows = [row.rstrip() for row in screen.display]
    assert "ROMEO:" in rows, rows  # the echo alone on its row
    assert (screen.cursor.x, screen.cursor.y) == (0, rows.index("ROMEO:") + 1)  # the next line, from its start
