"""The session's events as Textual messages: one message class per kind of event, so the app handles each kind
with its own ``@arrived(Kind)`` handler (``@on(Arrived.of(Kind))`` while the app runs) and Textual does the
dispatching.

The session emits from whichever thread did the work. Its events queue up in
:class:`EventQueue` and one ``Drain`` message at a time (posted thread-safely)
tells the UI thread to take them; there each becomes its Textual message, in order.
Characters streamed between two drains arrive as one ``Chunk``, which keeps a fast
stream from flooding the app's message queue; and a drain that finds only chunks
waits until a frame (:data:`FRAME`) has passed since the last one, so a fast stream
is drawn a frame at a time. Each drawing of a growing turn lays out and paints the
conversation again, on the UI thread, which holds the interpreter's lock meanwhile:
drawn at every drain, the app spent most of its time drawing, and the sampling
thread waited for the lock (docs/performance.md, "The app on a terminal").
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from functools import cache, wraps
from typing import Any, TypeVar

from textual import on
from textual.message import Message

from rnnplay.session.events import Chunk

Handler = TypeVar("Handler", bound=Callable[..., None])
FRAME = 0.2  # seconds: a stream's characters are handed to the UI at most this often


class Drain(Message, bubble=False):
    """Session events are waiting in the app's queue."""


class Arrived(Message, bubble=False):
    """A session event, delivered on the UI thread; ``Arrived.of(Kind)`` is the message class of one kind."""

    kind: type = object

    def __init__(self, event: Any) -> None:
        super().__init__()
        self.event = event

    @classmethod
    @cache
    def of(cls, kind: type) -> type[Arrived]:
        """The message class for events of type ``kind`` (the same class each time it is asked for)."""
        return type(f"{kind.__name__}Arrived", (cls,), {"kind": kind, "__doc__": f"A session {kind.__name__}."},
                    bubble=False)


def arrived(kind: type) -> Callable[[Handler], Handler]:
    """``@on(Arrived.of(kind))`` for a handler that runs only while the app does: events that come in while it
    closes (a training's last step, its model saved) are dropped, as the widgets they would update are gone."""

    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        def while_running(app: Any, message: Arrived) -> None:
            if app.is_running:
                handler(app, message)

        return on(Arrived.of(kind))(while_running)

    return decorate


def as_message(event: Any) -> Arrived:
    """``event`` wrapped in the message class of its kind."""
    return Arrived.of(type(event))(event)


def merged(events: list[Any]) -> list[Any]:
    """``events`` with each run of consecutive chunks joined into one chunk (the same text, in the same place)."""
    out: list[Any] = []
    for event in events:
        if isinstance(event, Chunk) and out and isinstance(out[-1], Chunk):
            out[-1] = Chunk(out[-1].text + event.text)
        else:
            out.append(event)
    return out


class EventQueue:
    """Session events from any thread, handed to the UI thread in order, with at most one ``Drain`` in flight."""

    def __init__(self, post: Callable[[Message], object]) -> None:
        self.post = post
        self.events: deque[Any] = deque()
        self.lock = threading.Lock()
        self.drain_posted = False
        self.taken_at = -FRAME  # when the UI thread last took the events (monotonic seconds)
        self.holding = False  # the drain posted waits for the frame's end (only chunks were waiting)

    def put(self, event: Any) -> None:
        """Called from any thread (it is the session's subscriber)."""
        with self.lock:
            self.events.append(event)
            if self.drain_posted and not (self.holding and not isinstance(event, Chunk)):
                return  # the drain on its way takes it (a turn's end, an error: not held back with the chunks)
            self.drain_posted, self.holding = True, False
        self.post(Drain())

    def wait(self) -> float:
        """Seconds to wait before :meth:`take`, at a ``Drain``: none unless every event waiting is a chunk and the last
        take was less than a frame ago. Another kind of event (a turn's end, an error) is taken at once with the
        chunks before it, even when it comes during the wait (it posts a drain of its own)."""
        with self.lock:
            chunks_only = all(isinstance(event, Chunk) for event in self.events)
            wait = max(0.0, self.taken_at + FRAME - time.monotonic()) if chunks_only else 0.0
            self.holding = wait > 0
            return wait

    def take(self) -> list[Arrived]:
        """On the UI thread, at a ``Drain``: every event waiting, as messages."""
        with self.lock:
            self.taken_at = time.monotonic()
            events = list(self.events)
            self.events.clear()
            self.drain_posted = False
        return [as_message(event) for event in merged(events)]

    def hand_over(self) -> None:
        """On the UI thread, at a ``Drain`` or at the end of its wait: every event waiting posted as its message."""
        for message in self.take():
            self.post(message)
