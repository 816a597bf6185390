"""The prompt-toolkit REPL, driven through a pipe input with a dummy output; its text goes to a recorder.

Ctrl+C and what a real terminal receives are in test_repl_pty.py (a pseudo-terminal).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from plugin_fixtures import pip_install_fixtures
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from prompt_toolkit.history import InMemoryHistory
from prompt_toolkit.input import PipeInput, create_pipe_input
from prompt_toolkit.output import DummyOutput
from prompt_toolkit.utils import get_cwidth

from rnnplay.plugins import slash
from rnnplay.plugins.host import reset_host
from rnnplay.session.events import ClipboardCopy, Working
from rnnplay.session.session import Session
from rnnplay.ui.history import load_history
from rnnplay.ui.repl.app import Repl
from rnnplay.ui.repl.input import SharedHistory, SlashCompleter, block_open, default_history, unquote_block
from rnnplay.ui.repl.layout import chop, compare_layout
from rnnplay.ui.repl.terminal import osc52
from rnnplay.ui.work_line import HERE

TIMEOUT = 60  # a bound on waiting for background work, not a speed claim
UP = "\x1b[A"


class Recorder:
    """A stdout that keeps what it is given (a terminal, or not)."""

    def __init__(self, tty: bool = False) -> None:
        self.parts: list[str] = []
        self.tty = tty

    def write(self, text: str) -> int:
        self.parts.append(text)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return self.tty

    def text(self) -> str:
        return "".join(self.parts)


@dataclass
class Running:
    keys: PipeInput
    repl: Repl
    session: Session
    out: Recorder
    thread: threading.Thread
    history: Path

    def text(self) -> str:
        return self.out.text()

    def until(self, condition: Callable[[], bool]) -> None:
        deadline = time.monotonic() + TIMEOUT
        while not condition():
            assert time.monotonic() < deadline, f"the REPL never got there; output so far: {self.text()[-300:]!r}"
            time.sleep(0.02)

    def type(self, text: str) -> None:
        """Send keys, then give the prompt a moment to read them."""
        self.keys.send_text(text)
        time.sleep(0.05)

    def prompt_up(self) -> bool:
        return self.repl.prompt.app.is_running and self.repl.turn is None

    def leave(self) -> None:
        self.until(self.prompt_up)
        self.type("\x04")
        self.thread.join(TIMEOUT)
        assert not self.thread.is_alive()


@contextlib.contextmanager
def start_repl(model: Path, history: Path, out: Recorder | None = None) -> Iterator[Running]:
    """A REPL on ``model`` in a thread, its prompt up (the greeting printed)."""
    session = Session()
    session.load(str(model))
    out = out or Recorder()
    with create_pipe_input() as keys:
        repl = Repl(session, input=keys, output=DummyOutput(), stdout=out, history=SharedHistory(history),
                    color=False)
        thread = threading.Thread(target=repl.run, daemon=True)
        thread.start()
        r = Running(keys, repl, session, out, thread, history)
        r.until(lambda: "tiny.npz" in r.text() and r.prompt_up())
        try:
            yield r
        finally:
            if thread.is_alive():
                keys.send_text("\x03\x04")  # Ctrl+C clears a half-typed line, Ctrl+D then leaves
                thread.join(TIMEOUT)
            assert not thread.is_alive()


@pytest.fixture
def running(tiny_path: Path, tmp_path: Path) -> Iterator[Running]:
    with start_repl(tiny_path, tmp_path / "history") as r:
        yield r


def completions(text: str, session: Session) -> list[tuple[str, int]]:
    found = SlashCompleter(session).get_completions(Document(text), CompleteEvent(completion_requested=True))
    return [(c.text, c.start_position) for c in found]


def test_completer_reads_the_whole_line_not_just_the_last_word() -> None:
    session = Session()
    assert completions("/sa", session) == [("/sampler ", -3), ("/samplers ", -3), ("/save ", -3)]
    assert completions("/sampler be", session) == [("beam", -2)]
    assert completions("/sampler beam w", session) == [("width=", -1)]
    assert completions("/set tem", session) == [("temperature", -3)]
    assert completions("To be", session) == []


def test_show_offers_what_it_shows_and_train_the_corpus_cards(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing was offered after '/show ', and /train's corpus offered files only, never a card's name."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tides.txt").write_text("the sea " * 10)
    session = Session()
    assert completions("/show ", session) == [(w, 0) for w in ("model", "sampler", "info", "parameters")]
    assert completions("/show sa", session) == [("sampler", -2)]
    assert completions("/show model ", session) == []
    assert completions("/train ti", session) == [("tides.txt", -2), ("tinyshakespeare", -2)]
    assert completions("/train card:s", session) == [("card:stdlib", -6)]


def test_a_path_with_spaces_is_offered_in_quotes_that_replace_the_word(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """`/save my` offered `my models/` as it is, which /save reads as two words ("usage: /save PATH [force]")."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my models").mkdir()
    (tmp_path / "my models" / "old one.npz").write_bytes(b"")
    session = Session()
    assert completions("/save my", session) == [("'my models/", -2)]
    assert completions("/save 'my models/o", session) == [("'my models/old one.npz'", -len("'my models/o"))]
    assert completions("/transcript save 'my models/", session) == []  # no .md in it; 'force' comes after the path
    assert completions("/transcript save 'my chat.md' f", session) == [("force", -1)]


def test_tab_completes_a_command_that_then_runs(running: Running) -> None:
    running.type("/samp")
    running.type("\t")  # '/sampler ', the space included
    running.type("beam width=3\r")
    running.until(lambda: running.session.sampler_name == "beam")
    assert running.session.params["width"] == 3
    running.until(lambda: "sampler: beam width=3" in running.text())


def test_a_fault_in_completion_itself_says_one_line_and_the_line_typed_still_runs(
        running: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    """Plugin completers were guarded, complete_line itself not: a bug there ended the prompt in a traceback."""
    monkeypatch.setattr(slash, "_said_broken", set())
    monkeypatch.setattr(slash, "last_word", lambda text: 1 / 0)  # complete_line's own helper fails
    running.type("/set temperature 0.5\r")
    running.until(lambda: "sampler: temperature=0.5" in running.text())
    running.type("/set temperature 0.6\r")
    running.until(lambda: "sampler: temperature=0.6" in running.text())
    warned = [line for line in running.text().splitlines() if "completion" in line]
    assert warned == ["warning: Tab completion failed (ZeroDivisionError: division by zero): it offers nothing now; "
                      "the line you type still runs (a bug in rnnplay: please report it)"]
    running.leave()


def test_a_seed_streams_its_continuation_whole(running: Running) -> None:
    running.type("/set length 300\r")
    running.until(lambda: "length = 300" in running.text())
    running.type("To be\r")
    running.until(lambda: running.prompt_up() and running.text().endswith("\n") and "To be" in running.text())
    turn = running.text().split("length = 300 chars\n")[1]
    assert turn.startswith("To be") and len(turn) == len("To be") + 300 + 1
    assert running.session.turns[-1].text == turn[len("To be") : -1]


def test_a_background_line_waits_for_the_turn_and_never_splits_the_text(running: Running) -> None:
    running.type("/set length 5000\r")
    running.until(lambda: "length = 5000" in running.text())
    running.type("To be\r")
    running.until(lambda: running.session.generating)
    threading.Thread(target=running.session.info, args=("a line from the training thread",)).start()
    running.until(lambda: "a line from the training thread" in running.text() and running.prompt_up())
    turn = running.text().split("length = 5000 chars\n")[1]
    continuation = running.session.turns[-1].text
    assert turn == f"To be{continuation}\na line from the training thread\n"


def test_a_background_line_prints_above_the_prompt_and_keeps_what_is_typed(running: Running) -> None:
    running.type("half a se")
    threading.Thread(target=running.session.warn, args=("training step 7: skipped",)).start()
    running.until(lambda: running.text().endswith("warning: training step 7: skipped\n"))
    assert running.repl.prompt.default_buffer.text == "half a se"
    running.type("ed\r")
    running.until(lambda: "half a seed" in running.text())


def test_what_a_thread_prints_on_stderr_arrives_above_the_prompt_as_whole_lines(running: Running) -> None:
    stderr = running.repl.stderr  # sys.stderr while the REPL runs (pytest puts its own in place for the test)

    def complain() -> None:
        stderr.write("Exception in thread rnnplay-train:")
        time.sleep(0.2)  # the prompt may redraw in between: the half line must wait
        stderr.write("\nTraceback ...\n")

    thread = threading.Thread(target=complain)
    thread.start()
    thread.join(TIMEOUT)
    running.until(lambda: running.text().endswith("Exception in thread rnnplay-train:\nTraceback ...\n"))


def test_a_quoted_block_is_one_multi_line_seed_and_one_history_entry(running: Running) -> None:
    running.type("/set length 5\r")
    running.until(lambda: "length = 5 chars" in running.text())
    running.type('"""\rTo be,\ror not"""\r')
    running.until(lambda: len(running.session.turns) == 1 and running.prompt_up())
    assert running.session.turns[-1].seed == "To be,\nor not"
    assert "To be,\nor not" + running.session.turns[-1].text + "\n" in running.text()
    running.leave()
    assert load_history(running.history)[-1] == '"""\nTo be,\nor not"""'


def test_ctrl_d_at_the_end_of_an_open_block_ends_it(running: Running) -> None:
    """Ctrl+D in a block opened with three quotes did nothing and said nothing (prompt-toolkit's delete-char, with
    nothing after the cursor); as end of input ends a here-document, it ends the block, which then runs."""
    running.type("/set length 5\r")
    running.until(lambda: "length = 5 chars" in running.text())
    running.type('"""\rTo be,\ror not\x04')  # as if `"""` closed it there
    running.until(lambda: len(running.session.turns) == 1 and running.prompt_up())
    assert running.session.turns[-1].seed == "To be,\nor not"
    running.type('"""\rthat is\r\x04')  # on a line of its own: the line's end is the seed's
    running.until(lambda: len(running.session.turns) == 2 and running.prompt_up())
    assert running.session.turns[-1].seed == "that is\n"
    running.leave()
    assert load_history(running.history)[-2:] == ['"""\nTo be,\nor not"""', '"""\nthat is\n"""']


def test_ctrl_c_drops_a_half_typed_line_and_up_brings_it_back(running: Running) -> None:
    running.type("ROMEO: a long seed typed by hand")
    running.type("\x03")
    running.until(lambda: "the line is in the history: ↑ brings it back" in running.text() and running.prompt_up())
    assert running.repl.prompt.default_buffer.text == ""
    running.type(UP)
    running.until(lambda: running.repl.prompt.default_buffer.text == "ROMEO: a long seed typed by hand")


def test_history_is_recalled_after_a_restart(tiny_path: Path, tmp_path: Path) -> None:
    with start_repl(tiny_path, tmp_path / "history") as first:
        first.type("/set length 10\r")
        first.until(lambda: "length = 10 chars" in first.text())
        first.leave()
    with start_repl(tiny_path, tmp_path / "history") as again:
        again.type(UP)
        again.until(lambda: again.repl.prompt.default_buffer.text == "/set length 10")


def test_errors_are_one_line_and_ctrl_d_leaves_keeping_history(running: Running) -> None:
    running.type("/set temperature 0\r")
    running.until(lambda: "error: temperature must be in (0, 100] (got 0); "
                          "for the most likely character every time, type /sampler greedy; "
                          "at 100 every character is already about equally likely\n" in running.text())
    running.leave()
    assert "/set temperature 0" in running.history.read_text()


def test_quit_leaves(running: Running) -> None:
    running.type("/bye\r")
    running.thread.join(TIMEOUT)
    assert not running.thread.is_alive()


def test_the_history_is_the_shared_file_or_none(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("RNNPLAY_NOHISTORY", raising=False)
    monkeypatch.setenv("RNNPLAY_HISTORY_FILE", str(tmp_path / "h"))
    history = default_history()
    assert isinstance(history, SharedHistory) and history.path == tmp_path / "h"
    monkeypatch.setenv("RNNPLAY_NOHISTORY", "1")
    assert isinstance(default_history(), InMemoryHistory)


def test_a_history_that_cannot_be_written_is_no_error(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    history = SharedHistory(blocked / "history")  # its folder is a file
    history.store_string("ROMEO:")
    assert list(history.load_history_strings()) == []


def test_a_file_name_that_is_not_utf8_is_kept_in_the_history_as_typed(tiny_path: Path, tmp_path: Path) -> None:
    """`/save hi\\xe9st.npz` typed in a Latin-1 terminal (the prompt holds the byte as a lone surrogate): the
    history kept `/save hi?st.npz`, and the line recalled saved under another name."""
    name = os.fsencode(tmp_path) + b"/hi\xe9st.npz"
    with start_repl(tiny_path, tmp_path / "history") as r:
        r.keys.send_bytes(b"/save " + name + b"\r")
        r.until(lambda: "saved" in r.text())
    assert os.path.exists(name)
    assert b"+/save " + name + b"\n" in (tmp_path / "history").read_bytes()
    assert next(iter(SharedHistory(tmp_path / "history").load_history_strings())) == "/save " + os.fsdecode(name)
    assert load_history(tmp_path / "history")[-1] == "/save " + os.fsdecode(name).replace("\udce9", "\ufffd")


@pytest.mark.parametrize(
    ("line", "still_open", "submitted"),
    [
        ('"""', True, None),
        ('"""\nROMEO:', True, None),
        ('"""\nROMEO:\nBut soft"""', False, "ROMEO:\nBut soft"),
        ('"""ROMEO:\n"""', False, "ROMEO:\n"),
        ('"""\n\nROMEO:"""', False, "\nROMEO:"),
        ('"""/help"""', False, "//help"),
        ('  """a"""  ', False, "a"),
        ("plain", False, "plain"),
        ("/set stop \\n", False, "/set stop \\n"),
    ],
)
def test_quoted_blocks(line: str, still_open: bool, submitted: str | None) -> None:
    assert block_open(line) is still_open
    if submitted is not None:
        assert unquote_block(line) == submitted


def test_compare_is_side_by_side_when_wide_and_stacked_when_narrow() -> None:
    rows = [("temperature", "To be, or not\nto be, that is the question"), ("greedy", "the the the"),
            ("beam width=3", "x" * 50)]
    wide = compare_layout(rows, 100)
    assert wide[0].split(" │ ")[0].strip() == "temperature" and "greedy" in wide[0] and "beam width=3" in wide[0]
    bars = {tuple(i for i, ch in enumerate(line) if ch == "│") for line in wide[2:] if line.count("│") == 2}
    assert len(bars) == 1  # every row puts its column rules at the same places
    assert wide[2].startswith("To be, or not ") and wide[3].startswith("to be, that is ")
    narrow = compare_layout(rows, 40)
    assert all(get_cwidth(line) <= 40 for line in narrow)
    assert narrow[0] == "temperature  │ To be, or not"
    assert all(line.index("│") == 13 for line in narrow)  # a wrapped line stays under its own text
    assert "".join(line[15:] for line in narrow if line.startswith(" " * 13 + "│ x") or "beam" in line) == "x" * 50


def test_chop_breaks_after_spaces_counts_terminal_cells_and_drops_nothing() -> None:
    assert chop("ab\ncdef", 3) == ["ab", "cde", "f"]
    assert chop("日本語", 4) == ["日本", "語"]
    assert chop("To be, or not to be", 8) == ["To be, ", "or not ", "to be"]
    assert chop("日", 1) == ["日"]  # wider than the column: it still goes somewhere
    text = "But soft, what light through yonder window breaks?\nIt is the east"
    assert "".join(chop(text, 7)) == text.replace("\n", "")


def test_copy_asks_the_terminal_through_osc_52(tiny_path: Path) -> None:
    session = Session()
    session.load(str(tiny_path))
    out = Recorder(tty=True)
    repl = Repl(session, output=DummyOutput(), stdout=out, history=InMemoryHistory(), color=False)
    repl.owner = threading.current_thread()  # as if this thread ran the REPL, with no prompt up
    session.generate("To be")
    out.parts.clear()
    session.copy_last()
    continuation = session.turns[-1].text
    assert out.text() == osc52(continuation) + f"copied {len(continuation)} characters\n"
    assert base64.b64decode(osc52("é")[len("\x1b]52;c;") : -1]).decode() == "é"
    plain = Recorder()
    Repl(session, output=DummyOutput(), stdout=plain, history=InMemoryHistory()).foreground(ClipboardCopy("x"))
    assert plain.text() == "warning: the output is not a terminal, so nothing reached the clipboard\n"


def test_working_draws_one_line_that_is_cleared_when_done() -> None:
    session = Session()
    out = Recorder(tty=True)
    repl = Repl(session, output=DummyOutput(), stdout=out, history=InMemoryHistory(), color=False)
    repl.turn = threading.current_thread()  # as if a turn were running in the foreground
    erase = HERE.format("")  # column 0, and the screen below it blank
    session.emit(Working("ranking 512 units", 0.42))
    assert out.text().startswith(erase[:-2]) and "ranking 512 units  42% · Ctrl+C stops" in out.text()
    session.info("found 3 units")  # a message clears the spinner's line, then it is drawn again below
    assert out.text().split("found 3 units\n")[0].endswith(erase)
    session.emit(Working("ranking 512 units", done=True))
    assert out.text().endswith(erase) and "\n" not in out.text().rsplit("found 3 units\n")[1]


def test_lines_from_a_pipe_run_as_a_script_without_prompts_or_echo(tiny_path: Path, tmp_path: Path) -> None:
    """`printf ... | rnnplay repl`: each line a turn, a quoted block one seed, the text as `rnnplay sample` has it."""
    env = {**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data"), "NO_COLOR": "1"}
    script = b'/set length 8\r\n/sampler greedy\nTo\n"""\nTo\nbe"""\n/frob\nT\xffo\n'  # a CRLF line; a byte not UTF-8
    done = subprocess.run([sys.executable, "-m", "rnnplay", "repl", str(tiny_path)], input=script,
                          capture_output=True, env=env, timeout=120)
    done.stdout, done.stderr = done.stdout.decode(), done.stderr.decode()
    said = done.stdout + done.stderr
    assert done.returncode == 1, done.stderr  # /frob failed: a script with a failed line ends with 1 (it ended 0)
    greeting = "type a few characters and press Enter"  # on stderr: stdout holds the script's output alone
    assert greeting not in done.stdout and greeting in done.stderr and done.stdout.startswith("length = 8"), said
    assert "not a terminal" not in said and "›" not in said and "/sampler greedy" not in said, said
    assert "length = 8" in said and "unknown command /frob" in said and "'\\r'" not in said, said
    assert "skipped 1 character the model has never seen (1 distinct: '\ufffd')" in said, said
    for seed in ("To", "To\\nbe"):
        truth = subprocess.run([sys.executable, "-m", "rnnplay", "sample", str(tiny_path), "--seed", seed,
                                "--sampler", "greedy", "--length", "8"], text=True, capture_output=True, env=env,
                               timeout=120)
        assert truth.returncode == 0 and truth.stdout.rstrip("\n") in done.stdout, (truth.stdout, done.stdout)


def test_a_piped_transcript_holds_the_branch_and_the_compare(tiny_path: Path, tmp_path: Path) -> None:
    """The sweep's script: /heat, a /whatif, a seed and a /compare, saved as both formats; the turns keep their
    numbers and the comparison comes after the turn it followed."""
    env = {**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data"), "NO_COLOR": "1"}
    script = (f"/set length 12\n/set seed 4\n/heat naïve été\n/whatif 1 o turn=1\nthé\n/compare To\n"
              f"/transcript save {tmp_path / 't.md'}\n/transcript save {tmp_path / 't.jsonl'}\n")
    done = subprocess.run([sys.executable, "-m", "rnnplay", "repl", str(tiny_path)], input=script.encode(),
                          capture_output=True, env=env, timeout=120)
    said = done.stdout.decode() + done.stderr.decode()
    assert done.returncode == 0 and said.count("saved 3 turns and 1 comparison to ") == 2, said
    heat, branch, turn, compare = map(json.loads, (tmp_path / "t.jsonl").read_text(encoding="utf-8").splitlines())
    assert [heat["kind"], branch["kind"], turn["kind"], compare["kind"]] == ["text", "continuation",
                                                                              "continuation", "compare"]
    assert branch["branch"] == {"turn": 1, "position": 1, "char": "o", "original": heat["text"][1]}
    assert (turn["turn"], turn["branch"], compare["compare"], compare["after_turn"]) == (3, None, 1, 3)
    headings = [line for line in (tmp_path / "t.md").read_text(encoding="utf-8").splitlines() if line[:3] == "## "]
    assert headings == ["## Turn 1: a text read with /heat", "## Turn 2: a branch of turn 1", "## Turn 3",
                        f"## Comparison 1: the same seed through {len(compare['samplers'])} samplers"]


def test_a_piped_compare_runs_every_sampler_at_the_temperature_set(tiny_path: Path, tmp_path: Path) -> None:
    """/set temperature reached only the active sampler's row: top-k and top-p compared at their default 0.7."""
    env = {**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data"), "NO_COLOR": "1",
           "COLUMNS": "60"}
    script = "/set temperature 0.3\n/set length 12\n/set seed 4\n/compare To\n"
    done = subprocess.run([sys.executable, "-m", "rnnplay", "repl", str(tiny_path)], input=script.encode(),
                          capture_output=True, env=env, timeout=120)
    said = done.stdout.decode()
    assert done.returncode == 0, said + done.stderr.decode()
    labels = [line.split("│")[0].strip() for line in said.splitlines() if "│" in line and "temperature=" in line]
    assert sorted(labels) == ["temperature=0.3", "top-k k=10 temperature=0.3", "top-p p=0.9 temperature=0.3"], said


def test_a_second_training_shows_its_own_validation_loss_not_the_last_runs(running: Running, tmp_path: Path) -> None:
    """The progress line's 'val' is the run's own: the first run's last validation is not carried into the next."""
    corpus = tmp_path / "small.txt"
    corpus.write_text("To be, or not to be, that is the question.\n" * 20)
    for n, out in enumerate(("a.npz", "b.npz"), 1):
        running.type(f"/train {corpus} steps=2 batch=2 seq=8 out={tmp_path / out}\r")
        running.until(lambda n=n: running.text().count("training done at step 2") == n)
    steps = [line for line in running.text().splitlines() if line.startswith("training: step 1 ")]
    assert len(steps) == 2 and " val " not in steps[1], steps


def test_a_model_name_with_a_line_break_stays_inside_the_one_error_line(tiny_path: Path, tmp_path: Path) -> None:
    """/load of a missing name lists the library's names: one holding a newline or an ESC is shown escaped."""
    env = {**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data"), "NO_COLOR": "1"}
    library = tmp_path / "data" / "rnnplay" / "models"
    library.mkdir(parents=True)
    (library / "nl\nname.npz").write_bytes(tiny_path.read_bytes())
    done = subprocess.run([sys.executable, "-m", "rnnplay", "repl", str(tiny_path)], input=b"/load nope\n",
                          capture_output=True, env=env, timeout=120)
    said = done.stdout.decode() + done.stderr.decode()
    errors = [line for line in said.splitlines() if "no model 'nope'" in line]
    assert len(errors) == 1 and "nl\\nname" in errors[0] and "nl\nname" not in said, said


def test_a_model_file_name_with_a_line_break_is_shown_escaped(tiny_path: Path, tmp_path: Path) -> None:
    """The greeting, /train's 'continuing NAME' and /show name the model by its file name: a newline or an ESC in
    it is written as an escape, never as a second line or a raw escape sequence."""
    env = {**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data"), "NO_COLOR": "1"}
    odd = tmp_path / "nl\nm\x1b[31m.npz"
    odd.write_bytes(tiny_path.read_bytes())
    (tmp_path / "small.txt").write_text("To be, or not to be, that is the question.\n" * 20)
    done = subprocess.run([sys.executable, "-m", "rnnplay", "repl", str(odd)], cwd=tmp_path, capture_output=True,
                          input=b"/show\n/train small.txt steps=1 batch=2 seq=8 out=ft.npz\n", env=env, timeout=120)
    said = done.stdout.decode() + done.stderr.decode()
    shown = "nl\\nm\\x1b[31m.npz"
    assert f"{shown}: type a few" in said and f"model        {shown}" in said, said
    assert f"continuing {shown} (" in said and "\x1b" not in said, said


def test_what_a_plugin_prints_while_it_samples_stays_out_of_the_text(tiny_path: Path, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The sampler 'noisy' of a pip-installed plugin prints '<NOISE>' (no newline) for each character it picks: it
    came between the characters of the continuation. Now it is one line of its own after the turn."""
    monkeypatch.syspath_prepend(str(pip_install_fixtures(["rnnplay-noisy"], tmp_path / "plugins")))
    monkeypatch.setenv("RNNPLAY_LOAD_PLUGINS", "rnnplay-noisy")
    screen = Recorder()
    monkeypatch.setattr(sys, "stdout", screen)  # the REPL's stdout is the process's, as on a terminal
    reset_host()
    try:
        with start_repl(tiny_path, tmp_path / "history", screen) as running:
            running.type("/sampler noisy\r")
            running.until(lambda: running.session.sampler_name == "noisy" and running.prompt_up())
            running.type("/set length 5\r")
            running.until(lambda: "length = 5 chars" in running.text() and running.prompt_up())
            running.type("To be\r")
            running.until(lambda: len(running.session.turns) == 1 and running.prompt_up())
            after = running.text().split("length = 5 chars\n")[1]
    finally:
        reset_host()
    assert after == f"To be{running.session.turns[-1].text}\n{'<NOISE>' * 5}\n", after


@pytest.mark.parametrize(("name", "value"), [("RNNPLAY_PASTE_END_SECONDS", "x"), ("RNNPLAY_PASTE_END_SECONDS", "0"),
                                           ("RNNPLAY_PASTE_END_SECONDS", "-1"), ("RNNPLAY_PASTE_END_SECONDS", "inf"),
                                           ("RNNPLAY_STOP_GRACE_SECONDS", "x"), ("RNNPLAY_STOP_GRACE_SECONDS", "0")])
def test_a_paste_window_or_stop_grace_that_is_no_number_of_seconds_is_one_line(tmp_path: Path, name: str,
                                                                                 value: str) -> None:
    env = {**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data"), name: value}
    done = subprocess.run([sys.executable, "-m", "rnnplay", "repl"], input=b"ROMEO:\n", capture_output=True, env=env,
                          timeout=120)
    assert done.returncode == 1 and done.stdout == b"", done
    said = f"{name}={value} is not a number of seconds; give one such as {name}=3"
    assert done.stderr.decode().splitlines() == [f"rnnplay: error: {said}, or unset it"]
