"""What a slash command may use of the session: the contract every command, built-in or a plugin's, is given.

A command's ``run(session, argline)`` receives an object of type :class:`SessionAPI`
(in the app, an ``rnnplay.session.session.Session``, which sits above this layer and
provides every member below; a test checks it member by member). A command reads the
state it needs, says things with :meth:`~SessionAPI.info` / :meth:`~SessionAPI.warn`,
and hands the work to the session or to one of its three collaborators:

- ``generation`` (:class:`GenerationAPI`): continue a seed, /compare, /score, /copy,
  /transcript save, and cancel what runs;
- ``runner`` (:class:`TrainingAPI`): start and stop the one training job;
- ``inspection`` (:class:`InspectionAPI`): /heat, /whatif, /neurons.

Every method raises :class:`~rnnplay.core.errors.RnnplayError` with one line for a
mistake the user made; the session shows it. Members not listed here are the
session's own business and may change.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from rnnplay.core.train_config import CHECKPOINT_EVERY

if TYPE_CHECKING:
    from rnnplay.core.model import Model
    from rnnplay.core.neurons import NeuronScore, Unit
    from rnnplay.core.score import Score
    from rnnplay.core.train_config import ModelSpec, TrainConfig
    from rnnplay.plugins.host import PluginHost


class GenerationAPI(Protocol):
    """Writing with the model; each continuation becomes a turn."""

    def generate(self, seed: str) -> str:
        """Continue ``seed`` with the current sampler, streaming the text; the text written."""
        ...

    def compare(self, seed: str, names: list[str] | None = None, length: int = 80) -> list[tuple[str, str]]:
        """The same seed through several samplers (default: all): (sampler label, text) rows."""
        ...

    def score(self, text: str, worst: int = 3) -> Score:
        """How surprised the model is by ``text``."""
        ...

    def copy_last(self) -> str:
        """Put the last continuation on the user's clipboard."""
        ...

    def save_transcript(self, path: str, force: bool = False) -> Path:
        """Write every turn as Markdown (.md) or JSON Lines (.jsonl); an existing file only with ``force``."""
        ...

    def cancel(self) -> bool:
        """Stop a running generation within one step; True if one was running."""
        ...


class TrainingAPI(Protocol):
    """The session's one training job, run in the background."""

    def start(self, corpus_spec: str, config: TrainConfig, spec: ModelSpec | None = None, out: str | None = None,
              best: str | None = None, *, workers: int = 1, ray_address: str | None = None,
              encoding: str = "utf-8", checkpoint_every: int = CHECKPOINT_EVERY.default) -> Any:
        """Train on ``corpus_spec``: the loaded model further, or with ``spec`` a new model of that shape;
        ``workers`` > 1 or a ``ray_address``: each step on that many Ray workers; ``encoding``: the text's;
        ``checkpoint_every``: save every that many steps (0: only when it ends)."""
        ...

    def stop(self) -> None:
        """Stop the running job after this step; its checkpoint is saved."""
        ...


class InspectionAPI(Protocol):
    """Looking inside the model: heat, branches, hidden units."""

    unit: Unit  # the unit /neurons shows when none is named

    def heat(self, text: str | None = None, turn: int | None = None) -> Any:
        """Colour the last turn (or turn N, or ``text``) by how likely the model found each character."""
        ...

    def whatif(self, pos: int, char: str, turn: int | None = None) -> str:
        """Continue a turn from its position ``pos`` with ``char`` instead, as a new turn."""
        ...

    def neurons(self, unit: Unit | None = None, text: str | None = None) -> Any:
        """Colour the last turn, or ``text``, by one unit's value after each character."""
        ...

    def find_neurons(self, condition: str, text: str | None = None, top: int = 5) -> list[NeuronScore]:
        """The ``top`` units that best track ``condition``."""
        ...


class SessionAPI(Protocol):
    """The session as a command sees it: its state, its words, its verbs and its three collaborators."""

    keys_help: str  # the front end's keys, shown by /help

    @property
    def host(self) -> PluginHost:
        """The plugins and their registries (cells, samplers, corpus loaders, commands)."""
        ...

    @property
    def model(self) -> Model | None: ...

    @property
    def model_path(self) -> Path | None:
        """The file the model was loaded from or is trained into."""
        ...

    @property
    def spec(self) -> ModelSpec:
        """The shape /train builds a new model of; /new sets it."""
        ...

    @property
    def sampler_name(self) -> str: ...

    @property
    def sampler(self) -> Any:
        """The current sampler (a registered ``Sampler``)."""
        ...

    @property
    def generation(self) -> GenerationAPI: ...

    @property
    def runner(self) -> TrainingAPI: ...

    @property
    def inspection(self) -> InspectionAPI: ...

    def info(self, text: str) -> None: ...

    def warn(self, text: str) -> None: ...

    def error(self, text: str) -> None: ...

    def load(self, name: str | None) -> None:
        """Open a model by name or path (None: the bundled one)."""
        ...

    def save(self, path: str, force: bool = False) -> Path: ...

    def new_model(self, spec: ModelSpec) -> None:
        """Set the shape /train builds; with a vocabulary at hand, start an untrained model of it."""
        ...

    def card(self) -> list[tuple[str, str]]:
        """The model card as (label, value) rows."""
        ...

    def sampler_card(self) -> list[tuple[str, str]]:
        """The sampler, its parameters and the settings as (label, value) rows."""
        ...

    def sampler_label(self) -> str: ...

    def set_sampler(self, name: str, pairs: dict[str, str]) -> None:
        """Switch sampler, or change its parameters (``pairs``: values as typed)."""
        ...

    def setting_names(self) -> list[str]: ...

    def set_value(self, key: str, text: str) -> None:
        """/set KEY VALUE: a sampler parameter, length, seed or stop."""
        ...

    def clear(self) -> None: ...

    def quit(self) -> None: ...
