"""The plugin hooks. A plugin implements any subset of them.

Each hook receives one argument, ``register``: call it once per object you
provide. rnnplay's own cells, samplers, corpus loaders and slash commands are
registered through these very hooks (see ``rnnplay/builtin/``). A package
becomes a plugin by naming its module in the ``rnnplay`` entry-point group.

docs/plugins.md has a section per hook (a test fails when one is missing) and
describes each contract: Cell, Sampler, CorpusLoader, Command. The hooks are read from
this module in the order written here; hook ``register_X`` fills the registry ``X``, and
its contract is a Protocol (:mod:`rnnplay.plugins.contracts`).
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
    """Register recurrent cells: ``register(cell)`` for each object meeting :class:`rnnplay.core.cells.Cell`.

    The cell's ``name`` is what ``rnnplay train --cell`` takes and what checkpoints record.
    """


@hookspec
def register_samplers(register: Register) -> None:
    """Register samplers: ``register(sampler)`` for each object meeting :class:`rnnplay.core.sampler.Sampler`."""


@hookspec
def register_corpus_loaders(register: Register) -> None:
    """Register corpus loaders: ``register(loader)`` for each :class:`rnnplay.plugins.contracts.CorpusLoader`.

    A loader named ``epub`` handles every corpus spec written ``epub:...``.
    """


@hookspec
def register_commands(register: Register) -> None:
    """Register slash commands: ``register(command)`` for each :class:`rnnplay.plugins.slash.Command`."""
