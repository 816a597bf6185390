"""Loss curves as .png, .svg or .pdf files, drawn by matplotlib (the optional ``rnnplay[plot]`` extra).

matplotlib is imported inside the functions, never at import time, so ``import rnnplay``
does not load it and rnnplay runs without it; only writing a plot needs it. The figure is
built on its own canvas (``matplotlib.figure.Figure`` with the Agg canvas), not through
``pyplot``, so no global figure or window backend is involved.

The picture: the training loss per step (raw, faint; smoothed, solid) and the validation
loss (line with dots), in nats per character against the step, with a legend. Smoothing is
a centred moving average over ``max(1, n/50)`` steps (shrinking at the ends), so it does not
lag behind the raw curve as an exponential average would.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rnnplay.core.atomic_write import write_atomically
from rnnplay.core.errors import RnnplayError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

WIDTH, HEIGHT = 800, 480  # pixels of a .png
DPI = 100
FORMATS = (".png", ".svg", ".pdf")
HEADS = {".png": (b"\x89PNG\r\n\x1a\n",), ".svg": (b"<?xml", b"<svg"), ".pdf": (b"%PDF-",)}  # how each begins
NEEDS_MATPLOTLIB = "--plot needs matplotlib, which is not installed: pip install 'rnnplay[plot]'"

TRAIN_RAW = "#bed0e8"
TRAIN = "#1f77b4"
VAL = "#d62728"


def smooth(values: np.ndarray) -> np.ndarray:
    """Centred moving average over w = max(1, n/50) points (odd), the window shrinking at both ends.

    With c = cumsum([0, v…]), the mean of v[a:b] is (c[b] - c[a]) / (b - a): one pass, no loop.
    """
    n = len(values)
    half = max(1, n // 50) // 2
    c = np.concatenate([[0.0], np.cumsum(values, dtype=np.float64)])
    idx = np.arange(n)
    a, b = np.maximum(idx - half, 0), np.minimum(idx + half + 1, n)
    return (c[b] - c[a]) / (b - a)


def require_matplotlib() -> None:
    """A one-line error saying how to install matplotlib when it cannot be imported. Its own warnings about a
    config or cache folder it cannot write (a read-only home, a full disk) stay out of the terminal: it works on."""
    logging.getLogger("matplotlib").setLevel(logging.ERROR)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise RnnplayError(NEEDS_MATPLOTLIB) from None


def plot_format(path: str | os.PathLike[str]) -> str:
    """".png", ".svg" or ".pdf" from the file name, once matplotlib is known to be there.

    Anything else, or matplotlib missing, is a one-line error: call it before training.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise RnnplayError(f"cannot write a plot to {Path(path).name}: name a .png or .svg file, or a .pdf")
    require_matplotlib()
    return suffix


def check_replaceable(path: Path) -> None:
    """A file already at ``path`` may be replaced only if it is empty or a plot of its format (never a corpus, a
    checkpoint or a picture of another kind that happens to have the name)."""
    suffix = plot_format(path)
    try:
        with path.open("rb") as f:
            head = f.read(16)
    except OSError:  # nothing there (or unreadable: writing it fails in one line later)
        return
    if head and not head.startswith(HEADS[suffix]):
        raise RnnplayError(f"--plot path {path} is a file that is not a {suffix} plot; rnnplay will not overwrite "
                           "it: choose another name")


def finite_pairs(steps: Sequence[int], losses: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """(steps, losses) as arrays, without the points whose loss is NaN or infinite."""
    s, ls = np.asarray(steps, dtype=np.float64), np.asarray(losses, dtype=np.float64)
    if len(s) != len(ls):
        raise RnnplayError("steps and losses must have the same length")
    ok = np.isfinite(ls)
    return s[ok], ls[ok]


def write_loss_plot(
    path: str | os.PathLike[str],
    steps: Sequence[int],
    losses: Sequence[float],
    val_steps: Sequence[int] = (),
    val_losses: Sequence[float] = (),
    title: str = "Training loss",
) -> Path:
    """Write the loss curves to ``path``; its extension (.png, .svg or .pdf) picks the format."""
    path = Path(path)
    suffix = plot_format(path)
    train, val = finite_pairs(steps, losses), finite_pairs(val_steps, val_losses)
    if not len(train[0]) and not len(val[0]):
        raise RnnplayError("there is no loss to plot yet: train for at least one step")
    figure = loss_figure(train, val, title)
    write_atomically(path, lambda f: figure.savefig(f, format=suffix[1:]), fix="pick another place")
    return path


def loss_figure(train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray], title: str) -> Figure:
    """The figure: training loss raw and smoothed, validation loss with dots, axes labelled, a legend."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH / DPI, HEIGHT / DPI), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    steps, losses = train
    if len(steps):
        ax.plot(steps, losses, color=TRAIN_RAW, linewidth=1, label="training (each step)")
        ax.plot(steps, smooth(losses), color=TRAIN, linewidth=2, label="training (smoothed)")
    if len(val[0]):
        ax.plot(*val, color=VAL, linewidth=2, marker="o", markersize=5, label="validation")
    ax.set(title=title, xlabel="step", ylabel="loss (nats/char)")
    ax.set_xlim(left=0)
    ax.grid(color="#e4e4e4")
    ax.legend(loc="upper right")
    return figure
