"""Waiting in a test for something another process or thread does: a bound that catches a hang, not a speed claim."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(condition: Callable[[], T], what: str, timeout: float = 60, every: float = 0.05) -> T:
    """``condition()``'s first truthy answer, asked every ``every`` seconds; AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(every)
    return found
