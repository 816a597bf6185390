"""Ctrl-C, SIGTERM and SIGHUP while ``ray.init`` starts a local Ray or joins a cluster: each ends the start, none is
lost, and the caller's SIGTERM handler is its own again afterwards.

A signal's Python handler runs between two bytecodes of the main thread, wherever that thread is. In Ray's start
it may be in Python's fork hooks (Ray forks its processes), where an exception the handler raises is dropped:
Python only printed "Exception ignored in: <function _releaseLock>", and the run trained on. The handler may be
rnnplay's (a KeyboardInterrupt, a :class:`~rnnplay.core.ctrl_c.Terminated`) or the one ``ray.init`` sets for
SIGTERM (``sys.exit``). Which one ran does not matter here: Python's C-level handler writes the number of every
signal it catches to the wakeup descriptor (:func:`signal.set_wakeup_fd`) before any Python handler runs, so the
signals that came during the start are read from a pipe afterwards, and the first one that stops a command is
raised again if the start went on as if none had come.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator

from rnnplay.core.ctrl_c import Terminated

STOPPING = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # the signals that end a command (exit 128 + number)


@contextlib.contextmanager
def signals_not_lost() -> Iterator[None]:
    """A Ctrl-C, SIGTERM or SIGHUP that came during the block and did not end it: raised after the block, as
    Ctrl-C's KeyboardInterrupt or as :class:`Terminated` (what the run's own handlers raise there), also in place
    of an error the block then raised: a start that went on past a dropped exception was seen to hang in Ray's
    threads (most likely on ``logging``'s lock, which the fork hook that raised had not released) until Ray's
    node timed out.

    The wakeup descriptor in place before (``rnnplay train``'s :mod:`~rnnplay.ui.cli.held_signals`, an event
    loop's) is put back after the block and given the signals that came, as it would have been. Main thread only:
    no signal handler runs on another, and Python sets the descriptor only there."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    try:
        read, write = os.pipe()
    except OSError:  # no descriptor left: signals are heard as they were
        yield
        return
    os.set_blocking(read, False)
    os.set_blocking(write, False)  # the C-level handler must never block on it
    previous = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
    failed: Exception | None = None
    try:
        yield
    except Exception as err:  # Ray's start failed: after a signal it went on past, the signal is the story
        failed = err
    finally:
        signal.set_wakeup_fd(previous, warn_on_full_buffer=False)
        came = drained(read)
        os.close(read)
        os.close(write)
        if came and previous >= 0:
            with contextlib.suppress(OSError):  # full, or closed by its owner: as if the signals came before it
                os.write(previous, came)
    stops = [signum for signum in came if signum in STOPPING]
    if stops:  # the block went on after it: its exception was dropped (or the signal swallowed)
        raise (KeyboardInterrupt() if stops[0] == signal.SIGINT else Terminated(stops[0])) from None
    if failed is not None:
        raise failed


def drained(read: int) -> bytes:
    """All that a non-blocking pipe holds now."""
    chunks = []
    with contextlib.suppress(BlockingIOError):
        while chunk := os.read(read, 256):
            chunks.append(chunk)
    return b"".join(chunks)


@contextlib.contextmanager
def sigterm_kept() -> Iterator[None]:
    """The caller's SIGTERM handler kept across ``ray.init``, which sets its own (``sys.exit(15)``, and its C++ core's
    that prints a stack): after it, the handler before is put back, so that a training saves on SIGTERM as it
    does without Ray; during it, a SIGTERM ends the start as a :class:`Terminated` (the caller stops Ray's
    half-started processes). Threads other than the main one are left alone (Ray sets no handler there)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    try:
        yield
    except SystemExit as leaving:
        if leaving.code != signal.SIGTERM:
            raise
        raise Terminated(signal.SIGTERM) from None
    finally:
        if previous is not None:  # None: a handler set outside Python, which cannot be put back
            signal.signal(signal.SIGTERM, previous)
