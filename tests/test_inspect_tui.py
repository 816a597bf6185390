"""/heat, /neurons and /whatif in the Textual app, driven through App.run_test() and Pilot at 80x24."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TypeVar

import pytest
from inspect_model import build_inspect_model
from pilot_helpers import app_on, messages, type_fast, type_line, until
from rich.style import Style
from rich.text import Text
from textual.pilot import Pilot

from rnnplay.session.events import CompareShown
from rnnplay.ui.tui import RnnplayApp
from rnnplay.ui.tui.heat import HeatView, NeuronView
from rnnplay.ui.tui.prompt import PromptInput
from rnnplay.ui.tui.widgets import CompareView, Turn


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_inspect_model(tmp_path_factory.mktemp("model"))


@pytest.fixture
def app(model_path: Path) -> RnnplayApp:
    return app_on(model_path, length=40, seed=7)


def finished_turns(app: RnnplayApp) -> list[Turn]:
    return [t for t in app.query(Turn) if t is not app.turn]


View = TypeVar("View", HeatView, NeuronView)


async def opened_on_a_turn(app: RnnplayApp, pilot: Pilot, seed: str, command: str,
                           kind: type[View]) -> tuple[View, Turn]:
    """Write a turn from ``seed``, then open ``command``'s view of it (``kind``): (the view, the turn)."""
    await type_line(pilot, seed)
    await until(pilot, lambda: len(finished_turns(app)) == 1)
    await type_line(pilot, command)
    await until(pilot, lambda: app.query(kind))
    return app.query_one(kind), finished_turns(app)[0]


def styles(text: Text) -> list[Style]:
    return [s.style if isinstance(s.style, Style) else Style.parse(s.style) for s in text.spans]


async def test_heat_colours_the_continuation_and_the_cursor_shows_alternatives(app: RnnplayApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        view, turn = await opened_on_a_turn(app, pilot, "To be", "/heat", HeatView)
        assert view.heat.text == turn.text and view.heat.seed == "To be"
        assert app.focused is view and view.cursor == 0
        rendered = view.render()
        colours = {style.color.number for style in styles(rendered) if style.color and style.meta}
        assert len(colours) >= 2  # the characters get the probability colours
        assert "■<1%" in rendered.plain  # the legend
        first = view.alternatives_line().plain
        assert first.startswith(f"pos 0 {turn.text[0]!r}") and "1 " in first and "5 " in first and "%" in first
        await pilot.press("right", "right")
        assert view.cursor == 2
        assert view.alternatives_line().plain.startswith("pos 2 ")
        await pilot.press("left")
        assert view.cursor == 1
        await pilot.click(HeatView, offset=(2 + len("To be") + 4, 1))  # border and padding, the seed, then text[4]
        assert view.cursor == 4 and view.alternatives_line().plain.startswith("pos 4 ")


async def branch_with_key_2(app: RnnplayApp, pilot: Pilot) -> tuple[str, str]:
    """Write a turn, open its heat view, press 2 at position 3: (the turn's text, the character put there)."""
    view, turn = await opened_on_a_turn(app, pilot, "To be", "/heat", HeatView)
    await pilot.press("right", "right", "right")
    second = view.heat.alternatives[3][1][0]
    await pilot.press("2")
    await until(pilot, lambda: len(finished_turns(app)) == 2)
    return turn.text, second


async def test_a_key_1_to_5_in_the_heat_view_branches_and_keeps_the_original(app: RnnplayApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        original, second = await branch_with_key_2(app, pilot)
        first, branch = finished_turns(app)
        assert first.text == original  # the original stays in the log
        assert branch.seed == "To be" + original[:3] + second
        assert len(branch.text) == 40
        assert any("what if turn 1 had" in m for m in messages(app, "info"))
        assert app.focused is app.query_one(PromptInput)


async def test_the_transcript_holds_the_branch_the_heat_view_made_and_a_compare(app: RnnplayApp,
                                                                                tmp_path: Path) -> None:
    compares: list[CompareShown] = []
    app.session.subscribe(lambda event: isinstance(event, CompareShown) and compares.append(event))
    async with app.run_test(size=(80, 24)) as pilot:
        original, second = await branch_with_key_2(app, pilot)
        await type_line(pilot, "/compare or not")
        await until(pilot, lambda: app.query(CompareView))
        path = tmp_path / "chat.jsonl"
        await type_line(pilot, f"/transcript save {path}")
        await until(pilot, lambda: any(m.startswith("saved 2 turns and 1 comparison") for m in messages(app, "info")))
    first, branch, compare = (json.loads(line) for line in path.read_text(encoding="utf-8").splitlines())
    assert (first["turn"], first["branch"], first["text"]) == (1, None, original)
    assert branch["turn"] == 2 and branch["branch"] == {"turn": 1, "position": 3, "char": second,
                                                        "original": original[3]}
    assert (compare["kind"], compare["after_turn"], compare["seed"], compare["rng_seed"]) == ("compare", 2, "or not", 7)
    assert [row["text"] for row in compare["samplers"]] == [text for _, text in compares[0].rows]


async def test_typing_in_the_heat_view_goes_back_to_the_prompt(app: RnnplayApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await type_line(pilot, "/heat To be, or not")
        await until(pilot, lambda: app.query(HeatView))
        assert app.query_one(HeatView).cursor == 1  # a given text's first character has no probability
        await pilot.press("T", "o")
        assert app.focused is app.query_one(PromptInput) and app.query_one(PromptInput).text == "To"


async def test_a_command_typed_in_one_burst_at_the_heat_view_runs_whole(app: RnnplayApp) -> None:
    """The heat view sent the burst's first character to the prompt, but kept the keys that came before the prompt
    had the focus: a digit 1-5 branched (/whatif) and Enter only focused the prompt, so `/temp 0.5` sat there as
    `/temp 0.` until Enter was pressed again."""
    async with app.run_test(size=(80, 24)) as pilot:
        await type_line(pilot, "/heat To be, or not")
        await until(pilot, lambda: app.query(HeatView))
        type_fast(app, *"/temp", "space", *"0.5", "enter")
        prompt = app.query_one(PromptInput)
        await until(pilot, lambda: app.session.params.get("temperature") == 0.5 and prompt.text == "")
        assert app.focused is prompt and not app.query(HeatView).first().has_focus


async def test_tab_with_nothing_to_complete_stays_in_the_prompt_past_a_heat_view(app: RnnplayApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await type_line(pilot, "/heat To be, or not")
        await until(pilot, lambda: app.query(HeatView))
        await pilot.press("escape")
        prompt = app.query_one(PromptInput)
        assert app.focused is prompt
        await pilot.press("T", "tab")
        assert app.focused is prompt and prompt.text == "T"


async def test_neurons_colours_the_last_turn_and_find_lists_units(app: RnnplayApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        view, turn = await opened_on_a_turn(app, pilot, "To be (or", "/neurons 0 3", NeuronView)
        assert view.border_title.startswith("layer 0 unit 3 (h)")
        text = view.text
        assert text.plain.startswith("To be (or" + turn.text[:5])
        backgrounds = {style.bgcolor.number for style in styles(text) if style.bgcolor}
        assert len(backgrounds) >= 2  # red and blue shades
        await type_line(pilot, "/neurons find inside-parens")
        await until(pilot, lambda: len(app.query(NeuronView)) == 2)
        found = "\n".join(m for m in messages(app, "info") if "inside-parens" in m or "r=" in m)  # header, rows
        assert "validation text" in found and found.count("r=") == 5
        best = app.query(NeuronView).last()
        assert "r=" in best.border_title
        assert any(style.underline for style in styles(best.text))  # where the condition holds
