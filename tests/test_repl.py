"""The prompt-toolkit REPL, driven through a pipe input with a dummy output."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from prompt_toolkit.input import PipeInput, create_pipe_input
from prompt_toolkit.output import DummyOutput
from tiny_model import build_tiny_model

from rnnplay.repl import Repl, SlashCompleter, history_path
from rnnplay.session import Session

TIMEOUT = 60  # a bound on waiting for background work, not a speed claim


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("model"))


@dataclass
class Running:
    keys: PipeInput
    repl: Repl
    session: Session
    out: list[str]
    thread: threading.Thread
    history: Path

    def text(self) -> str:
        return "".join(self.out)

    def until(self, condition: Callable[[], bool]) -> None:
        deadline = time.monotonic() + TIMEOUT
        while not condition():
            assert time.monotonic() < deadline, f"the REPL never got there; output so far: {self.text()[-300:]!r}"
            time.sleep(0.02)

    def type(self, text: str) -> None:
        """Send keys, then wait until the prompt has read them all."""
        self.keys.send_text(text)
        time.sleep(0.05)


@pytest.fixture
def running(tiny_path: Path, tmp_path: Path) -> Iterator[Running]:
    session = Session()
    session.load(str(tiny_path))
    out: list[str] = []
    with create_pipe_input() as keys:
        repl = Repl(session, input=keys, output=DummyOutput(), history_file=tmp_path / "history", write=out.append,
                    color=False)
        thread = threading.Thread(target=repl.run, daemon=True)
        thread.start()
        r = Running(keys, repl, session, out, thread, tmp_path / "history")
        r.until(lambda: "tiny.npz" in r.text())  # the greeting: the prompt is up
        yield r
        if thread.is_alive():
            keys.send_text("\x04")
            thread.join(TIMEOUT)


def completions(text: str, session: Session) -> list[tuple[str, int]]:
    found = SlashCompleter(session).get_completions(Document(text), CompleteEvent(completion_requested=True))
    return [(c.text, c.start_position) for c in found]


def test_completer_reads_the_whole_line_not_just_the_last_word() -> None:
    session = Session()
    assert completions("/sa", session) == [("/sampler", -3), ("/samplers", -3), ("/save", -3)]
    assert completions("/sampler be", session) == [("beam", -2)]
    assert completions("/sampler beam w", session) == [("width=", -1)]
    assert completions("/set tem", session) == [("temperature", -3)]
    assert completions("To be", session) == []


def test_tab_completes_a_command_that_then_runs(running: Running) -> None:
    running.type("/samp")
    running.type("\t")
    running.type(" beam width=3\r")
    running.until(lambda: running.session.sampler_name == "beam")
    assert running.session.params["width"] == 3
    running.until(lambda: "sampler: beam width=3" in running.text())


def test_a_seed_streams_its_continuation(running: Running) -> None:
    running.type("/set length 30\r")
    running.until(lambda: "length = 30" in running.text())
    running.type("To be\r")
    running.until(lambda: running.text().endswith("\n") and "To be" in running.text().split("length = 30")[1])
    turn = running.text().split("length = 30 chars\n")[1]
    assert turn.startswith("To be") and len(turn) == len("To be") + 30 + 1


def test_ctrl_c_stops_a_generation_and_the_prompt_stays(running: Running) -> None:
    running.type("/set length 100000\r")
    running.until(lambda: "length = 100000" in running.text())
    running.type("To be\r")
    running.until(lambda: running.session.generating and len(running.text().split("To be", 1)[-1]) > 5)
    running.type("\x03")
    running.until(lambda: "⏹ stopped" in running.text())
    assert running.thread.is_alive() and not running.session.generating
    running.type("\x03")  # nothing to stop: it says how to leave
    running.until(lambda: "Ctrl+D or /quit leaves" in running.text())
    running.type("/show\r")
    running.until(lambda: "vocabulary" in running.text())


def test_errors_are_one_line_and_ctrl_d_leaves_keeping_history(running: Running) -> None:
    running.type("/set temperature 0\r")
    running.until(lambda: "error: temperature must be > 0 (got 0)\n" in running.text())
    running.type("\x04")
    running.thread.join(TIMEOUT)
    assert not running.thread.is_alive()
    assert "/set temperature 0" in running.history.read_text()


def test_quit_leaves(running: Running) -> None:
    running.type("/bye\r")
    running.thread.join(TIMEOUT)
    assert not running.thread.is_alive()


def test_history_file_location(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RNNPLAY_HISTORY_FILE", str(tmp_path / "h"))
    assert history_path() == tmp_path / "h"
    monkeypatch.delenv("RNNPLAY_HISTORY_FILE")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert history_path() == tmp_path / "rnnplay" / "history"
