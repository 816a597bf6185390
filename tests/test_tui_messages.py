"""How the session's events reach the app: one Textual message class per kind of event, chunks joined per drain."""

from __future__ import annotations

import threading
import time

from rnnplay.core.trainer import StepEvent
from rnnplay.session.events import Changed, Chunk, Message, TurnEnded
from rnnplay.session.session import Session
from rnnplay.ui.tui.app import RnnplayApp
from rnnplay.ui.tui.messages import Arrived, Drain, EventQueue, as_message, merged


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
