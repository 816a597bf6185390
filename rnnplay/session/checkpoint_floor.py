"""What a fine-tuned run's checkpoint takes, known from the model and the number of characters it adds, before the
model reads the text.

``rnnplay train NEW --init-from MODEL`` weighs its checkpoint against the free disk once the run is made
(:meth:`~rnnplay.session.training_runs.TrainingRun.checkpoint_bytes`), after the model has read the text's start to
place its new characters (seconds to minutes on a large model). The file's arrays are known before: the weights at
the run's precision over the vocabulary grown by the ``added`` characters, as many again for each of the optimizer's
slots, once more for the raw weights beside their moving average (``ema`` > 0), and the carried states, one
``batch × hidden`` array a layer and a component of the cell's state::

    bytes = (P(V + added) · (1 + slots + [ema > 0]) + B · H · L · state_size) · s + METADATA_ROOM

    P(V): the model's parameters over V characters    s: bytes a weight (a float16 model trains in float32)

``np.savez`` stores the arrays as they are, so that is the file, less the metadata's room. The text's new characters
are known once it is read: with ``added`` = 0 (what any text takes) a disk is refused before the text is read, and
with the text's count before the model reads it.
"""

from __future__ import annotations

import math

import numpy as np

from rnnplay.core.model import Model
from rnnplay.core.optim import OPTIMIZERS
from rnnplay.core.param_shapes import param_shapes
from rnnplay.core.train_config import ModelSpec, TrainConfig
from rnnplay.plugins.host import get_host
from rnnplay.session.training_runs import METADATA_ROOM


def checkpoint_bytes(model: Model, config: TrainConfig, added: int = 0) -> int:
    """What a checkpoint of a run from ``model``'s weights with ``config`` takes, its vocabulary grown by ``added``
    characters (see the module)."""
    weight = np.dtype(np.float32 if model.dtype == np.float16 else model.dtype).itemsize
    copies = 1 + len(OPTIMIZERS[config.optimizer].slots) + (config.ema > 0)
    spec = ModelSpec(model.cell.name, model.num_layers, model.hidden_size, model.dropout)
    shapes = param_shapes(model.cell, spec, model.vocab.size + added, get_host().cell_plugin(model.cell.name))
    params = sum(math.prod(shape) for shape in shapes.values())
    states = config.batch_size * model.hidden_size * model.num_layers * model.cell.state_size
    return (params * copies + states) * weight + METADATA_ROOM
