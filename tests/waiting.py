"""Waiting in a test for something another process or thread does: a bound that catches a hang, not a speed claim."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import IO, TypeVar

T = TypeVar("T")


def wait_for(condition: Callable[[], T], what: str, timeout: float = 60, every: float = 0.05) -> T:
    """``condition()``'s first truthy answer, asked every ``every`` seconds; AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(every)
    return found


def line_within(stream: IO[str], what: str, timeout: float = 60) -> str:
    """The next line of ``stream`` (a child's pipe), read on a thread of its own so that a child that neither writes
    it nor exits fails the test after ``timeout`` seconds instead of holding the suite; "" at the end of the stream."""
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    assert lines, f"timed out waiting for {what}"
    return lines[0]
