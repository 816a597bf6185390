"""What the app shows: streamed text equal to `rnnplay sample`'s, styles, scrolling, work in progress, /compare, /copy.

Texts are read back from the widgets that show them, not from the session's events.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pilot_helpers import app_on, messages, type_line, until
from rich.console import Console
from textual.geometry import Region
from textual.widget import Widget
from textual.widgets import ProgressBar, Static
from tiny_model import write_corpus

from rnnplay.models.bundled import BUNDLED_MODEL
from rnnplay.session.events import Changed, ClipboardCopy, CompareShown, Working
from rnnplay.session.session import Session
from rnnplay.ui.tui import RnnplayApp
from rnnplay.ui.tui import messages as tui_messages
from rnnplay.ui.tui.prompt import PromptInput
from rnnplay.ui.tui.render import HangingText
from rnnplay.ui.tui.widgets import Card, CompareView, Conversation, LossPlot, Note, TrainingPanel, Turn, WorkingLine

STREAMED = 2_000
SIZES = [(100, 30), (80, 24)]  # the app's own size (the README's picture) and many terminals' default


@pytest.fixture
def app(tiny_path: Path) -> RnnplayApp:
    return app_on(tiny_path, length=40)


def shown_lines(widget: Widget) -> list[str]:
    """The widget's lines as drawn on screen (border and padding included)."""
    width, height = widget.outer_size
    return [strip.text for strip in widget.render_lines(Region(0, 0, width, height))]


def card_lines(app: RnnplayApp) -> dict[str, list[str]]:
    """Each card's lines as the side panel draws them."""
    return {card.id or "": [line.rstrip() for line in shown_lines(card)] for card in app.query(Card)}


def table(rows: list[tuple[str, str]]) -> list[str]:
    width = max(len(k) for k, _ in rows)
    return [f"{k:<{width}} {v}".rstrip() for k, v in rows]


def sample_cli(model: Path, seed: str, rng_seed: int, length: int) -> str:
    done = subprocess.run([sys.executable, "-m", "rnnplay", "sample", str(model), "--seed", seed,
                           "--rng-seed", str(rng_seed), "--length", str(length)],
                          capture_output=True, check=True, timeout=120)
    return done.stdout.decode()


async def test_the_streamed_turn_shows_exactly_what_rnnplay_sample_prints(tiny_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    expected = sample_cli(tiny_path, "To be", 1, STREAMED)
    drawn: list[str] = []  # the turn's text each time the UI drew it while the stream came in
    show = Turn.show

    def show_and_keep(turn: Turn) -> None:
        show(turn)
        drawn.append(turn.render().plain)

    monkeypatch.setattr(Turn, "show", show_and_keep)
    monkeypatch.setattr(tui_messages, "FRAME", 0.0)  # drawn at every drain: the tiny model writes it within a frame
    app = app_on(tiny_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_line(pilot, "/set seed 1")
        await type_line(pilot, f"/set length {STREAMED}")
        await type_line(pilot, "To be")
        await until(pilot, lambda: app.query(Turn) and app.turn is None)
        turn = app.query_one(Turn)
        shown = turn.render().plain
        assert shown + "\n" == expected  # sample ends its output with a newline
        assert shown.count("\n") >= 3 and not shown.endswith("\n")  # several lines, the last partial
        assert all(shown.startswith(text) for text in drawn)  # nothing drawn was lost or changed later
        assert sum(not text.endswith("\n") for text in drawn[:-1]) >= 3  # drawn while a line was half done
        last_row = shown_lines(turn)[-2].strip("│").strip()  # above the bottom border
        assert last_row and shown.endswith(last_row)


async def test_the_seed_style_does_not_spill_onto_the_continuation(app: RnnplayApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await type_line(pilot, "To be")
        await until(pilot, lambda: app.query(Turn) and app.turn is None)
        turn = app.query_one(Turn)
        text = turn.render()
        assert turn.seed == "To be" and len(turn.text) == 40
        assert [(span.start, span.end) for span in text.spans] == [(0, len("To be"))]  # the seed's, nothing after


async def test_a_new_reply_scrolls_into_view_after_the_user_scrolled_up(app: RnnplayApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        conversation = app.query_one(Conversation)
        for _ in range(3):
            await type_line(pilot, "/help")
        await until(pilot, lambda: len(messages(app, "info")) == 4 and conversation.max_scroll_y > 20)
        conversation.scroll_home(animate=False)
        await pilot.pause()
        assert conversation.scroll_y == 0
        await type_line(pilot, "/show")
        await until(pilot, lambda: len(messages(app, "info")) == 5)
        await until(pilot, lambda: conversation.scroll_y == conversation.max_scroll_y > 20)
        await type_line(pilot, "To be")
        await until(pilot, lambda: app.query(Turn) and app.turn is None)
        await until(pilot, lambda: conversation.scroll_y == conversation.max_scroll_y)


async def test_help_lines_hang_under_their_indent_in_the_narrow_pane(app: RnnplayApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await type_line(pilot, "/help")
        await until(pilot, lambda: len(messages(app, "info")) == 2)
        note = app.query(Note).last()
        lines = shown_lines(note)
        commands = lines[next(i for i, line in enumerate(lines) if line.startswith("  /")):lines.index(
            next(line for line in lines if line.startswith("Keys:")))]
        assert len(commands) > len([line for line in note.text.split("\n") if line.startswith("  /")])  # wrapped
        assert all(line.startswith(("  /", "    ")) for line in commands)
        assert " ".join(lines).split() == note.text.split()  # every word shown, the last line too


def test_hanging_text_hangs_aligned_rows_under_their_value_column() -> None:
    console = Console(width=30, record=True, color_system=None)
    text = "Commands:\n  /load PATH — open a checkpoint of yours\n  key    a value that wraps around"
    console.print(HangingText(text))
    assert console.export_text().splitlines() == [
        "Commands:",
        "  /load PATH — open a",
        "    checkpoint of yours",
        "  key    a value that wraps",
        "         around",
    ]


async def test_turn_boxes_fit_short_lines_in_a_wide_window(app: RnnplayApp) -> None:
    async with app.run_test(size=(160, 50)) as pilot:
        await type_line(pilot, "To be")
        await until(pilot, lambda: app.query(Turn) and app.turn is None)
        turn, conversation = app.query_one(Turn), app.query_one(Conversation)
        longest = max(len(line) for line in turn.render().plain.split("\n"))
        assert turn.outer_size.width <= max(len(turn.border_title) + 6, longest + 4) < conversation.size.width // 2
        app.session.length = 2
        await type_line(pilot, "To")
        await until(pilot, lambda: len(app.query(Turn)) == 2 and app.turn is None)
        short = app.query(Turn).last()
        assert short.outer_size.width == len(short.border_title) + 6 and short.border_title in shown_lines(short)[0]


async def test_a_slow_command_shows_what_it_does_and_esc_stops_it(app: RnnplayApp,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    cancelled: list[bool] = []
    monkeypatch.setattr(app.session, "cancel", lambda: cancelled.append(True) or True)
    async with app.run_test(size=(80, 24)) as pilot:
        line = app.query_one(WorkingLine)
        assert not line.display
        app.session.emit(Working("ranking 32 units"))
        await until(pilot, lambda: line.has_class("active"))
        what = app.query_one("#working-what", Static)
        assert str(what.render()) == "ranking 32 units · Esc to stop"
        assert app.query_one("#working-bar", ProgressBar).total is None  # moving: the share done is unknown
        app.session.emit(Working("ranking 32 units", 0.5))
        await until(pilot, lambda: app.query_one("#working-bar", ProgressBar).percentage == 0.5)
        await pilot.press("escape")
        assert cancelled and str(what.render()) == "stopping…"
        app.session.emit(Working("ranking 32 units", 0.6))  # the work reports on until it stops
        await until(pilot, lambda: app.query_one("#working-bar", ProgressBar).percentage == 0.6)
        assert str(what.render()) == "stopping…"
        app.session.emit(Working("ranking 32 units", done=True))
        await until(pilot, lambda: not line.display)
        app.session.emit(Working("scoring 9 characters"))
        await until(pilot, lambda: str(what.render()) == "scoring 9 characters · Esc to stop")


async def test_copy_puts_the_text_on_the_clipboard_and_says_so(app: RnnplayApp,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    said: list[str] = []
    monkeypatch.setattr(app, "notify", lambda text, **_: said.append(text))
    async with app.run_test(size=(80, 24)) as pilot:
        app.session.emit(ClipboardCopy("To be, or not"))
        await until(pilot, lambda: said)
        assert app.clipboard == "To be, or not" and said == ["copied 13 characters"]


ROWS = (("greedy", "the question: whether 'tis nobler in the mind to suffer"),
        ("temperature=1", "the quest\nion whe"))


async def test_compare_lays_the_samplers_side_by_side_when_wide(app: RnnplayApp) -> None:
    async with app.run_test(size=(160, 50)) as pilot:
        app.session.emit(CompareShown("To be ", ROWS))
        await until(pilot, lambda: app.query(CompareView))
        lines = shown_lines(app.query_one(CompareView))
        header = next(line for line in lines if "greedy" in line)
        assert "temperature=1" in header
        column = header.index("temperature=1")
        starts = [line for line in lines if line[column:].startswith("To be")]
        assert starts and "To be the question" in starts[0]  # both columns start on the same row
        assert "↵" in "".join(lines)


async def test_compare_stacks_the_samplers_when_narrow(app: RnnplayApp) -> None:
    async with app.run_test(size=(60, 40)) as pilot:
        rows = (*ROWS, ("top-k k=5", "x"), ("top-p p=0.9", "y"))
        app.session.emit(CompareShown("To be ", rows))
        await until(pilot, lambda: app.query(CompareView))
        lines = [line.strip("│ ") for line in shown_lines(app.query_one(CompareView))]
        for label, _ in rows:
            assert label in lines  # each label on a line of its own


async def test_compare_runs_every_sampler_at_the_temperature_set(app: RnnplayApp) -> None:
    """/set temperature reached only the active sampler's row: top-k and top-p compared at their default 0.7."""
    async with app.run_test(size=(60, 40)) as pilot:
        await type_line(pilot, "/set temperature 0.3")
        await type_line(pilot, "/compare To")
        await until(pilot, lambda: app.query(CompareView))
        lines = [line.strip("│ ") for line in shown_lines(app.query_one(CompareView))]
    labels = sorted(line for line in lines if "temperature=" in line)
    assert labels == ["temperature=0.3", "top-k k=10 temperature=0.3", "top-p p=0.9 temperature=0.3"], lines


async def test_a_cramped_window_gives_the_conversation_its_width_and_f2_brings_the_panel_back(
        app: RnnplayApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    corpus = write_corpus(tmp_path)
    said: list[str] = []
    monkeypatch.setattr(app, "notify", lambda text, **_: said.append(text))
    async with app.run_test(size=(60, 24)) as pilot:
        side, conversation = app.query_one("#side"), app.query_one(Conversation)
        await pilot.pause()
        assert not side.display and conversation.outer_size.width == 60
        await type_line(pilot, f"/train {corpus} steps=5 layers=1 hidden=8 batch=4 seq=8 out={tmp_path / 'x.npz'}")
        await until(pilot, lambda: any("F2 shows" in text for text in said))
        await pilot.press("f2")
        await until(pilot, lambda: side.display and side.outer_size.width > 0)
        assert conversation.outer_size.width < 60
        await until(pilot, lambda: "at step 5" in str(app.query_one("#train-status", Static).render()))
        await pilot.resize_terminal(120, 30)
        await until(pilot, lambda: app.size.width == 120)
        assert side.display  # F2's choice holds when the window changes
        await pilot.press("f2")
        await until(pilot, lambda: not side.display and conversation.outer_size.width == 120)


async def test_a_wide_window_shows_the_side_panel(app: RnnplayApp) -> None:
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert app.query_one("#side").display
        await pilot.resize_terminal(50, 30)
        await until(pilot, lambda: app.size.width == 50)
        await until(pilot, lambda: not app.query_one("#side").display)


async def test_the_side_panel_fits_the_window_during_a_training_and_names_its_corpus_whole(
        app: RnnplayApp, tmp_path: Path) -> None:
    """At 80x24 the training panel and both cards overflowed the side panel (at 100x30 too): its scrollbar took a
    column, and the corpus showed as 'tinyshakespeare.t…'. One training serves every size, the window resized."""
    corpus = write_corpus(tmp_path).rename(tmp_path / "tinyshakespeare.txt")
    async with app.run_test(size=SIZES[-1]) as pilot:
        await type_line(pilot, f"/train {corpus} steps=100000 layers=1 hidden=8 batch=4 seq=8 out={tmp_path / 'x.npz'}")
        side, plot = app.query_one("#side"), app.query_one(LossPlot)
        await until(pilot, lambda: "chars/s" in str(app.query_one("#train-status", Static).render()) and plot.train)
        for size in reversed(SIZES):  # the smaller window first, as the app started; then the larger
            await pilot.resize_terminal(*size)
            await until(pilot, lambda size=size: tuple(app.size) == size)
            await pilot.pause()
            assert side.max_scroll_y == 0, (size, side.virtual_size)  # nothing below the panel's foot
            assert "corpus tinyshakespeare.txt" in card_lines(app)["model-card"], size
            assert app.query_one("#sampler-card").display == (size[1] >= 30)  # gives way only in the smaller window
        app.query_one(PromptInput).insert("/stop")  # typed key by key, each key waits out the training's events
        await pilot.press("enter")
        await until(pilot, lambda: app.session.training is None or not app.session.training.alive)


async def test_loading_another_model_clears_the_last_runs_panel(app: RnnplayApp, tiny_path: Path,
                                                                tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await type_line(pilot, f"/train {corpus} steps=5 layers=1 hidden=8 batch=4 seq=8 out={tmp_path / 'x.npz'}")
        panel, plot = app.query_one(TrainingPanel), app.query_one(LossPlot)
        await until(pilot, lambda: "at step 5" in str(app.query_one("#train-status", Static).render()))
        assert panel.has_class("active") and plot.train  # a finished run stays on show
        app.session.emit(Changed("settings"))
        await pilot.pause()
        assert panel.has_class("active")
        await type_line(pilot, f"/load {tiny_path}")
        await until(pilot, lambda: not panel.has_class("active"))
        assert not plot.train and not plot.val
        assert "at step" not in str(app.query_one("#train-status", Static).render())


@pytest.mark.parametrize("size", [(3, 3), (1, 1), (5, 2)])
async def test_a_window_a_few_columns_wide_draws_without_a_crash(app: RnnplayApp, size: tuple[int, int]) -> None:
    """At five columns or fewer the input's placeholder was wrapped at width 0 (ValueError in TextArea)."""
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        await pilot.press(*"ab")
        await pilot.pause()
        assert app.is_running and app.query_one(PromptInput).text == "ab"


async def test_a_window_narrowed_to_a_column_and_back_keeps_working(app: RnnplayApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        for width in (40, 6, 5, 3, 1, 2, 80):
            await pilot.resize_terminal(width, 24)
            await pilot.pause()
        await pilot.press(*"ab")
        await pilot.pause()
        assert app.is_running and app.query_one(PromptInput).text == "ab"


@pytest.mark.skipif(not BUNDLED_MODEL.exists(), reason="the bundled model is not installed")
@pytest.mark.parametrize("size", SIZES)
async def test_every_card_row_of_the_bundled_model_is_one_whole_line(size: tuple[int, int]) -> None:
    """'val loss 1.363 nats in training' and 'corpus tinyshakespeare.txt' took two lines each in the panel."""
    app = RnnplayApp(Session.open(None))
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        assert card_lines(app) == {"model-card": table(app.session.card()),
                                   "sampler-card": table(app.session.sampler_card())}


@pytest.mark.parametrize("size", SIZES)
async def test_a_card_value_too_long_for_the_panel_ends_in_an_ellipsis_on_its_own_line(
        app: RnnplayApp, size: tuple[int, int]) -> None:
    long = "a model from the sweep of the night before last.npz"
    app.session.model_name = long
    app.session.meta = {**app.session.meta, "ancestry": [{"model": "shakespeare.npz", "sha256": None,
                                                          "corpus": "tinyshakespeare.txt", "step": 6164}]}
    async with app.run_test(size=size) as pilot:
        app.session.emit(Changed("model"))
        card = app.query_one("#model-card", Card)
        await until(pilot, lambda: "a model from" in str(card.render()))
        rows = app.session.card()
        lines = card_lines(app)["model-card"]
        assert len(lines) == len(rows) and lines[0].startswith("model") and lines[0].endswith("…"), lines
        assert lines[1:] == table(rows)[1:]  # the other rows whole, the ancestry's steps too
        assert dict(rows)["steps"].endswith(" more)") and long in str(card.tooltip)  # the whole name on hover
