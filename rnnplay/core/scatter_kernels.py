"""The gradient of a gather, compiled: ``out[ids[k]] += values[k]`` row by row (loaded only by :mod:`rnnplay.core.jit`).

The first layer's input projection is a row gather, ``x_t·W_xh = W_xh[id_t]``
(:mod:`rnnplay.core.ops`), so its gradient adds each time step's dz into the row of
its character. numpy has no single call for that (``np.add.at`` runs element by
element); :func:`rnnplay.core.ops.scatter_add_rows` sorts the ids and sums each run
of equal ones. Here it is one pass over the rows, in order::

    for k in 0 … R-1:   out[ids[k], :] += values[k, :]

Each row of ``out`` is summed over its ids in the rows' order, as the numpy version's
``sum(axis=0)`` over a sorted run sums them, so both give the same sums.
"""

from __future__ import annotations

import numba
import numpy as np

SETTINGS = {"cache": True, "nogil": True, "error_model": "numpy"}


@numba.njit(**SETTINGS)
def scatter_add_rows(n_rows: int, ids: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``out[ids[k]] += values[k]`` for every k, as an (n_rows, G) array; IndexError for an id outside 0…n_rows-1."""
    out = np.zeros((n_rows, values.shape[1]), dtype=values.dtype)
    for k in range(ids.shape[0]):
        row = ids[k]
        if row < 0 or row >= n_rows:
            raise IndexError("a character id is outside the vocabulary")
        target, source = out[row], values[k]
        for j in range(values.shape[1]):
            target[j] += source[j]
    return out


def warm_up() -> None:
    """Compile (or load from numba's disk cache) for the one signature callers pass: ids as np.intp, values float32
    in C order."""
    got = scatter_add_rows(3, np.array([0, 2, 0], dtype=np.intp), np.ones((3, 4), dtype=np.float32))
    if not np.array_equal(got, [[2] * 4, [0] * 4, [1] * 4]):
        raise RuntimeError("the compiled scatter-add disagrees with its definition")
