"""How the session's events reach the app: one Textual message class per kind of event, chunks joined per drain."""

from __future__ import annotations

from rnnplay.core.trainer import StepEvent
from rnnplay.session.events import Chunk, Message, TurnEnded
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
