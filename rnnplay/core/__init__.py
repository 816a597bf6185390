"""The numerics, in NumPy: vocabulary, batching, cells, model, loss, optimizers, trainer,
generation, scoring, neurons and checkpoints.

May import: nothing of rnnplay outside ``rnnplay.core`` (not even ``rnnplay.folders``: core reads
and writes the paths it is given). Only ``jit`` and the kernel modules ``cells.lstm_kernels`` and
``cells.layernorm_kernels`` import numba; nothing here imports pluggy, a terminal or UI library, or torch."""
