"""The built-in cells: the vanilla RNN and the LSTM."""

from __future__ import annotations

from rnnplay.core.cells import LSTMCell, RNNCell
from rnnplay.plugins.hookspecs import Register, hookimpl


@hookimpl
def register_cells(register: Register) -> None:
    register(RNNCell())
    register(LSTMCell())
