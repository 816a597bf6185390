"""A tiny trained model for the session, TUI and REPL tests (a second to build, kB on disk)."""

from __future__ import annotations

from pathlib import Path

from rnnplay.core.train_config import ModelSpec, TrainConfig
from rnnplay.corpora import Corpus
from rnnplay.session.training_runs import new_run

TEXT = "".join(
    line[i:] + line[:i]
    for line in ["To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer.\n"]
    for i in range(0, 80, 3)
) * 4


def build_tiny_model(folder: Path) -> Path:
    """A 1-layer LSTM of 32 units trained for 30 steps on TEXT, saved as folder/tiny.npz."""
    config = TrainConfig(batch_size=8, seq_length=32, steps=30, val_every=0, seed=1)
    run = new_run(Corpus("tiny.txt", TEXT, "tests"), ModelSpec("lstm", 1, 32), config)
    for _ in run.trainer.run():
        pass
    return run.save(folder / "tiny.npz")


def write_corpus(folder: Path) -> Path:
    path = folder / "small.txt"
    path.write_text(TEXT)
    return path
