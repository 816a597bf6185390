"""One renderer of events as lines of terminal text, shared by ``rnnplay train`` and the REPL.

The trainer's events (:mod:`rnnplay.core.trainer`), the session's messages and its
tables (/score's least expected characters, /neurons find's units) are dispatched by
type once, here (``functools.singledispatchmethod``); each face only
decides where a line goes and how often (the CLI redraws its progress line in
place, the REPL prints one each tenth of the budget). The TUI draws the training
events as widgets instead (:mod:`rnnplay.ui.tui.app`), and the tables as these lines.
"""

from __future__ import annotations

import math
from functools import singledispatchmethod

from rich.text import Text

from rnnplay.core.train_events import (
    NoteEvent,
    SampleEvent,
    SkippedEvent,
    StepEvent,
    ValidationEvent,
    characters_scored,
)
from rnnplay.core.vocab import describe_char
from rnnplay.session.events import Message, ScoreShown, TrainingEnded, UnitsFound, ValidationProgress
from rnnplay.ui.console import DIM, LEVEL_STYLES, visible

DAY, YEAR = 86_400, 365 * 86_400  # seconds


def duration(seconds: float | None) -> str:
    """'over a year', '3d04h', '1h02m', '3m05s', '42s', or '?'."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    s = round(seconds)
    if s >= YEAR:  # a budget of steps no machine finishes: its size, not a number of hours, is the news
        return "over a year"
    if s >= 2 * DAY:
        return f"{s // DAY}d{s % DAY // 3600:02d}h"
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


def loss_text(nats: float | None) -> str:
    """'1.523 nats/char (2.197 bits)'; 'n/a' when there is none (a run that made no step has no training loss)."""
    if nats is None or not math.isfinite(nats):
        return "n/a"
    return f"{nats:.4f} nats/char ({nats / math.log(2):.3f} bits)"


def step_text(step: int, epoch: float, loss: float, val: float | None, lr: float | None, chars_per_sec: float,
              eta: float | None, ended: str = "") -> str:
    """The progress line: step, epoch, loss, validation loss, learning rate, characters per second and ETA (the
    run's foreseen end, its final validation and save included); ``ended`` in the ETA's place once the run's steps
    are over ("steps done"), so that the line left on the screen foretells nothing."""
    val_s = f" val {val:.3f}" if val is not None else ""
    lr_s = f" lr {lr:.2g}" if lr is not None else ""
    return (f"step {step} epoch {epoch:.2f} loss {loss:.3f}{val_s}{lr_s} | {chars_per_sec:,.0f} chars/s | "
            f"{ended or f'ETA {duration(eta)}'}")


class EventText:
    """Events as terminal text: :meth:`text` gives an event's lines (no final newline), or None for an event
    that has nothing to say as a line. It remembers the last validation loss, which the progress line shows."""

    def __init__(self) -> None:
        self.val: float | None = None

    @singledispatchmethod
    def text(self, event: object) -> Text | None:
        """The lines that show ``event``; None: nothing (each kind has its own method below)."""
        return None

    @text.register
    def _step(self, e: StepEvent) -> Text:
        return Text(step_text(e.step, e.epoch, e.loss, self.val, e.lr, e.chars_per_sec, e.eta_seconds))

    def ended(self, e: StepEvent, how: str) -> Text:
        """The last step's line once the run's steps are over: ``how`` ("steps done") where its ETA was."""
        return Text(step_text(e.step, e.epoch, e.loss, self.val, e.lr, e.chars_per_sec, None, how))

    @text.register
    def _validation(self, e: ValidationEvent) -> Text | None:
        self.val = e.val_loss
        return Text(f"step {e.step}: validation {e.note}") if e.note else None

    @text.register
    def _reading(self, e: ValidationProgress) -> Text:
        return Text(f"{e.what} after step {e.step:,}: {characters_scored(e.done, e.total)}")

    @text.register
    def _ended(self, e: TrainingEnded) -> None:
        self.val = None  # the next run's progress line shows its own validation loss, never this run's
        return None

    @text.register
    def _sample(self, e: SampleEvent) -> Text:
        return Text(f"--- sample at step {e.step:,} ---\n{visible(e.text)}\n---", style=DIM)

    @text.register
    def _skipped(self, e: SkippedEvent) -> Text:
        return Text(f"step {e.step}: {e.reason}", style=LEVEL_STYLES["warning"])

    @text.register
    def _note(self, e: NoteEvent) -> Text:
        return Text(f"note: {e.text}")

    @text.register
    def _message(self, e: Message) -> Text:
        prefix = "" if e.level in ("info", "note") else f"{e.level}: "
        return Text(prefix + visible(e.text), style=LEVEL_STYLES.get(e.level, ""))  # a CR or BEL shown, not dropped

    @text.register
    def _score(self, e: ScoreShown) -> Text | None:
        rows = [f"  {describe_char(s.char)} after {s.before!r}: p={s.prob:.3f} "
                f"(expected {describe_char(s.expected)}, p={s.expected_prob:.2f})" for s in e.surprises]
        return Text("\n".join(rows)) if rows else None

    @text.register
    def _units(self, e: UnitsFound) -> Text | None:
        from rnnplay.builtin.inspect_commands import unit_command  # the slash commands' module, for this event alone

        rows = [f"  r={r:+.3f}  {unit}   {unit_command(unit)}" for unit, r in e.units]
        return Text("\n".join(rows)) if rows else None
