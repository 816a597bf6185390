"""The app's widgets: the conversation, the prompt line, the side panel and the loss plot (heat views: heat.py)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.suggester import Suggester
from textual.widget import Widget
from textual.widgets import Input, ProgressBar, Static

from ..cli.render import duration
from ..commands import complete_line
from ..session import HeatShown, NeuronsShown
from .heat import HeatView, NeuronView
from .plot import bounds, braille

LEVEL_STYLES = {"info": "", "warning": "yellow", "error": "bold red"}
SERIES_STYLES = ("cyan", "magenta")  # training loss, validation loss


class Turn(Static):
    """One seed and its continuation, growing as chunks arrive."""

    def __init__(self, seed: str, sampler: str) -> None:
        super().__init__(classes="turn")
        self.seed, self.sampler, self.text, self.ending = seed, sampler, "", ""
        self.border_title = sampler

    def on_mount(self) -> None:
        self.show()

    def append(self, chunk: str) -> None:
        self.text += chunk

    def end(self, reason: str) -> None:
        self.ending = {"stopped": " ⏹ stopped", "error": " ✗"}.get(reason, "")

    def show(self) -> None:
        text = Text(self.seed, style="bold cyan")
        text.append(self.text)
        if self.ending:
            text.append(self.ending, style="dim")
        self.update(text)


class Conversation(VerticalScroll):
    """The scrolling log of turns and messages; follows the newest text unless scrolled up."""

    def on_mount(self) -> None:
        self.anchor()

    def add_message(self, level: str, text: str) -> Static:
        return self._add(Static(Text(text, style=LEVEL_STYLES.get(level, "")), classes=f"message {level}"))

    def add_sample(self, step: int, text: str) -> Static:
        widget = Static(Text(text, style="italic"), classes="sample")
        widget.border_title = f"sample at step {step:,}"
        return self._add(widget)

    def add_turn(self, seed: str, sampler: str) -> Turn:
        return self._add(Turn(seed, sampler))

    def add_heat(self, heat: HeatShown) -> HeatView:
        return self._add(HeatView(heat))

    def add_neurons(self, shown: NeuronsShown) -> NeuronView:
        return self._add(NeuronView(shown))

    def _add(self, widget: Widget) -> Any:
        self.mount(widget)
        return widget


class SlashSuggester(Suggester):
    """Suggests the rest of a slash command: its name, then what its completer offers."""

    def __init__(self, session: Any) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.session = session

    async def get_suggestion(self, value: str) -> str | None:
        word, candidates = complete_line(self.session, value)
        return value[: len(value) - len(word)] + candidates[0] if candidates else None


class PromptInput(Input):
    """The input line: Up/Down walk the history, Tab takes the suggestion, Esc/Ctrl+C stop, Ctrl+D quits."""

    BINDINGS = [  # noqa: RUF012 - Textual's convention
        Binding("up", "history(-1)", "Previous", show=False),
        Binding("down", "history(1)", "Next", show=False),
        Binding("tab", "accept_suggestion", "Complete", show=False),
        Binding("escape", "app.stop", "Stop"),
        Binding("ctrl+c", "app.stop", "Stop", show=False),
        Binding("ctrl+d", "app.leave", "Quit"),
    ]

    def __init__(self, session: Any, **kwargs: Any) -> None:
        super().__init__(suggester=SlashSuggester(session), select_on_focus=False, **kwargs)  # typing adds to the line
        self.history = list(session.history)
        self.position = len(self.history)  # index into history; len(history) is the fresh line
        self.draft = ""

    def remember(self, line: str) -> None:
        self.history.append(line)
        self.position = len(self.history)

    def action_history(self, delta: int) -> None:
        history = self.history
        if self.position == len(history):
            self.draft = self.value
        self.position = max(0, min(len(history), self.position + delta))
        self.value = history[self.position] if self.position < len(history) else self.draft
        self.cursor_position = len(self.value)

    def action_accept_suggestion(self) -> None:
        if self._suggestion and self.cursor_at_end:
            self.action_cursor_right()
        else:
            self.app.action_focus_next()


class Card(Static):
    """(label, value) rows as a small table."""

    def show_rows(self, rows: list[tuple[str, str]]) -> None:
        width = max((len(k) for k, _ in rows), default=0)
        text = Text()
        for i, (key, value) in enumerate(rows):
            text.append(f"{key:<{width}} ", style="dim")
            text.append(value + ("\n" if i < len(rows) - 1 else ""))
        self.update(text)


class LossPlot(Widget):
    """Training loss (cyan) and validation loss (magenta) against steps, in braille."""

    DEFAULT_CSS = "LossPlot { height: 7; }"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.train: list[tuple[float, float]] = []
        self.val: list[tuple[float, float]] = []

    def add(self, step: int, train: float | None, val: float | None) -> None:
        if train is not None:
            self.train.append((step, train))
        if val is not None:
            self.val.append((step, val))
        self.refresh()

    def reset(self) -> None:
        self.train.clear()
        self.val.clear()
        self.refresh()

    def render(self) -> Text:
        width, height = self.size.width, self.size.height
        box = bounds([self.train, self.val])
        if box is None or height < 3 or width < 8:
            return Text("loss plot: waiting for the first step", style="dim")
        label = 5
        grid = braille([self.train, self.val], width - label, height - 1)
        text = Text()
        last = f"train {self.train[-1][1]:.3f}" if self.train else ""
        text.append(last, style=SERIES_STYLES[0])
        if self.val:
            text.append(f"  val {self.val[-1][1]:.3f}", style=SERIES_STYLES[1])
        for i, row in enumerate(grid):
            y = box[3] if i == 0 else box[2] if i == len(grid) - 1 else None
            text.append("\n" + (f"{y:4.2f}┤" if y is not None else "    │"), style="dim")
            for char, owner in row:
                text.append(char, style=SERIES_STYLES[owner] if owner >= 0 else "")
        return text


class TrainingPanel(Vertical):
    """Progress bar, speed and ETA, and the loss plot of the running (or last) training job."""

    def compose(self) -> Any:
        yield Static("training", id="train-status")
        yield ProgressBar(total=1.0, show_eta=False, id="train-bar")
        yield LossPlot(id="loss-plot")

    def show_progress(self, step: int, fraction: float | None, chars_per_sec: float, eta: float | None) -> None:
        self.query_one("#train-status", Static).update(
            f"step {step:,} · {chars_per_sec:,.0f} chars/s · ETA {duration(eta)}")
        bar = self.query_one("#train-bar", ProgressBar)
        if fraction is None:
            bar.update(total=None)
        else:
            bar.update(total=1.0, progress=min(1.0, fraction))

    def finish(self, step: int, reason: str) -> None:
        self.query_one("#train-status", Static).update(f"{reason} at step {step:,}")
