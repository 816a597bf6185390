"""The order the lines typed in the app run in: the order they were typed, as in the REPL.

Each line used to run on a thread of its own, so only generations kept their order
(the session's ticket queue): a command typed right after a seed ran at once, beside
the turn (``ROMEO:`` then ``/temp 0.3``: the turn written at 0.7 while its header said
0.3, the reply drawn above it), and a new seed stopped the turn streaming. Now lines
wait for the lines typed before them and run one after another on one daemon thread,
so a second seed queues behind the turn that streams (Esc stops the running one; the
lines behind it then run, as Ctrl+C and type-ahead do in the REPL).

A few commands act at once, beside a running turn (:data:`AT_ONCE`): ``/quit`` (and
its aliases), ``/stop`` (of a training), ``/help`` (F1), and ``/transcript save``
(which keeps a turn still streaming with its text so far). Esc, Ctrl+C and Ctrl+D are
keys, not lines: they too act at once.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

from rnnplay.plugins.slash import command_table, split_command

AT_ONCE = frozenset({"quit", "stop", "help", "transcript"})  # the commands that do not wait for the lines before them


def at_once(line: str) -> bool:
    """Whether ``line`` is a command that runs at once, not after the lines typed before it."""
    if not line.startswith("/") or line.startswith("//"):
        return False
    command = command_table().get(split_command(line)[0])
    return command is not None and command.name in AT_ONCE


class LineOrder:
    """Runs each line given to :meth:`submit` with ``run``: in the order given, one at a time on one daemon thread
    (a plugin's sampler that never returns must not keep the process alive); a line :func:`at_once` on a daemon
    thread of its own, at once."""

    def __init__(self, run: Callable[[str], None]) -> None:
        self.run = run
        self.lines: queue.SimpleQueue[str] = queue.SimpleQueue()
        self.worker: threading.Thread | None = None
        self.lock = threading.Lock()
        self.waiting = 0  # lines given and not yet started
        self.closed = False

    def submit(self, line: str) -> None:
        if at_once(line):
            threading.Thread(target=self.run, args=(line,), name="rnnplay-at-once", daemon=True).start()
            return
        with self.lock:
            if self.closed:
                return
            self.waiting += 1
            self.lines.put(line)
            if self.worker is None:
                self.worker = threading.Thread(target=self._work, name="rnnplay-lines", daemon=True)
                self.worker.start()

    def close(self) -> int:
        """No line still waiting starts, nor one given from now on: the app is leaving. How many were waiting
        (0 when closed before)."""
        with self.lock:
            dropped = 0 if self.closed else self.waiting
            self.closed = True
            return dropped

    def _work(self) -> None:
        while True:
            line = self.lines.get()
            with self.lock:
                if self.closed:
                    continue
                self.waiting -= 1
            self.run(line)
