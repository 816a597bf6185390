"""Regenerate docs/images/bundled-model-loss.png: the bundled model's loss curves, from the history it carries.

    python docs/images/loss_plot.py

The bundled checkpoint keeps the loss of every training step and every validation, so this
draws the same curves that its training run's ``--plot loss.png`` drew, with no retraining.
"""

from __future__ import annotations

from pathlib import Path

from rnnplay.core.trainer import History
from rnnplay.models.bundled import load_model
from rnnplay.ui.plot_file import write_loss_plot

HERE = Path(__file__).resolve().parent


def main() -> None:
    checkpoint = load_model(training_state=False)
    model, meta = checkpoint.model, checkpoint.meta
    h = History.from_dict(meta["trained"]["history"])
    title = f"{model.num_layers}-layer {model.cell.name} of {model.hidden_size} units on {meta['corpus']['name']}"
    print(write_loss_plot(HERE / "bundled-model-loss.png", h.steps, h.losses, h.val_steps, h.val_losses, title=title))


if __name__ == "__main__":
    main()
