"""The shape of every parameter of a model, known without building it: what a checkpoint's arrays must match.

A cell is asked for its parameters on tiny layers only; for every cell whose matrices are
gate blocks of the input and hidden sizes, each dimension is ``a·input + b·hidden + c``,
fitted from three probes and confirmed on a fourth. A cell that is not linear in the sizes
is asked at full size.
"""

from __future__ import annotations

import numpy as np

from rnnplay.core.cells.base import Cell, checked_params
from rnnplay.core.errors import RnnplayError, printable
from rnnplay.core.train_config import ModelSpec

_PROBES = ((2, 3), (5, 3), (2, 7), (11, 13))  # (input size, hidden size): base, +3 input, +4 hidden, a check


def param_shapes(cell: Cell, spec: ModelSpec, vocab_size: int, plugin: str | None = None
                 ) -> dict[str, tuple[int, ...]]:
    """The shape of every parameter of ``spec``'s model over ``vocab_size`` characters, as Model.init_params would
    create them (``plugin``: the cell's distribution, named if the cell fails)."""
    V, H = vocab_size, spec.hidden
    formulas = _linear_shapes(cell)
    shapes = {}
    for i in range(spec.layers):
        if formulas is None:  # a plugin cell whose shapes are not linear in the sizes: ask it at full size
            layer = _created_shapes(cell, V if i == 0 else H, H, plugin)
        else:
            layer = {k: tuple(a * (V if i == 0 else H) + b * H + c for a, b, c in f) for k, f in formulas.items()}
        shapes.update({f"layers.{i}.{k}": shape for k, shape in layer.items()})
    shapes["head.W_hy"], shapes["head.b_y"] = (H, V), (V,)
    return shapes


def _linear_shapes(cell: Cell) -> dict[str, tuple[tuple[int, int, int], ...]] | None:
    """Each dimension of each parameter as ``a·input + b·hidden + c``, learnt from tiny layers (None: not linear).

    Every built-in cell (and any cell whose matrices are gate blocks of the two
    sizes) is linear; the fourth probe confirms the formulas on sizes not used to fit them.
    """
    try:
        base, wider_in, wider_hidden, check = (_created_shapes(cell, i, h) for i, h in _PROBES)
    except RnnplayError:
        return None
    if not base.keys() == wider_in.keys() == wider_hidden.keys() == check.keys():
        return None
    formulas = {}
    for name, dims in base.items():
        if not len(dims) == len(wider_in[name]) == len(wider_hidden[name]) == len(check[name]):
            return None
        per_input = [(w - d) / 3 for w, d in zip(wider_in[name], dims, strict=True)]
        per_hidden = [(w - d) / 4 for w, d in zip(wider_hidden[name], dims, strict=True)]
        if any(not x.is_integer() for x in per_input + per_hidden):
            return None
        formulas[name] = tuple((int(a), int(b), d - 2 * int(a) - 3 * int(b))
                               for a, b, d in zip(per_input, per_hidden, dims, strict=True))
        if tuple(a * 11 + b * 13 + c for a, b, c in formulas[name]) != check[name]:
            return None
    return formulas


def _created_shapes(cell: Cell, input_size: int, hidden: int, plugin: str | None = None
                    ) -> dict[str, tuple[int, ...]]:
    try:
        params = checked_params(cell, cell.init_params(input_size, hidden, np.random.default_rng(0), np.float32))
        return {str(name): tuple(int(n) for n in np.shape(value)) for name, value in params.items()}
    except RnnplayError:
        raise
    except Exception as err:  # a plugin cell's own bug
        authors = f"the authors of {plugin}" if plugin else "its authors"
        raise RnnplayError(f"the cell {cell.name!r} failed to create its parameters "
                           f"({err.__class__.__name__}: {printable(str(err)[:200])}); report it to {authors}") from None
