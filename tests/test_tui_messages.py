"""How the session's events reach the app: one Textual message class per kind of event, chunks joined per drain."""

from __future__ import annotations

import threading
import time

import pytest
from pilot_helpers import until

from rnnplay.core.trainer import StepEvent
from rnnplay.session.events import Changed, Chunk, Message, TurnEnded, TurnStarted
from rnnplay.session.session import Session
from rnnplay.ui.tui import messages
from rnnplay.ui.tui.app import RnnplayApp
from rnnplay.ui.tui.messages import Arrived, Drain, EventQueue, as_message, merged
from rnnplay.ui.tui.widgets import Turn


def test_each_kind_of_event_has_one_message_class() -> None:
    assert Arrived.of(Chunk) is Arrived.of(Chunk) and Arrived.of(Chunk) is not Arrived.of(Message)
    message = as_message(Message("info", "hello"))
    assert type(message) is Arrived.of(Message) and message.event == Message("info", "hello")
    assert issubclass(Arrived.of(StepEvent), Arrived) and not Arrived.of(StepEvent).bubble


def test_chunks_between_two_drains_arrive_as_one_in_their_place() -> None:
    events = [Chunk("a"), Chunk("b"), Message("info", "x"), Chunk("c"), TurnEnded("done", 3)]
    assert merged(events) == [Chunk("ab"), Message("info", "x"), Chunk("c"), TurnEnded("done", 3)]


def test_one_drain_at_a_time_is_posted_whatever_the_number_of_events() -> None:
    posted: list[object] = []
    queue = EventQueue(posted.append)
    for ch in "abc":
        queue.put(Chunk(ch))
    assert len(posted) == 1 and isinstance(posted[0], Drain)
    assert [m.event for m in queue.take()] == [Chunk("abc")]
    queue.put(TurnEnded("done", 3))
    assert len(posted) == 2


def test_chunks_wait_for_the_frame_and_another_event_does_not(monkeypatch: pytest.MonkeyPatch) -> None:
    """A drain right after another finds only chunks: it waits out the frame. A turn's end during that wait posts a
    drain of its own, which takes it at once, with the chunks before it."""
    monkeypatch.setattr(messages, "FRAME", 60.0)
    posted: list[object] = []
    queue = EventQueue(posted.append)
    queue.put(Chunk("a"))
    assert queue.wait() == 0 and [m.event for m in queue.take()] == [Chunk("a")]
    queue.put(Chunk("b"))
    assert queue.wait() > 50 and len(posted) == 2
    queue.put(Chunk("c"))
    assert len(posted) == 2  # held with "b"
    queue.put(TurnEnded("done", 3))
    assert len(posted) == 3 and queue.wait() == 0
    assert [m.event for m in queue.take()] == [Chunk("bc"), TurnEnded("done", 3)]


async def test_a_stream_is_drawn_a_frame_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Characters that come within a frame of the last drawing are drawn together, at its end or at the turn's end.
    The app drew at every drain, nearly every character: laying out the conversation each time took the UI thread's
    time, and the interpreter's lock from the sampling thread (docs/performance.md, "The app on a terminal")."""
    monkeypatch.setattr(messages, "FRAME", 60.0, raising=False)  # no frame ends in the test: the turn's end draws
    app = RnnplayApp(Session())
    async with app.run_test() as pilot:
        app.queue.put(TurnStarted("To be", "greedy"))
        await until(pilot, lambda: app.turn is not None)
        for ch in "abcdefghij":
            app.queue.put(Chunk(ch))
            await pilot.pause()
        turn = app.query_one(Turn)
        assert turn.text == "" and str(turn.render()) == "To be"  # the turn's start was the frame's drawing
        app.queue.put(TurnEnded("done", 10))
        await until(pilot, lambda: app.turn is None)
        assert turn.text == "abcdefghij" and str(turn.render()) == "To beabcdefghij"


async def test_events_that_come_in_while_the_app_closes_are_dropped() -> None:
    """A training's last events (its model saved, a step) could come in while the app closed: their handlers then
    looked for widgets already gone and the app ended in NoMatches ('No nodes match TrainingPanel')."""
    for _ in range(3):
        app = RnnplayApp(Session())
        closing = threading.Event()
        poster = threading.Thread(target=post_until, args=(app, closing), daemon=True)
        try:
            async with app.run_test() as pilot:
                poster.start()
                await pilot.pause(0.2)
        finally:
            closing.set()
            poster.join()


def post_until(app: RnnplayApp, closing: threading.Event) -> None:
    """A model changed, again and again, from another thread, as a session tells the app, until ``closing``."""
    while not closing.is_set():
        app.post_message(as_message(Changed(what="model")))
        time.sleep(0.0005)
