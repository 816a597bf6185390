"""``rnnplay train``'s flags: one per ModelSpec and TrainConfig field, generated, and the few that are no setting.

A setting's flag is its field's name (``batch_size`` -> ``--batch-size``) and each of its
aliases (``seconds`` -> ``--seconds``, ``--time``); its type, choices and help come from the
field's :class:`~rnnplay.core.params.Param`, the default shown in the help is the
dataclass's. Setting flags default to None, so a resumed run knows which ones the user
gave; their values are checked by the dataclasses (the checks the app's /train shares).
"""

from __future__ import annotations

import argparse
from typing import Any

from rnnplay.core.errors import RnnplayError
from rnnplay.core.params import Param, params_of, parse_seconds
from rnnplay.core.train_config import CHECKPOINT_EVERY, ModelSpec, TrainConfig
from rnnplay.ui.cli import add_encoding_option
from rnnplay.ui.cli.negative_values import take_negative_values

BUDGET_FIELDS = ("steps", "epochs", "seconds")
REGULARISATION_FIELDS = ("dropout_kind", "weight_drop", "embedding_dropout", "ema")
MODEL_FIELDS = tuple(params_of(ModelSpec))
CONFIG_FIELDS = tuple(params_of(TrainConfig))


def flag_names(name: str, param: Param) -> list[str]:
    """'--batch-size', '--batch': the field's name and its aliases as flags."""
    return [f"--{key.replace('_', '-')}" for key in (name, *param.aliases)]


def flag_help(param: Param) -> str:
    """The Param's help with its bounds and the dataclass's default: 'peak learning rate (> 0; default 0.004)'."""
    default = param.default
    shown = None if default is None else f"{default:g}" if isinstance(default, float) else str(default)
    notes = [note for note in (param.bounds() if param.choices is None else "",
                               f"default {shown}" if shown is not None else "") if note]
    return f"{param.help} ({'; '.join(notes)})" if notes else param.help


def group_of(name: str) -> str:
    """The help section a TrainConfig field's flag is listed in."""
    if name in BUDGET_FIELDS:
        return "budget (one or more; training stops at the first reached)"
    if name in REGULARISATION_FIELDS:
        return "regularisation and weight averaging (docs/training.md)"
    return "validation and samples" if name.startswith(("val_", "sample_")) else "optimisation"


def add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """A flag for every ModelSpec and TrainConfig field, in field order, grouped for --help; a value such as
    ``--lr -1e-3`` reaches the setting's own check (:mod:`.negative_values`)."""
    take_negative_values(parser)
    groups: dict[str, Any] = {"model": parser.add_argument_group("model")}
    settings = [("model", name, p) for name, p in params_of(ModelSpec).items()]
    settings += [(group_of(name), name, p) for name, p in params_of(TrainConfig).items()]
    for title, name, param in settings:
        group = groups.setdefault(title, parser.add_argument_group(title))
        group.add_argument(*flag_names(name, param), dest=name, type=flag_type(param), choices=param.choices,
                           help=flag_help(param))


def flag_type(param: Param) -> Any:
    """What argparse converts a setting's value with: the Param's type; for a time, :func:`parse_seconds` (``10m``,
    ``1.5h``), a form it does not take said in argparse's line (the bounds are the dataclass's to check)."""
    if not param.time:
        return param.type

    def seconds(text: str) -> float:
        try:
            return parse_seconds(param.aliases[0] if param.aliases else param.name, text)
        except RnnplayError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    return seconds


def add_output_flags(parser: argparse.ArgumentParser) -> None:
    """The flags that are no setting of the run: where it goes, what it starts from, how the corpus is read."""
    r = parser.add_argument_group("output")
    r.add_argument("--out", help="checkpoint to write, a .npz (NAME gets .npz; default model.npz; with --resume, "
                                 "the checkpoint resumed)")
    r.add_argument("--best", metavar="PATH",
                   help="also keep the checkpoint with the lowest validation loss so far at PATH "
                        "(saved after each validation that beats it; a run that overfits loses nothing)")
    r.add_argument("--resume", metavar="CHECKPOINT",
                   help="continue a run saved by train where it stopped (which flags it takes: see below)")
    r.add_argument("--init-from", metavar="MODEL",
                   help="fine-tune: start from MODEL's weights (a path or a library name) with a fresh optimizer; "
                        "characters it lacks are added to its vocabulary")
    r.add_argument("--checkpoint-every", type=int, default=CHECKPOINT_EVERY.default, help=flag_help(CHECKPOINT_EVERY))
    r.add_argument("--save-dtype", choices=["float32", "float16"], default="float32",
                   help="precision of the saved weights (float16 halves the file)")
    add_encoding_option(r, "the corpus")
    r.add_argument("--plot", metavar="PATH",
                   help="write the loss curves to PATH (.png, .svg or .pdf) when training ends or is interrupted")


def add_cluster_flags(parser: argparse.ArgumentParser) -> None:
    """--workers and --ray-address: where the gradients are computed (no setting of the run: a resume may change
    them)."""
    r = parser.add_argument_group("workers (Ray, the optional extra rnnplay[ray])")
    r.add_argument("--workers", type=int, default=1, metavar="N",
                   help="Ray workers that share each batch's streams (--batch-size must divide by N; default 1: "
                        "in this process, no Ray)")
    r.add_argument("--ray-address", metavar="ADDR",
                   help="the Ray cluster to join, with one worker or --workers N (started with `ray start --head`; "
                        "default: $RAY_ADDRESS if --workers is over 1, else a local Ray for the run)")


def given(args: argparse.Namespace, names: tuple[str, ...]) -> dict[str, Any]:
    """The flags among ``names`` that the user gave (argparse leaves the others None)."""
    return {n: getattr(args, n) for n in names if getattr(args, n) is not None}
