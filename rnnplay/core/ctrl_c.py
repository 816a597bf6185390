"""Holding back Ctrl-C while a training step is committed, so a step is applied whole or not at all; and the
signals that end a command as Ctrl-C does."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP in a command with no way of its own to leave (``rnnplay sample``, ``score``): raised where
    Ctrl-C's KeyboardInterrupt would be, so that the command ends as Ctrl-C ends it. Plugin code it passes through
    is not blamed for it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextmanager
def ctrl_c_held() -> Iterator[None]:
    """Hold back a KeyboardInterrupt until the block is done, where Python's own Ctrl-C handler is in place.

    Committing a step is a few copies and counters; a Ctrl-C between two of them would leave
    a half-applied step. Callers that handle SIGINT themselves (``rnnplay train``: a flag
    read between steps) and threads other than the main one are left alone.
    """
    if threading.current_thread() is not threading.main_thread() or (
            signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield
        return
    pressed: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: pressed.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if pressed:
        raise KeyboardInterrupt


@contextmanager
def ctrl_c_raises() -> Iterator[None]:
    """Python's own Ctrl-C for the block, whatever handler the caller set: a KeyboardInterrupt where it is pressed.

    For a wait that nothing needs to survive (no step made yet), under a handler that would only ask to stop
    later. Threads other than the main one are left alone (no signal reaches them).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
