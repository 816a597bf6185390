"""The TUI's live loss plot: braille curves with a y axis of values, an x axis of steps and a legend."""

from __future__ import annotations

import math

from rich.cells import cell_len
from textual.app import App

from rnnplay.ui.tui.plot import WAITING, LossPlot, braille, plot_text, step_label, value_label

TRAIN = [(step, 1.5 + 2.5 * math.exp(-step / 40)) for step in range(1, 201)]
VAL = [(step, 1.6 + 1.5 * math.exp(-step / 40)) for step in (50, 100, 150, 200)]


def lines(width: int, height: int, train=TRAIN, val=VAL) -> list[str]:
    return plot_text(train, val, width, height).plain.split("\n")


def test_legend_values_and_axes() -> None:
    rows = lines(27, 7)
    assert len(rows) == 7
    assert rows[0] == f"━ train {TRAIN[-1][1]:.3f} ━ val {VAL[-1][1]:.3f}"
    top, bottom = max(y for _, y in TRAIN), min(y for _, y in TRAIN)
    assert rows[1].startswith(f"{top:.2f}┤") and rows[5].startswith(f"{bottom:.2f}┤")
    assert rows[3][4] == "┤" and 2.0 < float(rows[3][:4]) < 3.0  # a value in the middle too
    assert rows[2].startswith("    │") and rows[4].startswith("    │")
    assert rows[6].startswith("    └1─") and rows[6].endswith("─200") and "step" in rows[6]
    assert all(ch == " " or 0x2800 <= ord(ch) <= 0x28FF for row in rows[1:6] for ch in row[5:])


def test_series_are_drawn_in_their_colours() -> None:
    text = plot_text(TRAIN, VAL, 27, 7)
    styles = {str(span.style) for span in text.spans}
    assert {"cyan", "magenta", "dim"} <= styles
    assert lines(27, 7, val=[])[0] == f"━ train {TRAIN[-1][1]:.3f}"


def test_every_size_fits_its_box() -> None:
    for width in range(13, 60):
        for height in range(4, 14):
            rows = lines(width, height)
            assert len(rows) == height and all(cell_len(row) <= width for row in rows), (width, height)
    assert lines(24, 7)[0] == f"━ train {TRAIN[-1][1]:.2f} ━ val {VAL[-1][1]:.2f}"  # two decimals when three don't fit


def test_nothing_to_show_or_no_room_is_a_note() -> None:
    assert plot_text([], [], 27, 7).plain == WAITING
    assert plot_text(TRAIN, VAL, 27, 3).plain == WAITING
    assert plot_text(TRAIN, VAL, 12, 7).plain == WAITING


def test_a_single_point_is_labelled_once_where_it_is() -> None:
    rows = lines(27, 7, train=[(1, 4.17)], val=[])
    assert [row[:5] for row in rows[1:6]] == ["    │"] * 4 + ["4.17┤"]
    assert rows[5][5] != " "


def test_labels() -> None:
    assert [value_label(v) for v in (4.1744, 12.53, 123.4)] == ["4.17", "12.5", " 123"]
    assert [step_label(s) for s in (1, 200, 2184, 12_345, 3_500_000)] == ["1", "200", "2184", "12k", "3.5M"]


def test_braille_dots_and_owners() -> None:
    grid = braille([[(0, 0), (1, 1)], [(0, 1)]], 1, 1)  # one cell: 2 dot columns, 4 dot rows
    diagonal = 0x40 | 0x04 | 0x10 | 0x08  # (0,3) (0,2) (1,1) (1,0): bottom left to top right
    assert grid == [[(chr(0x2800 | diagonal | 0x01), 1)]]  # the second series' dot (0,0) owns the cell


class PlotApp(App):
    def compose(self):
        yield LossPlot()


async def test_the_widget_adds_resets_and_renders() -> None:
    app = PlotApp()
    async with app.run_test(size=(30, 10)) as pilot:
        plot = app.query_one(LossPlot)
        assert plot.render().plain == WAITING
        plot.add(1, 4.0, None)
        plot.add(2, 3.5, 3.6)
        plot.add(3, None, 3.4)
        await pilot.pause()
        assert plot.train == [(1, 4.0), (2, 3.5)] and plot.val == [(2, 3.6), (3, 3.4)]
        rows = plot.render().plain.split("\n")
        assert len(rows) == 7 and rows[0] == "━ train 3.500 ━ val 3.400" and rows[-1].endswith("3")
        plot.reset()
        assert plot.render().plain == WAITING and not plot.train and not plot.val
