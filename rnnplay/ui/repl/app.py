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
  handler for the turn's length) calls ``Session.cancel()``. Keys typed meanwhile
  are not echoed, so they cannot land inside the text; the terminal keeps them and
  the next prompt reads them (type-ahead) (:mod:`rnnplay.ui.repl.terminal`).
* **Background output comes as whole lines**, after the turn or above the prompt
  (:mod:`rnnplay.ui.repl.output`).
* **A prompt never starts on an unfinished line:** a turn that ended without a
  newline gets one first.

Events become text in one place for the CLI and the REPL
(:class:`rnnplay.ui.event_text.EventText`); the REPL adds only what a terminal
prompt does its own way (the streamed turn, /heat, /neurons, /compare, /copy,
/clear, the spinner). Colours follow NO_COLOR and FORCE_COLOR
(:func:`rnnplay.ui.console.make_console`).

Input: pasted text keeps its newlines (bracketed paste), and a line starting with
three double quotes opens a multi-line block (:mod:`rnnplay.ui.repl.input`): Enter
then adds a line (shown after a ``…`` continuation prompt) until a line ends with
three double quotes. A newline right after the opening quotes is not part of the
seed; everything else between the quotes is. The seed then goes through the one
escaping rule (docs/escapes.md).
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from collections.abc import Callable
from functools import singledispatchmethod
from typing import Any, TextIO

from prompt_toolkit import PromptSession
from prompt_toolkit.history import History
from prompt_toolkit.input import DummyInput
from rich.text import Text

from rnnplay.core.errors import RnnplayError
from rnnplay.session.events import (
    Chunk,
    Cleared,
    ClipboardCopy,
    CompareShown,
    Event,
    HeatShown,
    Message,
    NeuronsShown,
    QuitRequested,
    TurnEnded,
    TurnStarted,
    Working,
)
from rnnplay.session.session import Session
from rnnplay.session.stall_watch import stop_grace
from rnnplay.ui.console import (
    CLEAR_SCREEN,
    DIM,
    LEVEL_STYLES,
    SEED_STYLE,
    colours,
    heat_legend,
    heat_text,
    make_console,
)
from rnnplay.ui.console import neuron_text as neuron_colours
from rnnplay.ui.event_text import EventText
from rnnplay.ui.leave_signals import LeaveSignal, exit_code, hung_up, ignore_leave_signals, on_leave_signals
from rnnplay.ui.repl.input import (
    SlashCompleter,
    block_keys,
    bound_undo,
    default_history,
    piped_entry,
    prompts,
    unquote_block,
)
from rnnplay.ui.repl.layout import compare_layout
from rnnplay.ui.repl.output import TerminalOutput
from rnnplay.ui.repl.terminal import ctrl_c_calls, keys_not_echoed, mark_pastes, osc52, pastes_marked, typed_ahead_kept
from rnnplay.ui.repl.training_lines import TrainingLines, progress
from rnnplay.ui.repl.typeahead import TurnKeys, paste_end_seconds

KEYS = ("  Tab completes a /command · ↑ ↓ earlier lines · Ctrl+C stops a generation\n"
        '  """ opens a multi-line seed, """ or Ctrl+D ends it · Ctrl+D or /quit leaves')  # each line fits 80 columns


class Repl(TerminalOutput):
    """The REPL: reads lines at a prompt, runs each as a turn, and shows the session's events."""

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
        self.paste_end = paste_end_seconds()  # checked before the prompt: a bad value is one line
        # Lines from a pipe or a file (`printf 'ROMEO:\n' | rnnplay repl`) are read as lines: no prompt, no echo.
        self.piped = input is None and sys.stdin is not None and not sys.stdin.isatty()
        out = stdout or sys.stdout
        self.prompt_text, continuation = prompts(getattr(out, "encoding", None))
        prompt: PromptSession[str] = PromptSession(
            history=history or default_history(session.warn), completer=SlashCompleter(session), output=output,
            complete_while_typing=True, input=DummyInput() if self.piped else input,
            key_bindings=block_keys(lambda: self.prompt.default_buffer),
            prompt_continuation=continuation, enable_suspend=True,  # Ctrl+Z at the prompt: the shell's job control
        )
        prompt.default_buffer.on_text_changed += bound_undo
        super().__init__(out, make_console(out, color=color), prompt)
        self.terminal = out.isatty()
        self.paste_output = prompt.output if self.terminal and not self.piped else None  # where pastes are marked
        self.color = colours(self.console)
        self.events = EventText()
        self.quitting = False
        self.left_by: int | None = None  # the signal (SIGTERM, SIGHUP) that ended the loop
        self.training_lines = TrainingLines()  # which of a training's progress events are printed
        self.stop_asked: float | None = None  # when Ctrl+C (or a signal) told the running turn to stop
        self.grace = stop_grace()  # read once: given_up() asks it at each poll of a turn
        self.give_up = False  # Ctrl+C again, once that turn had not stopped for the grace
        self.said_stuck = False
        self.behind = False  # run() left a turn or a training step that never returned
        self.compiling = False  # run() left a turn that waited for the kernels' compilation (which nothing stops)
        self.errors = 0  # error lines shown so far
        self.kept_back = False  # Ctrl+D stayed once, as a training's model could not be saved
        self.told: Callable[[int], None] = lambda signum: None  # of a leaving signal, as it comes (a watchdog)
        self.owner: threading.Thread | None = None  # the thread that runs the prompt loop
        session.keys_help = KEYS
        session.subscribe(self.render)

    def in_foreground(self) -> bool:
        me = threading.current_thread()
        return me is self.turn or (me is self.owner and not self.prompt.app.is_running)

    # -- events -----------------------------------------------------------------------------
    def render(self, event: Event) -> None:
        """Show one session event (called from the thread that emitted it): a turn's own events in the foreground,
        anything else as whole lines in the background; the spinner and /quit whichever thread sends them."""
        if isinstance(event, Message) and event.level == "error":
            self.errors += 1  # a script piped in ends with exit 1 if a line of it failed
        if self.in_foreground() or isinstance(event, Working | QuitRequested):
            self.foreground(event)
        else:
            self.lines(event, self.background)

    def lines(self, event: object, write: Callable[[Text], None]) -> None:
        """An event the shared renderer shows as lines (messages, training), written by ``write``; a training's
        progress only now and then (:class:`TrainingLines`)."""
        if not self.training_lines.due(event):
            return
        text = self.events.text(event)
        if text is not None:
            shown = Text.assemble("training: ", text, style=DIM) if progress(event) else text
            write(Text.assemble(shown, "\n"))

    @singledispatchmethod
    def foreground(self, event: object) -> None:
        """A turn's event, written straight to the terminal; each kind a terminal shows its own way has a method."""
        self.lines(event, self.write)

    @foreground.register
    def _chunk(self, event: Chunk) -> None:
        self.write(event.text)

    @foreground.register
    def _turn_started(self, event: TurnStarted) -> None:
        self.write(event.seed, SEED_STYLE)

    @foreground.register
    def _turn_ended(self, event: TurnEnded) -> None:
        stopped = event.reason == "stopped"
        self.write(" ⏹ stopped\n" if stopped else "\n", DIM if stopped else "")

    @foreground.register
    def _working(self, event: Working) -> None:
        self.working(event)

    @foreground.register
    def _quit(self, _: QuitRequested) -> None:
        self.leave()

    @foreground.register
    def heat(self, e: HeatShown, worst: int = 3) -> None:
        """The text in heat colours, the legend, and the least expected characters with their alternatives."""
        self.write(e.seed, SEED_STYLE)
        self.write(heat_text(e.text, e.probs) + "\n")
        if self.color:
            self.write(heat_legend() + "\n")
        scored = [i for i, p in enumerate(e.probs) if p is not None]
        for i in sorted(scored, key=lambda i: e.probs[i])[:worst]:
            options = "  ".join(f"{ch!r} {p:.0%}" for ch, p in e.alternatives[i])
            self.write(f"  pos {i} {e.text[i]!r} {e.probs[i]:.0%} · expected {options}\n", DIM)
        self.write(f"  /whatif POS CHAR turn={e.turn} branches from a position\n", DIM)

    @foreground.register
    def _neurons(self, e: NeuronsShown) -> None:
        self.write(f"{e.title}: red positive, blue negative\n", DIM)
        self.write(neuron_colours(e.text, e.values) + "\n")

    @foreground.register
    def compare(self, e: CompareShown) -> None:
        self.write(f"{e.seed!r} through {len(e.rows)} sampler{'' if len(e.rows) == 1 else 's'}:\n", DIM)
        self.write("".join(line + "\n" for line in compare_layout(e.rows, self.width())))

    @foreground.register
    def copy(self, e: ClipboardCopy) -> None:
        """Ask the terminal to put the text on the clipboard (OSC 52) and say how much; off a terminal, say why not."""
        if not self.terminal:
            self.write("warning: the output is not a terminal, so nothing reached the clipboard\n",
                       LEVEL_STYLES["warning"])
            return
        with self.lock:
            self.out.write(osc52(e.text))
        self.write(f"copied {len(e.text):,} character{'' if len(e.text) == 1 else 's'}\n")

    @foreground.register
    def _cleared(self, _: Cleared) -> None:
        if self.terminal:
            with self.lock:
                self.out.write(CLEAR_SCREEN)
                self.out.flush()
                self.work_line.moved_home()

    # -- input -------------------------------------------------------------------------------
    def leave(self) -> None:
        """End the prompt loop (from any thread): after this turn, or now if the prompt is up."""
        self.quitting = True
        app = self.prompt.app
        loop = app.loop
        if self.turn is None and app.is_running and loop is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(lambda: app.exit(exception=EOFError()) if app.is_running else None)

    def leave_on_signal(self, signum: int) -> None:
        """SIGTERM or SIGHUP (in the main thread): stop the turn and leave as Ctrl+D does, so that
        ``run`` closes the session and a training saves its checkpoint."""
        self.told(signum)
        self.left_by = signum
        self.session.cancel()
        if self.piped:  # a blocking read of the pipe: only an exception ends it
            raise LeaveSignal(signum)
        self.leave()

    def run_turn(self, line: str) -> None:
        """Run one input line in the foreground: the main thread waits, and Ctrl+C meanwhile stops the work.

        A turn that does not stop within ``stop_grace()`` of being told to (a plugin's sampler or command that never
        checks) is left to its thread at a second Ctrl+C or a leaving signal: the REPL leaves then (it holds the model).
        """
        done = threading.Event()

        def work() -> None:
            try:
                self.session.submit(line)
            except Exception as err:  # a bug must not kill the prompt; show it instead
                self.session.error(f"unexpected {err.__class__.__name__}: {err} (please report this)")
            finally:
                done.set()

        worker = threading.Thread(target=work, name="rnnplay-turn", daemon=True)
        self.turn, self.stop_asked, self.give_up, self.said_stuck = worker, None, False, False
        keys = TurnKeys(self.input_fd(), self.prompt.input)  # read here on a terminal not controlled (setsid)
        try:
            with keys_not_echoed(self.input_fd(), keys.own):
                try:  # Ctrl+Z takes the keys typed ahead until they are handed on: none is left for the shell
                    with typed_ahead_kept(self.input_fd(), keys.take), ctrl_c_calls(self.stop_turn):
                        mark_pastes(self.paste_output)
                        worker.start()
                        while not keys.wait(done, self.stop_turn) and not self.given_up():
                            pass
                finally:
                    keys.keep(self.paste_end)  # in the turn's mode: a paste's rest neither echoed nor held for a line
        finally:
            self.end_turn()

    def stop_turn(self) -> None:
        """Ctrl+C during a turn: stop it; pressed again once the turn has ignored that for the stop grace, give up."""
        if self.stop_asked is not None and time.monotonic() - self.stop_asked >= self.grace:
            self.give_up = True
        self.stop_asked = self.stop_asked or time.monotonic()
        self.session.cancel()

    def given_up(self) -> bool:
        """Whether to stop waiting for a turn told to stop the grace (``stop_grace()``) ago that has not (said once)."""
        if self.left_by is not None and self.stop_asked is None:
            self.stop_asked = time.monotonic()  # SIGTERM, SIGHUP: the turn was cancelled with it
        if self.stop_asked is None or time.monotonic() - self.stop_asked < self.grace:
            return False
        if not self.said_stuck:
            self.said_stuck = True
            self.stop_spinner()
            then = "leaving" if self.left_by is not None else "Ctrl+C again leaves rnnplay"
            self.write(f"\n{self.session.at_work.does_not_stop()}; {then}\n", LEVEL_STYLES["warning"])
        if self.give_up or self.left_by is not None:
            self.quitting = True
            return True
        return False

    def input_fd(self) -> int | None:
        try:
            return self.prompt.input.fileno()
        except (AttributeError, NotImplementedError, OSError, ValueError):
            return None

    def read_line(self) -> str | None:
        """The next input line; None at Ctrl+D (or /quit from another thread)."""
        if self.piped:  # the next line from a pipe (a block opened with three quotes runs to its closing line)
            self.drain()
            return piped_entry()
        while True:
            self.drain()
            try:
                return self.prompt.prompt(self.prompt_text, pre_run=self.drain)
            except KeyboardInterrupt:  # the line typed so far is dropped, as in a shell, but kept in the history
                typed = self.prompt.default_buffer.text
                if typed.strip():
                    self.prompt.history.append_string(typed)
                kept = "the line is in the history: ↑ brings it back; " if typed.strip() else ""
                self.write(f"({kept}{self.session.stop_hint()})\n", "dim")
            except EOFError:
                return None

    def run(self) -> int:
        self.owner = threading.current_thread()
        with self.plugins_print(self.piped), contextlib.redirect_stderr(self.stderr):
            if not self.piped:  # a piped script's stdout holds its own output alone (`rnnplay repl` greets on stderr)
                self.session.greet()
            try:
                with on_leave_signals(self.leave_on_signal), pastes_marked(self.paste_output):  # SIGTERM, SIGHUP
                    while True:
                        line = None if self.quitting else self.read_line()
                        if line is None:
                            if self.may_leave():
                                break
                            continue
                        if line.strip():
                            with contextlib.suppress(KeyboardInterrupt):  # Ctrl+C after Enter: the line is dropped
                                self.run_turn(unquote_block(line))
            except LeaveSignal:
                pass
            except (OSError, RnnplayError):  # a terminal SIGHUP says is gone (the CLI's stdout raises RnnplayError)
                fd = self.input_fd()
                if self.left_by is None and fd is not None and hung_up(fd):
                    self.left_by = signal.SIGHUP  # the terminal closed and no SIGHUP came (nohup): as if one had
                if self.left_by is None:
                    raise
            finally:  # whatever ended the loop (a signal, a terminal gone), a training saves its checkpoint
                if self.left_by is not None:
                    ignore_leave_signals()  # the terminal gone and a SIGHUP a moment later: the save goes on
                kept = self.session.close()
            # a turn given up that only waited for the kernels' compilation: nothing of the user's left unfinished
            self.compiling = self.give_up and self.session.at_work.waits_for_kernels()
            with contextlib.suppress(OSError):  # after SIGHUP the terminal may be gone
                if self.compiling:
                    self.background(self.session.at_work.LEFT_WHILE_COMPILING)
                if not kept:
                    self.background("the trained model was not saved anywhere, and is gone with the REPL")
                self.stderr.close_line()
        with contextlib.suppress(OSError, RnnplayError):
            self.drain()
        # a thread that never returned, still at work
        self.behind = (self.give_up and not self.compiling) or self.session.runner.left_behind()
        return exit_code(self.left_by) or (130 if self.behind else int(not kept or (self.piped and self.errors > 0)))

    def may_leave(self) -> bool:
        """At Ctrl+D or /quit: stop a training (it saves); if it could not, stay once, so that /save keeps the model."""
        if self.left_by is not None or self.give_up or self.piped or self.kept_back or self.session.close():
            return True
        self.kept_back, self.quitting = True, False
        self.drain()  # the training's own lines first: where it stopped, why it could not be saved
        self.write("the trained model is not saved anywhere: /save PATH keeps it; Ctrl+D again leaves without it\n",
                   LEVEL_STYLES["warning"])
        return False
