"""What the Pilot tests of the Textual app share: making the app, typing a line, waiting for a state."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from textual import events
from textual.pilot import Pilot

from rnnplay.session.session import Session
from rnnplay.ui.tui import RnnplayApp
from rnnplay.ui.tui.prompt import PromptInput
from rnnplay.ui.tui.widgets import Note

TIMEOUT = 60  # a bound on waiting for background work, not a speed claim


def app_on(model_path: Path, **settings: object) -> RnnplayApp:
    """The app on a session that loaded ``model_path``, with session attributes set from ``settings``."""
    session = Session()
    session.load(str(model_path))
    for name, value in settings.items():
        setattr(session, name, value)
    return RnnplayApp(session)


async def until(pilot: Pilot, condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, "the app never reached the expected state"
        await pilot.pause(0.05)


async def type_line(pilot: Pilot, line: str) -> None:
    """Type a short line key by key; insert a long one (typing 80 keys through Pilot is slow)."""
    if len(line) > 24:
        pilot.app.query_one(PromptInput).insert(line, maintain_selection_offset=False)
        await pilot.press("enter")
    else:
        await pilot.press(*line, "enter")


def messages(app: RnnplayApp, level: str) -> list[str]:
    return [note.text for note in app.query(f".message.{level}").results(Note)]


def send_keys(app: RnnplayApp, *keys: str) -> None:
    """Send keys as the terminal driver does, without Pilot's wait for an idle process after each.

    While text streams in the process is never idle, so ``pilot.press`` waits its full second
    twice per key; wait for the state the keys lead to with :func:`until` instead.
    """
    for key in keys:
        char = " " if key == "space" else key if len(key) == 1 else None
        app.post_message(events.Key(key, char))


def slow_down(app: RnnplayApp) -> None:
    """Make every model step take 20 milliseconds, so 100,000 characters take half an hour and
    the key always arrives mid-stream (the tiny model alone can finish before it does)."""
    model = app.session.model
    fast_stepper = model.stepper

    def slow_stepper():
        fast = fast_stepper()

        def slow_step(ids, states):
            time.sleep(0.02)
            return fast(ids, states)

        return slow_step

    model.stepper = slow_stepper


def type_fast(app: RnnplayApp, *keys: str) -> None:
    """Keys arriving together, as a terminal delivers fast typing: none waits for the one before it."""
    for key in keys:
        character = {"enter": "\r", "ctrl+j": "\n", "tab": "\t", "space": " ", "backspace": "\x7f", "ctrl+u": "\x15",
                     "ctrl+w": "\x17", "left": None, "home": None}.get(key, key)
        app.post_message(events.Key(key, character))
