"""One layer-normalised LSTM layer's generation step, its constants folded in once for a stream of steps.

At B = 1 a step is a matrix-vector product and a few elementwise calls on short
vectors, so the number of calls is much of its cost. What does not change from
step to step is computed when the step is made:

* the layer that reads character ids: x@W_xh is row ``id`` of W_xh, so the whole
  input side LN(x@W_xh; γ_x) + b_h is row ``id`` of the table LN(W_xh; γ_x) + b_h,
  each character's row normalised once (:func:`input_side` of every id);
* a layer above it reads a state, so its input side is computed each step.

The step itself is the cell's forward at one position: r = h@W_hh, then the gate
maths (:func:`.layernorm_gates.forward_step`, or its compiled twin) writes the
gates, c_t and h_t. The products' weights are stored column-major, as
:mod:`.lstm_step` explains; while training runs in the same process, one stream's
products run on the calling thread (:func:`.lstm_kernels.product_one`), off BLAS's
threads. The weights are copied, so training that goes on meanwhile shows in the
next prepared step.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np

from rnnplay.core.cells.base import Params, State
from rnnplay.core.cells.lstm_step import Product
from rnnplay.core.ops import project_inputs


def input_side(params: Params, x: np.ndarray, gates: ModuleType) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(LN(x@W_xh; γ_x) + b_h, LN(x@W_xh), its 1/σ) for every position of ``x`` at once, by ``gates.input_forward``."""
    z_in = project_inputs(x, params["W_xh"])
    x_hat, x_inv = np.empty_like(z_in), np.empty((*z_in.shape[:-1], 1), z_in.dtype)
    G = z_in.shape[-1]
    gates.input_forward(z_in.reshape(-1, G), params["g_x"], params["b_h"], x_hat.reshape(-1, G), x_inv.reshape(-1, 1))
    return z_in, x_hat, x_inv


class LayerStep:
    """``step(x, state) -> (h, (h, c))`` for one layer: x is (B,) ids or (B, I) vectors."""

    def __init__(
        self, params: Params, input_ids: bool, gates: ModuleType, one_core_product: Product | None = None
    ) -> None:
        """``one_core_product``: :func:`.lstm_kernels.product_one` (v, Wᵀ, out), one stream's product off BLAS."""
        W_xh = params["W_xh"]
        self.table = input_side(params, np.arange(W_xh.shape[0]), gates)[0] if input_ids else None
        self.W_xh = None if input_ids else np.asfortranarray(W_xh)  # Fortran order: .T is Wᵀ in C order
        self.W_hh = np.asfortranarray(params["W_hh"])
        self.g_x, self.b_h, self.g_h, self.g_c, self.b_c = (
            params[k].copy() for k in ("g_x", "b_h", "g_h", "g_c", "b_c"))
        self.gates, self.one_core_product = gates, one_core_product
        self.buffers: dict[int, tuple[np.ndarray, ...]] = {}  # B -> scratch arrays for B streams

    def product(self, v: np.ndarray, W: np.ndarray, out: np.ndarray) -> None:
        """out = v@W: for one stream on the calling thread when asked, else through BLAS."""
        if v.shape[0] == 1 and self.one_core_product is not None:
            self.one_core_product(v, W.T, out)
        else:
            np.matmul(v, W, out=out)

    def __call__(self, x: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        h, c = state
        B = h.shape[0]
        if B not in self.buffers:
            H, dtype = self.W_hh.shape[0], self.W_hh.dtype
            widths = (4 * H,) * 5 + (H,) * 2 + (1,) * 3  # z_in, x_hat, rec, acts, rec_hat; c_hat, tanh_u; 1/σ
            self.buffers[B] = tuple(np.empty((B, n), dtype) for n in widths)
        z_in, x_hat, rec, acts, rec_hat, c_hat, tanh_u, x_inv, rec_inv, c_inv = self.buffers[B]
        if self.table is not None:
            self.table.take(x, axis=0, out=z_in, mode="clip")  # ids come from the vocabulary
        else:
            self.product(x, self.W_xh, z_in)
            self.gates.input_forward(z_in, self.g_x, self.b_h, x_hat, x_inv)
        self.product(h, self.W_hh, rec)
        h_new, c_new = np.empty_like(h), np.empty_like(c)
        self.gates.forward_step(z_in, rec, self.g_h, c, self.g_c, self.b_c, acts, rec_hat, rec_inv, c_new, c_hat,
                                c_inv, tanh_u, h_new)  # fmt: skip
        return h_new, (h_new, c_new)
