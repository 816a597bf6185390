"""What a program in a pseudo-terminal shows: the environment it runs in there, and the screen that the bytes it
wrote leave on a terminal of a given size (pyte, a terminal emulator)."""

from __future__ import annotations

import os
from pathlib import Path

import pyte
from child_env import python_path

TIMEOUT = 120  # a bound that catches a hang, not a speed claim


def environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RNNPLAY_", "XDG_"))}
    env.update({
        "HOME": str(home), "XDG_DATA_HOME": str(home / "data"), "RNNPLAY_NOHISTORY": "1",
        "RNNPLAY_JIT": "0",  # the numpy path in both processes (`sample` uses it below 25,000 characters)
        "NO_COLOR": "1",  # the seed without its colour, so the text is plain bytes
        "PROMPT_TOOLKIT_NO_CPR": "1",  # pexpect does not answer cursor-position requests
        "TERM": "xterm-256color", "PYTHONPATH": python_path(),
    })
    return env


def screen_of(received: bytes, rows: int, columns: int) -> pyte.Screen:
    """The screen a terminal of rows x columns shows after ``received``."""
    screen = pyte.Screen(columns, rows)
    pyte.ByteStream(screen).feed(received)
    return screen
