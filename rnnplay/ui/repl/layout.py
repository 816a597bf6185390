"""/compare's layout at a plain prompt: one column per sampler when the terminal is wide enough, else stacked."""

from __future__ import annotations

from collections.abc import Sequence

from prompt_toolkit.utils import get_cwidth

COLUMN_MIN = 16  # /compare goes side by side when every column gets at least this many cells


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
    """``text`` and spaces up to ``width`` terminal cells."""
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
