"""Hostile table: a real user's terminal and environment, each condition one row.

Standard streams as a shell may hand them over (stdout on a full disk, closed, read-only, or read by a
``head`` that leaves; stderr closed or full), encodings that cannot hold the text (``PYTHONIOENCODING=ascii``,
``LC_ALL=C`` with ``PYTHONUTF8=0``), the app started without a terminal, a history file that is a FIFO or a
device, the REPL's prompt under Ctrl+Z and a long paste typed key by key, a dumb terminal, the app in a terminal
that is not UTF-8 or sent a byte that is not, or with stdout sent to a file, and a data folder
that is a file. Each row runs the real command in a subprocess inside a sandbox (``harness.py``); it ends in one
line or as a Unix tool would, changes no file outside its place and never hangs.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pty_screen import screen_of
from terminal_reader import TerminalReader
from waiting import wait_for

from rnnplay.core.cells import LSTMCell
from rnnplay.core.model import Model
from rnnplay.core.vocab import Vocab
from rnnplay.models.bundled import save_model

from .harness import Outcome, Sandbox, assert_nothing_outside, assert_one_line_error

TEXT = "ROMEO: But soft, what light? Café résumé naïve. 日本語 🎉 e\u0301 שלום\n" * 20
ASCII = {"PYTHONIOENCODING": "ascii"}
WRITE_ONLY = "<write-only>"  # stdin as GNU nohup leaves it (`0>/dev/null`): reads fail with EBADF
NAME = "ünï日本.txt"  # a corpus and a text whose name the ascii stdout cannot hold
TRAIN = ("train", NAME, "--steps", "2", "--hidden", "8", "--layers", "1", "--batch-size", "2", "--seq-length", "8",
         "--val-every", "0", "--sample-every", "0", "--out", "out.npz")


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    stdout: str = "pipe"  # pipe, full (/dev/full), closed (>&-), read-only (1<file), head (a reader that leaves)
    stderr: str = "pipe"  # pipe, full, closed
    stdin: str | None = None  # text to pipe in; None: /dev/null; WRITE_ONLY: /dev/null opened write-only (nohup's)
    env: dict[str, str] = field(default_factory=dict)
    error: str | tuple[str, ...] | None = None  # the one line's words; None: the command must succeed
    code: int = 1  # the exit code with that line (2: a usage mistake argparse reports)
    out: str = ""  # what stdout must hold when it succeeds
    not_out: str = ""  # what stdout must not hold
    writes: tuple[str, ...] = ()  # the files it may create in its work folder


def row(id: str, *args: str, **kw: object) -> object:
    return pytest.param(Case(args, **kw), id=id)  # type: ignore[arg-type]


ROWS = [
    # stdout that cannot be written: one line, not a traceback (or a silent exit 0)
    row("sample-stdout-full", "sample", "m.npz", "--seed", "ROMEO", "--length", "50", stdout="full",
        error=("cannot write to standard output", "disk is full")),
    row("score-stdout-full", "score", "m.npz", "--text", "ROMEO: But", stdout="full", error="disk is full"),
    row("models-stdout-full", "models", stdout="full", error="disk is full"),
    row("help-stdout-full", "--help", stdout="full", error="disk is full"),
    row("sample-stdout-closed", "sample", "m.npz", "--seed", "ROMEO", stdout="closed",
        error="standard output is closed"),
    row("score-stdout-closed", "score", "m.npz", "--text", "ROMEO: But", stdout="closed",
        error="standard output is closed"),
    row("version-stdout-closed", "--version", stdout="closed", error="standard output is closed"),
    row("sample-stdout-read-only", "sample", "m.npz", "--seed", "ROMEO", stdout="read-only",
        error="not open for writing"),
    row("sample-reader-leaves", "sample", "m.npz", "--seed", "ROMEO", "--length", "400000", stdout="head"),
    row("train-stdout-full-still-saves-and-says", *TRAIN, stdout="full", writes=("out.npz",),  # it exited 0
        error=("disk is full", "the run itself ended well, and its checkpoint is out.npz")),
    row("train-stdout-closed-still-saves-and-says", *TRAIN, stdout="closed", writes=("out.npz",),
        error=("standard output is closed", "its checkpoint is out.npz")),
    # stderr closed or full: notes and errors go nowhere, never to stdout, and never end the command
    row("sample-note-stderr-full", "sample", "m.npz", "--seed", "ROMEO ✓", "--length", "5", stderr="full",
        out="ROMEO"),
    row("error-stderr-closed", "sample", "missing.npz", stderr="closed", error=(), not_out="rnnplay"),
    row("train-stderr-closed", *TRAIN, stderr="closed", not_out="step ", writes=("out.npz",)),
    row("train-stderr-full", *TRAIN, stderr="full", writes=("out.npz",)),
    # an encoding that cannot hold the text: escapes and a note, not a traceback or 'a bug in rnnplay'
    row("sample-ascii-stdout", "sample", "m.npz", "--seed", "Café", "--length", "30", env=ASCII, out="Caf\\xe9"),
    row("models-ascii-stdout", "models", env=ASCII, out="2\\xd7512"),
    row("score-ascii-file-name", "score", "m.npz", "--file", NAME, env=ASCII, out="nats/char"),
    row("corpus-show-ascii", "corpus", "show", NAME, env=ASCII, out="Caf\\xe9"),
    row("neurons-ascii", "neurons", "m.npz", "--unit", "0:1", "--text", "Café résumé", env=ASCII, out="\\xe9"),
    row("repl-ascii", "repl", "m.npz", stdin="Café\n/score Café\n", env=ASCII, out="bits/char",
        not_out="unexpected"),
    row("seed-utf8-in-c-locale", "sample", "m.npz", "--seed", "Café", "--length", "5",
        env={"LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}, out="Caf\\xe9"),
    # the app reads keys from a terminal: a file or /dev/null as stdin is one line, not keys typed or a hang
    row("app-stdin-file", "tui", stdin="ROMEO:\nBut soft\n", error="standard input is not a terminal"),
    row("app-stdin-devnull", error="standard input is not a terminal"),
    # `rnnplay FILE.npz` is the app on that checkpoint (it said "invalid choice"); a typo or a text stays a command
    row("app-on-a-checkpoint-named-first", "m.npz", error="standard input is not a terminal"),
    row("a-mistyped-command", "trian", "m.npz", error="invalid choice: 'trian'", code=2),
    row("a-text-named-first", NAME, error=("invalid choice", "train"), code=2),
    # stdin open for writing only (`nohup`, `0>/dev/null`): reads fail with EBADF, which ended in a traceback
    row("repl-stdin-write-only", "repl", "m.npz", stdin=WRITE_ONLY, error="cannot read stdin: Bad file descriptor"),
    row("sample-seed-stdin-write-only", "sample", "m.npz", "--seed", "-", stdin=WRITE_ONLY,
        error="cannot read stdin: Bad file descriptor"),
    row("score-file-stdin-write-only", "score", "m.npz", "--file", "-", stdin=WRITE_ONLY,
        error="cannot read stdin: Bad file descriptor"),
    row("neurons-file-stdin-write-only", "neurons", "m.npz", "--unit", "0:1", "--file", "-", stdin=WRITE_ONLY,
        error="cannot read stdin: Bad file descriptor"),
    # a piped script that ends inside an open """ block ran the block's opening quotes as a seed and exited 0
    row("repl-script-ends-inside-a-block", "repl", "m.npz", stdin='/set length 10\n"""\nline1\nline2\n',
        error=("never closed", '"""')),
    # rnnplay's data folder below a file
    row("models-data-home-a-file", "models", env={"XDG_DATA_HOME": "{work}/afile"}, out="is a file"),
    row("models-data-home-read-only", "models", env={"XDG_DATA_HOME": "/sys/kernel"},  # refuses even root
        out="cannot be written (Permission denied), so /train in the app cannot save models there",
        not_out="saves one there"),
]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    m = Model(LSTMCell(), Vocab.from_text(TEXT), 8, 1, seed=1)
    return save_model(tmp_path_factory.mktemp("model") / "m.npz", m)


def furnish(box: Sandbox, model: Path) -> None:
    (box.work / "m.npz").write_bytes(model.read_bytes())
    (box.work / NAME).write_text(TEXT, encoding="utf-8")
    (box.work / "afile").write_text("not a folder\n")
    (box.work / "read-only").write_text("")


def run_case(box: Sandbox, case: Case, timeout: float = 60) -> Outcome:
    """The command with its standard streams as the row sets them up."""
    env = {**box.env, **{k: v.format(work=box.work) for k, v in case.env.items()}}
    closing = [fd for fd, how in ((1, case.stdout), (2, case.stderr)) if how == "closed"]
    targets = {"full": "/dev/full", "read-only": str(box.work / "read-only")}
    files = {name: open(targets[how], "r" if how == "read-only" else "w")  # noqa: SIM115
             for name, how in (("stdout", case.stdout), ("stderr", case.stderr)) if how in targets}
    if case.stdin == WRITE_ONLY:
        files["stdin"] = open(os.devnull, "w")  # noqa: SIM115
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "rnnplay", *case.args], cwd=box.work, env=env,
        stdin=files.get("stdin", subprocess.PIPE if case.stdin is not None else subprocess.DEVNULL),
        stdout=files.get("stdout", subprocess.PIPE), stderr=files.get("stderr", subprocess.PIPE),
        preexec_fn=(lambda: [os.close(fd) for fd in closing]) if closing else None,
    )
    try:
        if case.stdout == "head":
            assert proc.stdout is not None
            head = proc.stdout.read(20)  # then the reader leaves, as `| head -c 20` does
            proc.stdout.close()
            err = proc.stderr.read() if proc.stderr else b""
            proc.wait(timeout)
            out = head
        else:
            piped = case.stdin is not None and case.stdin != WRITE_ONLY
            out, err = proc.communicate(case.stdin.encode() if piped else None, timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"rnnplay {' '.join(case.args)} did not finish within {timeout} s (a hang)")
    finally:
        for f in files.values():
            f.close()
    return Outcome(proc.returncode, (out or b"").decode("utf-8", "replace"),
                   (err or b"").decode("utf-8", "replace"), time.perf_counter() - start)


@pytest.mark.parametrize("case", ROWS)
def test_field_condition(sandbox: Sandbox, model: Path, case: Case) -> None:
    furnish(sandbox, model)
    before = sandbox.snapshot()
    out = run_case(sandbox, case, timeout=30 if case.stdin is not None or not case.args else 60)
    assert "Traceback" not in out.stderr + out.stdout, out.stderr[-3000:]
    if case.error is not None and case.stderr == "pipe":
        assert_one_line_error(out, mentions=case.error, code=case.code)
    elif case.error is not None:  # stderr closed: nobody to tell, and nothing of it on stdout
        assert out.code == 1
    else:
        assert out.code == 0, f"exit {out.code}: {out.stderr[-2000:]}"
        assert not [ln for ln in out.error_lines if ln.startswith("rnnplay: error")], out.stderr
    assert case.out in out.stdout, out.stdout[-2000:]
    assert not case.not_out or case.not_out not in out.stdout, out.stdout[-2000:]
    assert_nothing_outside(before, sandbox.snapshot(), allowed=tuple(f"work/{w}" for w in case.writes))


# -- rows that need a terminal or the REPL's own prompt ------------------------------------------
def test_a_history_file_that_is_a_fifo_or_a_device_is_skipped_not_waited_on(tmp_path: Path) -> None:
    """RNNPLAY_HISTORY_FILE at a FIFO hung the app at start and the REPL at the first Enter (SIGTERM too)."""
    from rnnplay.ui.history import append_history, load_history

    os.mkfifo(tmp_path / "fifo")
    done: list[str] = []
    for path in (tmp_path / "fifo", Path("/dev/zero"), tmp_path):
        worker = threading.Thread(target=lambda p=path: (load_history(p), append_history("ROMEO", p),
                                                         done.append(str(p))), daemon=True)
        worker.start()
        worker.join(30)
    assert len(done) == 3, f"history reads or writes blocked on: {done}"


def test_ctrl_z_at_the_repl_prompt_suspends_instead_of_typing_a_control_character() -> None:
    from prompt_toolkit.filters import to_filter
    from prompt_toolkit.history import InMemoryHistory
    from prompt_toolkit.output import DummyOutput

    from rnnplay.session.session import Session
    from rnnplay.ui.repl.app import Repl

    repl = Repl(Session(), output=DummyOutput(), stdout=open(os.devnull, "w"), history=InMemoryHistory())  # noqa: SIM115
    assert to_filter(repl.prompt.enable_suspend)(), "Ctrl+Z typed '\\x1a' into the seed"


def test_a_long_line_typed_key_by_key_keeps_the_undo_memory_bounded() -> None:
    """A 100 KB paste in a terminal without bracketed paste took the REPL past 5 GB (one undo copy per key)."""
    from prompt_toolkit.application.current import set_app
    from prompt_toolkit.history import InMemoryHistory
    from prompt_toolkit.output import DummyOutput

    from rnnplay.session.session import Session
    from rnnplay.ui.repl.app import Repl
    from rnnplay.ui.repl.input import UNDO_CHARS

    repl = Repl(Session(), output=DummyOutput(), stdout=open(os.devnull, "w"), history=InMemoryHistory())  # noqa: SIM115
    buffer = repl.prompt.default_buffer
    buffer.complete_while_typing = lambda: False  # type: ignore[method-assign]  # completion needs the prompt's loop

    async def type_keys() -> None:  # the buffer's handlers run in an event loop, with the prompt's app current,
        with set_app(repl.prompt.app):  # as at the prompt (with none, each key made a stand-in app and its bindings)
            buffer.insert_text("ROMEO " * 5000)  # a long line so far, then a key at a time
            for _ in range(100):
                buffer.save_to_undo_stack()  # what prompt-toolkit does before each key
                buffer.insert_text("x")

    asyncio.run(type_keys())
    assert sum(len(text) for text, _ in buffer._undo_stack) <= UNDO_CHARS + len(buffer.text)


def heat_on_a_terminal(sandbox: Sandbox, model: Path, term: str) -> tuple[bytes, str]:
    """`rnnplay sample --heat` with stdout on a pseudo-terminal of type ``term``: (what the terminal got, stderr)."""
    furnish(sandbox, model)
    master, slave = os.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "rnnplay", "sample", "m.npz", "--seed", "ROMEO", "--length", "5",
                             "--heat"], cwd=sandbox.work, env={**sandbox.env, "TERM": term, "NO_COLOR": ""},
                            stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.PIPE)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    err = proc.communicate(timeout=60)[1].decode()
    os.close(master)
    assert proc.returncode == 0, err
    return b"".join(chunks), err


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_the_repl_typed_at_a_terminal_with_stdout_to_a_file_refuses_in_one_line(sandbox: Sandbox,
                                                                                 model: Path) -> None:
    """`rnnplay repl > out.txt` in a terminal: the screen stayed blank while the file filled with the prompt's
    redraw codes (the /quit typed here ended it, exit 0). Now one line on stderr, exit 1, and an empty file."""
    furnish(sandbox, model)
    master, slave = os.openpty()
    os.write(master, b"/quit\r")  # what the old REPL read at its prompt, blank on the screen
    with open(sandbox.work / "out.txt", "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "rnnplay", "repl", "m.npz"], cwd=sandbox.work, env=sandbox.env,
                                stdin=slave, stdout=out, stderr=subprocess.PIPE)
    os.close(slave)
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        os.close(master)
    outcome = Outcome(proc.returncode, (sandbox.work / "out.txt").read_text(), err.decode(), 0.0)
    assert_one_line_error(outcome, mentions=("stdout is not a terminal", "rnnplay sample"))
    assert outcome.stdout == ""


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_heat_on_a_dumb_terminal_says_so(sandbox: Sandbox, model: Path) -> None:
    """`sample --heat` on TERM=dumb said 'stdout is not a terminal' about a terminal."""
    err = heat_on_a_terminal(sandbox, model, "dumb")[1]
    assert "TERM='dumb'" in err and "not a terminal" not in err, err


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_the_heat_legend_is_in_the_colours_of_the_text(sandbox: Sandbox, model: Path) -> None:
    """On TERM=xterm-mono rich writes the text in the 16 standard colours; the legend was forced to 256 (F13)."""
    shown, err = heat_on_a_terminal(sandbox, model, "xterm-mono")
    assert b"\x1b[" in shown and b"38;5;" not in shown, shown  # the text: 16 colours
    assert "\x1b[" in err and "38;5;" not in err, err  # the legend: the same colours, not the 256 palette


class AppInATerminal:
    """``rnnplay tui m.npz`` (or ``repl``) in a pseudo-terminal of its own, a thread reading all it shows."""

    def __init__(self, sandbox: Sandbox, model: Path, front: str = "tui", *, env: dict[str, str | None] | None = None,
                 stdout: Path | None = None, size: tuple[int, int] | None = None, started: bool = True,
                 command: tuple[str, ...] = ("-m", "rnnplay")) -> None:
        """``env``: more environment (a value None removes the name); ``stdout``: a file instead of the terminal;
        ``size``: the terminal's (rows, columns); ``started``: wait for the app's first screen."""
        furnish(sandbox, model)
        self.master, slave = os.openpty()
        if size is not None:
            fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", *size, 0, 0))
        environ = {**sandbox.env, "TERM": "xterm-256color", "RNNPLAY_NOHISTORY": "1", **(env or {})}
        out = open(stdout, "wb") if stdout is not None else None  # noqa: SIM115
        self.proc = subprocess.Popen([sys.executable, *command, front, "m.npz"], cwd=sandbox.work,
                                     env={k: v for k, v in environ.items() if v is not None},
                                     stdin=slave, stdout=out or slave, stderr=slave, start_new_session=True)
        os.close(slave)
        if out is not None:
            out.close()
        self.reader = TerminalReader(self.master)
        self.chunks, self.shown = self.reader.chunks, self.reader.shown
        if started:
            self.wait_for(lambda: b"type a few characters" in self.shown(), "the first screen")

    def hang_up(self) -> None:
        """The terminal window closes: its master end closes, with no signal sent."""
        self.reader.stop()
        os.close(self.master)
        self.master = os.open(os.devnull, os.O_RDONLY)  # what close() closes instead

    def wait_for(self, condition: Callable[[], bool], what: str) -> None:
        wait_for(condition, f"{what} (the screen so far ends {self.shown()[-300:]!r})")

    def state(self) -> str:
        """The process's state letter from /proc: T while stopped."""
        return Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]

    def type(self, data: bytes) -> None:
        while data:
            data = data[os.write(self.master, data[:4096]):]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.reader.stop()
        os.close(self.master)


@pytest.fixture
def app_in_a_terminal(sandbox: Sandbox, model: Path, request: pytest.FixtureRequest) -> Iterator[AppInATerminal]:
    """The app (or, parametrized indirectly, the front end named) in a pseudo-terminal, killed at the end."""
    if not hasattr(os, "openpty") or not Path("/proc/self/stat").exists():
        pytest.skip("needs a pseudo-terminal and /proc")
    app = AppInATerminal(sandbox, model, getattr(request, "param", "tui"))
    yield app
    app.close()


def test_a_long_paste_typed_into_the_app_key_by_key_leaves_it_free_to_quit(app_in_a_terminal: AppInATerminal) -> None:
    """A 100 KB paste in a terminal without bracketed paste arrives as 100,000 keys; the app rewrapped its line at
    each one (time quadratic in the paste), and SIGTERM waited behind them for over a minute, or was lost (a byte
    a key on asyncio's self-pipe filled it, and the signal's byte was dropped). 50 KB lose it as well."""
    app = app_in_a_terminal
    paste = ("But soft, what light through yonder window breaks? " * 1000)[:50_000].encode()
    typist = threading.Thread(target=app.type, args=(paste,), daemon=True)
    typist.start()
    typist.join(120)  # the terminal hands keys over as fast as the app reads them
    assert not typist.is_alive(), "the app stopped reading its keys"
    app.proc.terminate()
    assert app.proc.wait(60) == 143  # 128 + SIGTERM


def test_the_app_stopped_by_sigtstp_gives_the_terminal_back_and_carries_on_after_sigcont(
        app_in_a_terminal: AppInATerminal) -> None:
    """Ctrl+Z is the input's undo in the app, so a stop comes as SIGTSTP from a shell (kill -TSTP, a job control
    script): the screen must be given back to the shell, and the typed seed kept for when it continues."""
    app = app_in_a_terminal
    app.type(b"ROMEO")
    app.wait_for(lambda: b"ROMEO" in app.shown(), "the typed seed on screen")
    before_stop = len(app.chunks)
    app.proc.send_signal(signal.SIGTSTP)
    app.wait_for(lambda: app.state() == "T", "the process to stop")
    # the alternate screen left: the shell's screen is back (written before the stop; the reader may lag behind it)
    app.wait_for(lambda: b"\x1b[?1049l" in app.shown(before_stop), "the alternate screen left")
    before_continue = len(app.chunks)
    app.proc.send_signal(signal.SIGCONT)
    app.wait_for(lambda: b"\x1b[?1049h" in app.shown(before_continue), "the app's screen back")
    app.type(b"\r")  # the seed typed before the stop is still there: Enter continues it
    app.wait_for(lambda: b" temperature=0.7 " in app.shown(before_continue), "a turn: its title names the sampler")
    app.proc.terminate()
    assert app.proc.wait(60) == 143


@pytest.mark.parametrize("app_in_a_terminal", ["tui", "repl"], indirect=True)
def test_a_front_end_whose_terminal_goes_away_without_a_sighup_leaves(app_in_a_terminal: AppInATerminal) -> None:
    """Under nohup, or in a terminal that is not its controlling one, no SIGHUP comes when the terminal closes: the
    app read end-of-file from it forever, a core busy at 100%, and the REPL ended in a traceback (EIO from its next
    write). Both must leave as after SIGHUP."""
    app = app_in_a_terminal
    app.hang_up()
    assert app.proc.wait(60) == 128 + signal.SIGHUP


def test_a_byte_from_the_terminal_that_is_not_utf8_is_read_as_a_replacement_character(
        app_in_a_terminal: AppInATerminal) -> None:
    """`caf` and a Latin-1 é (the byte 0xE9): Textual's input thread ended in a UnicodeDecodeError, the app gone
    with exit 0 (with a training running, the app stayed and no key worked any more)."""
    app = app_in_a_terminal
    app.type(b"caf\xe9")
    app.type(b"s")
    app.wait_for(lambda: "caf\ufffds" in app.shown().decode("utf-8", "replace"), "the text typed, U+FFFD for the byte")
    app.proc.terminate()
    assert app.proc.wait(60) == 143


def test_the_repl_in_a_latin1_terminal_prompts_with_a_character_it_can_show(sandbox: Sandbox, model: Path) -> None:
    """A Latin-1 locale has no "›": prompt-toolkit drew the prompt as "?", which reads as a question. The prompt is
    "> " there; the README sends users of such a terminal to the REPL."""
    app = AppInATerminal(sandbox, model, "repl", env={"PYTHONIOENCODING": "latin-1"}, size=(24, 80))

    def below_greeting() -> str:
        lines = [line.rstrip() for line in screen_of(app.shown(), 24, 80).display]
        return next((lines[n + 1] for n, line in enumerate(lines) if "type a few characters" in line), "")

    try:
        app.wait_for(lambda: below_greeting() != "", "the prompt")
        assert below_greeting() == ">"
        app.type(b"/quit\r")
        assert app.proc.wait(60) == 0
    finally:
        app.close()


def test_the_app_ending_on_an_exception_exits_non_zero(sandbox: Sandbox, model: Path) -> None:
    """A bug that ends the app (a crash in drawing it, the input thread's death) was an exit 0: a script saw success."""
    crash = ("import runpy, rnnplay.ui.tui.app as a; a.RnnplayApp.show_cards = lambda self: 1 / 0; "
             "runpy.run_module('rnnplay', run_name='__main__')")
    app = AppInATerminal(sandbox, model, command=("-c", crash), started=False)
    try:
        assert app.proc.wait(60) == 1
        app.wait_for(lambda: b"unexpected error" in app.shown(), "the line that says so")
    finally:
        app.close()


@pytest.mark.parametrize(("env", "words"), [
    ({"TERM": "dumb"}, ("TERM=dumb", "`rnnplay repl`")),
    ({"PYTHONIOENCODING": "ascii"}, ("draws in UTF-8", "encoding is ascii", "LANG=C.UTF-8", "`rnnplay repl`")),
    ({"LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}, ("draws in UTF-8", "LANG=C.UTF-8")),
], ids=["term-dumb", "pythonioencoding-ascii", "c-locale"])
def test_a_terminal_the_app_cannot_draw_on_is_refused_in_one_line(sandbox: Sandbox, model: Path,
                                                                  env: dict[str, str | None],
                                                                  words: tuple[str, ...]) -> None:
    """TERM=dumb had the full screen drawn anyway (truecolour, the alternate screen, mouse tracking); an encoding
    that is not UTF-8 had every box and block character of the frame drawn as an escape such as \\u258a."""
    app = AppInATerminal(sandbox, model, env=env, started=False)
    try:
        assert app.proc.wait(60) == 1
        app.wait_for(lambda: app.shown().endswith(b"\n"), "the line")
        text = app.shown().decode("utf-8", "replace")
    finally:
        app.close()
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("rnnplay: error: ") and "\x1b" not in text, text
    assert all(word in lines[0] for word in words), lines[0]


def test_the_app_with_stdout_sent_to_a_file_draws_at_the_windows_size(sandbox: Sandbox, model: Path) -> None:
    """`rnnplay > log.txt`: Textual took the window's size from stdout, and drew at 80x24 in any window."""
    log = sandbox.root / "log.txt"
    app = AppInATerminal(sandbox, model, env={"COLUMNS": None, "LINES": None}, stdout=log, size=(30, 90))
    try:
        app.wait_for(lambda: "Help" in screen_of(app.shown(), 30, 90).display[29], "the footer on the last row")
        app.proc.terminate()
        assert app.proc.wait(60) == 143
    finally:
        app.close()
    assert log.read_bytes() == b""  # the app writes nothing there
