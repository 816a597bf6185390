"""The Textual app, driven through App.run_test() and Pilot at 80x24."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from folder_swap import replaced_by_a_file
from pilot_helpers import app_on, messages, slow_down, type_line, until
from textual.widgets import ProgressBar, Static
from tiny_model import write_corpus

from rnnplay.session.events import ValidationProgress
from rnnplay.session.session import Session
from rnnplay.ui.tui import RnnplayApp
from rnnplay.ui.tui.palette import SlashCommands
from rnnplay.ui.tui.prompt import PromptInput
from rnnplay.ui.tui.widgets import Card, LossPlot, TrainingPanel, Turn


@pytest.fixture
def app(tiny_path: Path) -> RnnplayApp:
    return app_on(tiny_path)


def turns(app: RnnplayApp) -> list[Turn]:
    return list(app.query(Turn))


def card_text(app: RnnplayApp, name: str) -> str:
    return str(app.query_one(f"#{name}", Card).render())


async def test_a_seed_streams_its_continuation_into_the_log(app: RnnplayApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        app.session.length = 60
        await type_line(pilot, "To be")
        await until(pilot, lambda: turns(app) and turns(app)[0].ending == "" and len(turns(app)[0].text) == 60)
        turn = turns(app)[0]
        assert turn.seed == "To be"
        assert str(turn.render()).startswith("To be" + turn.text[:10])
        assert app.query_one(PromptInput).text == ""


async def test_sampler_switch_shows_in_the_side_panel_and_is_used(app: RnnplayApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        assert "temperature" in card_text(app, "sampler-card")
        await type_line(pilot, "/sampler beam width=3")
        await until(pilot, lambda: "beam" in card_text(app, "sampler-card"))
        assert "width" in card_text(app, "sampler-card") and "3" in card_text(app, "sampler-card")
        app.session.length = 20
        await type_line(pilot, "To")
        await until(pilot, lambda: len(turns(app)) == 1 and len(turns(app)[0].text) == 20)
        assert turns(app)[0].border_title.startswith("beam width=3")


async def test_a_wrong_value_is_one_line_naming_the_bound(app: RnnplayApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await type_line(pilot, "/set temperature 0")
        await until(pilot, lambda: messages(app, "error"))
        assert messages(app, "error") == ["temperature must be in (0, 100] (got 0); "
                                          "for the most likely character every time, type /sampler greedy; "
                                          "at 100 every character is already about equally likely"]


async def test_an_unknown_command_gets_a_suggestion(app: RnnplayApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await type_line(pilot, "/smapler beam")
        await until(pilot, lambda: messages(app, "error"))
        assert "unknown command /smapler (did you mean '/sampler'" in messages(app, "error")[0]


@pytest.mark.parametrize("key", ["escape", "ctrl+c"])
async def test_a_key_stops_a_long_generation_and_the_app_stays(app: RnnplayApp, key: str) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        slow_down(app)
        app.session.length = 100_000
        await type_line(pilot, "To be")
        await until(pilot, lambda: turns(app) and len(turns(app)[0].text) > 5)
        await pilot.press(key)
        await until(pilot, lambda: "stopped" in turns(app)[0].ending)
        assert len(turns(app)[0].text) < 100_000 and app.is_running
        app.session.length = 5
        await type_line(pilot, "or not")
        await until(pilot, lambda: len(turns(app)) == 2 and len(turns(app)[1].text) == 5)


async def test_transcript_save_while_a_turn_streams_keeps_it_with_its_text_so_far(app: RnnplayApp,
                                                                                  tmp_path: Path) -> None:
    path = tmp_path / "chat.jsonl"
    async with app.run_test(size=(80, 24)) as pilot:
        slow_down(app)
        app.session.length = 100_000
        await type_line(pilot, "To be")
        await until(pilot, lambda: turns(app) and len(turns(app)[0].text) > 5)
        await type_line(pilot, f"/transcript save {path}")
        await until(pilot, lambda: any("turn 1 is still being written" in m for m in messages(app, "info")))
        assert app.session.generating  # the save neither stopped it nor waited for it
        await pilot.press("escape")
        await until(pilot, lambda: "stopped" in turns(app)[0].ending)
        shown = turns(app)[0].text
    (turn,) = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert (turn["turn"], turn["seed"], turn["ended"], turn["length"]) == (1, "To be", "writing", 100_000)
    assert len(turn["text"]) > 5 and shown.startswith(turn["text"])


async def test_train_shows_progress_loss_plot_and_samples_while_generation_works(app: RnnplayApp,
                                                                                  tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path)
    out = tmp_path / "t.npz"
    async with app.run_test(size=(80, 24)) as pilot:
        await type_line(pilot, f"/train {corpus} steps=60 layers=1 hidden=16 batch=8 seq=16 sample_every=20 "
                               f"val_every=20 out={out}")
        panel = app.query_one(TrainingPanel)
        plot = app.query_one(LossPlot)
        await until(pilot, lambda: panel.has_class("active") and plot.train)
        app.session.length = 10
        await type_line(pilot, "To")
        await until(pilot, lambda: turns(app) and len(turns(app)[0].text) == 10)
        await until(pilot, lambda: len(app.query(".sample")) > 0)
        await until(pilot, lambda: "done at step" in str(app.query_one("#train-status", Static).render()))
        assert plot.val and len(plot.train) >= 1
        assert app.query_one("#train-bar", ProgressBar).progress == pytest.approx(1.0)
        assert "train" in str(plot.render())
        assert "steps  60" in card_text(app, "model-card") and out.exists()


async def test_palette_lists_the_slash_commands(app: RnnplayApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        provider = SlashCommands(app.screen)
        hits = [hit async for hit in provider.discover()]
        assert {"/help [COMMAND]", "/sampler NAME [key=value ...]", "/quit"} <= {h.display.plain for h in hits}
        found = [hit async for hit in provider.search("sampler")]
        assert found and found[0].match_display.plain == "/sampler NAME [key=value ...]"  # brackets are not markup
        found[0].command()
        await pilot.pause()
        assert app.query_one(PromptInput).text == "/sampler "


async def test_f1_shows_keys_and_commands_and_ctrl_d_leaves(app: RnnplayApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f1")
        await until(pilot, lambda: any("Esc" in m and "/train" in m for m in messages(app, "info")))
        await pilot.press("ctrl+d")
        await until(pilot, lambda: not app.is_running)


async def test_leaving_while_training_keeps_where_it_saved_for_the_shell(app: RnnplayApp, tmp_path: Path) -> None:
    """Ctrl+D during a /train stops it and saves; the app is gone by the time the session says where, so the line
    is kept in ``farewell`` for `rnnplay` to print on the shell's screen (it said nothing at all)."""
    out = tmp_path / "t.npz"
    async with app.run_test(size=(80, 24)) as pilot:
        await type_line(pilot, f"/train {write_corpus(tmp_path)} steps=100000 layers=1 hidden=16 batch=8 seq=16 "
                               f"out={out}")
        await until(pilot, lambda: bool(app.query_one(LossPlot).train))  # a first step (else nothing is saved)
        await pilot.press("ctrl+d")
        await until(pilot, lambda: not app.is_running)
    assert any(line.startswith("training stopped at step") and f"saved {out}" in line for line in app.farewell)
    assert out.exists()


async def test_ctrl_d_stays_once_when_the_training_could_not_be_saved(app: RnnplayApp, tmp_path: Path) -> None:
    """Ctrl+D left at once, exit 0, though the training's checkpoint and rescue copy had failed and the error's advice
    was '/save PATH keeps it'; now it stays once, and the second Ctrl+D leaves (`rnnplay` then exits 1)."""
    (tmp_path / "o").mkdir()
    async with app.run_test(size=(80, 24)) as pilot:
        await type_line(pilot, f"/train {write_corpus(tmp_path)} steps=100000 layers=1 hidden=16 batch=8 seq=16 "
                               f"out={tmp_path / 'o' / 'm.npz'}")
        await until(pilot, lambda: bool(app.query_one(LossPlot).train))  # a first step: a model to save
        replaced_by_a_file(tmp_path / "o", tmp_path / "gone")  # --out cannot be written
        (tmp_path / "xdg-data").mkdir(exist_ok=True)
        (tmp_path / "xdg-data" / "rnnplay").write_text("a file where the data folder was")  # nor the rescue copy
        await pilot.press("ctrl+d")
        await until(pilot, lambda: app.kept_back)
        assert app.is_running and not app.session.close()
        await pilot.press("ctrl+d")
        await until(pilot, lambda: not app.is_running)
    assert any("the rescue copy failed too" in line for line in app.farewell)


async def test_quit_command_leaves(app: RnnplayApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await type_line(pilot, "/quit")
        await until(pilot, lambda: not app.is_running)


async def test_without_a_model_it_says_how_to_get_one() -> None:
    app = RnnplayApp(Session())
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: messages(app, "info"))
        assert "/load" in messages(app, "info")[0] and "/train" in messages(app, "info")[0]
        assert "none" in card_text(app, "model-card")


async def test_a_run_that_spent_its_budget_ends_with_a_full_bar_after_a_validations_count(app: RnnplayApp) -> None:
    """A fine-tuning's last reading (against the model it started from) left the bar at 95% once the run was done."""
    async with app.run_test(size=(100, 30)) as pilot:
        panel = app.query_one(TrainingPanel)
        panel.show(ValidationProgress(step=20, what="the validation", done=95, total=100))
        await pilot.pause()
        assert app.query_one("#train-bar", ProgressBar).progress == pytest.approx(0.95)
        panel.finish(20, "budget")
        await pilot.pause()
        assert "done at step 20" in str(app.query_one("#train-status", Static).render())
        assert app.query_one("#train-bar", ProgressBar).progress == pytest.approx(1.0)
        panel.show(ValidationProgress(step=20, what="the validation", done=5, total=100))
        panel.finish(20, "stopped")  # stopped short: the bar says how far it got
        await pilot.pause()
        assert app.query_one("#train-bar", ProgressBar).progress == pytest.approx(0.05)
