"""The Textual app: a chat-style window over one :class:`~rnnplay.session.session.Session`.

Every line typed goes to ``Session.submit`` in a worker thread, so a long generation or a slow command never
blocks the UI; lines run in the order typed, a few commands at once (:mod:`rnnplay.ui.tui.line_order`). The
session's events come back from whichever thread emitted them and reach the UI thread as Textual messages, one
class per kind of event (:mod:`rnnplay.ui.tui.messages`); each kind has its own ``@on`` handler below.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import threading
import time
from typing import Any, ClassVar

from textual import events, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import Footer

from rnnplay.core.trainer import NoteEvent, SampleEvent, SkippedEvent, StepEvent, ValidationEvent
from rnnplay.session.events import (
    Changed,
    Chunk,
    Cleared,
    ClipboardCopy,
    CompareShown,
    HeatShown,
    NeuronsShown,
    QuitRequested,
    ScoreShown,
    TrainingEnded,
    TurnEnded,
    TurnStarted,
    UnitsFound,
    ValidationProgress,
    Working,
)
from rnnplay.session.events import Message as SessionMessage
from rnnplay.session.session import Session
from rnnplay.session.stall_watch import stop_grace
from rnnplay.ui.event_text import EventText
from rnnplay.ui.leave_signals import Farewell, Leaving, exit_code, hung_up
from rnnplay.ui.tui.leave_keys import LeaveKeys
from rnnplay.ui.tui.line_order import LineOrder
from rnnplay.ui.tui.messages import Arrived, Drain, EventQueue, arrived
from rnnplay.ui.tui.palette import SlashCommands
from rnnplay.ui.tui.plot import LossPlot
from rnnplay.ui.tui.prompt import PromptArea, PromptInput
from rnnplay.ui.tui.widgets import Card, Conversation, SidePanel, TrainingPanel, Turn, WorkingLine

HANGUP_CHECK = 1.0  # seconds between looks at whether the terminal is still there
SAY_GRACE = 2.0  # seconds (at most the stop grace) the watchdog waits for its farewell to be written, then ends
KEYS = ("  Enter runs the input · Shift+Enter or Ctrl+J starts a new line (Ctrl+J in every terminal: many send "
        "Shift+Enter as Enter) · a paste keeps its lines\n"
        "  Tab takes the highlighted completion, ↑ ↓ move in the menu, → takes the grey suggestion; "
        "otherwise ↑ ↓ walk earlier inputs (kept across runs)\n"
        "  in a /heat view: ← → or a click picks a character, 1-5 branches with an alternative (/whatif)\n"
        "  lines run in the order typed: one typed during a turn waits for it (/stop, /quit, /help and "
        "/transcript save act at once)\n"
        "  Esc or Ctrl+C stops a generation or a slow command · Ctrl+P command palette · F1 help · "
        "Ctrl+D (on an empty input), Ctrl+Q or /quit leaves · F2 shows or hides the side panel\n"
        "  while a turn is under way (its seed read, or streaming) or the input holds text, a first Ctrl+Q or Ctrl+D "
        "says what leaving loses, and the second leaves")

WIDE = 100  # columns from which the side panel has its full width
CRAMPED = 70  # columns below which the side panel starts hidden, so the conversation keeps the width


class RnnplayApp(App[None]):
    TITLE = "rnnplay"
    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {SlashCommands}
    AUTO_FOCUS = "#prompt"  # keys typed before on_mount (as the app starts) go there, not to the conversation
    typed_ahead = b""  # keys typed as the model loaded (`rnnplay tui` read them), the first the app reads
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "stop", "Stop"),
        Binding("ctrl+c", "stop", "Stop", show=False, priority=True),
        Binding("ctrl+d", "leave_key('ctrl+d')", "Quit"),
        Binding("ctrl+q", "leave_key('ctrl+q')", "Quit", show=False, priority=True),
        Binding("f1", "help", "Help"),
        Binding("f2", "toggle_side", "Panel"),
    ]

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session
        self.queue = EventQueue(self.post_message)
        self.turn: Turn | None = None
        self.side_wanted: bool | None = None  # F2's choice; None: shown when the window is wide enough
        self.left_by: int | None = None  # the signal (SIGTERM, SIGHUP) the app left on, if any
        self.kept_back = False  # Ctrl+D stayed once, as a training's model could not be saved
        self.leave_keys = LeaveKeys()  # a first Ctrl+Q or Ctrl+D that would lose a turn or typed text says so
        self.farewell: list[str] = []  # what the session said while the app closed it: the shell's to show
        self.saying = Farewell(session.generation.recovery.said)  # ... said once, after the app or by the watchdog
        self.submitting: set[threading.Thread] = set()  # the threads running a line now (a plugin's may never end)
        self.order = LineOrder(self._run_line)
        self._keeping_farewell = False
        self._kept_lines: list[str] = []  # the recovery-file lines said so far (only the last is shown)

    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            yield Conversation(id="conversation")
            with SidePanel(id="side"):
                yield TrainingPanel(id="training")
                yield Card(id="model-card")
                yield Card(id="sampler-card")
        yield WorkingLine(id="working")
        yield PromptArea(self.session, placeholder="type a seed, or /help · Ctrl+J new line")
        yield Footer()

    def on_mount(self) -> None:
        self.leaving = Leaving(self.close_then_leave)  # ended as the app unmounts
        self.session.keys_help = KEYS
        self.unsubscribe = self.session.subscribe(self.queue.put)
        self.show_cards()
        self.session.greet()
        self.query_one(PromptInput).focus()
        self.leaving.hear(asyncio.get_running_loop())  # SIGTERM, SIGHUP: as Ctrl+D, even with the loop blocked
        if not self.is_headless and sys.stdin.isatty():
            self.set_interval(HANGUP_CHECK, self.leave_if_hung_up)

    def leave_if_hung_up(self) -> None:
        """The terminal closed and no SIGHUP reached the app (``nohup``, a terminal of another session): as SIGHUP."""
        if self.left_by is None and hung_up(sys.stdin.fileno()):
            self.leave_on_signal(signal.SIGHUP)

    def leave_on_signal(self, signum: int) -> None:
        """Close the session (a training saves) and exit, on the leaving thread; a second signal changes nothing."""
        self.leaving.ask(signum)

    async def on_event(self, event: events.Event) -> None:
        if self.left_by is not None and isinstance(event, events.Key):
            return  # leaving: keys still queued behind the signal (a long paste typed key by key) are not typed
        if isinstance(event, events.Key):
            self.leave_keys.other_key(event.key)
        await super().on_event(event)

    def close_session(self) -> bool:
        """Stop a training (it saves its checkpoint), keeping what the session says meanwhile ("training stopped
        at step N; saved PATH") in :attr:`farewell`: the app may be leaving and not show it; a conversation not
        saved goes to a recovery file, named there too. False when the training's model could not be saved
        (see :meth:`Session.close`)."""
        if not self._keeping_farewell:
            self._keeping_farewell = True
            self.session.subscribe(self._keep_farewell)
        dropped = self.order.close()  # a seed typed behind the turn must not start as the session closes
        if dropped:
            self.farewell.append(f"{dropped} typed line{'' if dropped == 1 else 's'} waiting behind a turn not run: "
                                 "the app left first (type again after `rnnplay tui`)")
        kept = self.session.close()
        kept_in = self.session.generation.keep_unsaved()
        if kept_in:  # called again as the app leaves (a turn written meanwhile): the last count, said once
            self.farewell[:] = [line for line in self.farewell if line not in self._kept_lines] + [kept_in]
            self._kept_lines.append(kept_in)
        return kept

    def _keep_farewell(self, event: object) -> None:
        if isinstance(event, SessionMessage):
            self.farewell.append(event.text)

    def close_then_leave(self, signum: int) -> None:
        """On the leaving thread (:class:`Leaving`), whatever the app's loop is doing."""
        self.left_by = signum
        self.close_session()
        # After SIGHUP the terminal is gone and Textual may wait forever to restore it, or the terminal takes
        # nothing more and the loop is blocked behind Textual's writer: the checkpoint is saved, so a process still
        # here a few seconds later says its farewell, where the terminal takes it, and ends without waiting.
        grace = stop_grace()  # the app may take as long to exit as a turn told to stop
        farewell = (self.farewell, exit_code(signum), min(SAY_GRACE, grace))
        watchdog = threading.Timer(grace, self.saying.say_then_exit, farewell)
        watchdog.daemon = True
        watchdog.start()
        with contextlib.suppress(RuntimeError):  # the app has left meanwhile (/quit typed before the signal)
            self.call_from_thread(self.exit)

    def on_resize(self, event: events.Resize) -> None:
        # the new size is the event's: this handler runs before App._on_resize stores it in self.size
        self.screen.set_class(event.size.width < WIDE, "narrow")
        self.place_side(event.size.width)

    def place_side(self, width: int) -> None:
        """Show the side panel (model card, sampler, training plot) unless F2 hid it or the window is cramped."""
        self.query_one("#side").display = self.side_wanted if self.side_wanted is not None else width >= CRAMPED

    def action_toggle_side(self) -> None:
        self.side_wanted = not self.query_one("#side").display
        self.place_side(self.size.width)

    def on_unmount(self) -> None:
        self.leaving.close()
        self.unsubscribe()
        self.close_session()

    # -- from the session (any thread) to the UI thread: each kind of event is a message with its own handler ------
    def on_drain(self, _: Drain) -> None:
        if wait := self.queue.wait():  # only a stream's characters, and the last were drawn less than a frame ago
            self.set_timer(wait, self.queue.hand_over)
        else:
            self.queue.hand_over()

    @arrived(Chunk)
    def _chunk(self, message: Arrived) -> None:
        if self.turn is not None:
            self.turn.append(message.event.text)
            self.turn.show()

    @arrived(TurnStarted)
    def _turn_started(self, message: Arrived) -> None:
        self.turn = self.query_one(Conversation).add_turn(message.event.seed, message.event.sampler)

    @arrived(TurnEnded)
    def _turn_ended(self, message: Arrived) -> None:
        if self.turn is not None:
            self.turn.end(message.event.reason)
            self.turn.show()
            self.turn = None

    @arrived(SessionMessage)
    def _message(self, message: Arrived) -> None:
        self.query_one(Conversation).add_message(message.event.level, message.event.text)

    @arrived(ScoreShown)
    @arrived(UnitsFound)
    @arrived(NoteEvent)
    def _table(self, message: Arrived) -> None:
        """/score's least expected characters, /neurons find's units, a training's note: the lines the REPL prints
        too."""
        text = EventText().text(message.event)
        if text is not None:
            self.query_one(Conversation).add_message("info", text.plain)

    @arrived(SkippedEvent)
    def _skipped(self, message: Arrived) -> None:
        text = EventText().text(message.event)
        self.query_one(Conversation).add_message("warning", f"training {text.plain}")

    @arrived(HeatShown)
    def _heat(self, message: Arrived) -> None:
        self.query_one(Conversation).add_heat(message.event).focus()  # ←→ and 1-5 work at once; typing: the prompt

    @arrived(NeuronsShown)
    def _neurons(self, message: Arrived) -> None:
        self.query_one(Conversation).add_neurons(message.event)

    @arrived(CompareShown)
    def _compare(self, message: Arrived) -> None:
        self.query_one(Conversation).add_compare(message.event)

    @arrived(Working)
    def _working(self, message: Arrived) -> None:
        self.query_one(WorkingLine).show_work(message.event)

    @arrived(ClipboardCopy)
    def _copy(self, message: Arrived) -> None:
        self.copy_to_clipboard(message.event.text)
        self.notify(f"copied {len(message.event.text):,} characters")

    @arrived(StepEvent)
    @arrived(ValidationProgress)
    @arrived(ValidationEvent)
    def _training(self, message: Arrived) -> None:
        self.query_one(TrainingPanel).show(message.event)
        if isinstance(message.event, StepEvent):
            self.query_one("#model-card", Card).show_rows(self.session.card())

    @arrived(SampleEvent)
    def _sample(self, message: Arrived) -> None:
        self.query_one(Conversation).add_sample(message.event.step, message.event.text)

    @arrived(TrainingEnded)
    def _training_ended(self, message: Arrived) -> None:
        self.query_one(TrainingPanel).finish(message.event.step, message.event.reason)
        self.show_cards()

    @arrived(Changed)
    def _changed(self, message: Arrived) -> None:
        what = message.event.what
        if what == "training":  # a new job: a fresh plot
            self.query_one(LossPlot).reset()
            self.query_one(TrainingPanel).set_active(True)
            if not self.query_one("#side").display:
                self.notify("training in the background: F2 shows its progress and loss plot")
        elif what == "model" and not self.training_shown():
            self.query_one(TrainingPanel).reset()
        self.show_cards()

    @arrived(Cleared)
    def _cleared(self, _: Arrived) -> None:
        self.query_one(Conversation).remove_children()
        self.turn = None

    @arrived(QuitRequested)
    def _quit(self, _: Arrived) -> None:
        self.action_leave()

    def training_shown(self) -> bool:
        """Is the side panel's training that of the current model (running, or just ended)?"""
        job = self.session.training
        return job is not None and job.run.model is self.session.model

    def show_cards(self) -> None:
        self.query_one("#model-card", Card).show_rows(self.session.card())
        self.query_one("#sampler-card", Card).show_rows(self.session.sampler_card())

    # -- from the user -----------------------------------------------------------------------------
    def on_prompt_input_submitted(self, event: PromptInput.Submitted) -> None:
        self.submit(event.value)

    def submit(self, line: str) -> None:
        """Run ``line`` after the lines before it, on a daemon thread (:class:`LineOrder`), not a Textual worker:
        those are joined as the app's loop closes, so a plugin's sampler that never returns would keep it alive."""
        self.order.submit(line)

    def _run_line(self, line: str) -> None:
        me = threading.current_thread()
        self.submitting.add(me)
        try:
            self.session.submit(line)
        except Exception as err:  # a bug must not take the app down; show it instead
            self.session.error(f"unexpected {err.__class__.__name__}: {err} (please report this)")
        finally:
            self.submitting.discard(me)

    def stuck_lines(self, grace: float) -> bool:
        """Whether a line still runs after ``grace`` seconds more (a stopped generation ends within a step)."""
        give_up = time.monotonic() + grace
        for thread in list(self.submitting):
            thread.join(max(0.0, give_up - time.monotonic()))
        return bool(self.submitting)

    def start_command(self, command: Any) -> None:
        """From the palette: run a command that takes no arguments, or put it on the input line."""
        if command.usage == f"/{command.name}":
            self.submit(command.usage)
            return
        prompt = self.query_one(PromptInput)
        prompt.set_line(f"/{command.name} ")
        prompt.focus()

    def action_stop(self) -> None:
        working = self.query_one(WorkingLine)
        busy = working.has_class("active")
        if busy:
            working.stopping(self.session.at_work.does_not_stop)
        if self.session.cancel() or busy:
            return
        prompt = self.query_one(PromptInput)
        if prompt.text:
            prompt.clear()  # an edit like any other: Ctrl+Z brings the text back
            self.notify("input cleared; Ctrl+Z brings it back", timeout=3)
        else:
            self.notify(self.session.stop_hint(), timeout=3)

    def action_help(self) -> None:
        self.submit("/help")

    async def action_quit(self) -> None:
        """The palette's Quit leaves as /quit does: a training saves, an unsaved model stays."""
        self.action_leave()

    def action_leave_key(self, key: str) -> None:
        """Ctrl+Q, or Ctrl+D on an empty input: leave, unless a turn is under way (its seed read, or its text written)
        or text is typed and this is the first press (:class:`LeaveKeys`); one said not to stop: Ctrl+D leaves."""
        turn = None if self.query_one(WorkingLine).stuck else self.session.generation.phase
        warning = self.leave_keys.first_press(key, turn, self.query_one(PromptInput).text)
        if warning is None:
            self.action_leave()
        else:
            self.notify(warning, severity="warning", timeout=10)

    def action_leave(self) -> None:
        job = self.session.training
        if job is not None and job.alive and job.watch.stalled():
            self.notify(f"leaving without {job.watch.doing()}, which has not returned…")
            self.close_then_exit()
        elif job is not None and job.alive:
            self.notify("stopping the training and saving its checkpoint…")
            self.close_then_exit()
        elif self.session.runner.unsaved() and not self.kept_back:
            self.keep_back()
        else:
            self.exit()

    @work(thread=True, group="close")
    def close_then_exit(self) -> None:
        if self.close_session() or self.kept_back:
            self.call_from_thread(self.exit)
        else:
            self.call_from_thread(self.keep_back)

    def keep_back(self) -> None:
        """Stay, once, when leaving would lose a training's model that could not be saved: /save can keep it."""
        self.kept_back = True
        self.notify("the trained model is not saved anywhere: /save PATH keeps it; Ctrl+D again leaves without it",
                    severity="warning", timeout=10)
