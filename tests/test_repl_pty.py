"""`rnnplay repl` in a real pseudo-terminal (pexpect): what the terminal receives is what `rnnplay sample` prints.

The REPL runs as a user starts it, on the bundled model, in a terminal of a given
size. The test sets the same random seed in both, types the seed, and looks for
`rnnplay sample`'s whole output -- 800 characters of some 30 lines (more than the screen holds), the last one
unfinished -- verbatim in the bytes the terminal received (the terminal turns each
"\n" into "\r\n"), followed at once by the next prompt. Keys typed while the text
streams must neither land inside it nor be lost. A turn that goes quiet mid-line shows
its spinner on the row below, and the screen (pyte, a terminal emulator fed the same
bytes) keeps no trace of it once the text goes on.
"""

from __future__ import annotations

import fcntl
import io
import os
import re
import signal
import struct
import subprocess
import sys
import termios
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from child_env import child_env
from folder_swap import replaced_by_a_file
from on_a_terminal import (
    EMPTY_PROMPT,
    PROMPT,
    SELECTS,
    STOPPED,
    ended,
    on_a_terminal,
    run_line,
    started_repl,
    stop_the_turn,
    waits_in_select,
)
from plugin_fixtures import pip_install_fixtures
from pty_screen import TIMEOUT, environment, screen_of
from terminal_reader import TerminalReader
from waiting import wait_for

from rnnplay.models.bundled import BUNDLED_MODEL

pexpect = pytest.importorskip("pexpect")
pytestmark = [pytest.mark.skipif(not BUNDLED_MODEL.exists(), reason="the bundled model is not installed"),
              pytest.mark.long_file]  # run first (tests/conftest.py)

LENGTH = 800  # more lines than a 24-row screen: it scrolls
SEED = "ROMEO:"
ESCAPES = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")  # CSI and OSC sequences
LONG_TURN = re.compile(rb"KING:[^\x1b]{200}")  # the turn's seed and 200 bytes of its text (no escape: not the echo)
PASTE = "To be, or not to be\n/quit\nthat is the question"  # pasted during a turn: one input, not three lines
PROMPTED = ["› To be, or not to be", "… /quit", "… that is the question"]  # PASTE at the prompt, on the screen


def ground_truth(env: dict[str, str], seed: str, length: int) -> bytes:
    """What `rnnplay sample` prints for ``seed`` with --rng-seed 1 (seed, continuation, a newline)."""
    done = subprocess.run([sys.executable, "-m", "rnnplay", "sample", "--seed", seed, "--length", str(length),
                           "--rng-seed", "1"], capture_output=True, env=env, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr
    return done.stdout


def on_terminal(text: bytes) -> bytes:
    return text.replace(b"\n", b"\r\n")  # what a terminal receives: the tty turns each \n into \r\n


def visible(received: bytes) -> bytes:
    """The bytes without escape sequences, carriage returns and newlines."""
    return ESCAPES.sub(b"", received).replace(b"\r", b"").replace(b"\n", b"")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return environment(tmp_path)


@pytest.fixture(scope="module")
def romeo(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return ground_truth(environment(tmp_path_factory.mktemp("home")), SEED, LENGTH)


def repl(env: dict[str, str], rows: int = 24, columns: int = 80) -> pexpect.spawn:
    """`rnnplay repl` on the bundled model in a rows x columns pseudo-terminal, its prompt up (``with`` closes it)."""
    return started_repl([], env, rows=rows, columns=columns)


def long_turn(child: pexpect.spawn) -> None:
    """A turn of 100,000 characters, well under way."""
    run_line(child, "/set length 100000", b"length = 100000 chars")
    child.send("KING:\r")
    child.expect(LONG_TURN)


@pytest.mark.parametrize(("rows", "columns"), [(24, 80), (24, 40)])  # 40: most lines are longer than a row
def test_streamed_text_equals_rnnplay_sample_byte_for_byte(
    env: dict[str, str], romeo: bytes, rows: int, columns: int
) -> None:
    expected = romeo
    assert expected.count(b"\n") > 24 and not expected[:-1].endswith(b"\n")  # many lines, the last unfinished
    with repl(env, rows, columns) as child:
        run_line(child, "/set seed 1", b"seed = 1")
        run_line(child, f"/set length {LENGTH}", f"length = {LENGTH} chars".encode())
        child.send(SEED + "\r")
        child.expect_exact(on_terminal(expected[:40]))  # streaming has begun
        child.send("/sho")  # typed meanwhile: not echoed into the text, kept for the next prompt
        child.expect_exact(on_terminal(expected[40:]))  # the rest, verbatim and contiguous
        child.expect_exact(PROMPT)
        assert visible(child.before) == b""  # nothing between the text and the next prompt
        child.send("w\r")  # completes the '/sho' typed ahead
        child.expect_exact(b"vocab ")


def test_ctrl_c_stops_a_generation_and_the_repl_goes_on(env: dict[str, str]) -> None:
    with repl(env) as child:
        long_turn(child)
        stop_the_turn(child)
        run_line(child, "/show", b"vocab ")
        child.sendcontrol("d")
        assert ended(child) == 0


def pasted(text: str, received: bytes) -> bytes:
    """What a terminal sends for a paste of ``text``: marked (ESC[200~ ... ESC[201~) while the program's last word on
    it was bracketed paste on (ESC[?2004h), keys otherwise; each newline sent as Enter (CR), as tmux pastes it."""
    marked = received.rfind(b"\x1b[?2004h") > received.rfind(b"\x1b[?2004l")
    keys = text.replace("\n", "\r").encode()
    return b"\x1b[200~" + keys + b"\x1b[201~" if marked else keys


def test_a_paste_during_a_turn_is_one_input_at_the_next_prompt(env: dict[str, str]) -> None:
    """A paste of three lines, the second `/quit`, while a turn streams: prompt-toolkit turned bracketed paste off as
    the prompt ended, so the paste came as keys and the next prompt ran each line as typed: its first as a seed, then
    `/quit` ended the REPL (a 6 KB paste became ~130 turns). Now it stays on during a turn: the paste is one input."""
    with repl(env) as child:
        child.logfile_read = received = io.BytesIO()
        long_turn(child)
        child.send(pasted(PASTE, received.getvalue()))
        child.sendintr()
        child.expect_exact(STOPPED)
        child.expect_exact(PROMPT)  # the paste in it
        child.send("\r")  # the three lines run as one seed
        child.expect_exact(on_terminal(PASTE.encode()))
        stop_the_turn(child)
        run_line(child, "/show", b"vocab ")  # still here: `/quit` was a line of the seed


def test_a_quoted_block_is_a_three_line_seed(env: dict[str, str]) -> None:
    expected = ground_truth(env, "KING:\\nGood morrow\\nROMEO:", 100)
    with repl(env) as child:
        run_line(child, "/set seed 1", b"seed = 1")
        run_line(child, "/set length 100", b"length = 100 chars")
        child.send('"""\r')
        child.expect_exact("…".encode())  # the continuation prompt: the block is open
        child.send("KING:\rGood morrow\rROMEO:")
        child.send('"""\r')
        child.expect_exact(on_terminal(expected))
        child.expect_exact(PROMPT)
        assert visible(child.before) == b""


def test_a_turn_quiet_mid_line_spins_on_the_row_below_and_leaves_no_trace(env: dict[str, str],
                                                                          tmp_path: Path) -> None:
    seed = "ROMEO: Is"  # the bundled model's greedy continuation: " there?" then new lines
    site = pip_install_fixtures(["rnnplay-wild"], tmp_path)
    env = child_env(site, base=env, WILD_RESUME=str(tmp_path / "resume"))  # `pause` waits for it
    done = subprocess.run([sys.executable, "-m", "rnnplay", "sample", "--sampler", "greedy", "--seed", seed,
                           "--length", "60"], capture_output=True, env=env, timeout=TIMEOUT)
    expected = done.stdout.decode().rstrip("\n").split("\n")  # `pause` picks what greedy picks
    assert "\n" not in expected[0][: len(seed) + 3] and len(expected) > 2
    with repl(env) as child:
        child.logfile_read = received = io.BytesIO()
        run_line(child, "/sampler pause", b"sampler: pause")
        run_line(child, "/set length 60", b"length = 60 chars")
        child.send(seed + "\r")
        child.expect_exact(b"pause is still choosing the next characters (3 of 60 written)")
        child.expect_exact(b"\x1b8")  # the cursor back after the spinner's row
        screen = screen_of(received.getvalue(), 24, 80)
        y, x = screen.cursor.y, screen.cursor.x
        assert screen.display[y].rstrip() == expected[0][: len(seed) + 3] and x == len(seed) + 3
        assert "pause is still choosing the next characters" in screen.display[y + 1]
        (tmp_path / "resume").touch()
        child.expect_exact(EMPTY_PROMPT)
        shown = [row.rstrip() for row in screen_of(received.getvalue(), 24, 80).display]
    start = shown.index(expected[0])
    assert shown[start : start + len(expected)] == expected  # the text as `sample` prints it, nothing left over
    assert not any("still choosing" in row for row in shown)


def start_training(child: pexpect.spawn, tmp_path: Path, out: Path) -> None:
    """A /train in the background that runs until the REPL stops it, its checkpoint going to ``out``, once its first
    step is made (a training stopped before it saves nothing)."""
    (tmp_path / "corpus.txt").write_text("To be, or not to be: that is the question.\n" * 200)
    run_line(child, f"/train {tmp_path / 'corpus.txt'} from=new hidden=16 layers=1 steps=100000 out={out}",
             b"/stop ends it")
    child.expect_exact(b"training: step 1 ")


@pytest.mark.parametrize("leave", ["ctrl-c-twice", "sigterm"])
def test_a_turn_that_never_stops_is_left_and_the_training_saved(env: dict[str, str], tmp_path: Path,
                                                                leave: str) -> None:
    """A plugin's sampler that never checks for a stop (`pause`, its file never made) held the REPL for good:
    Ctrl+C and SIGTERM did nothing, and a /train running beside it was never saved. Then the line named no plugin,
    and Ctrl+C twice exited 0."""
    site = str(pip_install_fixtures(["rnnplay-wild"], tmp_path))
    env = child_env(site, base=env, WILD_RESUME=str(tmp_path / "never"))
    out = tmp_path / "run.npz"
    with repl(env) as child:
        start_training(child, tmp_path, out)
        run_line(child, "/sampler pause", b"sampler: pause")
        child.send("ROMEO:\r")
        child.expect_exact(b"pause is still choosing")
        if leave == "sigterm":
            child.kill(signal.SIGTERM)
            child.expect_exact(b"it does not stop: the sampler 'pause' from rnnplay-wild never checks for a stop; "
                               b"leaving")
        else:
            child.sendcontrol("c")
            child.expect_exact(b"it does not stop: the sampler 'pause' from rnnplay-wild never checks for a stop; "
                               b"Ctrl+C again leaves rnnplay")
            child.sendcontrol("c")
        child.expect_exact(b"saved")
        assert ended(child) == (143 if leave == "sigterm" else 130)  # the turn left behind: not a clean 0
    assert out.exists() and not list(tmp_path.glob("*.lock"))


def test_ctrl_d_stays_once_when_the_training_could_not_be_saved(env: dict[str, str], tmp_path: Path) -> None:
    """Ctrl+D left at once, exit 0, while the training's checkpoint and its rescue copy had failed: the error's
    own advice, '/save PATH keeps it', came too late. Now it stays once, and the second Ctrl+D exits 1."""
    (tmp_path / "o").mkdir()
    with repl(env) as child:
        start_training(child, tmp_path, tmp_path / "o" / "m.npz")
        replaced_by_a_file(tmp_path / "o", tmp_path / "gone")  # --out cannot be written
        data = Path(env["XDG_DATA_HOME"])
        data.mkdir(exist_ok=True)
        (data / "rnnplay").write_text("a file where the data folder was")  # nor can the rescue copy
        child.sendeof()
        child.expect_exact(b"the rescue copy failed too")
        child.expect_exact(b"the trained model is not saved anywhere: /save PATH keeps it; Ctrl+D again leaves")
        child.expect_exact(EMPTY_PROMPT)
        child.sendeof()
        child.expect_exact(b"the trained model was not saved anywhere, and is gone with the REPL")
        assert ended(child) == 1


def test_the_terminal_stays_raw_while_lines_print_above_the_prompt_so_ctrl_d_is_seen(env: dict[str, str],
                                                                                      tmp_path: Path) -> None:
    """A training's lines printed above the prompt went through prompt-toolkit's run_in_terminal, which put the
    terminal in cooked mode meanwhile: a Ctrl+D pressed then was the terminal's own end of file, lost to the REPL
    (the prompt never saw it; seen in the suite as a Ctrl+D that did nothing). Here a sample is printed after every
    step; the terminal's mode is read all the while, then Ctrl+D leaves, the training saved."""
    out = tmp_path / "m.npz"
    (tmp_path / "corpus.txt").write_text("To be, or not to be: that is the question.\n" * 200)
    with repl(env) as child:
        run_line(child, f"/train {tmp_path / 'corpus.txt'} from=new hidden=16 layers=1 steps=100000 sample_every=1 "
                 f"out={out}", b"/stop ends it")
        child.expect_exact(b"training: step 1 ")
        modes = [termios.tcgetattr(child.child_fd)[3] & termios.ICANON for _ in range(200_000)]
        assert not any(modes), f"cooked in {sum(1 for m in modes if m):,} of {len(modes):,} reads"
        child.sendeof()
        child.expect_exact(b"saved")
        assert ended(child) == 0
    assert out.exists()


def test_ctrl_backslash_while_a_turn_streams_loses_no_training(env: dict[str, str], tmp_path: Path) -> None:
    """Ctrl+\\ during a turn sent SIGQUIT (the terminal's signal keys stay on while a turn streams) and ended the
    REPL at once, exit 131: a /train running in it was lost, its lock file left. Now the key does nothing there, as
    at the prompt: the turn goes on, and the training is saved when the REPL leaves."""
    out = tmp_path / "run.npz"
    with repl(env) as child:
        start_training(child, tmp_path, out)
        long_turn(child)
        child.send("\x1c")  # Ctrl+\\
        child.expect(rb"[^\x1b]{200}")  # the turn goes on
        stop_the_turn(child)
        child.sendeof()
        child.expect_exact(b"saved")
        assert ended(child) == 0, child.signalstatus
    assert out.exists() and not list(tmp_path.glob("*.lock"))


def test_a_turn_stopped_and_brought_back_sets_its_terminal_mode_again(env: dict[str, str]) -> None:
    """Ctrl+Z mid-turn, then `fg`: the shell puts its own mode back while the REPL is stopped, and the turn went on
    with keys echoed into its text and type-ahead flushed by Ctrl+C (``echo -noflsh``). SIGCONT now sets the
    streaming mode again. (SIGSTOP stands for Ctrl+Z: the kernel drops a terminal's SIGTSTP to this orphaned
    process group.)"""
    with repl(env) as child:
        long_turn(child)
        streaming = termios.tcgetattr(child.child_fd)  # the pty's master reads and sets the terminal's mode
        assert not streaming[3] & termios.ECHO and streaming[3] & termios.NOFLSH
        child.kill(signal.SIGSTOP)
        shell = list(streaming)
        shell[3] = (shell[3] | termios.ECHO) & ~termios.NOFLSH  # what the shell puts back
        termios.tcsetattr(child.child_fd, termios.TCSANOW, shell)
        child.kill(signal.SIGCONT)
        wait_for(lambda: termios.tcgetattr(child.child_fd)[3] == streaming[3], "the streaming mode again", TIMEOUT)
        stop_the_turn(child)
        run_line(child, "/show", b"vocab ")


def typed_ahead(pid: int) -> int:
    """The bytes of whole lines process ``pid``'s terminal holds typed and not yet read (FIONREAD on its end)."""
    slave = os.open(os.readlink(f"/proc/{pid}/fd/0"), os.O_RDWR | os.O_NOCTTY)
    try:
        return struct.unpack("i", fcntl.ioctl(slave, termios.FIONREAD, b"\0" * 4))[0]
    finally:
        os.close(slave)


def catches_sigtstp(pid: int) -> bool:
    """Whether process ``pid`` has a handler of its own for SIGTSTP (the REPL's, set again once Ctrl+Z is over)."""
    caught = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("SigCgt"))
    return bool(int(caught.split()[1], 16) >> (signal.SIGTSTP - 1) & 1)


def test_lines_typed_ahead_are_not_left_to_the_shell_when_a_turn_is_stopped(env: dict[str, str]) -> None:
    """Lines typed during a turn, then Ctrl+Z: the terminal held them for the prompt (NOFLSH), so the shell read them
    as its commands while the REPL was stopped (`JULIET:`: command not found; a seed `rm *` would have run). The
    REPL now takes them off the terminal as it stops, and its next prompt runs them. (The stop itself is dropped by
    the kernel in this orphaned process group: the REPL goes on, as after `fg`.) Every step waits for what shows it
    happened: the line in the terminal, then gone from it with the handler back, then on the screen."""
    with repl(env) as child:
        long_turn(child)
        child.send("JULIET:\r")
        wait_for(lambda: typed_ahead(child.pid) > 0, "the line typed ahead", TIMEOUT)
        child.kill(signal.SIGTSTP)
        wait_for(lambda: typed_ahead(child.pid) == 0 and catches_sigtstp(child.pid), "the line taken", TIMEOUT)
        child.sendintr()
        child.expect_exact(STOPPED)
        child.expect_exact(PROMPT + b" JULIET:")  # the prompt drawn with the line kept (it may never be drawn empty)
        child.expect(re.compile(rb"JULIET:[^\x1b]{200}"))  # run: its turn streams (Ctrl+C before that is a key)
        stop_the_turn(child)


def setsid_repl(env: dict[str, str]) -> AbstractContextManager[tuple[subprocess.Popen[bytes], int, TerminalReader]]:
    """`setsid -w rnnplay repl`: the REPL on a 24 x 80 terminal that is not its controlling one, its prompt up."""
    return on_a_terminal(["repl"], env, ready=PROMPT, size=(24, 80))


def long_turn_on(master: int, reader: TerminalReader) -> int:
    """:func:`long_turn` typed at ``master``: the number of chunks ``reader`` had read before the turn's seed."""
    os.write(master, b"/set length 100000\r")
    wait_for(lambda: b"length = 100000 chars" in reader.shown(), "the length set", TIMEOUT)
    start = len(reader.chunks)
    os.write(master, b"KING:\r")
    wait_for(lambda: LONG_TURN.search(reader.shown(since=start)), "the turn to stream", TIMEOUT)
    return start


def test_ctrl_c_stops_a_turn_on_a_terminal_the_repl_does_not_control(env: dict[str, str]) -> None:
    """`setsid -w rnnplay repl`: the terminal is not the REPL's controlling one, and its Ctrl+C went to the shell's
    job (here, to no one): the turn could not be stopped. Now the REPL reads that terminal's keys during a turn
    itself: Ctrl+C stops the turn, and the keys typed before it reach the next prompt."""
    with setsid_repl(env) as (proc, master, reader):
        start = long_turn_on(master, reader)
        os.write(master, b"/sho\x03")  # typed ahead, then Ctrl+C
        wait_for(lambda: STOPPED in reader.shown(since=start), "the turn to stop", TIMEOUT)
        os.write(master, b"w\r")  # completes the '/sho' typed ahead
        wait_for(lambda: b"vocab " in reader.shown(since=start), "/show", TIMEOUT)
        os.write(master, b"\x04")
        assert proc.wait(TIMEOUT) == 0


def under_the_turn(reader: TerminalReader, since: int, prompted: list[str]) -> list[str] | None:
    """The rows under a turn's `⏹ stopped` on the 24 x 80 screen once they begin with ``prompted`` (the next prompt
    and what it holds), or once a prompt is drawn empty or a paste's end mark shows (typed or echoed) after chunk
    ``since`` of what the terminal received."""
    rows = [row.rstrip() for row in screen_of(reader.shown(), 24, 80).display]
    stopped = [i for i, row in enumerate(rows) if row.endswith(STOPPED.decode().rstrip())]
    under = rows[stopped[-1] + 1 :] if stopped else []
    wrong = EMPTY_PROMPT in reader.shown(since) or b"[201~" in reader.shown(since)
    return under if under[: len(prompted)] == prompted or wrong else None


@pytest.mark.skipif(not SELECTS, reason="reads a select()'s timeout through /proc: Linux, on x86_64 or aarch64")
def test_a_paste_a_turn_ends_in_the_middle_of_reaches_the_next_prompt_whole(env: dict[str, str]) -> None:
    """`setsid -w rnnplay repl`, where the REPL reads a turn's keys itself: the rest of a paste that a turn ended in
    the middle of was read once the terminal's line mode was back, so it was echoed (`that is the question^[[201~`)
    and, with no Enter after it, not read at all until the paste's window of silence ran out: the next prompt then
    got `that is the question[201~` as if typed, the paste's start lost. Now the rest is read in the turn's mode.
    It is sent once the REPL waits for it (blocked in select() for the paste's window, the test's bound), no Enter."""
    with setsid_repl({**env, "RNNPLAY_PASTE_END_SECONDS": str(TIMEOUT)}) as (proc, master, reader):
        start = long_turn_on(master, reader)
        keys = pasted(PASTE, reader.shown())
        assert keys.startswith(b"\x1b[200~")  # bracketed paste is on during the turn
        half = keys.index(b"/quit") + len(b"/quit\r")
        os.write(master, b"\x03" + keys[:half])  # Ctrl+C, then a paste that begins as the turn ends
        wait_for(lambda: STOPPED in reader.shown(since=start), "the turn to stop", TIMEOUT)
        wait_for(lambda: waits_in_select(proc.pid, TIMEOUT), "the REPL to wait for the paste's rest", TIMEOUT)
        start = len(reader.chunks)
        os.write(master, keys[half:])  # the paste's rest, no Enter
        under = wait_for(lambda: under_the_turn(reader, start, PROMPTED), "the paste at the next prompt", TIMEOUT)
        assert under[: len(PROMPTED)] == PROMPTED, under  # whole, and nothing echoed before the prompt
        os.write(master, b"\r")  # the three lines run as one seed
        wait_for(lambda: on_terminal(PASTE.encode()) in reader.shown(since=start), "the paste as a seed", TIMEOUT)
        os.write(master, b"\x03")
        wait_for(lambda: STOPPED in reader.shown(since=start), "the turn to stop", TIMEOUT)
        os.write(master, b"/show\r")
        wait_for(lambda: b"vocab " in reader.shown(since=start), "/show", TIMEOUT)
        os.write(master, b"\x04")
        assert proc.wait(TIMEOUT) == 0


def test_a_paste_whose_end_never_comes_reaches_the_next_prompt_as_far_as_it_came(env: dict[str, str]) -> None:
    """`setsid -w rnnplay repl`: a paste that a turn ended in the middle of, and whose end never came. The REPL
    waited the paste's window of silence (here 0.5 s) and then dropped what had come; now that part reaches the
    next prompt as a paste, and what is typed next goes on from it."""
    with setsid_repl({**env, "RNNPLAY_PASTE_END_SECONDS": "0.5"}) as (proc, master, reader):
        long_turn_on(master, reader)
        keys = pasted(PASTE, reader.shown())
        half = keys.index(b"/quit") + len(b"/quit\r")
        start = len(reader.chunks)
        os.write(master, b"\x03" + keys[:half])  # Ctrl+C, then a paste cut short
        came = ["› To be, or not to be", "… /quit", "…"]
        under = wait_for(lambda: under_the_turn(reader, start, came), "the next prompt", TIMEOUT)
        assert under[: len(came)] == came, under
        os.write(master, b"that is the question\r")  # typed, then Enter: the three lines run as one seed
        wait_for(lambda: on_terminal(PASTE.encode()) in reader.shown(since=start), "the paste as a seed", TIMEOUT)
        os.write(master, b"\x03")
        wait_for(lambda: reader.shown(since=start).count(STOPPED) == 2, "the turn to stop", TIMEOUT)
        os.write(master, b"\x04")
        assert proc.wait(TIMEOUT) == 0


# Keeping the conversation as the REPL leaves takes a second here, as a busy machine (or disk) can make it take.
SLOW_TO_LEAVE = """\
import time
from rnnplay.session import recovery

finish = recovery.RecoveryFile.finish


def slow(self, *args, **kwargs):
    time.sleep(1)
    return finish(self, *args, **kwargs)


recovery.RecoveryFile.finish = slow
"""


def test_a_repl_whose_terminal_a_test_closes_is_waited_for_as_it_leaves(env: dict[str, str], tmp_path: Path) -> None:
    """A test's ``with`` block closes the REPL's terminal as a window closes. pexpect's close sent SIGINT and SIGKILL
    0.3 and 0.4 s later and raised "Could not terminate the child" when the REPL was still there 0.1 s after that (a
    busy machine gave it little of a core as it kept its conversation): a test that had passed failed as it ended.
    Its close (tests/on_a_terminal.py) now waits for the REPL to leave as SIGHUP has it leave."""
    slow = tmp_path / "slow"
    slow.mkdir()
    (slow / "sitecustomize.py").write_text(SLOW_TO_LEAVE)
    with repl(child_env(slow, base=env)) as child:
        run_line(child, "to be")
    assert (child.exitstatus, child.signalstatus) == (128 + signal.SIGHUP, None)
    kept = Path(env["XDG_DATA_HOME"]) / "rnnplay" / "conversations"
    assert any("```text\nto be\n```" in path.read_text() for path in kept.glob("unsaved-*.md"))
