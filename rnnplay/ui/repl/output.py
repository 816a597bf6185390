"""Where the REPL's text goes: straight to the terminal during a turn, as whole lines above the prompt otherwise,
and the one line a slow command's spinner draws.

* **A turn writes in the foreground.** No prompt is up while a turn runs, so its
  text (the seed, each character, messages) goes straight to stdout; the spinner's
  line (:class:`~rnnplay.ui.work_line.WorkLine`: on the row below when a turn goes
  quiet mid-line) steps aside for it and is drawn again after it.
* **Background output comes as whole lines.** Lines from other threads (the
  training's progress, its samples, "training done", stderr) are queued. While a
  turn runs they wait and print after it; while the prompt is up they print above
  it, the terminal left in raw mode (:meth:`TerminalOutput._print_above_prompt`).
  Whoever comes first drains the queue -- the prompt's event loop, the prompt's
  start, or the main thread when the prompt returns -- so each line prints exactly once.
* **What plugins print is kept out of the text.** ``sys.stdout`` is
  :attr:`TerminalOutput.prints` while the REPL runs (its own text goes to ``out``):
  a sampler printing as it picks each character, or a cell while a training runs,
  gets dim background lines, after the turn or above the prompt. A REPL reading a
  script from a pipe sends them to stderr instead, as ``rnnplay sample`` does.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from contextlib import AbstractContextManager
from typing import TextIO

from prompt_toolkit import PromptSession
from rich.console import Console
from rich.style import Style
from rich.text import Text

from rnnplay.plugins.interrupts import plugin_prints_to_stderr
from rnnplay.session.events import Working
from rnnplay.ui.console import ansi, styled, visible, visible_text
from rnnplay.ui.repl.terminal import StderrLines
from rnnplay.ui.work_line import WorkLine


class TerminalOutput:
    """The REPL's writer on ``out``; ``prompt`` is the prompt it must not write over, ``turn`` the running turn."""

    def __init__(self, out: TextIO, console: Console, prompt: PromptSession[str]) -> None:
        self.out, self.console, self.prompt = out, console, prompt
        self.turn: threading.Thread | None = None  # the worker running the current turn, if any
        self.pending: queue.SimpleQueue[str] = queue.SimpleQueue()  # background lines not printed yet
        self.lock = threading.RLock()  # one writer at a time on self.out
        self.work_line = WorkLine(out, console, self.width, self.lock)  # the spinner, and where the cursor is
        self.stderr = StderrLines(self.background)  # sys.stderr while the REPL runs
        self.prints = StderrLines(lambda text: self.background(text, "dim"))  # sys.stdout: what plugins print

    def shown(self, text: str | Text, style: str | Style = "") -> str:
        """``text`` with its styles as escape codes, or plain when the console does not colour; its own control
        characters are shown, not acted on (:func:`~rnnplay.ui.console.visible`)."""
        if isinstance(text, Text):
            return ansi(self.console, visible_text(text))
        return styled(self.console, visible(text), style)

    def write(self, text: str | Text, style: str | Style = "") -> None:
        """Foreground text, straight to the terminal (no prompt is up); the spinner steps aside for it."""
        self.work_line.write(self.shown(text, style), str(text))

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
        """The queued lines above the prompt, in the prompt's event loop: the prompt erased, the lines written, the
        prompt drawn again below them. Not prompt-toolkit's ``run_in_terminal``: it puts the terminal in cooked mode
        while the lines are written, and a key pressed in that moment went to the terminal's line discipline, which
        takes Ctrl+D as its own end of file (the key lost: the prompt never saw it) and Ctrl+C as SIGINT."""
        app = self.prompt.app
        if app.is_running and not self.pending.empty():
            app.renderer.erase(leave_alternate_screen=False)  # the cursor back where the prompt began
            self.drain()
            app.renderer.request_absolute_cursor_position()
            app.invalidate()

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

    def plugins_print(self, piped: bool) -> AbstractContextManager[object]:
        """``sys.stdout`` while the REPL runs: :attr:`prints` (dim lines, never in the text); stderr for a script
        read from a pipe, whose stdout holds the REPL's own output alone. Entered before stderr is redirected."""
        return plugin_prints_to_stderr() if piped else contextlib.redirect_stdout(self.prints)

    def end_turn(self) -> None:
        """A turn is over: the spinner goes, then what waited for the turn (a print without its newline too)."""
        self.stop_spinner()
        self.turn = None
        self.prints.close_line()
        self.drain()

    def end_line(self) -> None:
        if not self.work_line.at_line_start:
            self.work_line.write("\n", "\n")

    def width(self) -> int:
        return self.prompt.output.get_size().columns

    # -- the Working spinner ---------------------------------------------------------------------
    def working(self, e: Working) -> None:
        """A slow command at work: one line that spins (with a bar, when the share done is known) until it is done."""
        if self.turn is None or not self.out.isatty():
            return  # only a turn in the foreground shows one (the prompt line is the user's), and only on a terminal
        self.work_line.show(e)

    def stop_spinner(self) -> None:
        self.work_line.stop()
