"""Recurrent cells: the :class:`Cell` contract (``base``), the vanilla RNN, the LSTM and the layer-normalised LSTM.

Each cell is a stateless object; its parameters live in a dict. Plugins add cells that meet the
same contract (``rnnplay.plugins.contracts`` reads it from :class:`Cell` itself).

May import: the rest of ``rnnplay.core`` (ops, jit, threads); numba only in ``lstm_kernels`` and ``layernorm_kernels``.
"""

from rnnplay.core.cells.base import Cell, State, zero_state
from rnnplay.core.cells.layernorm_lstm import LayerNormLSTMCell
from rnnplay.core.cells.lstm import LSTMCell
from rnnplay.core.cells.rnn import RNNCell

__all__ = ["Cell", "LSTMCell", "LayerNormLSTMCell", "RNNCell", "State", "zero_state"]
