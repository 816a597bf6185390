"""Loading and saving models by path, with the plugin registry resolving cells."""

from __future__ import annotations

import codecs
import os
from pathlib import Path

from rnnplay.core.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from rnnplay.core.errors import RnnplayError, printable, shortened
from rnnplay.core.model import Model
from rnnplay.plugins.host import get_host

BUNDLED_MODEL = Path(__file__).parent / "shakespeare.npz"
NO_MODEL = "no model loaded: /load PATH opens a checkpoint, /train FILE trains one on a text file"


def no_model() -> str:
    """What a front end says when there is no model, naming the bundled one's absence when it is missing."""
    return NO_MODEL if BUNDLED_MODEL.exists() else f"{NO_MODEL} (the bundled Shakespeare model is not installed)"


def load_model(path: str | os.PathLike[str] | None = None, *, training_state: bool = True,
               with_sha256: bool = False) -> Checkpoint:
    """Load a checkpoint (the bundled Shakespeare model when ``path`` is None).

    ``training_state=False`` leaves the optimizer and carried state unread (checked all the
    same): for commands that only use the model. ``with_sha256`` hashes the bytes loaded.
    """
    if path is not None:
        refuse_a_text(Path(path))
    return load_checkpoint(BUNDLED_MODEL if path is None else path, get_host().resolve_cell,
                           training_state=training_state, with_sha256=with_sha256)


def refuse_a_text(path: Path) -> None:
    """A text file given where a model goes (`rnnplay sample notes.txt`, /load notes.txt) is said to be one: the
    loader called it a corrupt checkpoint to replace with another copy. A name ending in .npz, a file that cannot be
    read or that begins as a zip archive is left to the loader's own line."""
    if path.suffix == ".npz" or not os.path.isfile(path):  # a FIFO or a device is never opened here
        return
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
        codecs.getincrementaldecoder("utf-8")().decode(head)  # a character the 4,096 bytes cut is no fault
    except (OSError, UnicodeDecodeError):
        return
    if head and b"\0" not in head and not head.startswith(b"PK"):
        name = printable(shortened(str(path)))
        raise RnnplayError(f"{name} is not a usable rnnplay checkpoint: it is a text file, not a model (a .npz that "
                           f"training saved); `rnnplay train {name}`, or /train {name} in the app, trains one on it")


def save_model(path: str | os.PathLike[str], model: Model, **kwargs) -> Path:
    """Save ``model``, recording which plugin provides its cell (and its installed distribution's version)."""
    host = get_host()
    return save_checkpoint(path, model, cell_plugin=host.cell_plugin(model.cell.name),
                           cell_provider=host.cell_provider(model.cell.name), **kwargs)
