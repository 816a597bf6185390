"""The reading that places new characters in a model continued on a text that has them, shown as work.

``/train`` of the loaded model on a text with characters it has never seen grows its vocabulary
(:func:`rnnplay.core.finetune.grow_vocab`), and placing the new characters' biases reads the first
``LIFT_CHARS`` characters of the text through the model, one character at a time. On a large model (the bundled
2×512) and a busy machine that is seconds to minutes, and the first time on a machine it also compiles the cell's
kernels; the screen said nothing until the run's first line. :func:`growth_work` shows it as work, its share read,
and Esc (a new cancel, as a corpus's loading takes) stops it before anything is trained.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from rnnplay.core.data import split_point
from rnnplay.core.errors import printable
from rnnplay.core.finetune import LIFT_CHARS
from rnnplay.core.model import Model
from rnnplay.core.work import Cancelled
from rnnplay.corpora import Corpus

if TYPE_CHECKING:
    from rnnplay.session.session import Session

# What shows the reading that places a model's new characters, given the model's file and the model: a context
# whose value is the reading's ``progress(fraction)`` (None: not shown). `rnnplay train --init-from` draws a line
# and a bar (rnnplay.ui.cli.progress.placing_bar); the app's /train its work (:func:`growth_work`).
Growth = Callable[[Path, Model], contextlib.AbstractContextManager[Callable[[float], None] | None]]


def placing_read(corpus: Corpus, val_fraction: float) -> int:
    """The characters the placing reads: the first LIFT_CHARS of the text's training split (its first 1 -
    ``val_fraction``), not of the whole text."""
    return min(LIFT_CHARS, split_point(corpus.chars, val_fraction))


def placing_text(model_name: str, added: int, corpus: Corpus, val_fraction: float) -> str:
    """'adding 1 new character to shakespeare.npz: reading 4,096 characters of zen.txt'."""
    plural = "s" if added != 1 else ""
    read = placing_read(corpus, val_fraction)
    return (f"adding {added:,} new character{plural} to {printable(model_name)}: reading {read:,} characters "
            f"of {printable(corpus.name)}")


@contextlib.contextmanager
def growth_work(session: Session, model: Model, corpus: Corpus,
                val_fraction: float) -> Iterator[Callable[[float], None] | None]:
    """A ``progress(fraction)`` for the growth's reading (of the training split, ``val_fraction`` left out), shown as
    work while the block runs; None (and nothing shown) when ``corpus`` has no character ``model`` lacks. Cancelling
    raises :class:`Cancelled` at the next fraction."""
    added = len(corpus.unknown(model.vocab))
    if not added:
        yield None
        return
    cancel = session.generation.new_cancel()
    what = placing_text(session.model_name, added, corpus, val_fraction)
    with session.working(what) as report:

        def progress(fraction: float) -> None:
            if cancel.is_set():
                raise Cancelled(f"stopped {what}; nothing was trained")
            report(fraction)

        yield progress
