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


def save_sharp_model(path: Path, text: str) -> Path:
    """An untrained 2×16 LSTM on ``text``'s characters, its weights tripled so that its scores differ from one
    character to the next, saved at ``path``: what the `sample` and `score` command tests run."""
    from rnnplay.core.cells import LSTMCell
    from rnnplay.core.model import Model
    from rnnplay.core.vocab import Vocab
    from rnnplay.models.bundled import save_model

    m = Model(LSTMCell(), Vocab.from_text(text), 16, 2, seed=1)
    for p in m.params.values():
        p *= 3.0
    return save_model(path, m)
