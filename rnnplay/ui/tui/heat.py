"""Looking inside the model in the conversation: the probability heat map (/heat) and one unit's colours (/neurons).

The heat map is a focusable widget with a cursor. Each character carries its
position in its style's meta, so a click or a hover reads the position straight
from the character under the mouse (``event.style.meta["pos"]``), however the
text wraps. Under the text, a line shows the five characters the model found
likeliest at the cursor; keys 1-5 take one of them and branch (``/whatif``).
"""

from __future__ import annotations

import shlex
from typing import Any, ClassVar

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.widget import Widget
from textual.widgets import Static

from rnnplay.core.vocab import describe_char
from rnnplay.session.events import HeatShown, NeuronsShown
from rnnplay.ui.console import SEED_STYLE, heat_legend, heat_style, neuron_text, visible
from rnnplay.ui.tui.render import shown_char

SEED_SHOWN = 120  # a branch's seed holds the whole text before it; show its end


def char_arg(ch: str) -> str:
    """A character as /whatif reads it back: escaped (\\n) and quoted for the shell-like split."""
    return shlex.quote({"\n": "\\n", "\t": "\\t", "\r": "\\r", "\\": "\\\\"}.get(ch, ch))


class HeatView(Widget, can_focus=True):
    """A text coloured by the probability of each character, with a cursor showing the alternatives."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left", "move(-1)", "Back", show=False),
        Binding("right", "move(1)", "Next", show=False),
        Binding("home", "move(-1000000)", "First", show=False),
        Binding("end", "move(1000000)", "Last", show=False),
        *(Binding(str(k), f"branch({k})", f"What if {k}", show=False) for k in range(1, 6)),
        Binding("escape", "prompt", "Prompt"),
        Binding("enter", "prompt", "Prompt", show=False),
    ]

    def __init__(self, heat: HeatShown) -> None:
        super().__init__(classes="heat")
        self.heat = heat
        scored = [i for i, p in enumerate(heat.probs) if p is not None]
        self.first = scored[0] if scored else 0
        self.cursor = self.first
        self.handing_over = False  # keys go to the prompt until this view has the focus again
        self.border_title = f"heat · turn {heat.turn}"

    def render(self) -> Text:
        heat = self.heat
        text = Text()
        seed = heat.seed if len(heat.seed) <= SEED_SHOWN else "…" + heat.seed[-SEED_SHOWN:]
        text.append(visible(seed), style=SEED_STYLE)
        for i, (ch, p) in enumerate(zip(heat.text, heat.probs, strict=True)):
            text.append(shown_char(ch), heat_style(p) + Style(reverse=i == self.cursor, meta={"pos": i}))
        text.append("\n")
        text.append_text(heat_legend("p "))
        text.append("\n")
        text.append_text(self.alternatives_line())
        return text

    def alternatives_line(self) -> Text:
        """'pos 12 'e' 31% · 1 'a' 40%  2 'e' 31% …' for the character under the cursor."""
        i = self.cursor
        p = self.heat.probs[i]
        line = Text(f"pos {i} {describe_char(self.heat.text[i])} ", style="bold")
        if p is None:
            return line.append("(the first character: nothing predicts it)", style="dim")
        line.append(f"{p:.0%}", style=heat_style(p))
        line.append(" · ", style="dim")
        for k, (ch, q) in enumerate(self.heat.alternatives[i], 1):
            line.append(f"{k} ", style="dim")
            line.append(describe_char(ch), style="bold" if ch == self.heat.text[i] else "")
            line.append(f" {q:.0%}  ", style=heat_style(q))
        line.append("· ←→ move, 1-5 what if", style="dim")
        return line

    def move_to(self, pos: int) -> None:
        self.cursor = max(self.first, min(len(self.heat.text) - 1, pos))
        self.refresh(layout=True)

    def action_move(self, delta: int) -> None:
        self.move_to(self.cursor + delta)

    def action_branch(self, k: int) -> None:
        """Take the k-th alternative at the cursor: /whatif submits seed + text[:cursor] + that character."""
        alternatives = self.heat.alternatives[self.cursor]
        if k > len(alternatives):
            self.app.bell()
            return
        app: Any = self.app
        app.submit(f"/whatif {self.cursor} {char_arg(alternatives[k - 1][0])} turn={self.heat.turn}")
        self.action_prompt()

    def action_prompt(self) -> None:
        self.app.query_one("#prompt").focus()

    def on_click(self, event: events.Click) -> None:
        pos = event.style.meta.get("pos")
        if pos is not None:
            self.focus()
            self.move_to(pos)

    def on_mouse_move(self, event: events.MouseMove) -> None:
        pos = event.style.meta.get("pos")
        if pos is not None and pos != self.cursor:
            self.move_to(pos)

    def on_focus(self) -> None:
        self.handing_over = False

    def on_key(self, event: events.Key) -> None:
        """Typing goes back to the prompt: a character that is not a key of this view starts a new line there, and
        every key after it that reaches this view before the prompt has the focus (typed in the same burst: a digit,
        Enter) goes there too, in the order typed, not to this view's bindings."""
        if self.handing_over or (event.is_printable and event.character and event.character not in "12345"):
            self.handing_over = True
            prompt = self.app.query_one("#prompt")
            prompt.focus()
            prompt.post_message(events.Key(event.key, event.character))
            event.stop()


class NeuronView(Static):
    """/neurons: the text coloured by one unit, titled with the unit and its range."""

    def __init__(self, shown: NeuronsShown) -> None:
        self.text = neuron_text(shown.text, shown.values, shown.mask)
        note = "red positive · blue negative" + (" · underlined: the condition holds" if shown.mask else "")
        self.text.append(f"\n{note}", style="dim")
        super().__init__(self.text, classes="neurons")
        self.border_title = shown.title
