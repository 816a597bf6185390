"""Each setting is declared once: the CLI's flags and /train's key=value take their defaults, help and checks
from ModelSpec and TrainConfig, and docs/training.md lists them as they are."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from rnnplay.core.errors import RnnplayError
from rnnplay.core.params import Param, params_of, parse_pairs, parse_value, setting
from rnnplay.core.train_config import ModelSpec, TrainConfig
from rnnplay.ui.cli import build_parser
from rnnplay.ui.cli.train_flags import CONFIG_FIELDS, MODEL_FIELDS, flag_names, given

DOCS = Path(__file__).resolve().parents[1] / "docs" / "training.md"
SETTINGS = {**params_of(ModelSpec), **params_of(TrainConfig)}


def cli_settings(*flags: str) -> tuple[ModelSpec, TrainConfig]:
    """What `rnnplay train corpus.txt FLAGS` builds (as cmd_train.run does), without training."""
    args = build_parser().parse_args(["train", "corpus.txt", *flags])
    return ModelSpec(**given(args, MODEL_FIELDS)), TrainConfig(**given(args, CONFIG_FIELDS))


def app_settings(pairs: dict[str, str]) -> tuple[ModelSpec, TrainConfig]:
    """What `/train corpus.txt key=value ...` builds from its pairs, through the same Params."""
    model = {k: v for k, v in pairs.items() if k in params_of(ModelSpec)}
    rest = {k: v for k, v in pairs.items() if k not in model}
    return (ModelSpec(**parse_pairs(params_of(ModelSpec), model)),
            TrainConfig(**parse_pairs(params_of(TrainConfig), rest)))


def test_the_clis_defaults_are_the_dataclasses() -> None:
    spec, config = cli_settings()
    for cls, built in ((ModelSpec, spec), (TrainConfig, config)):
        for f in fields(cls):
            assert getattr(built, f.name) == getattr(cls(), f.name), f.name


def test_every_field_is_declared_and_reachable_as_a_flag() -> None:
    parser = build_parser()
    train = parser._subparsers._group_actions[0].choices["train"]  # argparse has no public way to reach it
    flags = {option: action for action in train._actions for option in action.option_strings}
    for cls in (ModelSpec, TrainConfig):
        assert set(params_of(cls)) == {f.name for f in fields(cls)}, f"{cls.__name__} has a field without a Param"
    for name, param in SETTINGS.items():
        assert param.help and "\n" not in param.help, name
        for flag in flag_names(name, param):
            assert flags[flag].dest == name
            shown = "" if param.default is None else f"default {param.default:g}" if isinstance(param.default, float) \
                else f"default {param.default}"
            assert shown in flags[flag].help, f"{flag}'s help does not show the dataclass's {shown}"


@pytest.mark.parametrize(("typed", "seconds"), [("90s", 90), ("10m", 600), ("1.5h", 5400), ("2 M", 120)])
def test_a_time_takes_seconds_minutes_or_hours_in_the_cli_and_the_app(typed: str, seconds: float) -> None:
    """`rnnplay train corpus --time 10m` said "invalid float value"; the flag and /train's time= share the parser."""
    assert cli_settings("--time", typed)[1].seconds == app_settings({"time": typed})[1].seconds == seconds


def test_existing_flag_names_still_work() -> None:
    spec, config = cli_settings("--cell", "rnn", "--layers", "1", "--hidden", "32", "--dropout", "0.2",
                                "--batch-size", "8", "--seq-length", "20", "--optimizer", "sgd", "--lr", "0.1",
                                "--lr-schedule", "constant", "--lr-decay", "0.5", "--lr-decay-every", "10",
                                "--clip", "1", "--clip-mode", "value", "--seed", "3", "--val-every", "7",
                                "--sample-every", "9", "--steps", "5", "--epochs", "2", "--time", "60")
    assert spec == ModelSpec("rnn", 1, 32, 0.2)
    assert config == TrainConfig(8, 20, "sgd", 0.1, "constant", 1.0, "value", 0.5, 10, val_every=7, sample_every=9,
                                 seed=3, steps=5, epochs=2.0, seconds=60.0)


def test_train_pairs_use_the_same_defaults_and_aliases() -> None:
    assert parse_pairs(params_of(TrainConfig), {}) == {}
    assert app_settings({}) == (ModelSpec(), TrainConfig())
    spec, config = app_settings({"batch": "16", "seq": "32", "time": "30", "lr": "0.01", "hidden": "64"})
    assert (config.batch_size, config.seq_length, config.seconds, config.lr) == (16, 32, 30.0, 0.01)
    assert spec == ModelSpec(hidden=64)
    assert app_settings({"steps": "none"})[1].steps is None


@pytest.mark.parametrize(("flag", "key", "value", "message"), [
    ("--lr", "lr", "nan", "learning rate must be a finite number > 0 (got nan)"),
    ("--lr", "lr", "0", "learning rate must be a finite number > 0 (got 0)"),
    ("--time", "time", "-5", "time (seconds) must be a finite number > 0 (got -5)"),
    ("--epochs", "epochs", "inf", "epochs must be a finite number > 0 (got inf)"),
    ("--steps", "steps", "0", "steps must be a whole number >= 1 (got 0)"),
    ("--batch-size", "batch", "0", "batch size must be a whole number >= 1 (got 0)"),
    ("--lr-decay", "lr_decay", "1.5", "lr decay must be a finite number in (0, 1] (got 1.5)"),
    ("--val-fraction", "val_fraction", "1", "val fraction must be a finite number in [0, 1) (got 1)"),
    ("--dropout", "dropout", "1", "dropout must be a finite number in [0, 1) (got 1)"),
    ("--hidden", "hidden", "100000", "hidden size 100,000 is outside 1..8,192"),
    ("--layers", "layers", "0", "layers 0 is outside 1..64"),
])
def test_train_pairs_refuse_what_the_cli_refuses_in_the_same_words(flag: str, key: str, value: str,
                                                                   message: str) -> None:
    with pytest.raises(RnnplayError) as cli:
        cli_settings(flag, value)
    with pytest.raises(RnnplayError) as app:
        app_settings({key: value})
    assert message in str(cli.value) and message in str(app.value)
    assert "\n" not in str(app.value)


def test_unknown_or_doubled_keys_and_bad_text_are_one_line() -> None:
    params = params_of(TrainConfig)
    with pytest.raises(RnnplayError, match=r"^unknown setting 'bach' \(did you mean 'batch'.*; settings: batch, "):
        parse_pairs(params, {"bach": "3"})
    with pytest.raises(RnnplayError, match="batch_size and batch are the same setting"):
        parse_pairs(params, {"batch_size": "3", "batch": "4"})
    with pytest.raises(RnnplayError, match=r"^batch must be an integer \(got 'x'\)$"):
        parse_pairs(params, {"batch": "x"})
    with pytest.raises(RnnplayError, match=r"^unknown optimizer 'lbfgs': choose one of sgd, adagrad, rmsprop, adam$"):
        parse_pairs(params, {"optimizer": "lbfgs"})


def test_a_param_checks_values_given_in_code_as_typed_ones() -> None:
    lr = params_of(TrainConfig)["lr"]
    assert lr.check(1) == 1.0 and isinstance(lr.check(1), float)
    assert parse_value("rate", lr, " 0.5 ") == 0.5
    with pytest.raises(RnnplayError, match=r"learning rate must be a finite number > 0 \(got True\)"):
        lr.check(True)
    whole = Param("n", int, 0, "a count", min=0, max=2**63 - 1)
    assert whole.bounds() == "in [0, 9223372036854775807]"


def test_a_field_declared_with_a_param_is_its_type() -> None:
    from dataclasses import dataclass

    @dataclass
    class Knobs:
        width: int | None = setting(None, "how wide", min=1, aliases=("w",))

    (param,) = params_of(Knobs).values()
    assert (param.type, param.optional, param.aliases) == (int, True, ("w",))
    assert parse_pairs(params_of(Knobs), {"w": "3"}) == {"width": 3}


def settings_table() -> str:
    """The settings table of docs/training.md, from the dataclasses (`python tests/test_settings.py` prints it)."""
    rows = ["| setting | `rnnplay train` | `/train` | default | allowed | meaning |", "|---|---|---|---|---|---|"]
    for name, param in SETTINGS.items():
        default = param.default
        shown = "none" if default is None else f"{default:g}" if isinstance(default, float) else str(default)
        flags = ", ".join(f"`{flag}`" for flag in flag_names(name, param))
        keys = ", ".join(f"`{key}=`" for key in (name, *param.aliases))
        allowed = param.bounds() or "see meaning"
        rows.append(f"| `{name}` | {flags} | {keys} | `{shown}` | {allowed} | {param.help} |")
    return "\n".join(rows) + "\n"


def test_the_docs_list_every_setting_with_its_default() -> None:
    assert settings_table() in DOCS.read_text(), "docs/training.md's settings table differs from the dataclasses: " \
                                                 "paste in what `python tests/test_settings.py` prints"


if __name__ == "__main__":
    print(settings_table(), end="")


def test_an_integer_past_pythons_digit_limit_is_too_large_not_no_integer() -> None:
    """`/sampler top-k k=<5,000 nines>` said "k must be an integer": int() refuses more than 4,300 digits."""
    k = Param("k", int, 40, "how many", min=1)
    with pytest.raises(RnnplayError, match=r"^k is too large \(5,000 digits\): k must be >= 1$"):
        parse_value("k", k, "9" * 5000)
    with pytest.raises(RnnplayError, match=r"^k is too small \(5,000 digits\): k must be >= 1$"):
        parse_value("k", k, "-" + "9" * 5000)
    with pytest.raises(RnnplayError, match=r"^k must be an integer \(got 'x9{39}'…\)$"):  # a long text shown cut
        parse_value("k", k, "x" + "9" * 5000)


def test_the_sampler_command_says_a_huge_k_is_too_large() -> None:
    from rnnplay.session.events import Message
    from rnnplay.session.session import Session

    session = Session()
    said: list[str] = []
    session.subscribe(lambda e: said.append(e.text) if isinstance(e, Message) else None)
    session.submit("/sampler top-k k=" + "9" * 5000)
    assert any("k is too large (5,000 digits)" in line for line in said), said
