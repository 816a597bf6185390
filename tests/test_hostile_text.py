"""What a field sweep of the app and the REPL found: text that would drive the terminal, [brackets] read as markup,
a long seed Esc could not stop, seeds sent quickly run out of order, standard input closed, /quit with junk.

The model's output, a file name, a sampler parameter: any text may hold ESC, CR or BEL (a model trained on a
terminal log writes them) or Textual's markup ('[/]', '[@click=app.quit]'). The screen shows every such
character as what it is and acts on none.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from pilot_helpers import app_on, messages, type_line, until
from rich.text import Text
from test_repl import Running, start_repl
from textual.geometry import Region
from textual.widget import Widget
from textual.widgets import Static

from rnnplay.core.generate import PRIME_CHUNK, generate
from rnnplay.core.sampler import TEMPERATURE
from rnnplay.models.bundled import load_model
from rnnplay.session.events import Chunk, Message, TurnEnded, TurnStarted, Working
from rnnplay.session.generation import Generation
from rnnplay.session.session import Session
from rnnplay.ui.cli import main
from rnnplay.ui.console import visible, visible_text
from rnnplay.ui.tui.widgets import Turn, WorkingLine

HOSTILE = "a\x1b]2;PWNED\x07b\x1b[2Jc\rd\x08e\x7ff\x9bg"  # a title, a clear screen, CR, BS, DEL, C1 CSI
SHOWN = "a␛]2;PWNED␇b␛[2Jc␍d␈e␡f�g"


def shown_lines(widget: Widget) -> list[str]:
    width, height = widget.outer_size
    return [strip.text for strip in widget.render_lines(Region(0, 0, width, height))]


def test_visible_shows_every_control_character_one_for_one_and_keeps_newlines_and_tabs() -> None:
    assert visible(HOSTILE) == SHOWN
    assert visible("line\n\tindented é 😀") == "line\n\tindented é 😀"
    styled = Text("x\x1by")
    styled.stylize("red", 1, 3)
    assert visible_text(styled).plain == "x␛y" and visible_text(styled).spans == styled.spans


def test_visible_shows_lone_joiners_and_other_invisible_formatting_and_keeps_joined_ones() -> None:
    """A lone U+200D in a continuation: rich counts it 0 cells and tmux 3.3a 1, so its box lost its right border."""
    assert visible("ab\u200dcd \u200d") == "ab◌cd ◌"
    assert visible("a\u200bb\u202ec\u2066d\ufeffe\u200ff") == "a◌b◌c◌d◌e◌f"  # ZWSP, RLO, LRI, BOM, RLM
    joined = "👩\u200d👩\u200d👧 क्\u200dष می\u200cخواهم"  # an emoji sequence, Devanagari, Persian: the text needs them
    assert visible(joined) == joined


# -- the app ---------------------------------------------------------------------------------------
async def test_a_continuation_with_escape_codes_is_shown_not_run(tiny_path: Path) -> None:
    app = app_on(tiny_path)
    async with app.run_test(size=(100, 30)) as pilot:
        for event in (TurnStarted("seed\x1b[31m", "temperature"), Chunk(HOSTILE), TurnEnded("done", len(HOSTILE))):
            app.session.emit(event)
        await until(pilot, lambda: bool(app.query(Turn)) and SHOWN in "".join(shown_lines(app.query_one(Turn))))
        drawn = "".join(shown_lines(app.query_one(Turn)))
        assert "seed␛[31m" in drawn and not any(c in drawn for c in "\x1b\x07\r\x08\x7f\x9b")
        app.session.emit(Message("error", f"cannot read {HOSTILE}"))
        await until(pilot, lambda: bool(app.query(".message.error")))
        await pilot.pause()
        assert SHOWN in "".join(shown_lines(app.query(".message.error").last()))


async def test_a_lone_joiner_is_shown_on_screen_and_kept_in_the_turn(tiny_path: Path) -> None:
    app = app_on(tiny_path)
    async with app.run_test(size=(100, 30)) as pilot:
        for event in (TurnStarted("seed", "temperature"), Chunk("ab\u200dcd"), TurnEnded("done", 5)):
            app.session.emit(event)
        await until(pilot, lambda: bool(app.query(Turn)) and "ab◌cd" in "".join(shown_lines(app.query_one(Turn))))
        assert app.query_one(Turn).text == "ab\u200dcd"  # what a transcript saves


async def test_brackets_in_a_sampler_parameter_are_text_not_markup(tiny_path: Path) -> None:
    app = app_on(tiny_path, length=5)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_line(pilot, "/sampler beam end=[/]")  # '[/]' as markup: a MarkupError that ended the app
        await type_line(pilot, "To be")
        await until(pilot, lambda: bool(messages(app, "error")))
        assert "end=[/]" in shown_lines(app.query_one(Turn))[0]
        assert app.is_running


async def test_a_working_line_shows_a_file_name_with_brackets_as_it_is(tiny_path: Path) -> None:
    app = app_on(tiny_path)
    async with app.run_test(size=(100, 30)) as pilot:
        what = "loading notes/[/]draft [final].txt"  # '[final]' a style, '[/]' a MarkupError that ended the app
        app.session.emit(Working(what))
        await until(pilot, lambda: app.query_one(WorkingLine).has_class("active"))
        assert str(app.query_one("#working-what", Static).render()) == f"{what} · Esc to stop"
        app.session.emit(Working(what, done=True))
        await until(pilot, lambda: not app.query_one(WorkingLine).has_class("active"))


# -- the REPL --------------------------------------------------------------------------------------
@pytest.fixture
def running(tiny_path: Path, tmp_path: Path):
    with start_repl(tiny_path, tmp_path / "history") as r:
        yield r


def test_the_repl_shows_escape_codes_instead_of_sending_them(running: Running) -> None:
    running.session.error(f"cannot read {HOSTILE}")  # from another thread: a line above the prompt
    running.until(lambda: SHOWN in running.text())
    assert "\x1b]2;" not in running.text() and "\x07" not in running.text()
    assert running.repl.shown(HOSTILE) == SHOWN


# -- the session -------------------------------------------------------------------------------------
def test_cancel_stops_a_long_seed_while_it_is_read(tiny_path: Path) -> None:
    model = load_model(tiny_path).model
    cancel = threading.Event()
    forward, chunks = model.forward, []

    def forward_then_cancel(*args, **kwargs):
        chunks.append(1)
        cancel.set()  # Esc while the seed's first chunk is read
        return forward(*args, **kwargs)

    model.forward = forward_then_cancel
    seed = "To be, or not to be " * (5 * PRIME_CHUNK // 20)
    text = "".join(generate(model, seed, TEMPERATURE, {}, 10, np.random.default_rng(0), cancel=cancel))
    assert text == "" and len(chunks) == 1  # not the other four chunks of the seed


def test_seeds_sent_quickly_run_in_the_order_they_were_sent(tiny_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The race made to happen: the second seed's thread is held up right after it stopped the turn before it,
    while the later seeds arrive. Each must still run in the order it was sent."""
    session = Session()
    session.load(str(tiny_path))
    session.length = 20
    stop_the_running_one = Generation.new_cancel

    def held_up(self: Generation) -> threading.Event:
        event = stop_the_running_one(self)
        if threading.current_thread().name == "seed-1":
            time.sleep(0.3)  # descheduled just after taking its place
        return event

    monkeypatch.setattr(Generation, "new_cancel", held_up)
    seeds = [f"To be {'o' * i}" for i in range(4)]
    threads = [threading.Thread(target=session.submit, args=(seed,), name=f"seed-{i}") for i, seed in enumerate(seeds)]
    for thread in threads:  # as the app's workers do: each new seed stops the running one
        thread.start()
        time.sleep(0.05)
    for thread in threads:
        thread.join(60)
    assert [turn.seed for turn in session.turns] == seeds


def test_quit_with_trailing_words_is_an_error_not_a_quit() -> None:
    session = Session()
    events: list[object] = []
    session.subscribe(events.append)
    session.submit("/quit now please")
    assert [e.text for e in events if isinstance(e, Message)] == ["/quit takes no arguments (got 'now please')"]


@pytest.mark.parametrize("command", ["tui", "repl"])
def test_a_closed_standard_input_is_one_line(command: str, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", None)  # what Python gives a program started with <&-
    assert main([command]) == 1
    err = capsys.readouterr().err
    assert err.startswith("rnnplay: error: standard input is closed") and err.count("\n") == 1


# -- rnnplay sample ------------------------------------------------------------------------------
def test_sample_shows_control_characters_on_a_terminal_and_keeps_them_in_a_pipe(tiny_path: Path,
                                                                               tmp_path: Path) -> None:
    pexpect = pytest.importorskip("pexpect")
    seed_file = tmp_path / "seed.txt"
    seed_file.write_text(HOSTILE, encoding="utf-8")  # a seed file from anywhere: it is written back before the text
    args = ["-m", "rnnplay", "sample", str(tiny_path), "--seed-file", str(seed_file), "--length", "5"]
    env = {**os.environ, "NO_COLOR": "1", "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data")}
    child = pexpect.spawn(sys.executable, args, env=env, timeout=120)
    child.expect(pexpect.EOF)
    received = child.before
    assert SHOWN.encode() in received and not any(c in received for c in b"\x1b\x07\x08\x7f"), received
    piped = subprocess.run([sys.executable, *args], env=env, capture_output=True, timeout=120)
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.startswith(HOSTILE.encode()), piped.stdout  # a pipe gets the text byte for byte
