"""The built-in cells: the vanilla RNN, the LSTM and the layer-normalised LSTM."""

from __future__ import annotations

from rnnplay.core.cells import LayerNormLSTMCell, LSTMCell, RNNCell
from rnnplay.plugins.hookspecs import Register, hookimpl


@hookimpl
def register_cells(register: Register) -> None:
    register(RNNCell())
    register(LSTMCell())
    register(LayerNormLSTMCell())
