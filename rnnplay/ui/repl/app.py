"""A plain prompt over the same Session: ``rnnplay repl [MODEL]``.

How text reaches the terminal without losing a character
---------------------------------------------------------
A prompt-toolkit prompt owns the lines it draws: text printed above it survives
only as whole lines, and the next redraw overwrites an unfinished one (what
``patch_stdout`` does to a continuation streamed a character at a time, or to the
end of a pasted seed). So, as in Ollama's REPL, nothing streams while a prompt is up:

* **A turn runs in the foreground.** Once Enter is pressed, the prompt is gone
  until the turn (a seed or any /command) has ended. A worker thread runs
  ``Session.submit``; the main thread waits for it, and Ctrl+C meanwhile (a SIGINT
  handler for the turn's length) calls ``Session.cancel()``. Events from the worker (the seed, each character, messages,
  a ``Working`` spinner) are written straight to the real stdout. Keys typed
  meanwhile are not echoed, so they cannot land inside the text; the terminal
  keeps them and the next prompt reads them (type-ahead).
* **Background output comes as whole lines.** Events from other threads (the
  training's progress, its samples, "training done") and whatever is printed on
  stderr are rendered to whole lines and queued. While a turn runs they wait and print after it; while the prompt is
  up they print above it through ``run_in_terminal``. Whoever comes first drains the
  queue -- the prompt's event loop, the prompt's start, or the main thread when the
  prompt returns -- so each line prints exactly once, even when the prompt closes
  just as a line arrives.
* **A prompt never starts on an unfinished line:** a turn that ended without a
  newline gets one first.

Input: pasted text keeps its newlines (bracketed paste), and a line starting with
three double quotes opens a multi-line block, as in Ollama: Enter then adds a line
(shown after a ``…`` continuation prompt) until a line ends with three double quotes.
A newline right after the opening quotes is not part of the seed; everything else
between the quotes is. The seed then goes through the one escaping rule
(docs/escapes.md). The input history is the file the app shares
(:mod:`rnnplay.ui.history`), kept in memory only when ``RNNPLAY_NOHISTORY`` is set.
Completion looks at the whole text before the cursor (prompt-toolkit's default
word pattern would split '/' from the word, and a plain WordCompleter would then
match nothing for '/s').
"""

from __future__ import annotations

import base64
import contextlib
import io
import os
import queue
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np
from prompt_toolkit import PromptSession
from prompt_toolkit.application import run_in_terminal
from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.filters import Condition
from prompt_toolkit.history import History, InMemoryHistory
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.utils import get_cwidth

from rnnplay.plugins.commands import command_table, complete_line
from rnnplay.session.events import (
    Chunk,
    Cleared,
    ClipboardCopy,
    CompareShown,
    Event,
    HeatShown,
    Message,
    NeuronsShown,
    Progress,
    QuitRequested,
    TrainingSample,
    TurnEnded,
    TurnStarted,
    Working,
)
from rnnplay.session.session import Session
from rnnplay.ui.cli.cmd_neurons import coloured
from rnnplay.ui.cli.cmd_sample import heat_colour, legend
from rnnplay.ui.cli.render import duration
from rnnplay.ui.history import append_history, history_path, load_history

try:
    import termios
except ImportError:  # Windows: keys typed during a turn are echoed, nothing else changes
    termios = None  # type: ignore[assignment]

PROMPT, CONTINUATION = "› ", "… "
QUOTES = '"""'
KEYS = ("  Tab completes a /command · ↑ ↓ earlier lines · Ctrl+C stops a generation\n"
        '  """ opens a multi-line seed, """ closes it · Ctrl+D or /quit leaves')  # each line fits 80 columns
PROGRESS_EVERY = 0.1  # print training progress each time another tenth of the budget is done
STYLES = {"error": "\x1b[1;31m", "warning": "\x1b[33m", "seed": "\x1b[1;36m", "dim": "\x1b[2m"}
RESET = "\x1b[0m"
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
SPIN_EVERY = 0.1  # seconds between two frames of the Working spinner
COLUMN_MIN = 16  # /compare goes side by side when every column gets at least this many cells
CLEAR_LINE = "\r\x1b[K"


class SlashCompleter(Completer):
    """Completes '/sa' to '/sampler ' (the space, so what is typed next is an argument), then whatever the
    command's own completer offers."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterable[Completion]:
        word, candidates = complete_line(self.session, document.text_before_cursor)
        table = command_table(self.session.host) if " " not in document.text_before_cursor else {}
        for candidate in candidates:
            command = table.get(candidate[1:])
            if command is None:
                yield Completion(candidate, start_position=-len(word))
            else:
                yield Completion(candidate + " ", start_position=-len(word), display=candidate,
                                 display_meta=command.help)


class SharedHistory(History):
    """prompt-toolkit's view of the history file the app shares (:mod:`rnnplay.ui.history` reads and writes it)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def load_history_strings(self) -> Iterable[str]:
        return reversed(load_history(self.path))  # prompt-toolkit wants the newest first

    def store_string(self, string: str) -> None:
        append_history(string, self.path)


def default_history() -> History:
    """The shared history file, or a history that lasts this run only when RNNPLAY_NOHISTORY is set."""
    path = history_path()
    return InMemoryHistory() if path is None else SharedHistory(path)


def block_open(text: str) -> bool:
    """True while the input is a block that opened with three double quotes and has not closed yet."""
    body = text.lstrip()
    return body.startswith(QUOTES) and not body[len(QUOTES) :].rstrip().endswith(QUOTES)


def unquote_block(line: str) -> str:
    """What the REPL submits for an input line: a closed block becomes the text between its quotes.

    The newline right after the opening quotes is left out; a block's text that starts
    with '/' is still text, not a command (the session reads '//x' as the text '/x').
    """
    body = line.strip()
    if not (len(body) >= 2 * len(QUOTES) and body.startswith(QUOTES) and body.endswith(QUOTES)):
        return line
    inner = body[len(QUOTES) : -len(QUOTES)]
    inner = inner[1:] if inner.startswith("\n") else inner
    return "/" + inner if inner.startswith("/") else inner


def osc52(text: str) -> str:
    """The escape sequence that asks the terminal to put ``text`` on the system clipboard (OSC 52)."""
    return f"\x1b]52;c;{base64.b64encode(text.encode('utf-8')).decode('ascii')}\x07"


def chop(text: str, width: int) -> list[str]:
    """``text`` as lines of at most ``width`` terminal cells: its own line breaks, then breaks after a space
    where there is one (the space ends the line, so no character is dropped), else hard cuts."""
    lines: list[str] = []
    for line in text.split("\n"):
        while get_cwidth(line) > width and len(line) > 1:
            cut, cells = 0, 0
            while cells + get_cwidth(line[cut]) <= width:
                cells += get_cwidth(line[cut])
                cut += 1
            space = line.rfind(" ", 0, cut)
            cut = space + 1 if space > 0 else max(cut, 1)
            lines.append(line[:cut])
            line = line[cut:]
        lines.append(line)
    return lines


def pad(text: str, width: int) -> str:
    return text + " " * (width - get_cwidth(text))


def compare_layout(rows: Sequence[tuple[str, str]], width: int) -> list[str]:
    """/compare's rows as lines: one column per sampler when each gets COLUMN_MIN cells, else one row each.

    Either way a text keeps its own line breaks and a wrapped line stays in its column
    (stacked: under its own first line, not at the terminal's first column).
    """
    if not rows:
        return []
    gap = " │ "
    column = (width - len(gap) * (len(rows) - 1)) // len(rows)
    if column >= COLUMN_MIN:
        cells = [chop(text, column) for _, text in rows]
        lines = [gap.join(pad(label[:column], column) for label, _ in rows).rstrip(),
                 "─┼─".join("─" * column for _ in rows)]
        for i in range(max(map(len, cells))):
            lines.append(gap.join(pad(c[i] if i < len(c) else "", column) for c in cells).rstrip())
        return lines
    label_width = max(get_cwidth(label) for label, _ in rows)
    text_width = max(1, width - label_width - len(gap))
    lines = []
    for label, text in rows:
        for i, piece in enumerate(chop(text, text_width)):
            lines.append(f"{pad(label if i == 0 else '', label_width)}{gap}{piece}".rstrip())
    return lines


@contextlib.contextmanager
def keys_not_echoed(fd: int | None) -> Iterator[None]:
    """While a turn streams, keys typed on the terminal ``fd`` are not echoed; the terminal keeps them for the prompt.

    Ctrl+C still sends SIGINT, and no longer throws away what was typed before it
    (NOFLSH). Not a terminal: nothing changes.
    """
    try:
        saved = termios.tcgetattr(fd) if termios is not None and fd is not None else None
    except (termios.error, OSError, ValueError):
        saved = None
    if saved is None:
        yield
        return
    quiet = list(saved)
    quiet[3] = (quiet[3] & ~termios.ECHO) | termios.NOFLSH  # index 3: the local modes
    termios.tcsetattr(fd, termios.TCSANOW, quiet)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSANOW, saved)


@contextlib.contextmanager
def ctrl_c_calls(action: Callable[[], object]) -> Iterator[None]:
    """While the block runs, Ctrl+C (SIGINT) calls ``action`` instead of raising KeyboardInterrupt.

    A handler, not ``except KeyboardInterrupt``: the exception could land anywhere in
    the main thread -- between starting the worker and waiting for it, say -- and the
    prompt would come back while the turn still streams. Only the main thread can set
    a handler; elsewhere (tests) nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: action())
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class StderrLines(io.TextIOBase):
    """sys.stderr while the REPL runs: what any thread prints there (a warning, a plugin's traceback) becomes
    whole background lines, so it waits for a turn to end and never lands on the prompt's line."""

    def __init__(self, repl: Repl) -> None:
        super().__init__()
        self.repl = repl
        self.partial = ""
        self.lock = threading.Lock()

    def write(self, text: str) -> int:
        with self.lock:
            *lines, self.partial = (self.partial + text).split("\n")
        if lines:
            self.repl.background("\n".join(lines))
        return len(text)

    def close_line(self) -> None:
        with self.lock:
            rest, self.partial = self.partial, ""
        if rest:
            self.repl.background(rest)


class Repl:
    def __init__(
        self,
        session: Session,
        *,
        input: Any = None,
        output: Any = None,
        stdout: TextIO | None = None,
        history: History | None = None,
        color: bool | None = None,
    ) -> None:
        self.session = session
        self.prompt: PromptSession[str] = PromptSession(
            history=history or default_history(), completer=SlashCompleter(session), complete_while_typing=True,
            input=input, output=output, key_bindings=self._key_bindings(), prompt_continuation=CONTINUATION,
        )
        self.out = stdout or sys.stdout
        self.terminal = self.out.isatty()
        self.color = self.terminal and not os.environ.get("NO_COLOR") if color is None else color
        self.quitting = False
        self.next_progress = 0.0
        self.owner: threading.Thread | None = None  # the thread that runs the prompt loop
        self.turn: threading.Thread | None = None  # the worker running the current turn, if any
        self.pending: queue.SimpleQueue[str] = queue.SimpleQueue()  # background lines not printed yet
        self.lock = threading.RLock()  # one writer at a time on self.out
        self.at_line_start = True
        self.work: Working | None = None  # the Working event the spinner shows
        self.frame = 0
        self.spin_stop = threading.Event()  # a new one for each spinner thread
        self.stderr = StderrLines(self)  # sys.stderr while run() runs
        session.keys_help = KEYS
        session.subscribe(self.render)

    def _key_bindings(self) -> KeyBindings:
        bindings = KeyBindings()

        @bindings.add("enter", filter=Condition(lambda: block_open(self.prompt.default_buffer.text)))
        def _next_line(event: KeyPressEvent) -> None:
            event.current_buffer.insert_text("\n")

        return bindings

    # -- where text goes ---------------------------------------------------------------------
    def styled(self, text: str, style: str = "") -> str:
        return f"{STYLES[style]}{text}{RESET}" if style and self.color and text else text

    def write(self, text: str, style: str = "") -> None:
        """Foreground text, straight to the terminal (no prompt is up); the spinner steps aside for it."""
        if not text:
            return
        with self.lock:
            shown = self.work is not None and self.at_line_start
            self.out.write((CLEAR_LINE if shown else "") + self.styled(text, style))
            self.at_line_start = text.endswith("\n")
            if self.work is not None and self.at_line_start:
                self.out.write(self.work_line())
            self.out.flush()

    def background(self, text: str, style: str = "") -> None:
        """Whole lines from another thread: after the turn, or above the prompt if it is up."""
        self.pending.put(self.styled(text.rstrip("\n"), style) + "\n")
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

    def in_foreground(self) -> bool:
        me = threading.current_thread()
        return me is self.turn or (me is self.owner and not self.prompt.app.is_running)

    # -- events -----------------------------------------------------------------------------
    def render(self, event: Event) -> None:
        """Show one session event (called from the thread that emitted it)."""
        if isinstance(event, Working):
            self.working(event)
        elif isinstance(event, QuitRequested):
            self.leave()
        elif self.in_foreground():
            self.foreground(event)
        elif isinstance(event, Message | Progress | TrainingSample):
            self.foreground_or_background(event, self.background)

    def foreground(self, event: Event) -> None:
        if isinstance(event, Chunk):
            self.write(event.text)
        elif isinstance(event, TurnStarted):
            self.write(event.seed, "seed")
        elif isinstance(event, TurnEnded):
            stopped = event.reason == "stopped"
            self.write(" ⏹ stopped\n" if stopped else "\n", "dim" if stopped else "")
        elif isinstance(event, HeatShown):
            self.heat(event)
        elif isinstance(event, NeuronsShown):
            self.write(f"{event.title}: red positive, blue negative\n", "dim")
            self.write((coloured(event.text, np.array(event.values)) if self.color else event.text) + "\n")
        elif isinstance(event, CompareShown):
            self.compare(event)
        elif isinstance(event, ClipboardCopy):
            self.copy(event.text)
        elif isinstance(event, Cleared) and self.terminal:
            with self.lock:
                self.out.write("\x1b[2J\x1b[H")  # the cursor is then at the start of the first line
                self.out.flush()
                self.at_line_start = True
        else:
            self.foreground_or_background(event, self.write)

    def foreground_or_background(self, event: Event, write: Callable[[str, str], None]) -> None:
        """The events that come from either side: messages, training progress, training samples."""
        if isinstance(event, Message):
            prefix = "" if event.level == "info" else f"{event.level}: "
            write(f"{prefix}{event.text}\n", event.level if event.level != "info" else "")
        elif isinstance(event, Progress):
            line = self.progress_line(event)
            if line:
                write(line, "dim")
        elif isinstance(event, TrainingSample):
            write(f"--- sample at step {event.step:,} ---\n{event.text}\n---\n", "dim")

    def heat(self, e: HeatShown, worst: int = 3) -> None:
        """The text in heat colours, the legend, and the least expected characters with their alternatives."""
        self.write(e.seed, "seed")
        self.write("".join(f"\x1b[38;5;{heat_colour(p)}m{ch}\x1b[0m" if self.color and p is not None and ch != "\n"
                           else ch for ch, p in zip(e.text, e.probs, strict=True)) + "\n")
        if self.color:
            self.write(legend() + "\n")
        scored = [i for i, p in enumerate(e.probs) if p is not None]
        for i in sorted(scored, key=lambda i: e.probs[i])[:worst]:
            options = "  ".join(f"{ch!r} {p:.0%}" for ch, p in e.alternatives[i])
            self.write(f"  pos {i} {e.text[i]!r} {e.probs[i]:.0%} · expected {options}\n", "dim")
        self.write(f"  /whatif POS CHAR turn={e.turn} branches from a position\n", "dim")

    def compare(self, e: CompareShown) -> None:
        self.write(f"{e.seed!r} through {len(e.rows)} sampler{'' if len(e.rows) == 1 else 's'}:\n", "dim")
        self.write("".join(line + "\n" for line in compare_layout(e.rows, self.width())))

    def copy(self, text: str) -> None:
        """Ask the terminal to put ``text`` on the clipboard (OSC 52) and say how much; off a terminal, say why not."""
        if not self.terminal:
            self.write("warning: the output is not a terminal, so nothing reached the clipboard\n", "warning")
            return
        with self.lock:
            self.out.write(osc52(text))
        self.write(f"copied {len(text):,} character{'' if len(text) == 1 else 's'}\n")

    def progress_line(self, e: Progress) -> str:
        """One line each time another tenth of the budget is done; '' in between."""
        if e.step == 1:
            self.next_progress = 0.0
        if e.fraction is None or e.fraction < self.next_progress:
            return ""
        self.next_progress = (int(e.fraction / PROGRESS_EVERY) + 1) * PROGRESS_EVERY
        val = f" val {e.val_loss:.3f}" if e.val_loss is not None else ""
        return (f"training: step {e.step:,} ({e.fraction:.0%}) loss {e.loss:.3f}{val} · "
                f"{e.chars_per_sec:,.0f} chars/s · ETA {duration(e.eta_seconds)}\n")

    def width(self) -> int:
        return self.prompt.output.get_size().columns

    # -- the Working spinner ---------------------------------------------------------------------
    def working(self, e: Working) -> None:
        """A slow command at work: one line that spins (and fills, when the fraction is known) until it is done."""
        if self.turn is None:
            return  # only a turn in the foreground shows one; the prompt line is the user's
        with self.lock:
            started = self.work is None
            self.work = None if e.done else e
            if self.at_line_start:
                self.out.write(CLEAR_LINE + (self.work_line() if self.work else ""))
                self.out.flush()
        if started and not e.done:
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
                if self.at_line_start:
                    self.out.write(CLEAR_LINE + self.work_line())
                    self.out.flush()

    def work_line(self) -> str:
        """'⠹ ranking 512 units  42% · Ctrl+C stops', cut to the terminal's width so it stays one line."""
        assert self.work is not None
        share = f"  {self.work.fraction:.0%}" if self.work.fraction is not None else ""
        line = f"{SPINNER[self.frame % len(SPINNER)]} {self.work.what}{share} · Ctrl+C stops"
        return self.styled(chop(line, max(1, self.width() - 1))[0], "dim")

    def stop_spinner(self) -> None:
        self.spin_stop.set()
        with self.lock:
            if self.work is not None and self.at_line_start:
                self.out.write(CLEAR_LINE)
                self.out.flush()
            self.work = None

    # -- input -------------------------------------------------------------------------------
    def leave(self) -> None:
        """End the prompt loop (from any thread): after this turn, or now if the prompt is up."""
        self.quitting = True
        app = self.prompt.app
        loop = app.loop
        if self.turn is None and app.is_running and loop is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(lambda: app.exit(exception=EOFError()) if app.is_running else None)

    def run_turn(self, line: str) -> None:
        """Run one input line in the foreground: the main thread waits, and Ctrl+C meanwhile stops the work."""
        done = threading.Event()

        def work() -> None:
            try:
                self.session.submit(line)
            except Exception as err:  # a bug must not kill the prompt; show it instead
                self.session.error(f"unexpected {err.__class__.__name__}: {err} (please report this)")
            finally:
                done.set()

        worker = threading.Thread(target=work, name="rnnplay-turn", daemon=True)
        self.turn = worker
        try:
            with keys_not_echoed(self.input_fd()), ctrl_c_calls(self.session.cancel):
                worker.start()
                done.wait()
        finally:
            self.stop_spinner()
            self.turn = None
            self.drain()

    def input_fd(self) -> int | None:
        try:
            return self.prompt.input.fileno()
        except (AttributeError, NotImplementedError, OSError, ValueError):
            return None

    def read_line(self) -> str | None:
        """The next input line; None at Ctrl+D (or /quit from another thread)."""
        while True:
            self.drain()
            try:
                return self.prompt.prompt(PROMPT, pre_run=self.drain)
            except KeyboardInterrupt:
                self.write("(Ctrl+D or /quit leaves)\n", "dim")
            except EOFError:
                return None

    def run(self) -> int:
        self.owner = threading.current_thread()
        with contextlib.redirect_stderr(self.stderr):
            self.session.greet()
            while not self.quitting:
                line = self.read_line()
                if line is None:
                    break
                if line.strip():
                    with contextlib.suppress(KeyboardInterrupt):  # Ctrl+C right after Enter: the line is dropped
                        self.run_turn(unquote_block(line))
            self.session.close()
            self.stderr.close_line()
        self.drain()
        return 0
