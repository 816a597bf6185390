"""A conversation not saved with /transcript save is kept when the app or the REPL leaves, even past a hang.

Leaving past a training step or a sampler that never returns (rnnplay-hang, pip-installed for real) ends the
process with ``os._exit``: the turns the user had were gone with it. Now every leave that would lose turns
writes them to a recovery file in the data folder (``conversations/``) and names it in one line on the shell's
screen. The app and the REPL run as a user starts them, in pseudo-terminals.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from plugin_fixtures import pip_install_fixtures
from pty_screen import environment
from terminal_reader import TerminalReader
from waiting import wait_for

pexpect = pytest.importorskip("pexpect")

TIMEOUT = 60  # a bound that catches a hang, not a speed claim
PROMPT = "›".encode()
SMALL = "hidden=8 layers=1 batch=2 seq=8 steps=100000"
KEPT = rb"rnnplay: (.+) not saved with /transcript save(?: \(.+ in all\))?: kept in (\S+\.md)"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return pip_install_fixtures(["rnnplay-hang"], tmp_path_factory.mktemp("hang"))


@pytest.fixture
def env(site: Path, tmp_path: Path) -> dict[str, str]:
    env = environment(tmp_path)
    path = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))  # rnnplay's own checkout kept first
    return {**env, "PYTHONPATH": path, "RNNPLAY_STEP_STALL_SECONDS": "1", "RNNPLAY_LOAD_PLUGINS": "rnnplay-hang"}


def repl(env: dict[str, str], tmp_path: Path, model: Path) -> pexpect.spawn:
    child = pexpect.spawn(sys.executable, ["-m", "rnnplay", "repl", str(model)], env=env, cwd=str(tmp_path),
                          dimensions=(30, 250), timeout=TIMEOUT)
    child.expect_exact(b"type a few characters")
    child.expect_exact(PROMPT)
    return child


def turn(child: pexpect.spawn, line: str) -> None:
    child.send(line + "\r")
    child.expect_exact(PROMPT)


def recovered(match: re.Match[bytes], tmp_path: Path) -> str:
    """The recovery file the line names: in the data folder's conversations/, holding the turns."""
    path = Path(match.group(2).decode())
    assert path.parent == tmp_path / "data" / "rnnplay" / "conversations", path
    return path.read_text()


def ended(child: pexpect.spawn) -> int:
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus


def test_the_repl_keeps_the_turns_when_it_leaves_past_a_hung_step(env: dict[str, str], tmp_path: Path,
                                                                  tiny_path: Path, small_file: Path) -> None:
    """Ctrl+D past a step that never returns exited through os._exit: the turns were gone, said nowhere."""
    child = repl(env, tmp_path, tiny_path)
    try:
        turn(child, "/set seed 3")
        turn(child, "to be")
        turn(child, "/set length 20")
        turn(child, "whether")
        child.send(f"/train {small_file} from=new cell=stuck {SMALL}\r")
        child.expect_exact(b"may never return")
        child.expect_exact(PROMPT)
        child.sendeof()
        child.expect_exact(b"left training step 1 behind")
        child.expect(KEPT)
        assert child.match.group(1) == b"2 turns"
        text = recovered(child.match, tmp_path)
        assert ended(child) == 130
    finally:
        child.close(force=True)
    assert text.startswith("# rnnplay transcript\n\n2 turns, saved ")
    assert "## Turn 1" in text and "```text\nto be\n```" in text and "## Turn 2" in text and "whether" in text
    assert "tiny.npz · temperature" in text and "length 20 · seed 3" in text


def test_the_repl_keeps_the_turn_a_hung_sampler_was_writing(env: dict[str, str], tmp_path: Path,
                                                           tiny_path: Path) -> None:
    """Ctrl+C twice past a sampler that never returns: the turns before it, and the one it was writing."""
    child = repl(env, tmp_path, tiny_path)
    try:
        turn(child, "to be")
        turn(child, "/sampler stuck")
        child.send("romeo\r")
        child.expect_exact(b"stuck is still choosing")
        child.sendcontrol("c")
        child.expect_exact(b"never checks for a stop; Ctrl+C again leaves rnnplay")
        child.sendcontrol("c")
        child.expect(KEPT)
        assert child.match.group(1) == b"2 turns"
        text = recovered(child.match, tmp_path)
        assert ended(child) == 130
    finally:
        child.close(force=True)
    assert "## Turn 2" in text and "```text\nromeo\n```" in text and "still being written when saved: 0 characters" \
        in text


def test_the_repl_keeps_only_what_transcript_save_did_not(env: dict[str, str], tmp_path: Path,
                                                          tiny_path: Path) -> None:
    """A conversation saved whole needs no recovery file; a turn after the save does."""
    child = repl(env, tmp_path, tiny_path)
    try:
        turn(child, "to be")
        turn(child, "/transcript save chat.md")
        child.send("/quit\r")  # typed ahead, it runs after the turn; a Ctrl+D that lands in the turn is dropped
        assert ended(child) == 0
        assert b"not saved with /transcript save" not in child.before
        assert not (tmp_path / "data" / "rnnplay" / "conversations").exists()
        child = repl(env, tmp_path, tiny_path)
        turn(child, "to be")
        turn(child, "/transcript save chat2.md")
        turn(child, "whether")
        child.send("/quit\r")
        child.expect(KEPT)
        assert child.match.group(1) == b"1 turn" and b"(2 turns in all)" in child.match.group(0)  # not "2 turns"
        assert "whether" in recovered(child.match, tmp_path)
        assert ended(child) == 0
    finally:
        child.close(force=True)


def test_the_app_keeps_the_turns_when_it_leaves_past_a_hung_step(env: dict[str, str], tmp_path: Path,
                                                                 tiny_path: Path, small_file: Path) -> None:
    """The app's Ctrl+D past a step that never returns: the farewell names the recovery file."""
    master, slave = os.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "rnnplay", str(tiny_path)], stdin=slave, stdout=slave,
                            stderr=slave, env=env, cwd=tmp_path, start_new_session=True)
    os.close(slave)
    reader = TerminalReader(master)
    try:
        wait_for(lambda: b"type a few characters" in reader.shown(), "the app's first screen", TIMEOUT)
        os.write(master, b"to be\r")
        wait_for(lambda: b"to be" in reader.shown(), "the seed typed", TIMEOUT)
        os.write(master, f"/train {small_file} from=new cell=stuck {SMALL}\r".encode())
        wait_for(lambda: b"may never return" in reader.shown(), "the stall to be named", TIMEOUT)
        os.write(master, b"\x04")
        assert proc.wait(TIMEOUT) == 130
        kept = wait_for(lambda: re.search(KEPT, reader.shown()), "the recovery file named", TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
        reader.stop()
        os.close(master)
    assert kept.group(1) == b"1 turn"
    assert "## Turn 1" in recovered(kept, tmp_path) and "```text\nto be\n```" in recovered(kept, tmp_path)
