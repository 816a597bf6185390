"""The plugin hooks. A plugin implements any subset of them.

Each hook receives one argument, ``register``: call it once per object you
provide. rnnplay's own cells, samplers, corpus loaders and slash commands are
registered through these very hooks (see ``rnnplay/builtin/``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

PROJECT = "rnnplay"  # pluggy project name and entry-point group
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)
Register = Callable[[Any], None]  # the argument every hook receives


@hookspec
def register_cells(register: Register) -> None:
    """Register recurrent cells: ``register(cell)`` for each object meeting :class:`rnnplay.core.cells.Cell`."""


@hookspec
def register_samplers(register: Register) -> None:
    """Register samplers: ``register(sampler)`` for each object meeting the Sampler contract."""


@hookspec
def register_corpus_loaders(register: Register) -> None:
    """Register corpus loaders: ``register(loader)`` for each object meeting the CorpusLoader contract."""


@hookspec
def register_commands(register: Register) -> None:
    """Register slash commands: ``register(command)`` for each object meeting the Command contract."""
