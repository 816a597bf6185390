"""The app runs the lines typed in the order they were typed, as the REPL does (:mod:`rnnplay.ui.tui.line_order`).

Each line ran on a thread of its own: a command typed after a seed ran beside the
turn (its reply above the turn, a /temp changing what the turn's header said), and a
seed typed while a turn streamed stopped that turn. A few commands still act at once.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pilot_helpers import app_on, messages, send_keys, slow_down, type_line, until
from textual.pilot import Pilot

from rnnplay.session.inspection import sampler_label
from rnnplay.ui.tui import RnnplayApp
from rnnplay.ui.tui.line_order import at_once
from rnnplay.ui.tui.widgets import Conversation, Note, Turn


@pytest.fixture
def app(tiny_path: Path) -> RnnplayApp:
    return app_on(tiny_path)


def turns(app: RnnplayApp) -> list[Turn]:
    return list(app.query(Turn))


def typed(app: RnnplayApp, line: str) -> None:
    """Type ``line`` and Enter without waiting for the app to be idle (it never is while a turn streams)."""
    send_keys(app, *("space" if c == " " else c for c in line), "enter")


async def streaming(app: RnnplayApp, pilot: Pilot, seed: str, length: int) -> None:
    """``seed`` typed, and its turn (``length`` characters, slowed down) under way."""
    slow_down(app)
    app.session.length = length
    typed(app, seed)
    await until(pilot, lambda: turns(app) and len(turns(app)[0].text) > 5)


async def test_a_command_typed_after_a_seed_waits_for_its_turn(app: RnnplayApp) -> None:
    """`ROMEO:` then `/temp 0.3`: the turn is written, headed and recorded at 0.7, and /temp's reply comes after it."""
    async with app.run_test(size=(80, 24)) as pilot:
        await type_line(pilot, "/set seed 1")
        slow_down(app)
        app.session.length = 100_000
        typed(app, "ROMEO:")
        typed(app, "/temp 0.3")
        await until(pilot, lambda: turns(app) and len(turns(app)[0].text) > 20)  # /temp typed long before this
        assert app.session.params["temperature"] == 0.7
        assert not [m for m in messages(app, "info") if "temperature" in m]  # /temp has not run yet
        await pilot.press("escape")
        await until(pilot, lambda: app.session.params["temperature"] == 0.3)
        await until(pilot, lambda: isinstance(app.query_one(Conversation).children[-1], Note))
        turn = turns(app)[0]
        assert turn.ending == " ⏹ stopped"
        assert str(turn.border_title) == sampler_label("temperature", {"temperature": 0.7})
        assert app.session.turns[0].params == {"temperature": 0.7}
        assert app.query_one(Conversation).children[-1].text == f"sampler: {app.session.sampler_label()}"  # /temp's


async def test_a_seed_typed_while_a_turn_streams_waits_for_it(app: RnnplayApp) -> None:
    """`JULIET:` then `HAMLET:` while JULIET streams: JULIET is written to its end (it was stopped),
    then HAMLET."""
    async with app.run_test(size=(80, 24)) as pilot:
        await streaming(app, pilot, "JULIET:", 40)
        typed(app, "HAMLET:")
        await until(pilot, lambda: len(turns(app)) == 2 and app.turn is None and not app.session.generating)
        assert [(t.seed, len(t.text), t.ending) for t in turns(app)] == [("JULIET:", 40, ""), ("HAMLET:", 40, "")]


async def test_stop_quit_help_and_transcript_act_at_once(app: RnnplayApp) -> None:
    assert all(at_once(line) for line in ["/stop", "/quit", "/bye", "/help temp", "/transcript save t.md"])
    assert not any(at_once(line) for line in ["/temp 0.3", "/set seed 1", "//stop", "ROMEO:", "/nosuch"])
    async with app.run_test(size=(80, 24)) as pilot:
        await streaming(app, pilot, "To be", 100_000)
        typed(app, "/help temp")
        await until(pilot, lambda: any("/temp" in m for m in messages(app, "info")))
        assert app.session.generating  # /help neither waited for the turn nor stopped it
        await pilot.press("escape")


def kept_lines(app: RnnplayApp) -> list[str]:
    return [line for line in app.farewell if "not saved with /transcript save" in line]


async def test_a_seed_still_waiting_when_the_app_quits_is_not_run(app: RnnplayApp) -> None:
    """`A:` streaming, `QUEUED SEED` typed behind it, then /quit: the queued seed started after /quit and the
    recovery line was said twice ("1 turn", then "2 turns", one file). Now it never starts; the farewell says a
    typed line was not run, and names the recovery file once."""
    async with app.run_test(size=(80, 24)) as pilot:
        await streaming(app, pilot, "To be", 3000)
        typed(app, "QUEUED SEED")
        await until(pilot, lambda: app.order.waiting == 1)
        typed(app, "/quit")
    app.close_session()  # as `rnnplay tui` does once the app has left
    conversation = app.session.generation.conversation()  # the stopped turn: recorded, or still being written
    assert [t.seed for t in [*conversation.turns, *filter(None, [conversation.writing])]] == ["To be"]
    assert "1 typed line waiting behind a turn not run" in " ".join(app.farewell), app.farewell
    assert len(kept_lines(app)) == 1, app.farewell


async def test_sigterm_while_a_turn_streams_names_the_recovery_file_once(app: RnnplayApp,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RNNPLAY_STOP_GRACE_SECONDS", "3600")  # the watchdog must not end the test's process
    async with app.run_test(size=(80, 24)) as pilot:
        await streaming(app, pilot, "To be", 3000)
        app.leave_on_signal(15)
        await until(pilot, lambda: bool(kept_lines(app)))
    app.close_session()
    assert len(kept_lines(app)) == 1, app.farewell
