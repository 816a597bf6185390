"""The app's widgets: the conversation, the side panel and the work-in-progress line.

The input and its completion menu are in prompt.py, the heat views in heat.py, the loss plot in plot.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual import events
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.widget import Widget
from textual.widgets import ProgressBar, Static

from rnnplay.core.train_events import StepEvent, ValidationEvent
from rnnplay.session.events import CompareShown, HeatShown, NeuronsShown, ValidationProgress, Working
from rnnplay.session.stall_watch import DOES_NOT_STOP, stop_grace
from rnnplay.ui.console import LEVEL_STYLES, SEED_STYLE, visible
from rnnplay.ui.event_text import EventText, duration
from rnnplay.ui.tui.heat import HeatView, NeuronView
from rnnplay.ui.tui.plot import LossPlot
from rnnplay.ui.tui.render import CompareTable, HangingText

TITLE_FRAME = 6  # the border's corners, the title's dashes and spaces around it
ROOMY = 27  # the side panel's rows from which the training panel (its plot 7 rows) and both cards fit (100x32)
SHORT = 24  # rows from which they fit with a plot of 5 (100x30's 25); below, the sampler card gives way (80x24's 20)


class Turn(Static):
    """One seed and its continuation, growing as chunks arrive."""

    def __init__(self, seed: str, sampler: str) -> None:
        super().__init__(classes="turn")
        self.seed, self.sampler, self.text, self.ending = seed, sampler, "", ""
        self.border_title = Content(visible(sampler))  # as it is: a str title would be read as markup
        self.styles.min_width = cell_len(sampler) + TITLE_FRAME  # a short turn still shows its sampler whole

    def on_mount(self) -> None:
        self.show()

    def append(self, chunk: str) -> None:
        self.text += chunk

    def end(self, reason: str) -> None:
        self.ending = {"stopped": " ⏹ stopped", "error": " ✗"}.get(reason, "")

    def show(self) -> None:
        text = Text()
        text.append(visible(self.seed), style=SEED_STYLE)
        text.append(visible(self.text))
        if self.ending:
            text.append(self.ending, style="dim")
        self.update(text)


class Note(Static):
    """A message from the session; wrapped lines hang under their indent."""

    def __init__(self, level: str, text: str) -> None:
        super().__init__(HangingText(visible(text), LEVEL_STYLES.get(level, "")), classes=f"message {level}")
        self.text = text


class CompareView(Static):
    """/compare: the samplers' continuations side by side."""

    def __init__(self, shown: CompareShown) -> None:
        super().__init__(CompareTable(shown.seed, shown.rows), classes="compare")
        self.border_title = f"compare · {len(shown.rows)} samplers"


class Conversation(VerticalScroll):
    """The scrolling log of turns and messages.

    It follows the newest text unless the user scrolled up; a new reply or turn
    brings the end back into view (a training sample, which nobody asked for, does not).
    """

    def on_mount(self) -> None:
        self.anchor()

    def add_message(self, level: str, text: str) -> Note:
        return self._add(Note(level, text))

    def add_sample(self, step: int, text: str) -> Static:
        widget = Static(Text(visible(text), style="italic"), classes="sample")
        widget.border_title = f"sample at step {step:,}"
        return self._add(widget, follow=False)

    def add_turn(self, seed: str, sampler: str) -> Turn:
        return self._add(Turn(seed, sampler))

    def add_heat(self, heat: HeatShown) -> HeatView:
        return self._add(HeatView(heat))

    def add_neurons(self, shown: NeuronsShown) -> NeuronView:
        return self._add(NeuronView(shown))

    def add_compare(self, shown: CompareShown) -> CompareView:
        return self._add(CompareView(shown))

    def _add(self, widget: Widget, follow: bool = True) -> Any:
        self.mount(widget)
        if follow:
            self.scroll_end(animate=False)  # also re-anchors: the new text keeps coming into view
        return widget


class Card(Static):
    """(label, value) rows as a small table, a row to a line: a value too long for the panel ends in '…' (app.tcss),
    and the tooltip shows every row whole."""

    def show_rows(self, rows: list[tuple[str, str]]) -> None:
        width = max((len(k) for k, _ in rows), default=0)
        text = Text()
        for i, (key, value) in enumerate(rows):
            text.append(f"{key:<{width}} ", style="dim")
            text.append(visible(value) + ("\n" if i < len(rows) - 1 else ""))
        self.update(text)
        self.tooltip = text


def show_fraction(bar: ProgressBar, fraction: float | None) -> None:
    """The share done, or a bar that keeps moving while it is unknown."""
    if fraction is None:
        bar.update(total=None)
    else:
        bar.update(total=1.0, progress=min(1.0, fraction))


class TrainingPanel(Vertical):
    """Progress bar, speed and ETA, and the loss plot of the running (or last) training job."""

    def compose(self) -> Any:
        yield Static("training", id="train-status")
        yield ProgressBar(total=1.0, show_eta=False, id="train-bar")
        yield LossPlot(id="loss-plot")

    def show(self, event: StepEvent | ValidationEvent | ValidationProgress) -> None:
        """A step's progress and loss; a validation's count of characters scored as it reads (status and bar), and
        its loss once it is done."""
        status, bar = self.query_one("#train-status", Static), self.query_one("#train-bar", ProgressBar)
        match event:
            case StepEvent():
                self.set_active(True)
                status.update(f"step {event.step:,} · {event.chars_per_sec:,.0f} chars/s · "
                              f"ETA {duration(event.eta_seconds)}")
                show_fraction(bar, event.fraction)
                self.query_one(LossPlot).add(event.step, event.loss, None)
            case ValidationProgress():
                status.update(Content(EventText().text(event).plain))
                show_fraction(bar, event.done / event.total)
            case ValidationEvent():
                self.query_one(LossPlot).add(event.step, None, event.val_loss)

    def set_active(self, active: bool) -> None:
        """Shown (a run started, or its last run's steps stay on show) or not; the side panel makes room for it."""
        self.set_class(active, "active")
        if isinstance(self.parent, SidePanel):
            self.parent.set_class(active, "training")

    def finish(self, step: int, reason: str) -> None:
        """The run's end, in the conversation's words ('done at step 300'; it said the reason's name, 'budget at
        step 300'); its budget spent, the bar full (a validation's count read last may have left it short)."""
        ended = {"budget": "done", "error": "failed"}.get(reason, reason)  # "stopped", "diverged" as they are
        self.query_one("#train-status", Static).update(Content(f"{ended} at step {step:,}"))
        if reason == "budget":
            show_fraction(self.query_one("#train-bar", ProgressBar), 1.0)

    def reset(self) -> None:
        """Another model: no training to show until the next /train."""
        self.set_active(False)
        self.query_one("#train-status", Static).update("training")
        self.query_one("#train-bar", ProgressBar).update(total=1.0, progress=0)
        self.query_one(LossPlot).reset()


class SidePanel(VerticalScroll):
    """The training panel above the model and sampler cards, fitted to the window's height (app.tcss): its
    scrollbar took the column a corpus name such as tinyshakespeare.txt needs, and the cards' rows ended in '…'.
    Below ROOMY rows the loss plot is shorter; below SHORT rows, while a training is shown, the sampler card gives
    way (each turn's title names its sampler, and /show sampler lists it)."""

    def on_resize(self, event: events.Resize) -> None:
        self.set_class(event.size.height < ROOMY, "short")
        self.set_class(event.size.height < SHORT, "low")


class WorkingLine(Horizontal):
    """What a slow command is doing, a bar (moving when the share done is unknown), and how to stop it."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.halting = False  # Esc was pressed: say so until the work ends
        self.stuck = False  # ... and the work went on for STOP_GRACE after it: a plugin that never checks
        self.stuck_text: Callable[[], str] = lambda: DOES_NOT_STOP  # what says so, naming the plugin

    def compose(self) -> Any:
        yield Static(id="working-what")
        yield ProgressBar(total=None, show_eta=False, id="working-bar")

    def show_work(self, work: Working) -> None:
        self.set_class(not work.done, "active")
        if work.done:
            self.halting = self.stuck = False
            return
        what = self.halt_text() if self.halting else f"{visible(work.what)} · Esc to stop"
        self.query_one("#working-what", Static).update(Content(what))  # a file name's [brackets] are no markup
        show_fraction(self.query_one("#working-bar", ProgressBar), work.fraction)

    def stopping(self, stuck_text: Callable[[], str]) -> None:
        """Esc: say so; ``stuck_text()`` names the work if it has not stopped after ``stop_grace()``."""
        self.halting, self.stuck_text = True, stuck_text
        self.query_one("#working-what", Static).update(self.halt_text())
        self.set_timer(stop_grace(), self.not_stopping)

    def not_stopping(self) -> None:
        if self.halting and self.has_class("active"):
            self.stuck = True
            self.query_one("#working-what", Static).update(self.halt_text())

    def halt_text(self) -> str:
        return f"{self.stuck_text()} · Ctrl+D leaves rnnplay" if self.stuck else "stopping…"
