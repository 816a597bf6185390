"""The live loss plot: a line plot in Unicode braille, with axes, values and a legend.

A braille character is U+2800 plus one bit per raised dot::

    dot (column, row)    bit        (0,0) 0x01  (1,0) 0x08
                                    (0,1) 0x02  (1,1) 0x10
                                    (0,2) 0x04  (1,2) 0x20
                                    (0,3) 0x40  (1,3) 0x80

so a plot ``width`` cells wide and ``height`` tall has 2·width × 4·height dots.
A point (x, y) lands on dot column round((x - x0)/(x1 - x0) · (2w - 1)) and dot
row counted from the top, and consecutive points are joined by straight lines.

:class:`LossPlot` lays it out as a legend line (each series' latest value in its
colour), the braille rows with the loss at the top, middle and bottom on a y axis,
and an x axis naming the first and last step::

    ━ train 1.517 ━ val 1.610
    3.94┤⢳⡀
        │ ⠳⡀
    2.73┤  ⠙⢦⡀
        │    ⠙⢢⣄⡀
    1.52┤       ⠉⠙⠓⠲⠶⠶⠦⠤⣤⣤⣤⣤⣤⣤⣤
        └1───────step───────200
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual.widget import Widget

BRAILLE = 0x2800
DOTS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))  # [row][column] within a cell
STYLES = ("cyan", "magenta")  # training loss, validation loss
NAMES = ("train", "val")
LABEL = 4  # characters of a value on the y axis, before its tick
WAITING = "loss plot: waiting for the first step"

Points = Sequence[tuple[float, float]]
Box = tuple[float, float, float, float]


def bounds(series: Sequence[Points]) -> Box | None:
    """(x0, x1, y0, y1) over every point, widened when a range is empty; None when there are no points."""
    points = [p for s in series for p in s]
    if not points:
        return None
    xs, ys = [x for x, _ in points], [y for _, y in points]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    return x0, x1 if x1 > x0 else x0 + 1, y0, y1 if y1 > y0 else y0 + 1e-3


def braille(series: Sequence[Points], width: int, height: int) -> list[list[tuple[str, int]]]:
    """Rows of (character, series index or -1) cells; a later series draws over an earlier one."""
    cells = [[(0, -1)] * width for _ in range(height)]
    box = bounds(series)
    if box is None or width < 1 or height < 1:
        return [[(" ", -1)] * width for _ in range(height)]
    x0, x1, y0, y1 = box
    cols, rows = 2 * width - 1, 4 * height - 1

    def dot(px: int, py: int, owner: int) -> None:
        bits, _ = cells[py // 4][px // 2]
        cells[py // 4][px // 2] = (bits | DOTS[py % 4][px % 2], owner)

    for owner, points in enumerate(series):
        pixels = [(round((x - x0) / (x1 - x0) * cols), round((y1 - y) / (y1 - y0) * rows)) for x, y in points]
        for (ax, ay), (bx, by) in zip(pixels, pixels[1:] or pixels, strict=False):
            steps = max(abs(bx - ax), abs(by - ay), 1)
            for i in range(steps + 1):
                dot(ax + round((bx - ax) * i / steps), ay + round((by - ay) * i / steps), owner)
    return [[(chr(BRAILLE + bits) if bits else " ", owner) for bits, owner in row] for row in cells]


def value_label(value: float) -> str:
    """A loss in LABEL characters: '3.94', '12.5', ' 123'."""
    text = f"{value:.2f}" if abs(value) < 9.995 else f"{value:.1f}" if abs(value) < 99.95 else f"{value:.0f}"
    return text.rjust(LABEL)


def step_label(step: float) -> str:
    """A step count, short: '200', '2184', '12k', '3.5M'."""
    if step >= 999_500:
        return f"{step / 1e6:.2g}M"
    return f"{step / 1000:.0f}k" if step >= 10_000 else f"{step:.0f}"


def y_labels(y0: float, y1: float, rows: int) -> list[str | None]:
    """The loss at the top, middle (when there are 5 rows or more) and bottom row, each value once; None elsewhere."""
    labels: list[str | None] = [None] * rows
    ticks = [(rows - 1, y0), (0, y1)]  # the bottom first: a flat line is labelled where it is drawn
    if rows >= 5:
        middle = rows // 2
        ticks.append((middle, y1 - (4 * middle + 1.5) / (4 * rows - 1) * (y1 - y0)))  # at its four dots' middle
    for row, value in ticks:
        if value_label(value) not in labels:
            labels[row] = value_label(value)
    return labels


def x_axis(x0: float, x1: float, width: int) -> str:
    """The bottom line under the plot's ``width`` columns: the first step, 'step' in the middle, the last step."""
    first, last = step_label(x0), step_label(x1)
    gap = width - len(first) - len(last)
    if gap < 6:
        return (first + "─" * gap + last)[:width] if gap >= 1 else "─" * width
    left = (gap - 4) // 2
    return first + "─" * left + "step" + "─" * (gap - 4 - left) + last


def legend(series: Sequence[Points], width: int) -> Text:
    """'━ train 1.523 ━ val 1.610' in the series' colours, with two decimals when three do not fit (cut at
    ``width`` when even those do not)."""
    for decimals in (3, 2):
        parts = [(f"━ {name} {points[-1][1]:.{decimals}f}", style)
                 for name, points, style in zip(NAMES, series, STYLES, strict=True) if points]
        if sum(len(p) for p, _ in parts) + len(parts) - 1 <= width:
            break
    text = Text(" ").join(Text(part, style=style) for part, style in parts)
    text.truncate(width)
    return text


def plot_text(train: Points, val: Points, width: int, height: int) -> Text:
    """The whole plot in ``width`` × ``height`` cells, or a one-line note when there is nothing (or no room)."""
    box = bounds([train, val])
    rows, cols = height - 2, width - LABEL - 1
    if box is None or rows < 2 or cols < 8:
        return Text(WAITING, style="dim")
    x0, x1, y0, y1 = box
    text = legend([train, val], width)
    for label, row in zip(y_labels(y0, y1, rows), braille([train, val], cols, rows), strict=True):
        text.append("\n" + (f"{label}┤" if label is not None else " " * LABEL + "│"), style="dim")
        for char, owner in row:
            text.append(char, style=STYLES[owner] if owner >= 0 else "")
    text.append("\n" + " " * LABEL + "└" + x_axis(x0, x1, cols), style="dim")
    return text


class LossPlot(Widget):
    """Training loss (cyan) and validation loss (magenta) against steps, in braille, with axes and a legend."""

    DEFAULT_CSS = "LossPlot { height: 7; }"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.train: list[tuple[float, float]] = []
        self.val: list[tuple[float, float]] = []

    def add(self, step: int, train: float | None, val: float | None) -> None:
        """One more point of either series (or both) at ``step``."""
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
        return plot_text(self.train, self.val, self.size.width, self.size.height)
