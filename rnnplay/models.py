"""Loading and saving models by path, with the plugin registry resolving cells."""

from __future__ import annotations

import os
from pathlib import Path

from .core.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from .core.model import Model
from .plugins import get_host

BUNDLED_MODEL = Path(__file__).parent / "models" / "shakespeare.npz"


def load_model(path: str | os.PathLike[str] | None = None) -> Checkpoint:
    """Load a checkpoint (the bundled Shakespeare model when ``path`` is None)."""
    return load_checkpoint(BUNDLED_MODEL if path is None else path, get_host().resolve_cell)


def save_model(path: str | os.PathLike[str], model: Model, **kwargs) -> Path:
    """Save ``model``, recording which plugin distribution provides its cell."""
    return save_checkpoint(path, model, cell_plugin=get_host().cell_plugin(model.cell.name), **kwargs)
