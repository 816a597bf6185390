"""Rich renderables the conversation draws with: messages with a hanging indent, /compare's columns.

Both lay themselves out at the width they are given, so they stay right as the
pane narrows or widens (Textual asks again with the new width).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text

from rnnplay.ui.console import SEED_STYLE, visible

LABEL_STYLE = "bold"
COLUMN_GAP = 2
MIN_COLUMN = 18  # narrower than this, /compare's rows stack instead of standing side by side
ALIGNED_GAP = re.compile(r"\S {2,}(?=\S)")  # 'key   value': the value column a wrapped row hangs under


def shown_char(ch: str) -> str:
    """What stands for a character on screen: a newline shows as ↵ before the line break, a control character as
    its picture (:func:`~rnnplay.ui.console.visible`)."""
    return "↵\n" if ch == "\n" else "→" if ch == "\t" else visible(ch)


def hang_column(line: str, width: int) -> int:
    """Where the wrapped rest of ``line`` starts: under an aligned value column, else two past the indent.

    An unindented line wraps to column 0 as prose does; no hang takes more than half the width.
    """
    indent = len(line) - len(line.lstrip(" "))
    if not indent:
        return 0
    gap = ALIGNED_GAP.search(line, indent)
    column = gap.end() if gap else indent + 2
    return column if column <= width // 2 else min(indent + 2, width // 2)


@dataclass(frozen=True)
class HangingText:
    """Lines of text whose wrapped parts hang under their own line's indent (``/help``, ``/show``)."""

    text: str
    style: str = ""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = max(1, options.max_width)
        out = Text(style=self.style)
        for i, line in enumerate(self.text.split("\n")):
            if i:
                out.append("\n")
            out.append_text(self._hang(console, line, width))
        yield out

    @staticmethod
    def _hang(console: Console, line: str, width: int) -> Text:
        column = hang_column(line, width)
        parts = Text(line[column:]).wrap(console, width - column, overflow="fold")
        for part in parts:
            part.rstrip()
        rows = [Text(line[:column]) + parts[0] if parts else Text(line[:column])]
        rows += [Text(" " * column) + part for part in parts[1:]]
        return Text("\n").join(rows)


@dataclass(frozen=True)
class CompareTable:
    """/compare: one column per sampler, each the seed and its continuation; stacked when the columns would be
    too narrow to read. Columns wrap on their own, so the samplers stay side by side however long the text."""

    seed: str
    rows: tuple[tuple[str, str], ...]

    def cell(self, text: str) -> Text:
        return Text.assemble((visible(self.seed), SEED_STYLE), "".join(map(shown_char, text)))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        count = max(1, len(self.rows))
        if (options.max_width - COLUMN_GAP * (count - 1)) // count >= MIN_COLUMN:
            table = Table(box=None, expand=True, padding=(0, COLUMN_GAP, 0, 0), show_edge=False)
            for label, _ in self.rows:
                table.add_column(Text(label, style=LABEL_STYLE), ratio=1, overflow="fold")
            table.add_row(*(self.cell(text) for _, text in self.rows))
        else:
            table = Table.grid(expand=True)
            table.add_column(overflow="fold")
            for i, (label, text) in enumerate(self.rows):
                if i:
                    table.add_row("")
                table.add_row(Text(label, style=LABEL_STYLE))
                table.add_row(self.cell(text))
        yield table
