"""The work line's codes on a terminal (pyte, a terminal emulator): where the line goes, where the cursor is left, and
that erasing it leaves nothing of it, even when the terminal was narrowed meanwhile and wrapped it onto a second
row (tmux reflows; pyte does not, so the test writes that second row itself)."""

from __future__ import annotations

import io
import threading

import pyte
from rich.console import Console

from rnnplay.session.events import Working
from rnnplay.ui.work_line import WorkLine, advance

COLUMNS, ROWS = 40, 10


class Terminal:
    """A WorkLine writing into a string that a pyte screen is fed from."""

    def __init__(self) -> None:
        self.out = io.StringIO()
        self.fed = 0
        self.screen = pyte.Screen(COLUMNS, ROWS)
        self.stream = pyte.Stream(self.screen)
        console = Console(file=self.out, color_system=None, width=COLUMNS)
        self.line = WorkLine(self.out, console, lambda: COLUMNS, threading.RLock())

    def feed(self, extra: str = "") -> None:
        """Everything written since the last feed, then ``extra`` (bytes the terminal itself would add)."""
        with self.line.lock:
            text = self.out.getvalue()
            self.stream.feed(text[self.fed :] + extra)
            self.fed = len(text)

    def write(self, text: str) -> None:
        self.line.write(text, text)

    def rows(self) -> list[str]:
        return [row.rstrip() for row in self.screen.display]


def leftover_below(screen: pyte.Screen, rows_down: int) -> str:
    """What a narrowed terminal leaves when it wraps the line: its tail on a row of its own, the cursor kept."""
    y, x = screen.cursor.y, screen.cursor.x
    return f"\x1b[{y + rows_down + 1};1Hthe line's wrapped tail\x1b[{y + 1};{x + 1}H"


def test_a_line_mid_text_goes_below_and_its_erase_clears_every_row_under_the_text() -> None:
    term = Terminal()
    term.write("ROMEO: Is th")
    term.line.show(Working("beam is still choosing the next characters"))
    term.feed()
    term.feed(leftover_below(term.screen, 2))
    assert term.rows()[0] == "ROMEO: Is th" and "beam is still choosing" in term.rows()[1]
    assert (term.screen.cursor.y, term.screen.cursor.x) == (0, len("ROMEO: Is th"))  # where the next character goes
    term.line.stop()
    term.write("ere?")
    term.feed()
    assert term.rows() == ["ROMEO: Is there?"] + [""] * (ROWS - 1)


def test_a_line_at_a_line_start_keeps_the_cursor_at_column_0_and_its_erase_clears_the_rows_under_it() -> None:
    term = Terminal()
    term.write("ROMEO:\n")
    term.line.show(Working("reading a seed of 100,000 characters", 0.5))
    term.feed()
    term.feed(leftover_below(term.screen, 1))
    assert "reading a seed" in term.rows()[1] and (term.screen.cursor.y, term.screen.cursor.x) == (1, 0)
    term.write("But soft")  # the line steps aside for the text and comes back after it
    term.feed()
    assert term.rows()[1] == "But soft" and "reading a seed" in term.rows()[2]
    term.line.show(Working("reading a seed of 100,000 characters", done=True))
    term.feed()
    assert term.rows() == ["ROMEO:", "But soft"] + [""] * (ROWS - 2)


def test_no_line_while_the_text_has_just_filled_its_row() -> None:
    """The terminal waits to wrap; a cursor move would make it forget, and the next character overwrite the last."""
    term = Terminal()
    term.write("x" * COLUMNS)
    written = term.out.getvalue()
    term.line.show(Working("beam is still choosing the next characters"))
    term.line.stop()
    assert term.out.getvalue() == written


def test_the_cursor_column_follows_the_terminal_through_wide_characters_and_tabs() -> None:
    """As tmux places it (checked there at 20 columns: 19 'a', '中', 18 'b' leave the cursor at 20 on the second
    row, the row full): a wide character that does not fit goes to the next row whole."""
    assert advance(0, "a" * 19 + "中" + "b" * 18, 20) == 20  # counting cells (39, so 19 on the row) gets it wrong
    assert advance(0, "a" * 20, 20) == 20 and advance(20, "b", 20) == 1  # full, then the next row
    assert advance(5, "x\nab", 20) == 2 and advance(0, "e\u0301", 20) == 1  # a combining mark takes no cell
    assert advance(3, "\t", 20) == 8 and advance(17, "\t", 20) == 19 and advance(8, "\t", 20) == 16


def test_no_line_while_a_row_that_wrapped_a_wide_character_early_is_full() -> None:
    term = Terminal()
    term.write("a" * (COLUMNS - 1) + "中" + "b" * (COLUMNS - 2))  # 中 starts the second row; the b's fill it
    written = term.out.getvalue()
    term.line.show(Working("beam is still choosing the next characters"))
    term.line.stop()
    assert term.out.getvalue() == written
