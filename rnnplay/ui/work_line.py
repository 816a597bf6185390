"""The one line that says slow work goes on, drawn into a terminal where text streams: the REPL's turns and
``rnnplay sample``'s text on a terminal.

The text's cursor stays where its next character goes, so the line is drawn where it
does not get in the text's way:

* **at a line's start**, on the text's own row, the cursor kept at its start (``HERE``);
* **mid-line** (a turn gone quiet), on the row below, the cursor kept (``BELOW``);
* **nowhere while the text has just filled its row**: a terminal waiting to wrap
  forgets it when the cursor moves, and the next character would overwrite the row's
  last one (tmux and xterm do).

Nothing is below the text but the line, so it is erased with everything under the
cursor's row: a terminal narrowed while the line is up (tmux reflows it into two
rows) keeps no piece of it.

Before any text is written the line is erased, and drawn again after it while the work
goes on; a thread moves its spinner meanwhile. One lock orders the writers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TextIO

from rich.cells import chop_cells, get_character_cell_size
from rich.console import Console
from rich.progress_bar import ProgressBar
from rich.spinner import SPINNERS

from rnnplay.session.events import Working
from rnnplay.ui.console import DIM, ansi, styled, visible

SPINNER = SPINNERS["dots"]["frames"]
SPIN_EVERY = 0.1  # seconds between two frames of the spinner
BAR_WIDTH = 10  # the line's bar, when the share done is known
# VT100, at a line's start: column 0, erase to the end of the screen, save the cursor, {the line}, restore the cursor
HERE = "\r\x1b[J\x1b7{}\x1b8"
# mid-line: index then reverse index (a row below exists, scrolled into being at the bottom, the column kept), save
# the cursor, down a row, column 0, erase to the end of the screen, {the line}, restore the cursor
BELOW = "\x1bD\x1bM\x1b7\x1bD\r\x1b[J{}\x1b8"


class WorkLine:
    """The Working line on the terminal ``out`` (``width()`` cells wide), where text is written through :meth:`write`.

    ``lock`` is the one its owner writes ``out`` under.
    """

    def __init__(self, out: TextIO, console: Console, width: Callable[[], int], lock: threading.RLock) -> None:
        self.out, self.console, self.width, self.lock = out, console, width, lock
        self.column = 0  # the cursor's column (the width itself: the row is full, the terminal waits to wrap)
        self.work: Working | None = None  # what the line shows, while it is up
        self.frame = 0
        self.spin_stop = threading.Event()  # a new one for each spinner thread

    def write(self, codes: str, text: str) -> None:
        """Write ``codes`` (``text`` as the terminal should get it: styled, its control characters shown) at the
        cursor; the line steps aside for it and comes back after it."""
        if not text:
            return
        with self.lock:
            self.out.write((self.codes("") if self.work is not None else "") + codes)
            self.column = advance(self.column, visible(text), max(1, self.width()))
            if self.work is not None:
                self.out.write(self.codes(self.line()))
            self.out.flush()

    @property
    def at_line_start(self) -> bool:
        """Is the cursor at a row's first cell (after a new line, or nothing on the row yet)?"""
        return self.column == 0

    def moved_home(self) -> None:
        """The cursor was put at a line's start by other means (the screen was cleared)."""
        self.column = 0

    def show(self, e: Working) -> None:
        """Start, change or (``e.done``) end the line; a spinner thread keeps it moving while it is up."""
        with self.lock:
            shown = self.work is not None
            self.work = None if e.done else e
            if shown or self.work is not None:  # an end with nothing shown writes nothing
                self.out.write(self.codes(self.line() if self.work else ""))
                self.out.flush()
        if not shown and not e.done:
            self.spin_stop = threading.Event()
            threading.Thread(target=self._spin, args=(self.spin_stop,), name="rnnplay-spinner", daemon=True).start()
        elif e.done:
            self.spin_stop.set()

    def stop(self) -> None:
        """Erase the line, if it is up, and stop its spinner."""
        self.spin_stop.set()
        with self.lock:
            if self.work is not None:
                self.out.write(self.codes(""))
                self.out.flush()
            self.work = None

    def _spin(self, stop: threading.Event) -> None:
        while not stop.wait(SPIN_EVERY):
            with self.lock:
                if self.work is None:
                    return
                self.frame += 1
                self.out.write(self.codes(self.line()))
                self.out.flush()

    def codes(self, line: str) -> str:
        """What draws ``line`` ("" erases) where it goes: this row at a line's start, else the row below (nothing
        while the row is full: the cursor waits to wrap, and moving it would lose that)."""
        if self.at_line_start:
            return HERE.format(line)
        return "" if self.column >= self.width() else BELOW.format(line)

    def line(self) -> str:
        """'⠹ ━━━━╸━━━━━ ranking 512 units  42% · Ctrl+C stops', cut to the terminal's width so it stays one row."""
        assert self.work is not None
        fraction = self.work.fraction
        room = max(1, self.width() - 1)
        bar = ""
        if fraction is not None and room > 4 * BAR_WIDTH:
            bar = ansi(self.console, ProgressBar(total=1.0, completed=fraction, width=BAR_WIDTH), BAR_WIDTH) + " "
            room -= BAR_WIDTH + 1
        share = f"  {fraction:.0%}" if fraction is not None else ""
        text = f"{visible(self.work.what)}{share} · Ctrl+C stops"
        spinner = styled(self.console, SPINNER[self.frame % len(SPINNER)] + " ", DIM)
        return spinner + bar + styled(self.console, chop_cells(text, max(1, room - 2))[0], DIM)


def advance(column: int, text: str, width: int) -> int:
    """The cursor's column after ``text`` is written from ``column`` on a terminal ``width`` cells wide, as xterm
    and tmux place it: a new line goes back to 0, a tab to the next tab stop; a character wider than what is left
    of the row goes to the next row whole (a wide character is never split: the row's last cell stays empty);
    ``width`` itself means the row is full and the terminal waits to wrap (the next character starts a row)."""
    for ch in text:
        if ch == "\n":
            column = 0
            continue
        if ch == "\t":  # to the next tab stop (every 8 columns), at most the row's last cell; no wrap
            column = column if column >= width else min(column // 8 * 8 + 8, width - 1)
            continue
        cells = get_character_cell_size(ch)
        if cells:
            column = cells if column + cells > width else column + cells
    return column
