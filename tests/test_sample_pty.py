"""`rnnplay sample` in a real pseudo-terminal: a sampler that goes quiet (rnnplay-wild's `pause`: greedy, but after
three characters it waits for a file) says it is still at work, and leaves no trace once the text goes on.

With stdout on the terminal the line is drawn on the row under the text, the cursor
kept where the next character goes; with stdout in a file it is drawn on stderr's
terminal and erased at the end. The screens are pyte's, fed the bytes the terminal got.
And a seed typed at the terminal (`--seed -`) that Ctrl+C ends: the last line goes on a line of its own.
"""

from __future__ import annotations

import io
import os
import pty
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from child_env import child_env
from plugin_fixtures import pip_install_fixtures
from pty_screen import TIMEOUT, environment, screen_of

from rnnplay.models.bundled import BUNDLED_MODEL
from rnnplay.ui.cli.cmd_sample import is_file

pexpect = pytest.importorskip("pexpect")
SEED = "ROMEO: Is"  # the bundled model's greedy continuation: " there?" then new lines
ARGS = ["--seed", SEED, "--length", "60"]
QUIET = b"pause is still choosing the next characters (3 of 60 written)"
needs_model = pytest.mark.skipif(not BUNDLED_MODEL.exists(), reason="the bundled model is not installed")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return child_env(pip_install_fixtures(["rnnplay-wild"], tmp_path), base=environment(tmp_path),
                     WILD_RESUME=str(tmp_path / "resume"))


def greedy(env: dict[str, str]) -> str:
    """What `pause` writes in the end: greedy's text."""
    done = subprocess.run([sys.executable, "-m", "rnnplay", "sample", "--sampler", "greedy", *ARGS],
                          capture_output=True, env=env, timeout=TIMEOUT, text=True)
    assert done.returncode == 0, done.stderr
    assert "\n" not in done.stdout[: len(SEED) + 3] and done.stdout.count("\n") > 2
    return done.stdout


@needs_model
def test_on_a_terminal_the_line_goes_under_the_text_and_leaves_no_trace(env: dict[str, str], tmp_path: Path) -> None:
    expected = greedy(env).rstrip("\n").split("\n")
    child = pexpect.spawn(sys.executable, ["-m", "rnnplay", "sample", "--sampler", "pause", *ARGS], env=env,
                          dimensions=(24, 80), timeout=TIMEOUT)
    child.logfile_read = received = io.BytesIO()
    try:
        child.expect_exact(QUIET)
        child.expect_exact(b"\x1b8")  # the cursor back after the line's row
        screen = screen_of(received.getvalue(), 24, 80)
        y, x = screen.cursor.y, screen.cursor.x
        assert screen.display[y].rstrip() == expected[0][: len(SEED) + 3] and x == len(SEED) + 3
        assert QUIET.decode() in screen.display[y + 1]
        (tmp_path / "resume").touch()
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
    shown = [row.rstrip() for row in screen_of(received.getvalue(), 24, 80).display]
    assert shown[: len(expected)] == expected  # the text as greedy writes it, nothing left over
    assert not any("still choosing" in row for row in shown)


@needs_model
def test_with_stdout_in_a_file_the_line_goes_on_stderr_and_the_file_gets_only_the_text(env: dict[str, str],
                                                                                    tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    child = pexpect.spawn("bash", ["-c", 'exec "$@" > "$OUT"', "-", sys.executable, "-m", "rnnplay", "sample",
                                   "--sampler", "pause", *ARGS], env={**env, "OUT": str(out)}, dimensions=(24, 80),
                          timeout=TIMEOUT)
    child.logfile_read = received = io.BytesIO()
    try:
        child.expect_exact(QUIET)
        (tmp_path / "resume").touch()
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
    assert out.read_text() == greedy(env)
    assert not any(row.strip() for row in screen_of(received.getvalue(), 24, 80).display)  # the line erased


def test_only_a_file_or_a_device_that_shows_nothing_counts_as_a_file(tmp_path: Path) -> None:
    """A pipe may end in the terminal that stderr is (``| cat``): no line is drawn on stderr then."""
    with open(tmp_path / "f.txt", "w") as file, open(os.devnull, "w") as null:
        assert is_file(file) and is_file(null)
    read, write = os.pipe()
    master, slave = pty.openpty()
    try:
        with open(write, "w", closefd=False) as pipe, open(slave, "w", closefd=False) as terminal:
            assert not is_file(pipe) and not is_file(terminal)
    finally:
        for fd in (read, write, master, slave):
            os.close(fd)


def typed_at_the_terminal(tmp_path: Path, args: list[str], typed: bytes, then: Callable[[Any], None]) -> Any:
    """``rnnplay ARGS`` reading stdin from a pseudo-terminal: ``typed`` typed (and echoed), then ``then(child)``
    (a Ctrl+C, a Ctrl+D), the child read to its end and closed."""
    child = pexpect.spawn(sys.executable, ["-m", "rnnplay", *args], env=environment(tmp_path), dimensions=(24, 80),
                          timeout=TIMEOUT)
    try:
        child.expect_exact(b"end it with Ctrl+D")
        child.send(typed)
        child.expect_exact(typed.strip())  # echoed: the terminal has it
        then(child)
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    return child


def test_ctrl_c_while_the_seed_is_typed_ends_on_a_line_of_its_own(tmp_path: Path) -> None:
    child = typed_at_the_terminal(tmp_path, ["sample", "--seed", "-"], b"ROMEO", lambda c: c.sendintr())
    assert child.exitstatus == 130
    # after "ROMEO" (and the terminal's echo of Ctrl+C), a new line first: it was "ROMEO^Crnnplay: interrupted"
    assert re.fullmatch(rb"(\^C)?\r\nrnnplay: interrupted\r\n", child.before), child.before


def test_one_ctrl_d_ends_a_text_typed_at_the_terminal(tmp_path: Path) -> None:
    """stdin is read a block at a time (so that `< /dev/zero` is refused at once); at a terminal, a block cut
    short by Ctrl+D is the end, not a reason to read again (which waited for a second Ctrl+D)."""
    child = typed_at_the_terminal(tmp_path, ["score", "--text", "-"], b"To be, or not to be\n", lambda c: c.sendeof())
    assert child.exitstatus == 0
    assert re.search(rb"nats/char \(.* bits\) on 19 characters of stdin", child.before), child.before
