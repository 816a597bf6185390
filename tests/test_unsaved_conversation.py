"""A conversation not saved with /transcript save is kept when the app or the REPL leaves, even past a hang.

Leaving past a training step or a sampler that never returns (rnnplay-hang, pip-installed for real) ends the
process with ``os._exit``: the turns the user had were gone with it. Now every leave that would lose turns
writes them to a recovery file in the data folder (``conversations/``) and names it in one line on the shell's
screen. The app and the REPL run as a user starts them, in pseudo-terminals.
"""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from child_env import child_env
from on_a_terminal import PROMPT, ended, on_a_terminal, started_repl
from on_a_terminal import run_line as turn
from pty_screen import environment
from stalled_terminal import output_stopped, writing_to
from terminal_reader import TerminalReader
from waiting import wait_for

pexpect = pytest.importorskip("pexpect")

TIMEOUT = 60  # a bound that catches a hang, not a speed claim
SMALL = "hidden=8 layers=1 batch=2 seq=8 steps=100000"
KEPT = rb"rnnplay: (.+) not saved with /transcript save(?: \(.+ in all\))?: kept in (\S+\.md)"


@pytest.fixture
def env(hang_site: Path, tmp_path: Path) -> dict[str, str]:
    return child_env(hang_site, base=environment(tmp_path), RNNPLAY_STEP_STALL_SECONDS="1",
                     RNNPLAY_LOAD_PLUGINS="rnnplay-hang")


def repl(env: dict[str, str], tmp_path: Path, model: Path) -> pexpect.spawn:
    """`rnnplay repl MODEL` in ``tmp_path``, its prompt up (``with`` closes it)."""
    return started_repl([str(model)], env, tmp_path)


def recovered(match: re.Match[bytes], tmp_path: Path) -> str:
    """The recovery file the line names: in the data folder's conversations/, holding the turns."""
    path = Path(match.group(2).decode())
    assert path.parent == tmp_path / "data" / "rnnplay" / "conversations", path
    return path.read_text()


def kept_at_leaving(child: pexpect.spawn, code: int) -> re.Match[bytes]:
    """The line that names the recovery file as the REPL leaves, once it has left with exit code ``code``."""
    child.expect(KEPT)
    kept = child.match
    assert ended(child) == code
    return kept


def test_the_repl_keeps_the_turns_when_it_leaves_past_a_hung_step(env: dict[str, str], tmp_path: Path,
                                                                  tiny_path: Path, small_file: Path) -> None:
    """Ctrl+D past a step that never returns exited through os._exit: the turns were gone, said nowhere."""
    with repl(env, tmp_path, tiny_path) as child:
        for line in ("/set seed 3", "to be", "/set length 20", "whether"):
            turn(child, line)
        turn(child, f"/train {small_file} from=new cell=stuck {SMALL}", b"may never return")
        child.sendeof()
        child.expect_exact(b"left training step 1 behind")
        kept = kept_at_leaving(child, 130)
    text = recovered(kept, tmp_path)
    assert kept.group(1) == b"2 turns" and text.startswith("# rnnplay transcript\n\n2 turns, saved ")
    assert "## Turn 1" in text and "```text\nto be\n```" in text and "## Turn 2" in text and "whether" in text
    assert "tiny.npz · temperature" in text and "length 20 · seed 3" in text


def test_the_repl_keeps_the_turn_a_hung_sampler_was_writing(env: dict[str, str], tmp_path: Path,
                                                           tiny_path: Path) -> None:
    """Ctrl+C twice past a sampler that never returns: the turns before it, and the one it was writing."""
    with repl(env, tmp_path, tiny_path) as child:
        turn(child, "to be")
        turn(child, "/sampler stuck")
        child.send("romeo\r")
        child.expect_exact(b"stuck is still choosing")
        child.sendcontrol("c")
        child.expect_exact(b"never checks for a stop; Ctrl+C again leaves rnnplay")
        child.sendcontrol("c")
        kept = kept_at_leaving(child, 130)
    text = recovered(kept, tmp_path)
    assert kept.group(1) == b"2 turns"
    assert "## Turn 2" in text and "```text\nromeo\n```" in text and "still being written when saved: 0 characters" \
        in text


def test_the_repl_keeps_only_what_transcript_save_did_not(env: dict[str, str], tmp_path: Path,
                                                          tiny_path: Path) -> None:
    """A conversation saved whole needs no recovery file; a turn after the save does."""
    with repl(env, tmp_path, tiny_path) as child:
        turn(child, "to be")
        turn(child, "/transcript save chat.md")
        child.send("/quit\r")  # typed ahead, it runs after the turn; a Ctrl+D that lands in the turn is dropped
        assert ended(child) == 0
        assert b"not saved with /transcript save" not in child.before
    assert not list(conversations(tmp_path).glob("*"))  # the file written after the turn, removed by the save
    with repl(env, tmp_path, tiny_path) as child:
        for line in ("to be", "/transcript save chat2.md", "whether"):
            turn(child, line)
        child.send("/quit\r")
        kept = kept_at_leaving(child, 0)
    assert kept.group(1) == b"1 turn" and b"(2 turns in all)" in kept.group(0)  # not "2 turns"
    assert "whether" in recovered(kept, tmp_path)


def test_the_app_keeps_the_turns_when_it_leaves_past_a_hung_step(env: dict[str, str], tmp_path: Path,
                                                                 tiny_path: Path, small_file: Path) -> None:
    """The app's Ctrl+D past a step that never returns: the farewell names the recovery file."""
    with app_on_a_terminal(env, tmp_path, tiny_path) as (proc, master, reader):
        os.write(master, b"to be\r")
        wait_for(lambda: recovery_holding(tmp_path, "to be"), "the turn kept", TIMEOUT)
        os.write(master, f"/train {small_file} from=new cell=stuck {SMALL}\r".encode())
        wait_for(lambda: b"may never return" in reader.shown(), "the stall to be named", TIMEOUT)
        os.write(master, b"\x04")
        assert proc.wait(TIMEOUT) == 130
        kept = wait_for(lambda: re.search(KEPT, reader.shown()), "the recovery file named", TIMEOUT)
    assert kept.group(1) == b"1 turn"
    assert "## Turn 1" in recovered(kept, tmp_path) and "```text\nto be\n```" in recovered(kept, tmp_path)


def test_the_repl_keeps_the_turns_when_its_window_closes_during_a_turn(env: dict[str, str], tmp_path: Path,
                                                                       tiny_path: Path) -> None:
    """The terminal gone in the middle of a turn (the window closed: SIGHUP, and the terminal answers EIO): putting
    the terminal's modes back after the turn raised termios.error, a traceback, and no recovery file was written."""
    err = tmp_path / "stderr.txt"
    child = pexpect.spawn("bash", ["-c", 'exec "$0" -m rnnplay repl "$1" 2>"$2"', sys.executable, str(tiny_path),
                                   str(err)], env=env, cwd=str(tmp_path), dimensions=(30, 250), timeout=TIMEOUT)
    try:
        child.expect_exact(b"type a few characters")
        child.expect_exact(PROMPT)
        turn(child, "/set length 100000")
        child.send("to be\r")
        child.expect(rb"[\s\S]{3000}")  # the turn streams (its 100,000 characters take far longer than these)
        os.close(child.child_fd)  # the window closes: the kernel hangs up the terminal and sends SIGHUP
        child.closed = True
        assert child.ptyproc.wait() == 128 + 1, err.read_text()
    finally:
        if child.isalive():
            child.terminate(force=True)
    said = err.read_text()
    assert "Traceback" not in said, said
    kept = re.search(KEPT.decode(), said)
    assert kept is not None, said
    assert "to be" in Path(kept.group(2)).read_text()


def conversations(tmp_path: Path) -> Path:
    return tmp_path / "data" / "rnnplay" / "conversations"


def recovery_holding(tmp_path: Path, *texts: str) -> Path | None:
    """The one recovery file once it holds ``texts`` (None before)."""
    files = sorted(conversations(tmp_path).glob("unsaved-*.md")) if conversations(tmp_path).is_dir() else []
    assert len(files) <= 1, files
    return files[0] if files and all(t in files[0].read_text() for t in texts) else None


def test_the_repl_keeps_the_turns_as_it_goes_through_a_kill_9(env: dict[str, str], tmp_path: Path,
                                                              tiny_path: Path) -> None:
    """kill -9 (an OOM kill, a power loss) after two turns: the file was written only at leaving, so none was."""
    with repl(env, tmp_path, tiny_path) as child:
        turn(child, "to be")
        turn(child, "whether")
        path = wait_for(lambda: recovery_holding(tmp_path, "## Turn 2", "```text\nwhether\n```"),
                        "the recovery file to hold both turns", TIMEOUT)
        assert path.name.endswith(f"-{child.pid}.md")
        child.kill(9)
        child.expect(pexpect.EOF)
    text = path.read_text()
    assert text.startswith("# rnnplay transcript\n\n2 turns, saved ") and "```text\nto be\n```" in text
    beside = sorted(p.name for p in conversations(tmp_path).iterdir())  # no temporary file beside it; the lock file
    assert beside == [path.name, f"{path.name}.lock"]  # left: no line named the file (the next session names it)


def test_a_transcript_save_removes_the_recovery_file_and_a_later_turn_writes_it_again(
        env: dict[str, str], tmp_path: Path, tiny_path: Path) -> None:
    """Saved whole, the conversation needs no recovery file; the next turn makes it again, named at leaving."""
    with repl(env, tmp_path, tiny_path) as child:
        turn(child, "to be")
        path = wait_for(lambda: recovery_holding(tmp_path, "to be"), "the recovery file", TIMEOUT)
        turn(child, "/transcript save chat.md")
        assert not path.exists()
        turn(child, "whether")
        wait_for(lambda: recovery_holding(tmp_path, "## Turn 2", "whether"), "the file written again", TIMEOUT)
        assert recovery_holding(tmp_path) == path  # the same name: the process's own
        child.sendeof()
        kept = kept_at_leaving(child, 0)
    assert kept.group(1) == b"1 turn" and b"(2 turns in all)" in kept.group(0)
    assert Path(kept.group(2).decode()) == path


def test_a_data_folder_that_cannot_be_written_is_said_once(env: dict[str, str], tmp_path: Path,
                                                           tiny_path: Path) -> None:
    """Every turn tries the recovery file again; the user reads why it fails once, and once more at leaving."""
    (tmp_path / "data").write_text("not a folder\n")
    with repl(env, tmp_path, tiny_path) as child:
        child.logfile_read = shown = io.BytesIO()
        for seed in ("to be", "whether", "romeo", "juliet"):  # the warning comes from a timer: before or after a prompt
            turn(child, seed)
        child.sendeof()
        child.expect(rb"4 turns not saved with /transcript save, and not kept either")
        assert ended(child) == 0
    assert shown.getvalue().count(b"cannot be kept as it goes") == 1


def test_a_fast_series_of_turns_writes_the_file_once_per_interval(monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    """Ten turns in a row: the first written at once, the other nine together once the interval is past (here an
    hour: none of them yet), then all of them as the session leaves; another PID's file of the same name kept."""
    from rnnplay.session import recovery
    from rnnplay.session.inspection import TurnRecord
    from rnnplay.session.transcript import Conversation

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setattr(recovery, "RECOVERY_SECONDS", 3600.0)
    turns: list[TurnRecord] = []
    rendered: list[int] = []

    def conversation() -> Conversation:
        rendered.append(len(turns))
        return Conversation(list(turns))

    taken = recovery.recovery_path()  # a file of this name from before (another PID namespace's)
    taken.parent.mkdir(parents=True)
    taken.write_text("someone else's\n")
    monkeypatch.setattr(recovery, "recovery_path", lambda: taken)  # the same second and PID: the same name
    warnings: list[str] = []
    kept = recovery.RecoveryFile(conversation, warnings.append)
    kept.follow()
    for n in range(10):
        turns.append(TurnRecord("", f"seed {n}", "text", "tiny.npz"))
        kept.changed()
        if n == 0:
            wait_for(lambda: kept.path is not None, "the first write", TIMEOUT)
    assert rendered == [1] and "seed 0" in kept.path.read_text() and kept.path.name == f"{taken.stem}-2.md"
    assert taken.read_text() == "someone else's\n"
    assert kept.finish() == f"10 turns not saved with /transcript save: kept in {kept.path}"
    assert "seed 9" in kept.path.read_text() and kept.finish() is None and not warnings


def test_the_app_keeps_the_turns_as_it_goes_through_a_kill_9(env: dict[str, str], tmp_path: Path,
                                                             tiny_path: Path) -> None:
    """The app killed outright after two turns: nothing was written before it left."""
    with app_on_a_terminal(env, tmp_path, tiny_path) as (proc, master, _):
        os.write(master, b"to be\r")
        wait_for(lambda: recovery_holding(tmp_path, "to be"), "the first turn kept", TIMEOUT)
        os.write(master, b"whether\r")
        path = wait_for(lambda: recovery_holding(tmp_path, "## Turn 2", "whether"), "both turns kept", TIMEOUT)
        proc.kill()
        assert proc.wait(TIMEOUT) == -9
    assert path.name.endswith(f"-{proc.pid}.md") and "```text\nto be\n```" in path.read_text()


def app_on_a_terminal(env: dict[str, str], cwd: Path,
                      model: Path) -> AbstractContextManager[tuple[subprocess.Popen[bytes], int, TerminalReader]]:
    """The app on ``model`` in a pseudo-terminal of its own, once its first screen is drawn (see
    :func:`on_a_terminal.on_a_terminal`)."""
    return on_a_terminal([str(model)], env, cwd)


NAMED_AT_START = rb"(\d+) unsaved conversations? from (?:a session|sessions) that ended without saying so: (\S+)"


def started_saying(env: dict[str, str], tmp_path: Path, model: Path) -> tuple[bytes, pexpect.spawn]:
    """A REPL started at a terminal: what it said between its greeting and its first prompt (the line naming earlier
    sessions' files, if it has one), and the REPL."""
    child = started_repl([str(model)], env, tmp_path)
    return child.before, child


def test_a_session_killed_outright_has_its_file_named_once_by_the_next(env: dict[str, str], tmp_path: Path,
                                                                      tiny_path: Path) -> None:
    """kill -9 after a turn: the file was there, but nothing ever said so; a session that left naming its file is
    not named again, and the killed one's is named by the next session alone."""
    said, child = started_saying(env, tmp_path, tiny_path)
    try:
        turn(child, "to be")
        child.sendeof()
        child.expect(KEPT)
        told = Path(child.match.group(2).decode())
        assert ended(child) == 0
        said, child = started_saying(env, tmp_path, tiny_path)
        assert b"that ended without saying so" not in said, said  # named at leaving: not named again
        turn(child, "whether")
        killed = wait_for(lambda: [p for p in conversations(tmp_path).glob("*.md") if p != told], "its file",
                          TIMEOUT)[0]
        child.kill(9)
        child.expect(pexpect.EOF)
        child.close()
        said, child = started_saying(env, tmp_path, tiny_path)
        named = re.search(NAMED_AT_START, said)
        assert named is not None and named.group(1) == b"1", said
        assert Path(named.group(2).decode()) == killed and "whether" in killed.read_text()
        child.sendeof()
        assert ended(child) == 0
        said, child = started_saying(env, tmp_path, tiny_path)
        assert b"that ended without saying so" not in said, said  # once
        child.sendeof()
        assert ended(child) == 0
    finally:
        child.close(force=True)
    assert told.exists() and killed.exists()


def test_the_apps_file_is_named_by_the_next_session_when_its_terminal_took_nothing_more(
        env: dict[str, str], tmp_path: Path, tiny_path: Path) -> None:
    """A terminal that takes nothing more (a stalled ssh) while a turn streams, then SIGTERM, then the terminal gone:
    the app's farewell reached nobody, and the file it named was never named anywhere. The next session names it."""
    with app_on_a_terminal(env, tmp_path, tiny_path) as (proc, master, reader):
        os.write(master, b"to be\r")
        wait_for(lambda: recovery_holding(tmp_path, "to be"), "the first turn kept", TIMEOUT)
        os.write(master, b"/set length 100000\r")
        with output_stopped(proc.pid):
            os.write(master, b"whether\r")  # the turn runs, and its drawing waits
            wait_for(lambda: writing_to(proc.pid), "the app's drawing to wait", TIMEOUT)
            proc.send_signal(signal.SIGTERM)
            # The terminal gone, its master end closed (the helper closes /dev/null instead). Its reader stopped
            # first: a select on the master holds it open, and the app's farewell, let through as the block ends,
            # reached a terminal still there and counted as said (the next session named nothing: once in CI).
            reader.stop()
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, master)
            os.close(null)
        assert proc.wait(TIMEOUT) in (128 + signal.SIGHUP, 128 + signal.SIGTERM)
    said, child = started_saying(env, tmp_path, tiny_path)
    try:
        named = re.search(NAMED_AT_START, said)
        assert named is not None and named.group(1) == b"1", said
        assert "```text\nto be\n```" in Path(named.group(2).decode()).read_text()
        child.sendeof()
        assert ended(child) == 0
    finally:
        child.close(force=True)


def test_old_files_are_removed_as_a_session_starts_but_never_a_live_sessions_nor_one_not_named_yet(
        env: dict[str, str], tmp_path: Path, tiny_path: Path) -> None:
    """The files piled up forever. Now a start removes the ones named already that are older than 30 days or past
    the 100 newest; a file whose lock another process holds (a session running beside, here a process holding the
    lock as a session does) stays, however old, and so does an old one no line named yet: it is named first."""
    folder = conversations(tmp_path)
    folder.mkdir(parents=True)
    now = time.time()

    def made(name: str, days: float, lock: bool = False) -> Path:
        path = folder / f"unsaved-{name}.md"
        path.write_text(f"# rnnplay transcript\n\n{name}\n")
        if lock:
            Path(f"{path}.lock").write_text("1 conversation\n")
        os.utime(path, (now - days * 86_400, now - days * 86_400))
        return path

    old, live, unnamed = made("old", 31), made("live", 40, lock=True), made("unnamed", 45, lock=True)
    recent = [made(f"recent-{n:03d}", n / 1000) for n in range(101)]  # the last of them past the 100 newest
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, sys; f = open(sys.argv[1], 'a'); "
                               "fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); sys.stdin.read()",
                               f"{live}.lock"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        said, child = started_saying(env, tmp_path, tiny_path)
        child.sendeof()
        assert ended(child) == 0
    finally:
        holder.communicate(b"")
    named = re.search(NAMED_AT_START, said)
    assert named is not None and Path(named.group(2).decode()) == unnamed, said
    assert not old.exists() and not recent[-1].exists() and all(p.exists() for p in recent[:-1])
    assert live.exists() and Path(f"{live}.lock").exists() and unnamed.exists()
    assert not Path(f"{unnamed}.lock").exists()  # named now: a later start treats it as any file named already


def test_the_apps_farewell_is_said_when_giving_the_terminal_back_hangs(env: dict[str, str], tmp_path: Path,
                                                                      tiny_path: Path) -> None:
    """The terminal stops taking output (flow control, a stalled ssh) as the app leaves on SIGTERM: giving it back
    hangs, and the watchdog ended the process three seconds later without a word, the line naming the recovery file
    lost with it. Now the watchdog writes the farewell first: it comes as soon as the terminal takes output again."""
    with app_on_a_terminal(env, tmp_path, tiny_path) as (proc, master, reader):
        os.write(master, b"to be\r")
        wait_for(lambda: recovery_holding(tmp_path, "to be"), "the turn kept", TIMEOUT)
        since = len(reader.chunks)
        with output_stopped(proc.pid):
            proc.send_signal(signal.SIGTERM)
            wait_for(lambda: writing_to(proc.pid) >= 2 or proc.poll() is not None,
                     "a second write waiting behind the app's own", TIMEOUT)
        assert proc.wait(TIMEOUT) == 128 + signal.SIGTERM
        kept = wait_for(lambda: re.search(KEPT, reader.shown(since)), "the farewell naming the file", TIMEOUT)
    assert kept.group(1) == b"1 turn" and "```text\nto be\n```" in recovered(kept, tmp_path)
