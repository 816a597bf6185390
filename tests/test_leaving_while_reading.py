"""Ctrl+D or Ctrl+Q while a seed is still being read asks twice, and a leave then keeps the seed.

On a fresh machine the first seed waits for the compiled kernels (seconds of compilation) before its first
character: the turn is under way, the user's seed in it, but the app's turn starts only with the first character.
A first Ctrl+D then left at once, and the recovery file held no trace of the seed (the turn was recorded only once
its reading had ended). Here the kernels' first call is held (``held_kernels``), so the seed surely is still
being read when the keys come.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from pilot_helpers import send_keys, type_line, until

from rnnplay.session.events import Working
from rnnplay.session.session import Session
from rnnplay.session.transcript import recovery_path
from rnnplay.ui.tui import RnnplayApp
from rnnplay.ui.tui.widgets import WorkingLine

READING = "Ctrl+{}: leaving stops the turn whose seed is being read (the seed is kept); Ctrl+{} again leaves"


def app_on(tiny_path: Path) -> RnnplayApp:
    session = Session()
    session.load(str(tiny_path))
    return RnnplayApp(session)


def kept_file() -> str:
    """The recovery files' text (the data folder's conversations/)."""
    return "".join(path.read_text() for path in sorted(recovery_path().parent.glob("*.md")))


@pytest.mark.parametrize("key", ["d", "q"])
async def test_a_first_leaving_key_while_a_seed_is_read_asks_and_the_second_keeps_the_seed(
        held_kernels: threading.Event, tiny_path: Path, monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    app = app_on(tiny_path)
    said: list[str] = []
    async with app.run_test(size=(80, 24)) as pilot:
        monkeypatch.setattr(app, "notify", lambda text, **_: said.append(text))
        await type_line(pilot, "to be")
        await until(pilot, lambda: app.query_one(WorkingLine).has_class("active"))  # the seed shown being read
        send_keys(app, f"ctrl+{key}")
        await until(pilot, lambda: bool(said) or not app.is_running)
        assert app.is_running, "the first press left"
        assert said == [READING.format(key.upper(), key.upper())]
        send_keys(app, f"ctrl+{key}")
        await until(pilot, lambda: not app.is_running)
    assert any("1 turn not saved with /transcript save: kept in" in line for line in app.farewell), app.farewell
    assert "```text\nto be\n```" in kept_file()


def test_a_session_closed_while_a_seed_is_read_keeps_the_seed(held_kernels: threading.Event,
                                                               tiny_session: Session) -> None:
    """What both the app and the REPL do as they leave (SIGTERM, SIGHUP, a second Ctrl+D): close the session, then
    keep what no /transcript save holds. A seed still waiting for the kernels was in no turn yet, and was lost."""
    reading = threading.Event()
    tiny_session.subscribe(lambda event: isinstance(event, Working) and reading.set())
    threading.Thread(target=tiny_session.generate, args=("to be",), daemon=True).start()
    assert reading.wait(60), "the seed was never read"
    tiny_session.close()
    kept = tiny_session.generation.keep_unsaved()
    assert kept is not None and kept.startswith("1 turn not saved with /transcript save: kept in"), kept
    assert "```text\nto be\n```" in kept_file()
