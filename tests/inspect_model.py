"""A tiny model that knows parentheses and quotes, trained on a real file, for the /heat, /neurons, /whatif tests."""

from __future__ import annotations

from pathlib import Path

from rnnplay.core.train_config import ModelSpec, TrainConfig
from rnnplay.corpora import load_corpus
from rnnplay.session.training_runs import new_run

LINES = [
    "To be (or not) to be, that is the question:\n",
    'He said "stop (now)" and left the room.\n',
    "Whether 'tis nobler (in the mind) to suffer\n",
    "The slings and arrows [of outrageous] fortune,\n",
]
TEXT = "".join(LINES[i % 4][j:] + LINES[i % 4][:j] for i in range(12) for j in range(0, 40, 7)) * 3


def build_inspect_model(folder: Path) -> Path:
    """A 1-layer LSTM of 32 units, 40 steps on TEXT read from folder/parens.txt (so its corpus is at hand)."""
    corpus = folder / "parens.txt"
    corpus.write_text(TEXT)
    config = TrainConfig(batch_size=8, seq_length=32, steps=40, val_every=0, seed=1)
    run = new_run(load_corpus(str(corpus)), ModelSpec("lstm", 1, 32), config)
    for _ in run.trainer.run():
        pass
    return run.save(folder / "parens.npz")
