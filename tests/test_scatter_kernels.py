"""The first layer's W_xh gradient, a scatter-add of dz into its characters' rows: compiled and numpy alike."""

from __future__ import annotations

import numpy as np
import pytest

from rnnplay.core import jit, ops
from rnnplay.core.ops import SCATTER_KERNELS


def reference(n_rows: int, ids: np.ndarray, values: np.ndarray) -> np.ndarray:
    """out[ids[k]] += values[k], one row at a time, in float64."""
    out = np.zeros((n_rows, values.shape[1]))
    for k, row in enumerate(ids):
        out[row] += values[k]
    return out


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "numpy"])
@pytest.mark.parametrize("id_dtype", [np.uint8, np.uint16, np.int64])
def test_each_row_gets_the_sum_of_its_ids_values(
    compiled: bool, id_dtype: type, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RNNPLAY_JIT", "1" if compiled else "0")
    rng = np.random.default_rng(7)
    ids = rng.integers(0, 40, 500).astype(id_dtype)  # rows 40 … 64 get no id: they stay zero
    values = rng.standard_normal((500, 96), dtype=np.float32)
    got = ops.scatter_add_rows(65, ids, values)
    assert got.dtype == np.float32 and got.shape == (65, 96)
    np.testing.assert_allclose(got, reference(65, ids, values), rtol=1e-5, atol=1e-5)
    assert not got[40:].any()


def test_the_compiled_pass_gives_the_numpy_sums(monkeypatch: pytest.MonkeyPatch) -> None:
    assert jit.load(SCATTER_KERNELS) is not None, "numba is installed with rnnplay, but the scatter kernel did not load"
    rng = np.random.default_rng(8)
    ids = rng.integers(0, 65, 800).astype(np.uint8)
    values = rng.standard_normal((800, 1024), dtype=np.float32)
    compiled = ops.scatter_add_rows(65, ids, values)
    monkeypatch.setenv("RNNPLAY_JIT", "0")
    np.testing.assert_array_equal(compiled, ops.scatter_add_rows(65, ids, values))  # the same additions, in order


def test_an_id_outside_the_vocabulary_raises_in_the_compiled_pass_instead_of_writing_elsewhere() -> None:
    values = np.ones((3, 16), dtype=np.float32)
    for ids in (np.array([0, 5, 1]), np.array([0, -1, 1])):
        with pytest.raises(IndexError):
            ops.scatter_add_rows(5, ids, values)
