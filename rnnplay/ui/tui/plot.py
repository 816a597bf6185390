"""A line plot in Unicode braille: each character cell is a 2×4 grid of dots.

A braille character is U+2800 plus one bit per raised dot::

    dot (column, row)    bit        (0,0) 0x01  (1,0) 0x08
                                    (0,1) 0x02  (1,1) 0x10
                                    (0,2) 0x04  (1,2) 0x20
                                    (0,3) 0x40  (1,3) 0x80

so a plot ``width`` cells wide and ``height`` tall has 2·width × 4·height dots.
A point (x, y) lands on dot column round((x - x0)/(x1 - x0) · (2w - 1)) and dot
row counted from the top, and consecutive points are joined by straight lines.
"""

from __future__ import annotations

from collections.abc import Sequence

BRAILLE = 0x2800
DOTS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))  # [row][column] within a cell

Points = Sequence[tuple[float, float]]


def bounds(series: Sequence[Points]) -> tuple[float, float, float, float] | None:
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
