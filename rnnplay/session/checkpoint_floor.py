"""The least a fine-tuned run's checkpoint takes, known from the model alone, before its text is read.

``rnnplay train NEW --init-from MODEL`` weighs its checkpoint against the free disk once the run is made
(:meth:`~rnnplay.session.training_runs.TrainingRun.checkpoint_bytes`): the vocabulary, and so the checkpoint's size,
is known only once the text is read, and a new character placed only once the model has read the text's start. A
disk too small for it was found after both. The vocabulary only grows, so a checkpoint of the run is at least the
model's weights at the run's precision, as many again for each of the optimizer's slots, and once more for the raw
weights beside their moving average (``ema`` > 0)::

    least = P · s · (1 + slots + [ema > 0]) + METADATA_ROOM     P: the model's parameters, s: bytes a weight (a
                                                                float16 model trains in float32)

(the carried states and the new characters' rows come on top); a disk that cannot hold that is refused before
anything is read, and the run's own size is checked again once it is made.
"""

from __future__ import annotations

import numpy as np

from rnnplay.core.model import Model
from rnnplay.core.optim import OPTIMIZERS
from rnnplay.core.train_config import TrainConfig
from rnnplay.session.training_runs import METADATA_ROOM


def least_checkpoint_bytes(model: Model, config: TrainConfig) -> int:
    """The least a checkpoint of a run from ``model``'s weights with ``config`` takes (see the module)."""
    weight = np.dtype(np.float32 if model.dtype == np.float16 else model.dtype).itemsize
    copies = 1 + len(OPTIMIZERS[config.optimizer].slots) + (config.ema > 0)
    return model.num_params() * weight * copies + METADATA_ROOM
