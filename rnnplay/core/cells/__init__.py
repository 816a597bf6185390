"""Recurrent cells. Each one is a stateless object; its parameters live in a dict."""

from .base import Cell, State, zero_state
from .lstm import LSTMCell
from .rnn import RNNCell

__all__ = ["Cell", "LSTMCell", "RNNCell", "State", "zero_state"]
