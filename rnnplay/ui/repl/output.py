"""Where the REPL's text goes: straight to the terminal during a turn, as whole lines above the prompt otherwise,
and the one line a slow command's spinner draws.

* **A turn writes in the foreground.** No prompt is up while a turn runs, so its
  text (the seed, each character, messages) goes straight to stdout; the spinner's
  line steps aside for it and is drawn again below it. A spinner that starts while
  the text is mid-line (a turn gone quiet) is drawn on the row below the text, the
  cursor kept where the next character goes (``BELOW``) -- unless the text has just
  filled its row: a terminal waiting to wrap forgets it when the cursor moves, and the
  next character would overwrite the row's last, so no spinner is drawn then.
* **Background output comes as whole lines.** Lines from other threads (the
  training's progress, its samples, "training done", stderr) are queued. While a
  turn runs they wait and print after it; while the prompt is up they print above
  it through ``run_in_terminal``. Whoever comes first drains the queue -- the
  prompt's event loop, the prompt's start, or the main thread when the prompt
  returns -- so each line prints exactly once.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from typing import TextIO

from prompt_toolkit import PromptSession
from prompt_toolkit.application import run_in_terminal
from rich.cells import cell_len
from rich.console import Console
from rich.progress_bar import ProgressBar
from rich.spinner import SPINNERS
from rich.style import Style
from rich.text import Text

from rnnplay.session.events import Working
from rnnplay.ui.console import CLEAR_LINE, DIM, ansi, styled, visible, visible_text
from rnnplay.ui.repl.layout import chop

SPINNER = SPINNERS["dots"]["frames"]
SPIN_EVERY = 0.1  # seconds between two frames of the Working spinner
BAR_WIDTH = 10  # the Working line's bar, when the share done is known
# VT100: index then reverse index (a row below exists, scrolled into being at the bottom, the column kept), save the
# cursor, down a row, column 0, erase the row, {the line}, restore the cursor
BELOW = "\x1bD\x1bM\x1b7\x1bD\r\x1b[2K{}\x1b8"


class TerminalOutput:
    """The REPL's writer on ``out``; ``prompt`` is the prompt it must not write over, ``turn`` the running turn."""

    def __init__(self, out: TextIO, console: Console, prompt: PromptSession[str]) -> None:
        self.out, self.console, self.prompt = out, console, prompt
        self.turn: threading.Thread | None = None  # the worker running the current turn, if any
        self.pending: queue.SimpleQueue[str] = queue.SimpleQueue()  # background lines not printed yet
        self.lock = threading.RLock()  # one writer at a time on self.out
        self.at_line_start = True
        self.column = 0  # terminal cells written since the last new line (a row waits to wrap at each width)
        self.work: Working | None = None  # the Working event the spinner shows
        self.frame = 0
        self.spin_stop = threading.Event()  # a new one for each spinner thread

    def shown(self, text: str | Text, style: str | Style = "") -> str:
        """``text`` with its styles as escape codes, or plain when the console does not colour; its own control
        characters are shown, not acted on (:func:`~rnnplay.ui.console.visible`)."""
        if isinstance(text, Text):
            return ansi(self.console, visible_text(text))
        return styled(self.console, visible(text), style)

    def write(self, text: str | Text, style: str | Style = "") -> None:
        """Foreground text, straight to the terminal (no prompt is up); the spinner steps aside for it."""
        if not text:
            return
        with self.lock:
            self.out.write((self.work_codes("") if self.work is not None else "") + self.shown(text, style))
            self.at_line_start = str(text).endswith("\n")
            *lines, last = visible(str(text)).split("\n")
            self.column = cell_len(last) + (0 if lines else self.column)
            if self.work is not None:
                self.out.write(self.work_codes(self.work_line()))
            self.out.flush()

    def background(self, text: str | Text, style: str | Style = "") -> None:
        """Whole lines from another thread: after the turn, or above the prompt if it is up."""
        line = self.shown(text.rstrip("\n") if isinstance(text, str) else text, style)
        self.pending.put(line.rstrip("\n") + "\n")  # a Text's final newline is unstyled, so this finds it
        app = self.prompt.app
        loop = app.loop
        if self.turn is None and app.is_running and loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop just closed: the main thread drains the queue
                loop.call_soon_threadsafe(self._print_above_prompt)

    def _print_above_prompt(self) -> None:
        if self.prompt.app.is_running and not self.pending.empty():
            run_in_terminal(self.drain)

    def drain(self) -> None:
        """Print the queued background lines (each one once, whoever calls this)."""
        with self.lock:
            self.end_line()
            while True:
                try:
                    self.out.write(self.pending.get_nowait())
                except queue.Empty:
                    break
            self.out.flush()

    def end_line(self) -> None:
        if not self.at_line_start:
            self.out.write("\n")
            self.out.flush()
            self.at_line_start = True

    def width(self) -> int:
        return self.prompt.output.get_size().columns

    # -- the Working spinner ---------------------------------------------------------------------
    def working(self, e: Working) -> None:
        """A slow command at work: one line that spins (with a bar, when the share done is known) until it is done."""
        if self.turn is None or not self.out.isatty():
            return  # only a turn in the foreground shows one (the prompt line is the user's), and only on a terminal
        with self.lock:
            shown = self.work is not None
            self.work = None if e.done else e
            if shown or self.work is not None:  # an end with nothing shown writes nothing
                self.out.write(self.work_codes(self.work_line() if self.work else ""))
                self.out.flush()
        if not shown and not e.done:
            self.spin_stop = threading.Event()
            threading.Thread(target=self.spin, args=(self.spin_stop,), name="rnnplay-spinner", daemon=True).start()
        elif e.done:
            self.spin_stop.set()

    def spin(self, stop: threading.Event) -> None:
        while not stop.wait(SPIN_EVERY):
            with self.lock:
                if self.work is None:
                    return
                self.frame += 1
                self.out.write(self.work_codes(self.work_line()))
                self.out.flush()

    def work_codes(self, line: str) -> str:
        """What draws ``line`` ("" erases) where the spinner goes: this row at a line's start, else the row below
        (nothing while the row is full: the cursor waits to wrap, and moving it would lose that)."""
        if self.at_line_start:
            return CLEAR_LINE + line
        return "" if self.column % max(1, self.width()) == 0 else BELOW.format(line)

    def work_line(self) -> str:
        """'⠹ ━━━━╸━━━━━ ranking 512 units  42% · Ctrl+C stops', cut to the terminal's width so it stays one line."""
        assert self.work is not None
        fraction = self.work.fraction
        room = max(1, self.width() - 1)
        bar = ""
        if fraction is not None and room > 4 * BAR_WIDTH:
            bar = ansi(self.console, ProgressBar(total=1.0, completed=fraction, width=BAR_WIDTH), BAR_WIDTH) + " "
            room -= BAR_WIDTH + 1
        share = f"  {fraction:.0%}" if fraction is not None else ""
        line = f"{visible(self.work.what)}{share} · Ctrl+C stops"
        spinner = styled(self.console, SPINNER[self.frame % len(SPINNER)] + " ", DIM)
        return spinner + bar + styled(self.console, chop(line, max(1, room - 2))[0], DIM)

    def stop_spinner(self) -> None:
        self.spin_stop.set()
        with self.lock:
            if self.work is not None:
                self.out.write(self.work_codes(""))
                self.out.flush()
            self.work = None
