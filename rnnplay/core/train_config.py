"""A run's settings, each declared once: the model's shape (:class:`ModelSpec`) and its training (:class:`TrainConfig`).

Every field carries its :class:`~rnnplay.core.params.Param` (type, default, bounds, one-line
help, the words its errors use, the other keys it answers to), and ``__post_init__`` checks
every field through it. ``rnnplay train``'s flags, the app's ``/train key=value``, their
help and defaults, and the settings saved in checkpoints are all read from these two classes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

from rnnplay.core.dropout import DROPOUT_KINDS
from rnnplay.core.errors import RnnplayError
from rnnplay.core.limits import MAX_HIDDEN, MAX_LAYERS, check_model_size
from rnnplay.core.optim import OPTIMIZERS, SCHEDULES
from rnnplay.core.params import Param, check_fields, setting
from rnnplay.core.products import PRECISIONS


@dataclass
class ModelSpec:
    """The shape of a model; the sizes are checked against the checkpoint loader's limits (:mod:`.limits`)."""

    cell: str = setting(
        "lstm", "recurrent cell: rnn, lstm, lnlstm (layer-normalised), or one from a plugin", label="cell"
    )
    layers: int = setting(2, f"stacked layers, 1 to {MAX_LAYERS}", label="layers")
    hidden: int = setting(256, f"hidden units per layer, 1 to {MAX_HIDDEN:,}", label="hidden size")
    dropout: float = setting(0.1, "dropout on each layer's output, between layers and before the head",
                             min=0, max=1, max_open=True, label="dropout")

    def __post_init__(self) -> None:
        if not isinstance(self.cell, str) or not self.cell.strip():
            raise RnnplayError(f"the cell must be a name such as lstm or rnn, got {self.cell!r}")
        check_model_size(self.hidden, self.layers, None)  # its words: "hidden size 100,000 is outside 1..8,192"
        check_fields(self)


@dataclass
class TrainConfig:
    """Every setting of a run; each is checked here, once, for the CLI, the app's /train and checkpoints alike."""

    # data: B streams of T characters per step
    batch_size: int = setting(64, "parallel streams B", min=1, label="batch size", aliases=("batch",))
    seq_length: int = setting(100, "BPTT length T: characters per stream per step", min=1,
                              label="sequence length", aliases=("seq",))
    # the update
    optimizer: str = setting("adam", "the update rule", choices=tuple(OPTIMIZERS), label="optimizer")
    lr: float = setting(4e-3, "peak learning rate", min=0, min_open=True, label="learning rate")
    lr_schedule: str = setting("cosine", "cosine: from lr down to lr × lr_floor over the budget; constant: lr "
                               "throughout", choices=SCHEDULES, label="learning-rate schedule")
    clip: float = setting(5.0, "gradient clip, 0 for none", min=0, label="clip (0: no clipping)")
    clip_mode: str = setting("norm", "norm: the gradients' global norm; value: each value to ±clip, as min-char-rnn",
                             choices=("norm", "value"), label="clip mode")
    lr_decay: float = setting(1.0, "multiply the rate by this ..., 1: no decay", min=0, min_open=True, max=1,
                              label="lr decay")
    lr_decay_every: int = setting(0, "... every this many steps, 0: once per epoch", min=0, label="lr decay every")
    warmup: int = setting(0, "steps over which the rate rises linearly to the schedule's, 0: none", min=0,
                          label="warm-up steps")
    lr_floor: float = setting(0.1, "the cosine schedule's last rate, as a share of lr (0.1: lr/10; 0: down to zero)",
                              min=0, max=1, label="lr floor")
    weight_decay: float = setting(0.0, "decoupled weight decay (AdamW): each step every weight matrix also shrinks "
                                  "by lr × this share of itself; 0: none", min=0, max=1, label="weight decay")
    precision: str = setting("float32", "the training step's matrix products: float32, or bfloat16 inputs with "
                             "float32 sums (CPUs with AVX512_BF16; weights and optimizer stay float32)",
                             choices=PRECISIONS, label="precision")
    # regularisation (training only: the saved model runs without it) and weight averaging
    dropout_kind: str = setting("step", "the model's output dropout: step: a new mask every time step; locked: one "
                                "mask per stream for the whole sequence", choices=DROPOUT_KINDS, label="dropout kind")
    weight_drop: float = setting(0.0, "DropConnect on the recurrent weights W_hh, one mask per step", min=0, max=1,
                                 max_open=True, label="weight drop")
    embedding_dropout: float = setting(0.0, "per step, drop whole characters of the vocabulary from the input (rows "
                                       "of the first layer's input weights)", min=0, max=1, max_open=True,
                                       label="embedding dropout")
    ema: float = setting(0.999, "decay of the weights' moving average, which validation and the saved model use; "
                         "0: off", min=0, max=1, max_open=True, label="ema decay")
    # validation and samples
    val_fraction: float = setting(0.1, "share of the corpus held out for validation, from its end", min=0, max=1,
                                  max_open=True, label="val fraction")
    val_every: int = setting(500, "steps between validations, 0: only at the end", min=0, label="val every")
    val_max_chars: int = setting(250_000, "validate on at most this many characters", min=2, label="val max chars")
    sample_every: int = setting(0, "steps between samples printed during training, 0: never", min=0,
                                label="sample every")
    sample_length: int = setting(200, "characters per sample", min=1, max=10_000, label="sample length")
    seed: int = setting(0, "random seed: same seed, same run", min=0, label="seed")
    # the budget: the run ends at the first one reached (none given: the front end picks one)
    steps: int | None = setting(None, "total optimisation steps", min=1, label="steps")
    epochs: float | None = setting(None, "total passes over the training split", min=0, min_open=True,
                                   label="epochs")
    seconds: float | None = setting(None, "wall-clock time of training in seconds, or with a unit (90s, 10m, 1.5h), "
                                    "the final validation included; for `rnnplay train` the whole command's, from "
                                    "its start to its exit; a resumed run counts its earlier ones", min=0,
                                    min_open=True, label="time (seconds)", aliases=("time",), time=True)

    def __post_init__(self) -> None:
        check_fields(self)


# Not a setting of the training itself (the trainer never saves): where its front ends save, in steps.
CHECKPOINT_EVERY = Param("checkpoint_every", int, 1000, "save every N steps, 0: only at the end", min=0,
                         label="checkpoint every")  # `train --checkpoint-every`, `/train checkpoint_every=`

# How the user names a setting where a run is made: the command line's flag, or the app's /train key=value.
SETTING_FORM: ContextVar[str] = ContextVar("setting_form", default="--{}")


def setting_name(name: str) -> str:
    """A setting as the user types it here: ``--batch-size`` on the command line, ``batch_size=`` in the app
    (within :func:`settings_named`)."""
    form = SETTING_FORM.get()
    return form.format(name.replace("_", "-") if form.startswith("--") else name)


def setting_given(name: str, value: object) -> str:
    """A setting with its value as the user types it here: ``--time 12`` on the command line, ``time=12`` in the app."""
    typed = setting_name(name)
    return f"{typed}{'' if typed.endswith('=') else ' '}{value}"


def check_best(config: TrainConfig, best: object) -> None:
    """A best checkpoint (``best`` not None) is kept at a validation: a run that holds no text out for one never
    writes it, so that is refused in one line, before the first step, instead of the file silently never coming."""
    if best is not None and config.val_fraction == 0:
        keep, hold, none = setting_name("best"), setting_name("val_fraction"), setting_given("val_fraction", 0)
        raise RnnplayError(f"{keep} keeps the checkpoint with the lowest validation loss, but {none} holds no text "
                           f"out to validate on: give {hold} above 0 (the default is 0.1), or leave out {keep}")


@contextlib.contextmanager
def settings_named(form: str = "{}=") -> Iterator[None]:
    """Within the block, :func:`setting_name` names settings in ``form`` (by default ``"{}="``: the app's /train)."""
    token = SETTING_FORM.set(form)
    try:
        yield
    finally:
        SETTING_FORM.reset(token)
