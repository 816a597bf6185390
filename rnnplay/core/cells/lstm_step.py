"""One LSTM layer's generation step, its weights prepared once for a whole stream of steps.

At B = 1 a step is a matrix-vector product and a few elementwise calls on short
vectors, so the number of calls is much of its cost; the preparation keeps them
few. The weights and the bias are scaled by s once (:func:`.lstm_gates.scale`),
and the step hands s⊙z to the gate maths in two parts, s⊙z = a + rest:

* the layer that reads character ids: a = h@(s⊙W_hh), rest = row ``id`` of the
  table s⊙(W_xh + b) (the input's product is a row lookup, the bias rides along);
* a layer above it: a = [x, h]@[s⊙W_xh; s⊙W_hh], its two products as one call,
  big enough for a second BLAS thread to help; rest = s⊙b, a row per stream.

The product's weights are stored column-major (``W.T`` contiguous): BLAS then
computes a one-stream product as dot products of contiguous rows with the input.
Which gate maths (numpy or compiled) and which product (BLAS, or
:func:`.lstm_kernels.product_one` on the calling thread while training runs in the
same process) are chosen once, when the step is made. The weights are copied
then, so training that goes on meanwhile shows in the next prepared step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from rnnplay.core.cells.base import Params, State
from rnnplay.core.cells.lstm_gates import GateMaths, scale

Product = Callable[[np.ndarray, np.ndarray, np.ndarray], Any]  # (v, W, out): out = v@W_in, W as the product wants it
Buffers = tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray, Product, np.ndarray]


class LayerStep:
    """``step(x, state) -> (h, (h, c))`` for one layer: x is (B,) ids or (B, I) vectors."""

    def __init__(
        self, params: Params, input_ids: bool, gates: GateMaths, one_core_product: Product | None = None
    ) -> None:
        """``one_core_product``: :func:`.lstm_kernels.product_one` (v, W_inᵀ, out), one stream's product off BLAS."""
        W = params["W_hh"]
        H, dtype = W.shape[0], W.dtype
        s, _ = scale(H, dtype)
        if input_ids:
            self.table, W_in = (params["W_xh"] + params["b_h"]) * s, W * s
        else:
            self.table, W_in = (params["b_h"] * s)[None, :], np.concatenate([params["W_xh"], W]) * s
        self.input_ids, self.gates, self.H = input_ids, gates, H
        self.I = 0 if input_ids else params["W_xh"].shape[0]  # the width of x above the ids layer
        self.W_in = np.asfortranarray(W_in)
        self.one_core_product = one_core_product
        self.buffers: dict[int, Buffers] = {}  # B -> scratch arrays and the product for B streams

    def __call__(self, x: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        h, c = state
        B = h.shape[0]
        if B not in self.buffers:
            self._make_buffers(B)
        a, rest, xh, tanh_c, product, W = self.buffers[B]
        if xh is None:  # ids: a = h@W_in, rest = table[x]
            product(h, W, a)
            self.table.take(x, axis=0, out=rest, mode="clip")  # ids come from the vocabulary
        else:  # vectors: a = [x, h]@W_in, rest = the bias rows
            xh[:, : self.I] = x
            xh[:, self.I :] = h
            product(xh, W, a)
        h_new, c_new = np.empty_like(h), np.empty_like(c)
        self.gates.forward_step(a, rest, None, c, c_new, tanh_c, h_new)
        return h_new, (h_new, c_new)

    def _make_buffers(self, B: int) -> None:
        """Scratch arrays for B streams (the table's bias row repeated B times above the ids layer), the product."""
        H, dtype = self.H, self.W_in.dtype
        a = np.empty((B, 4 * H), dtype)
        if self.input_ids:
            rest, xh = np.empty((B, 4 * H), dtype), None
        else:
            rest, xh = np.repeat(self.table, B, axis=0), np.empty((B, self.W_in.shape[0]), dtype)
        if B == 1 and self.one_core_product is not None:
            product, W = self.one_core_product, self.W_in.T  # W_inᵀ in C order
        else:
            product, W = np.matmul, self.W_in
        self.buffers[B] = (a, rest, xh, np.empty((B, H), dtype), product, W)
