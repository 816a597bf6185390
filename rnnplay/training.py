"""Setting up a training run from a corpus: shared by the CLI, the Session and CharRNN.

A run is a :class:`~rnnplay.core.trainer.Trainer` plus what it needs to be saved
and resumed: the corpus's name and checksum and the command that started it.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .core.data import split_ids
from .core.model import Model
from .core.trainer import TrainConfig, Trainer
from .core.vocab import Vocab
from .corpora import Corpus
from .errors import RnnplayError
from .models import load_model, save_model
from .plugins import get_host


@dataclass
class ModelSpec:
    cell: str = "lstm"
    layers: int = 2
    hidden: int = 256
    dropout: float = 0.0


@dataclass
class TrainingRun:
    trainer: Trainer
    corpus: Corpus
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def model(self) -> Model:
        return self.trainer.model

    def save(self, path: str | os.PathLike[str], **kwargs: Any) -> Path:
        """Save weights and the full training state (resumable) atomically."""
        meta = {
            "corpus": {"name": self.corpus.name, "source": self.corpus.source, "sha256": self.corpus.sha256,
                       "chars": len(self.corpus.text)},
            "history": {"val_loss": self.trainer.history.val_losses[-1] if self.trainer.history.val_losses else None},
            "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            **self.extra,
        }
        return save_model(path, self.model, training=self.trainer.checkpoint_state(), extra=meta, **kwargs)


@dataclass
class BestCheckpoint:
    """The run's checkpoint with the lowest validation loss so far, kept at ``path``.

    ``rnnplay train --best PATH`` and ``/train … best=PATH`` offer it every validation
    loss; it rewrites the file whenever one beats all earlier ones (a resumed run's
    earlier validations count, if the file is there).
    """

    path: Path
    loss: float = math.inf

    @staticmethod
    def check_paths(path: str | os.PathLike[str], out: str | os.PathLike[str]) -> Path:
        """``path`` expanded; a one-line error if it is the regular checkpoint, which would overwrite it."""
        target = Path(os.path.expanduser(path))
        if target.resolve() == Path(os.path.expanduser(out)).resolve():
            raise RnnplayError(f"the best and the regular checkpoint are both {out}: give the best a name of its own")
        return target

    @classmethod
    def for_run(cls, path: str | os.PathLike[str], run: TrainingRun, out: str | os.PathLike[str]) -> BestCheckpoint:
        target = cls.check_paths(path, out)
        earlier = run.trainer.history.val_losses
        return cls(target, min(earlier) if earlier and target.exists() else math.inf)

    @property
    def kept(self) -> bool:
        """Whether a checkpoint is there to speak of (this run or the one it resumed saved one)."""
        return self.loss < math.inf

    def offer(self, run: TrainingRun, val_loss: float, **save_kwargs: Any) -> None:
        """Save ``run`` here if ``val_loss`` is the lowest yet."""
        if val_loss < self.loss:
            self.loss = val_loss
            run.save(self.path, **save_kwargs)

    def describe(self, run: TrainingRun) -> str:
        """'kept PATH: the lowest validation loss, 1.234 nats/char at step 500' (once :attr:`kept`)."""
        h = run.trainer.history
        at = h.val_steps[h.val_losses.index(self.loss)]
        return f"kept {self.path}: the lowest validation loss, {self.loss:.4f} nats/char at step {at}"


def new_run(corpus: Corpus, spec: ModelSpec, config: TrainConfig, extra: dict[str, Any] | None = None) -> TrainingRun:
    """A fresh model on ``corpus`` (vocabulary: every character of the corpus)."""
    vocab = Vocab.from_text(corpus.text)
    if len(vocab) < 2:
        raise RnnplayError(f"corpus {corpus.name} has fewer than two distinct characters; there is nothing to learn")
    model = Model(get_host().cell(spec.cell), vocab, spec.hidden, spec.layers, spec.dropout, seed=config.seed)
    train_ids, val_ids = split_ids(vocab.encode(corpus.text), config.val_fraction)
    model.init_output_bias(train_ids)
    return TrainingRun(Trainer(model, train_ids, val_ids, config), corpus, dict(extra or {}))


def resume_run(path: str | os.PathLike[str], corpus: Corpus, budget: dict[str, Any],
               extra: dict[str, Any] | None = None) -> TrainingRun:
    """Continue a saved run exactly where it stopped; ``budget`` may change steps/epochs/seconds."""
    ckpt = load_model(path)
    training = ckpt.training
    if training is None or not any(k.startswith("opt/") for k in ckpt.arrays):
        raise RnnplayError(f"{path} holds no training state (it is a weights-only copy); start a fresh run instead")
    saved = ckpt.meta.get("corpus", {})
    if saved.get("sha256") and saved["sha256"] != corpus.sha256:
        raise RnnplayError(f"{path} was trained on a different text ({saved.get('name')}); resume with that corpus")
    try:
        # Runs saved before schedules existed trained at a constant rate; keep it that way.
        config = TrainConfig(**{"lr_schedule": "constant", **training["config"], **budget})
    except TypeError as err:
        raise RnnplayError(f"{path}: its training settings are unreadable ({err})") from None
    model = ckpt.model
    train_ids, val_ids = split_ids(model.vocab.encode(corpus.text), config.val_fraction)
    trainer = Trainer(model, train_ids, val_ids, config)
    trainer.restore(training, ckpt.arrays)
    keep = {k: ckpt.meta[k] for k in ("command",) if k in ckpt.meta}
    return TrainingRun(trainer, corpus, {**keep, **(extra or {})})
