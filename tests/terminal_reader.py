"""What a program under test writes to its pseudo-terminal, read by a thread that the test stops before it closes
the terminal: a close while another thread is blocked reading the master leaves the terminal open until that read
returns, so a program that prints nothing would never see its terminal go."""

from __future__ import annotations

import os
import select
import threading


class TerminalReader:
    """Reads ``master`` (a pty's master end) in a thread, keeping every chunk, so the program never blocks on it."""

    def __init__(self, master: int) -> None:
        self.master = master
        self.chunks: list[bytes] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            while not self._stopping.is_set():
                if select.select([self.master], [], [], 0.1)[0]:
                    chunk = os.read(self.master, 65536)
                    if not chunk:
                        break
                    self.chunks.append(chunk)
        except OSError:  # the program's end closed (EIO)
            pass

    def shown(self, since: int = 0) -> bytes:
        """Everything read so far, from chunk ``since`` on."""
        return b"".join(self.chunks[since:])

    def ended(self) -> bool:
        """Whether the reading has ended by itself: every process closed the terminal's other end (EIO)."""
        return not self._thread.is_alive()

    def stop(self) -> None:
        """Stop reading (and wait until the thread has): the master may be closed now."""
        self._stopping.set()
        self._thread.join()
