"""Hard limits on model sizes, the same for the trainer and the checkpoint loader.

A model the trainer may build is exactly a model a checkpoint may describe: both
sides call :func:`check_model_size` before anything is allocated, so a run that
saves can always load, and a hostile file's claims are refused before they cost
memory. Parameters of an L-layer LSTM of H units over V characters::

    layer 0: 4H·(V + H) + 4H        layer l > 0: 4H·(2H) + 4H        head: V·H + V

The limits below are generous for a CPU playground and small enough that no
legal file can ask for more than a few GB.
"""

from __future__ import annotations

from rnnplay.core.errors import RnnplayError

MAX_HIDDEN = 8192  # units per layer
MAX_LAYERS = 64  # stacked layers
MAX_VOCAB = 1 << 16  # distinct characters
MAX_PARAMS = 500_000_000  # parameters in all (2 GB of float32)
MAX_STATE = MAX_PARAMS  # carried state in all: streams × units × layers × arrays per layer (h, and c for an LSTM)
GATES_AT_MOST = 4  # an LSTM has four gate blocks; plugin cells declaring more are sized by their arrays


def params_upper_bound(hidden: int, layers: int, vocab: int) -> int:
    """An upper bound of the parameters of any built-in cell of these sizes (an LSTM's count)."""
    g = GATES_AT_MOST
    first = g * hidden * (vocab + hidden) + g * hidden
    rest = (layers - 1) * (g * hidden * 2 * hidden + g * hidden)
    return first + rest + vocab * hidden + vocab


def check_model_size(hidden: object, layers: object, vocab: object, where: str = "the model", *,
                     advice: str | None = None) -> tuple[int, int, int]:
    """``(hidden, layers, vocab)`` as ints, or a one-line error naming the limit that was passed.

    ``advice`` replaces the closing hint (which speaks of choosing values) where the
    sizes were not chosen by the user, as in a checkpoint's metadata. ``vocab=None``
    checks the layers alone, before the corpus (and so the vocabulary) is known.
    """
    values = []
    for label, value, top in (("hidden size", hidden, MAX_HIDDEN), ("layers", layers, MAX_LAYERS),
                              ("vocabulary", 1 if vocab is None else vocab, MAX_VOCAB)):
        if isinstance(value, bool) or not isinstance(value, int):
            shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:40] + "…"
            raise RnnplayError(f"{where}: {label} must be a whole number (got {shown})"
                               + (f"; {advice}" if advice else ""))
        if not 1 <= value <= top:
            raise RnnplayError(f"{where}: {label} {value:,} is outside 1..{top:,}; "
                               f"{advice or 'choose a value in that range'}")
        values.append(value)
    h, n, v = values
    if params_upper_bound(h, n, v) > MAX_PARAMS:
        over = "" if vocab is None else f" over {v:,} characters"
        raise RnnplayError(f"{where}: {n} layers of {h:,} units{over} would need more than "
                           f"{MAX_PARAMS:,} parameters; {advice or 'choose a smaller hidden size or fewer layers'}")
    return h, n, v


def check_state_size(batch: int, hidden: int, layers: int, state_size: int, where: str = "the run", *,
                     advice: str | None = None) -> None:
    """A one-line error when the hidden state carried between batches would hold more than MAX_STATE values."""
    values = batch * hidden * layers * state_size
    if values > MAX_STATE:
        raise RnnplayError(f"{where}: {batch:,} streams through {layers} layer{'s' * (layers != 1)} of {hidden:,} "
                           f"units carry {values:,} state values (at most {MAX_STATE:,}); "
                           f"{advice or 'choose a smaller batch size'}")
