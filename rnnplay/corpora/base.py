"""The two things every corpus loader shares: the Corpus it returns and the progress callback it may call.

The loader contract itself is :class:`rnnplay.plugins.contracts.CorpusLoader`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

from rnnplay.corpora.text import text_sha256


@dataclass
class Corpus:
    """Training text plus where it came from. ``text`` is not meant to change once loaded."""

    name: str
    text: str
    source: str
    licence: str = "unknown"
    description: str = ""
    settings: dict[str, Any] = field(default_factory=dict)  # suggested `rnnplay train` options (from a card)

    @cached_property
    def sha256(self) -> str:
        """sha256 of the text in UTF-8: what checkpoints record to recognise their corpus on resume."""
        return text_sha256(self.text)


class Progress(Protocol):
    """Told how far a slow load has got: ``progress("downloading x", 512_000, 1_115_394)``.

    ``total`` is None when unknown; ``unit`` is "B" for bytes or a plural noun ("files").
    """

    def __call__(self, label: str, done: int, total: int | None, unit: str = "B") -> None: ...


def no_progress(label: str, done: int, total: int | None, unit: str = "B") -> None:
    """The progress callback for callers that show none."""

