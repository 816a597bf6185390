"""rnnplay-gru: a gated recurrent unit cell for rnnplay.

Installed, it registers the cell ``gru`` through rnnplay's ``register_cells``
hook (entry point group ``rnnplay`` in pyproject.toml)::

    rnnplay train input.txt --cell gru --layers 2
"""

from __future__ import annotations

from rnnplay.plugins import Register, hookimpl

from .cell import GRUCell

__all__ = ["GRUCell"]
__version__ = "0.1.0"


@hookimpl
def register_cells(register: Register) -> None:
    register(GRUCell())
