"""Resuming a saved run exactly where it stopped: what may change, and what the checkpoint fixes.

Weights, optimizer state, step, data position, RNG and carried state come from the
checkpoint (:meth:`~rnnplay.core.trainer.Trainer.restore`); settings in :data:`CHANGEABLE`
may be given anew; any other that differs from the saved one is refused in one line.
"""

from __future__ import annotations

import os
from dataclasses import fields, replace
from typing import Any

from rnnplay.core.data import split_ids
from rnnplay.core.errors import RnnplayError
from rnnplay.core.train_config import ModelSpec, TrainConfig
from rnnplay.core.trainer import Trainer
from rnnplay.corpora import Corpus
from rnnplay.models.bundled import load_model
from rnnplay.session.memory_room import check_memory, footprint
from rnnplay.session.training_runs import TrainingRun

# What a resumed run may change; every other setting shapes the weights, the optimizer state or the data stream.
CHANGEABLE = ("lr", "lr_schedule", "lr_floor", "lr_decay", "lr_decay_every", "clip", "clip_mode", "val_every",
              "val_max_chars", "sample_every", "sample_length", "steps", "epochs", "seconds", "precision")


def resume_run(path: str | os.PathLike[str], corpus: Corpus, settings: dict[str, Any] | None = None,
               spec: dict[str, Any] | None = None, extra: dict[str, Any] | None = None) -> TrainingRun:
    """Continue a saved run exactly where it stopped.

    ``settings`` (TrainConfig fields) and ``spec`` (ModelSpec fields) are the ones the user
    gave. Those in CHANGEABLE (the rate and its schedule, clipping, validation, sampling,
    the budget) replace the saved ones and are listed in ``run.changes``; any other that
    differs from the checkpoint is a one-line error, never silently ignored.
    """
    settings, spec = dict(settings or {}), dict(spec or {})
    ckpt = load_model(path)
    training = ckpt.training
    if not isinstance(training, dict) or not any(k.startswith("opt/") for k in ckpt.arrays):
        raise RnnplayError(f"{path} holds no training state (it is a weights-only copy); start a fresh run instead")
    _check_same_corpus(path, ckpt.meta.get("corpus"), corpus)
    saved = _saved_config(path, training)
    model = ckpt.model
    have = {"cell": model.cell.name, "layers": model.num_layers, "hidden": model.hidden_size,
            "dropout": model.dropout, **{k: getattr(saved, k) for k in settings if k not in CHANGEABLE}}
    conflicts = [f"{k} {v} (saved: {have[k]})" for k, v in {**spec, **settings}.items() if k in have and v != have[k]]
    if conflicts:
        raise RnnplayError(f"{path} cannot continue with a different {', '.join(conflicts)}: these are fixed by the "
                           "checkpoint; leave them out, or start a new run with another --out")
    config = replace(saved, **settings)
    shape = ModelSpec(model.cell.name, model.num_layers, model.hidden_size, model.dropout)
    need = footprint(model.cell, {k: v.shape for k, v in model.params.items()}, shape, config, corpus)
    warning = check_memory(need, config, f"start a new run from its weights, --init-from {path} with a smaller "
                           "--batch-size or --seq-length (a resume keeps them)")  # before the ids and the arrays
    train_ids, val_ids = split_ids(corpus.encode(model.vocab), config.val_fraction)
    trainer = Trainer(model, train_ids, val_ids, config)
    trainer.restore(training, ckpt.arrays)
    _check_budget_left(path, trainer)
    keep = {k: ckpt.meta[k] for k in ("command", "ancestry", "continued_from") if k in ckpt.meta}
    changes = [f"{k} {_setting(getattr(saved, k))} -> {_setting(v)}" for k, v in settings.items()
               if getattr(saved, k) != v]
    return TrainingRun(trainer, corpus, {**keep, **(extra or {})}, changes, warnings=[warning] if warning else [])


def _setting(value: object) -> str:
    return "off" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def _check_same_corpus(path: str | os.PathLike[str], saved: object, corpus: Corpus) -> None:
    if saved is None:
        return
    if not isinstance(saved, dict):
        raise RnnplayError(f"{path}: its corpus record is damaged (not a table); start a fresh run")
    if saved.get("sha256") and saved["sha256"] != corpus.sha256:
        name = saved.get("name")
        what = (f"{corpus.name} has changed since {path} was trained on it, and a resume needs the very same text: "
                "put it back as it was" if name == corpus.name else
                f"{path} was trained on a different text ({name}): resume with that corpus")
        raise RnnplayError(f"{what}, or start a new run from the model's weights on this text with --init-from {path}")


def _saved_config(path: str | os.PathLike[str], training: dict[str, Any]) -> TrainConfig:
    saved = training.get("config")
    known = {f.name for f in fields(TrainConfig)}
    if not isinstance(saved, dict) or not set(saved) <= known:
        raise RnnplayError(f"{path}: its training settings are unreadable; start a fresh run")
    try:
        # Runs saved before schedules existed trained at a constant rate, and those saved before weight
        # averaging without it; keep them that way, so a resume is their exact continuation.
        return TrainConfig(**{"lr_schedule": "constant", "ema": 0.0, **saved})
    except RnnplayError as err:
        raise RnnplayError(f"{path}: its training settings are unusable ({err}); start a fresh run") from None


def spent_counts(trainer: Trainer) -> list[str]:
    """The step and epoch budgets ``trainer`` has reached, as flags (``--steps 5``): a resume of it would be refused."""
    c = trainer.config
    spent = [f"--steps {c.steps}"] if c.steps is not None and trainer.step >= c.steps else []
    return spent + ([f"--epochs {c.epochs:g}"] if c.epochs is not None and trainer.epoch >= c.epochs else [])


def continue_hint(path: str | os.PathLike[str], trainer: Trainer) -> str:
    """How to go on with the run saved in ``path``: ``--resume`` it, with a larger budget once the trainer has run
    it out (:attr:`Trainer.ran_out`: a plain ``--resume`` is refused then, :func:`_check_budget_left`) or reached a
    budget before a stop ended it (Ctrl-C during the save of the last step, or of a step in whose save a --time
    budget ran out: the run ends as stopped, and the time it saved leaves no step to a resume of the same budget)."""
    counts_reached = spent_counts(trainer)  # the step and epoch budgets reached; none: the time ran out, or none is
    time_reached = trainer.config.seconds is not None and trainer.budget_fraction() == 1.0  # no step would begin
    if not trainer.ran_out and not counts_reached and not time_reached:
        return f"continue with --resume {path}"
    larger = "--steps or --epochs" if counts_reached else "--time"
    budget_flags = counts_reached or [f"--time {trainer.config.seconds:g}"]  # what the line shows as spent
    return f"its budget ({' and '.join(budget_flags)}) is spent: to train on, --resume {path} with a larger {larger}"


def _check_budget_left(path: str | os.PathLike[str], trainer: Trainer) -> None:
    """A resume whose budget (steps, epochs or seconds) is already spent would do nothing but write its file again:
    say what to give instead."""
    if not trainer.budget_done():
        return
    if spent := spent_counts(trainer):
        raise RnnplayError(f"{path} is at step {trainer.step}, so its budget ({' and '.join(spent)}) is spent: "
                           "give a larger --steps or --epochs to continue it")
    raise RnnplayError(time_spent(path, trainer))


def time_spent(path: str | os.PathLike[str], trainer: Trainer, started: bool = False) -> str:
    """Why a resumed run of ``path`` makes no step under its --time budget: the seconds it trained before, with the
    reserve for its final validation (and, once the run ``started``, this command's start-up, which the budget
    counts), fill it."""
    c = trainer.config
    start_up = "this command's start-up and " if started else ""
    rest = f", less {start_up}the time its final validation takes" if trainer.spent_before < (c.seconds or 0) else ""
    return (f"{path} has trained for {trainer.spent_before:.1f} s (to step {trainer.step}), so its budget (--time "
            f"{c.seconds:g}{rest}) is spent: give a larger --time to continue it")
