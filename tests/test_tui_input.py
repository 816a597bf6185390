"""The app's input: multi-line seeds, pasting, the completion menu, the shared history (Pilot at 80x24)."""

from __future__ import annotations

import contextlib
import os
import signal
import struct
import subprocess
import sys
import termios
from collections.abc import Iterator
from fcntl import ioctl
from pathlib import Path

import pytest
from pilot_helpers import app_on, messages, send_keys, slow_down, type_fast, type_line, until
from terminal_reader import TerminalReader
from textual import events
from tiny_model import write_corpus
from waiting import wait_for

from rnnplay.plugins import slash
from rnnplay.plugins.host import Registered, get_host, reset_host
from rnnplay.plugins.slash import SimpleCommand
from rnnplay.ui.history import append_history, history_path, load_history
from rnnplay.ui.tui import RnnplayApp
from rnnplay.ui.tui.prompt import CompletionMenu, PromptInput
from rnnplay.ui.tui.terminal import typed_before, typed_keys
from rnnplay.ui.tui.widgets import Turn


@pytest.fixture
def app(tiny_path: Path) -> RnnplayApp:
    return app_on(tiny_path, length=10)


def prompt_of(app: RnnplayApp) -> PromptInput:
    return app.query_one(PromptInput)


def menu_of(app: RnnplayApp) -> CompletionMenu:
    return app.query_one(CompletionMenu)


async def test_ctrl_j_and_shift_enter_start_new_lines_and_enter_runs_them_all(app: RnnplayApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        prompt = prompt_of(app)
        height = prompt.size.height
        await pilot.press(*"To", "ctrl+j", *"be", "shift+enter", *"or")
        assert prompt.text == "To\nbe\nor"
        await pilot.pause()
        assert prompt.size.height == height + 2  # the input grows with its lines
        await pilot.press("enter")
        await until(pilot, lambda: app.query(Turn) and app.turn is None)
        assert app.query_one(Turn).seed == "To\nbe\nor" and prompt.text == ""


async def test_keys_typed_fast_act_in_the_order_they_came(app: RnnplayApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        prompt = prompt_of(app)
        type_fast(app, "a", "ctrl+j", "b", "space", "c", "ctrl+j", "d")
        await until(pilot, lambda: prompt.text == "a\nb c\nd")
        prompt.set_line("")
        type_fast(app, "/", "l", "o", "a", "tab", "x")
        await until(pilot, lambda: prompt.text == "/load x")
        prompt.set_line("")
        type_fast(app, "T", "o", "enter")
        await until(pilot, lambda: app.query(Turn) and app.turn is None)
        assert app.query_one(Turn).seed == "To" and prompt.text == ""


async def test_a_long_paste_typed_key_by_key_arrives_whole_and_is_inserted_in_runs(
        app: RnnplayApp, monkeypatch: pytest.MonkeyPatch) -> None:
    """A terminal without bracketed paste types a paste key by key: the keys queued together are one insert."""
    text = ("But soft, what light through yonder window breaks?\n" * 100)[:5_000]
    async with app.run_test(size=(80, 24)) as pilot:
        prompt = prompt_of(app)
        inserts: list[str] = []
        replace = prompt._replace_via_keyboard
        monkeypatch.setattr(prompt, "_replace_via_keyboard", lambda typed, *where: (inserts.append(typed),
                                                                                    replace(typed, *where))[1])
        type_fast(app, *("ctrl+j" if c == "\n" else "space" if c == " " else c for c in text), "enter")
        await until(pilot, lambda: app.query(Turn) and app.turn is None)
        assert app.query_one(Turn).seed == text and prompt.text == ""
        assert "".join(inserts) == text.replace("\n", "") and len(inserts) < len(text) // 50, len(inserts)


async def test_escapes_typed_in_a_seed_reach_the_model_as_the_characters(app: RnnplayApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"To", "backslash", "n", *"be")
        assert prompt_of(app).text == "To\\nbe"  # the input keeps what was typed
        await pilot.press("enter")
        await until(pilot, lambda: app.query(Turn) and app.turn is None)
        assert app.query_one(Turn).seed == "To\nbe"


async def test_typing_while_text_streams_in_keeps_both(app: RnnplayApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        slow_down(app)
        app.session.length = 100_000
        await type_line(pilot, "To be")
        await until(pilot, lambda: app.turn is not None and app.turn.text)
        send_keys(app, "o", "r", "space", "n", "o", "t", "ctrl+j", "t", "o")
        await until(pilot, lambda: prompt_of(app).text == "or not\nto")
        turn = app.turn
        assert turn is not None  # still streaming
        await pilot.press("escape")  # stops the stream, keeps what is typed
        await until(pilot, lambda: app.turn is None)
        assert prompt_of(app).text == "or not\nto" and "stopped" in turn.ending
        assert turn.render().plain.startswith("To be" + turn.text)


async def test_esc_clears_the_input_and_ctrl_z_brings_it_back(app: RnnplayApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        prompt = prompt_of(app)
        await pilot.press(*"ROMEO:", "ctrl+j", *"But")
        await pilot.press("escape")
        assert prompt.text == ""
        await pilot.press("ctrl+z")
        assert prompt.text == "ROMEO:\nBut"


async def test_ctrl_d_deletes_in_a_typed_input_and_leaves_from_an_empty_one(app: RnnplayApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("a", "b", "home", "ctrl+d")
        assert prompt_of(app).text == "b" and app.is_running
        await pilot.press("ctrl+d", "ctrl+d")
        await until(pilot, lambda: not app.is_running)


async def test_the_input_stops_growing_at_six_lines(app: RnnplayApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        prompt = prompt_of(app)
        prompt.insert("\n".join("abcdefghij"), maintain_selection_offset=False)
        await pilot.pause()
        assert prompt.size.height == 6  # six lines; the rest scrolls


async def test_a_pasted_three_line_seed_keeps_every_line(app: RnnplayApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        seed = "ROMEO:\nBut soft, what light\nthrough yonder"
        app.post_message(events.Paste(seed))  # as the terminal driver does
        await until(pilot, lambda: prompt_of(app).text == seed)
        await pilot.press("enter")
        await until(pilot, lambda: app.query(Turn) and app.turn is None)
        assert app.query_one(Turn).seed == seed


async def test_tab_offers_what_show_shows_and_the_corpus_cards_of_train(
        app: RnnplayApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        prompt, menu = prompt_of(app), menu_of(app)
        await pilot.press(*"/show ")
        await until(pilot, lambda: menu.candidates == ["model", "sampler", "info", "parameters"])
        await pilot.press("s", "tab")
        assert prompt.text == "/show sampler "
        prompt.clear()
        await pilot.press(*"/train ti")
        await until(pilot, lambda: menu.candidates == ["tinyshakespeare"])
        await pilot.press("tab")
        assert prompt.text == "/train tinyshakespeare "


async def test_tab_quotes_a_path_with_spaces_so_the_command_reads_it_whole(
        app: RnnplayApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The menu put `my texts/act one.txt` in the input as it is, which /train read as three words ("expected /train
    option=value, got 'texts/act'"), and Tab found nothing in the folder after it."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my texts").mkdir()
    write_corpus(tmp_path).rename(tmp_path / "my texts" / "act one.txt")
    async with app.run_test(size=(80, 24)) as pilot:
        prompt, menu = prompt_of(app), menu_of(app)
        await pilot.press(*"/train my")
        await until(pilot, lambda: menu.candidates == ["'my texts/"])
        await pilot.press("tab")
        assert prompt.text == "/train 'my texts/"  # the quote left open: the folder's files complete next
        await until(pilot, lambda: menu.candidates == ["'my texts/act one.txt'"])
        await pilot.press("tab")
        assert prompt.text == "/train 'my texts/act one.txt' "
        await type_line(pilot, f"steps=2 layers=1 hidden=8 batch=2 seq=8 out={tmp_path / 'm.npz'}")
        await until(pilot, lambda: (tmp_path / "m.npz").exists() and app.session.training is not None
                    and not app.session.training.alive)
        assert not messages(app, "error") and any(" on act one.txt " in m for m in messages(app, "info"))


async def test_tab_takes_a_command_with_a_space_then_its_arguments(app: RnnplayApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        prompt, menu = prompt_of(app), menu_of(app)
        await pilot.press(*"/samp")
        await until(pilot, lambda: menu.candidates[:1] == ["/sampler"])  # highlighted first
        assert prompt.suggestion == "ler"
        await pilot.press("tab")
        assert prompt.text == "/sampler "
        await until(pilot, lambda: "beam" in menu.candidates and "temperature" in menu.candidates)
        await pilot.pause()
        assert menu.region.x == prompt.content_region.x + len("/sampler ")  # the menu opens under the word
        await pilot.press("b", "tab")
        assert prompt.text == "/sampler beam "
        await pilot.press("w", "tab")
        assert prompt.text == "/sampler beam width="  # a key= wants its value right after it
        await pilot.press("3", "enter")
        await until(pilot, lambda: app.session.sampler_label().startswith("beam width=3"))


async def test_the_menu_lists_every_candidate_and_arrows_pick_one(app: RnnplayApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        prompt, menu = prompt_of(app), menu_of(app)
        await pilot.press(*"/s")
        await until(pilot, lambda: len(menu.candidates) > 1)
        assert menu.has_class("open") and menu.candidates == sorted(menu.candidates)
        assert all(c.startswith("/s") for c in menu.candidates)
        await pilot.press("escape")  # closes the menu, keeps the text
        assert not menu.has_class("open") and prompt.text == "/s"
        await pilot.press("backspace", "s")  # typing opens it again
        await until(pilot, lambda: len(menu.candidates) > 1)
        await pilot.press("down")
        second = menu.candidates[1]
        assert prompt.suggestion == second[2:]
        await pilot.press("enter")  # a candidate picked with the arrows: Enter takes it
        assert prompt.text == second + " " and not app.query(".message.error")


async def test_a_click_on_a_candidate_takes_it(app: RnnplayApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"/s")
        await until(pilot, lambda: len(menu_of(app).candidates) > 2)
        third = menu_of(app).candidates[2]
        await pilot.click(CompletionMenu, offset=(2, 2))
        assert prompt_of(app).text == third + " " and app.focused is prompt_of(app)


async def test_tab_with_nothing_to_complete_keeps_the_focus_in_the_input(app: RnnplayApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await type_line(pilot, "To be")
        await until(pilot, lambda: app.query(Turn) and app.turn is None)
        await pilot.press(*"xyz", "tab")
        assert app.focused is prompt_of(app) and prompt_of(app).text == "xyz"


async def test_history_is_kept_across_runs_and_a_multi_line_entry_is_one(tiny_path: Path) -> None:
    append_history("from an earlier run")
    first = app_on(tiny_path, length=5)
    async with first.run_test(size=(80, 24)) as pilot:
        await type_line(pilot, "/show")
        await pilot.press(*"To", "ctrl+j", *"be", "enter")
        await until(pilot, lambda: first.query(Turn) and first.turn is None)
    assert load_history()[-2:] == ["/show", "To\nbe"]
    second = app_on(tiny_path)
    async with second.run_test(size=(80, 24)) as pilot:
        prompt = prompt_of(second)
        await pilot.press(*"dra", "up")
        assert prompt.text == "To\nbe"
        await pilot.press("up")  # the cursor is on the entry's last line: ↑ goes to its first line
        assert prompt.text == "To\nbe" and prompt.cursor_location[0] == 0
        await pilot.press("up")
        assert prompt.text == "/show" and not menu_of(second).has_class("open")
        await pilot.press("up")
        assert prompt.text == "from an earlier run"
        await pilot.press("down", "down", "down")
        assert prompt.text == "dra"


async def test_nohistory_keeps_nothing(tiny_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kept = history_path()
    monkeypatch.setenv("RNNPLAY_NOHISTORY", "1")
    app = app_on(tiny_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await type_line(pilot, "/show")
        await pilot.press("up")
        assert prompt_of(app).text == "/show"  # this run still walks back
    assert kept is not None and not kept.exists()


async def test_a_history_file_that_cannot_be_written_is_said_once(tiny_path: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The app dropped every entry it could not add to the history file without a word, as the REPL did. A file
    under a regular file cannot be made, even by root; the app works on."""
    (tmp_path / "not-a-folder").write_text("")
    monkeypatch.setenv("RNNPLAY_HISTORY_FILE", str(tmp_path / "not-a-folder" / "history"))
    app = app_on(tiny_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await type_line(pilot, "/show")
        await type_line(pilot, "/show")
        await until(pilot, lambda: messages(app, "warning"))
        await pilot.press("up")
        assert prompt_of(app).text == "/show"  # this run still walks back
        said = messages(app, "warning")
    assert len(said) == 1 and said[0].startswith(f"the input history will not be kept: cannot write {tmp_path}"), said
    assert "RNNPLAY_HISTORY_FILE" in said[0]


def broken_completer(session: object, argline: str) -> list[str]:
    if argline.startswith("b"):
        return None  # type: ignore[return-value]
    raise RuntimeError("completer exploded")


async def test_a_plugin_completer_that_fails_offers_nothing_and_says_so_once(tiny_path: Path) -> None:
    """A completer runs at every key typed: one that raised, or returned None, ended the app in a traceback."""
    reset_host()
    try:
        get_host().commands["badcomp"] = Registered(SimpleCommand("badcomp", "fails to complete", "/badcomp X",
                                                                  lambda s, a: s.info(f"ran {a}"),
                                                                  completer=broken_completer), "rnnplay-badcomp")
        app = app_on(tiny_path)
        async with app.run_test(size=(80, 24)) as pilot:
            await type_line(pilot, "/badcomp a")
            await type_line(pilot, "/badcomp b")
            await until(pilot, lambda: "ran b" in messages(app, "info"))
            warned = [m for m in messages(app, "warning") if "/badcomp's completion" in m]
            assert warned == ["/badcomp's completion raised RuntimeError: completer exploded; it offers nothing now "
                              "(a bug in rnnplay-badcomp: tell its authors)"]
            assert "ran a" in messages(app, "info") and not menu_of(app).has_class("open")
    finally:
        reset_host()


async def test_a_fault_in_completion_itself_says_one_line_and_the_app_and_the_line_stay(
        app: RnnplayApp, monkeypatch: pytest.MonkeyPatch) -> None:
    """Plugin completers were guarded, complete_line itself not: a bug there ended the app in a traceback."""
    monkeypatch.setattr(slash, "_said_broken", set())
    monkeypatch.setattr(slash, "last_word", lambda text: 1 / 0)  # complete_line's own helper fails
    async with app.run_test(size=(80, 24)) as pilot:
        await type_line(pilot, "/set temperature 0.5")
        await until(pilot, lambda: app.session.params["temperature"] == 0.5)
        await type_line(pilot, "/set temperature 0.6")
        await until(pilot, lambda: app.session.params["temperature"] == 0.6)
        assert [m for m in messages(app, "warning") if "completion" in m] == [
            "Tab completion failed (ZeroDivisionError: division by zero): it offers nothing now; the line you type "
            "still runs (a bug in rnnplay: please report it)"]
        assert app.is_running and not menu_of(app).has_class("open")


@pytest.mark.parametrize(("keys", "expected"), [
    (("a", "b", "c", "backspace", "d"), "abd"),
    (("h", "e", "l", "l", "o", "ctrl+u", "w", "o", "r", "l", "d"), "world"),
    (("a", "b", "c", "left", "x"), "abxc"),
    (("a", "b", "c", "home", "x"), "xabc"),
    (("o", "n", "e", "space", "t", "w", "o", "ctrl+w", "t", "h", "r", "e", "e"), "one three"),
], ids=["backspace", "ctrl+u", "left", "home", "ctrl+w"])
async def test_editing_keys_in_a_burst_of_typing_act_where_they_came(app: RnnplayApp, keys: tuple[str, ...],
                                                                     expected: str) -> None:
    """Over ssh or from a script, an editing key comes in one read with the text around it: it acted after all of
    it (`abc`, Backspace, `d` gave `abc`), as its binding ran only once the key had bubbled up to the app."""
    async with app.run_test(size=(80, 24)) as pilot:
        prompt = prompt_of(app)
        type_fast(app, *keys)
        for _ in range(3):  # every key handled: the prompt's, then those that bubbled up to the app
            await pilot.pause()
        assert prompt.text == expected


async def test_ctrl_q_leaves_as_ctrl_d_does_and_stays_once_for_an_unsaved_model(app: RnnplayApp) -> None:
    """Textual's own Ctrl+Q quit at once: no stop for a trained model that could not be saved (Ctrl+D's `keep_back`)."""
    async with app.run_test(size=(80, 24)) as pilot:
        app.session.runner.unsaved = lambda: True  # type: ignore[method-assign]
        await pilot.press(*"ROMEO", "ctrl+q", "ctrl+q")  # the first says what the typed text loses
        await until(pilot, lambda: app.kept_back)
        assert app.is_running and prompt_of(app).text == "ROMEO"
        await pilot.press("ctrl+q")
        await until(pilot, lambda: not app.is_running)


def notes_of(app: RnnplayApp, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What the app notifies from now on."""
    said: list[str] = []
    monkeypatch.setattr(app, "notify", lambda text, **_: said.append(text))
    return said


async def test_a_first_ctrl_q_with_text_typed_says_it_drops_it_and_the_second_leaves(
        app: RnnplayApp, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl+Q, pressed by reflex (flow control: Ctrl+S, Ctrl+Q), left at once and the typed text was gone."""
    async with app.run_test(size=(80, 24)) as pilot:
        said = notes_of(app, monkeypatch)
        await pilot.press(*"ROMEO", "ctrl+q")
        assert said == ["Ctrl+Q: leaving drops the 5 characters typed in the input; Ctrl+Q again leaves"]
        assert app.is_running and prompt_of(app).text == "ROMEO"
        await pilot.press("backspace", "ctrl+q")  # another key between: the next Ctrl+Q warns again
        assert app.is_running and said[-1].startswith("Ctrl+Q: leaving drops the 4 characters")
        await pilot.press("ctrl+q")
        await until(pilot, lambda: not app.is_running)


async def test_a_first_ctrl_d_while_a_turn_streams_says_it_ends_it_and_the_second_leaves(
        app: RnnplayApp, monkeypatch: pytest.MonkeyPatch) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        said = notes_of(app, monkeypatch)
        slow_down(app)
        app.session.length = 100_000
        await type_line(pilot, "To be")
        await until(pilot, lambda: app.turn is not None and app.turn.text)
        send_keys(app, "ctrl+d")
        await until(pilot, lambda: bool(said))
        assert said == ["Ctrl+D: leaving ends the turn being written where it is; Ctrl+D again leaves"]
        assert app.is_running and app.turn is not None
        send_keys(app, "ctrl+d")
        await until(pilot, lambda: not app.is_running)


async def test_ctrl_q_with_nothing_to_lose_leaves_at_once(app: RnnplayApp, monkeypatch: pytest.MonkeyPatch) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        said = notes_of(app, monkeypatch)
        await pilot.press("ctrl+q")
        await until(pilot, lambda: not app.is_running)
        assert said == []


@contextlib.contextmanager
def app_in_a_pty(tmp_path: Path, when: str) -> Iterator[tuple[int, TerminalReader]]:
    """`rnnplay` started in a pseudo-terminal, its master (and what it shows) given once keys may be typed: at once,
    in the line mode, before rnnplay has the terminal; or while the model loads, once rnnplay holds it, before the
    app draws. Ctrl+Q leaves it at the end of the block (exit 0), once the recovery file shows no turn still being
    written (the file holds the turn that streams as it is written, and a Ctrl+Q pressed then only warns)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RNNPLAY_", "XDG_"))}
    env.update({"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data"), "RNNPLAY_NOHISTORY": "1",
                "TERM": "xterm-256color"})
    master, slave = os.openpty()
    ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "rnnplay"], stdin=slave, stdout=slave, stderr=slave, env=env,
                            start_new_session=True)
    os.close(slave)
    reader = TerminalReader(master)
    try:  # the pty's modes are its slave's: the line mode goes off as the model starts to load
        if when != "at-once":
            wait_for(lambda: not termios.tcgetattr(master)[3] & termios.ICANON, "the line mode off", 120)
            assert b"\x1b[?1049h" not in reader.shown()  # the app has not taken the screen yet
        yield master, reader
        # Ctrl+Q while a turn streams only warns (leave_keys.py): the last turn typed has ended before it is pressed
        wait_for(lambda: "still being written" not in kept_text(tmp_path), "the last turn's end", 120)
        os.write(master, b"\x11")  # Ctrl+Q
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        reader.stop()
        os.close(master)


def kept_text(tmp_path: Path) -> str:
    """The conversation's recovery file as the app keeps it while it runs (empty before it is written)."""
    return "".join(f.read_text() for f in (tmp_path / "data" / "rnnplay" / "conversations").glob("*.md"))


@pytest.mark.parametrize("when", ["at-once", "while-the-model-loads"])
def test_a_seed_typed_as_the_app_starts_runs_once_it_has_started(when: str, tmp_path: Path) -> None:
    """`rnnplay`, then at once `ROMEO:` and Enter (a first run loads for seconds): the characters went to the
    conversation, which had the focus before the prompt took it, and the Enter came as the newline the terminal's
    line mode made of it (Ctrl+J in the app), so the seed never ran."""
    with app_in_a_pty(tmp_path, when) as (terminal, _):
        os.write(terminal, b"ROMEO:\r")
        wait_for(lambda: "ROMEO:" in kept_text(tmp_path), "the seed's turn", 120)


def test_lines_typed_before_rnnplay_has_the_terminal_are_one_paste_unless_they_begin_with_a_command() -> None:
    assert [type(k).__name__ for k in typed_keys(typed_before(b"a\nb\n"))] == ["Paste", "Key"]
    assert typed_keys(typed_before(b"a\nb\n"))[0].text == "a\nb"
    assert [k.key for k in typed_keys(typed_before(b"/set length 4\nab\n"))].count("enter") == 2  # a command, a seed


def test_seeds_typed_blind_while_the_model_loads_run_one_by_one(tmp_path: Path) -> None:
    """`ROMEO:` Enter `JULIET:` Enter typed as the model loads: every line typed then was read as one paste (a
    terminal sent a paste without markers), and the two seeds ran as one. The terminal is asked for the markers as
    the model starts to load: a paste comes between them, and lines typed are lines."""
    with app_in_a_pty(tmp_path, "while-the-model-loads") as (terminal, _):
        os.write(terminal, b"ROMEO:\rJULIET:\r")
        wait_for(lambda: "ROMEO:" in kept_text(tmp_path), "the first turn", 120)
        os.write(terminal, b"END\r")  # runs after every seed typed before it
        wait_for(lambda: "\nEND\n" in kept_text(tmp_path), "the last turn", 120)
        text = kept_text(tmp_path)
    assert text.count("## Turn ") == 3 and "```text\nJULIET:\n```" in text, text


@pytest.mark.parametrize("when", ["at-once", "while-the-model-loads"])
def test_a_paste_of_three_lines_as_the_app_starts_is_one_seed(when: str, tmp_path: Path) -> None:
    """The terminal sends a paste without its markers before rnnplay asks for them (at once), with them once it has
    (as the model loads), each line ending in the Enter the terminal makes of a newline: it ran as three seeds,
    where the same paste in the running app is one."""
    with app_in_a_pty(tmp_path, when) as (terminal, reader):
        paste = b"line one\rline two\rline three"
        if when != "at-once":  # as a terminal does once it was asked for the markers
            wait_for(lambda: b"\x1b[?2004h" in reader.shown(), "the paste markers asked for", 120)
            paste = b"\x1b[200~" + paste + b"\x1b[201~"
        os.write(terminal, paste + b"\r")
        wait_for(lambda: "line one" in kept_text(tmp_path), "the first turn", 120)
        os.write(terminal, b"END\r")  # runs after every seed typed before it
        wait_for(lambda: "\nEND\n" in kept_text(tmp_path), "the last turn", 120)
        text = kept_text(tmp_path)
    assert text.count("## Turn ") == 2 and "```text\nline one\nline two\nline three\n```" in text, text


def run_on_a_terminal(args: list[str], home: Path) -> tuple[int, bytes]:
    """``python ARGS`` in a pseudo-terminal of its own, without rnnplay's settings: its exit code and what the
    terminal was sent."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RNNPLAY_", "XDG_"))}
    env.update({"HOME": str(home), "TERM": "xterm-256color"})
    master, slave = os.openpty()
    proc = subprocess.Popen([sys.executable, *args], stdin=slave, stdout=slave, stderr=slave, env=env,
                            start_new_session=True)
    os.close(slave)
    reader = TerminalReader(master)
    try:
        code = proc.wait(60)
        wait_for(reader.ended, "the terminal read to its end", 60)
    finally:
        if proc.poll() is None:
            proc.kill()
        reader.stop()
        os.close(master)
    return code, reader.shown()


def markers_asked_off(shown: bytes) -> bool:
    """Whether the last thing asked of the terminal's bracketed paste was off (after an on)."""
    return -1 < shown.rfind(b"\x1b[?2004h") < shown.rfind(b"\x1b[?2004l")


def test_a_model_that_does_not_load_leaves_the_shell_without_the_paste_markers(tmp_path: Path) -> None:
    """The terminal is asked for the paste markers as the model starts to load; if it never loads, they are asked
    off again before the one-line error, or the shell would get each paste between markers."""
    code, shown = run_on_a_terminal(["-m", "rnnplay", "tui", str(tmp_path / "nowhere.npz")], tmp_path)
    assert code == 1 and b"nowhere.npz" in shown and b"Traceback" not in shown, shown
    assert markers_asked_off(shown[: shown.index(b"nowhere.npz")]), shown


# The app started as `rnnplay tui MODEL` is, SIGTERM coming between the model's load and Textual's start (where the
# app makes its key decoder lenient): the last instants before Textual takes the terminal.
SIGNAL_AS_TEXTUAL_STARTS = """
import os, signal, sys
from rnnplay.ui.tui import terminal
terminal.lenient_keys = lambda: os.kill(os.getpid(), signal.SIGTERM)
sys.argv = ["rnnplay", "tui", sys.argv[1]]
from rnnplay.ui.cli import run
run()
"""


def test_a_signal_as_the_model_has_loaded_leaves_the_shell_without_the_paste_markers(tmp_path: Path,
                                                                                     tiny_path: Path) -> None:
    """SIGTERM or SIGHUP after the model had loaded and before Textual took the terminal left the markers on: the
    shell got each paste between ESC[200~ and ESC[201~. Every way out of the start asks them off now."""
    code, shown = run_on_a_terminal(["-c", SIGNAL_AS_TEXTUAL_STARTS, str(tiny_path)], tmp_path)
    assert code == 128 + signal.SIGTERM and b"rnnplay: stopped by SIGTERM" in shown, shown
    assert markers_asked_off(shown) and b"Traceback" not in shown, shown
