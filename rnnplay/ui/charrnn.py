"""The seed's one-object API, min-char-rnn style::

    from rnnplay import CharRNN
    rnn = CharRNN(vocab_size, hidden_size=128)
    rnn.train(text, epochs=100)
    output = rnn.generate(seed="To be", length=200, temp=0.7)

Defaults follow the seed: a 1-layer vanilla RNN of 128 units, sequences of 25,
learning rate 0.01 with Adagrad, gradients clipped to ±5, one stream (batch 1),
temperature 0.7. ``cell=`` and ``num_layers=`` pick any registered cell and depth.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from rnnplay.core.errors import RnnplayError
from rnnplay.core.generate import generate
from rnnplay.core.model import Model
from rnnplay.core.sampler import TEMPERATURE
from rnnplay.core.train_config import ModelSpec, TrainConfig
from rnnplay.core.trainer import Event, FinishedEvent, Trainer
from rnnplay.core.vocab import Vocab, describe_char
from rnnplay.models.bundled import load_model, save_model
from rnnplay.models.library import saved_as
from rnnplay.plugins.host import get_host
from rnnplay.session.checkpoint_names import checkpoint_name
from rnnplay.session.output_paths import check_output_path, holding
from rnnplay.session.training_runs import divergence


class CharRNN:
    def __init__(
        self,
        vocab_size: int,
        hidden_size: int = 128,
        *,
        seq_length: int = 25,
        learning_rate: float = 0.01,
        cell: str = "rnn",
        num_layers: int = 1,
        batch_size: int = 1,
        optimizer: str = "adagrad",
        clip: float = 5.0,
        clip_mode: str = "value",
        dropout: float = 0.0,
        seed: int = 0,
    ) -> None:
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int | np.integer) or vocab_size < 1:
            raise RnnplayError(f"vocab_size must be a whole number of 1 or more (len(set(text))) (got {vocab_size!r})")
        self.vocab_size = int(vocab_size)
        self.spec = ModelSpec(cell, num_layers, hidden_size, dropout)  # checked as `rnnplay train` checks it
        self.config = TrainConfig(
            batch_size=batch_size, seq_length=seq_length, optimizer=optimizer, lr=learning_rate,
            lr_schedule="constant",  # the seed's fixed rate, however often train() is called
            clip=clip, clip_mode=clip_mode, val_fraction=0.0, val_every=0, seed=seed,
        )
        get_host().cell(cell)  # fail now, not at train(), on an unknown cell
        self.model: Model | None = None
        self._trainer: Trainer | None = None
        self._text: str | None = None

    @property
    def hidden_size(self) -> int:
        return self.spec.hidden

    @property
    def cell(self) -> str:
        return self.spec.cell

    def _build(self, text: str) -> Trainer:
        """A trainer on ``text``: of the model there is (loaded, or trained on another text), with a fresh optimizer;
        else of a new model of this object's shape."""
        if not isinstance(text, str):
            raise RnnplayError(f"train takes the text as a str, not a {type(text).__name__}"
                               + (": decode it first, text.decode('utf-8')" if isinstance(text, bytes) else ""))
        if self.model is not None:  # never a new random model in place of the one trained or loaded
            unknown = self.model.vocab.unknown(text)
            if unknown:
                raise RnnplayError(f"the text has characters this model has never seen "
                                   f"({', '.join(map(describe_char, unknown[:10]))}): fine-tune with `rnnplay train "
                                   "TEXT --init-from MODEL`, which adds them, or start a new CharRNN")
            return Trainer(self.model, self.model.vocab.encode(text), None, self.config)
        vocab = Vocab.from_text(text)
        if len(vocab) != self.vocab_size:
            raise RnnplayError(
                f"vocab_size is {self.vocab_size} but the text has {len(vocab)} distinct characters: "
                "use CharRNN(len(set(text)), ...)"
            )
        spec = self.spec
        self.model = Model(get_host().cell(spec.cell), vocab, spec.hidden, spec.layers, spec.dropout,
                           seed=self.config.seed)
        ids = vocab.encode(text)
        self.model.init_output_bias(ids)
        return Trainer(self.model, ids, None, self.config)

    def train(
        self,
        text: str,
        epochs: float = 1,
        *,
        steps: int | None = None,
        seconds: float | None = None,
        callback: Callable[[Event], None] | None = None,
    ) -> list[float]:
        """Train on ``text`` for ``epochs`` more passes (or ``steps`` / ``seconds``); returns the step losses.

        Calling it again on the same text continues the same run (the optimizer's state too). A model that was
        loaded, or trained on another text, goes on from its weights with a fresh optimizer; a text with
        characters it has never seen is refused.
        """
        if self._trainer is None or text != self._text:
            self._trainer = self._build(text)
            self._text = text
        trainer = self._trainer
        trainer.config = replace(  # the budget, checked as every TrainConfig is
            trainer.config, epochs=trainer.epoch + epochs if steps is None and seconds is None else None,
            steps=trainer.step + steps if steps is not None else None, seconds=seconds)
        first, first_step = len(trainer.history.losses), trainer.step
        for event in trainer.run():
            if callback is not None:
                callback(event)
            if isinstance(event, FinishedEvent) and event.reason == "diverged":  # not an empty list without a word
                why = divergence(event.step, first_step, trainer.model.cell.name, "learning_rate",
                                 "try a lower learning_rate")
                raise RnnplayError(f"training diverged: {why}")
        return trainer.history.losses[first:]

    def generate(self, seed: str = "", length: int = 200, temp: float = 0.7, rng_seed: int | None = None) -> str:
        """``length`` characters continuing ``seed``, sampled at temperature ``temp``.

        Characters the model has never seen are skipped with a warning naming them.
        """
        if self.model is None:
            raise RnnplayError("train the model first: rnn.train(text)")
        if not isinstance(seed, str):
            raise RnnplayError(f"seed must be a str, not a {type(seed).__name__}")
        for name, value in (("length", length), ("rng_seed", 0 if rng_seed is None else rng_seed)):
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
                raise RnnplayError(f"{name} must be a whole number of 0 or more (got {value!r})")
        unknown = self.model.vocab.unknown(seed)
        if unknown:
            warnings.warn(f"skipping characters the model has never seen: {', '.join(map(describe_char, unknown))}",
                          stacklevel=2)
        stream = generate(self.model, seed, TEMPERATURE, {"temperature": temp}, length, np.random.default_rng(rng_seed))
        return "".join(stream)

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write the model (its weights, no training state) to the checkpoint ``path``; the path written.

        An existing file is replaced only with ``overwrite=True`` (and never one that is not a checkpoint), and a
        checkpoint that another rnnplay process writes (a running ``rnnplay train --out``, a sweep, a ``/save``) is
        refused whatever ``overwrite`` says: an :class:`RnnplayError` naming that process's PID.
        """
        if self.model is None:
            raise RnnplayError("nothing to save yet: train the model first")
        target = check_output_path(checkpoint_name(path, "the checkpoint", "save('", "')"), "the checkpoint",
                                   checkpoint=True)
        if os.path.exists(target) and not overwrite:
            raise RnnplayError(f"{target} exists: save(path, overwrite=True) replaces it, or choose another path")
        with holding(target, "path", "save"):  # never written over a running training's output
            return save_model(target, self.model, replace=overwrite)  # another program's file made meanwhile kept

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> CharRNN:
        model = load_model(saved_as(os.fspath(path)), training_state=False).model  # 'run': what save('run') wrote
        rnn = cls(model.vocab.size, model.hidden_size, cell=model.cell.name, num_layers=model.num_layers)
        rnn.model = model
        return rnn
