"""Recurrent cells. Each one is a stateless object; its parameters live in a dict."""

from rnnplay.core.cells.base import Cell, State, zero_state
from rnnplay.core.cells.lstm import LSTMCell
from rnnplay.core.cells.rnn import RNNCell

__all__ = ["Cell", "LSTMCell", "RNNCell", "State", "zero_state"]
