"""An LSTM layer's loops over time, compiled whole: one call forward and one backward per sequence and layer.

:mod:`.lstm` runs the loops in Python, two calls a time step each way: the product
with W_hh (:mod:`rnnplay.core.products`) and the gate maths (:mod:`.lstm_kernels`).
Where both are compiled, this module makes the same loops one numba function each,
calling the same two compiled functions in the same order, so the result is the
same, bit for bit::

    forward,  t = 0 … T-1:     rec = h_{t-1}·(s⊙W_hh)          step(acts_t, rec, s⊙b)  → c_t, tanh(c_t), h_t
    backward, t = T-1 … 0:     step⁻¹(acts_t, …) → dz_t        dh = dz_t·W_hhᵀ           (to h_{t-1})

(the products walk W's column blocks from alternate ends at alternate steps, :func:`either_way`:
the same sums, with W's last blocks still in cache where W is larger than a core's L2).

What changes is who waits: the Python loop takes the interpreter's lock (the GIL) a
few times per step, and the threads of a chunked training step
(:mod:`rnnplay.core.parallel_step`) queue for it; here a thread takes it once per
sequence and layer, so many threads can share the cores with small chunks of streams
(docs/performance.md, "time loops compiled whole").

The product's kernels are compiled for this process (their code's addresses are this
process's), so these loops are compiled when first asked for, once per kernel module
(float32 or bfloat16), and never cached on disk. They are compiled there and then, on
arrays of one stream and one step, and not at their first real call: that call comes
in a training step's worker thread beside the step's arrays, and LLVM, short of memory
under an address-space limit, ends the process (``std::bad_alloc``) where Python would
raise. So the room is checked first (:func:`.address_space.has_spare_room`); without it the
loops stay in Python for the rest of the process. Loaded only through
:mod:`rnnplay.core.jit`.
"""

from __future__ import annotations

import functools
import threading
from types import ModuleType
from typing import Any, NamedTuple

import numba
import numpy as np

from rnnplay.core import address_space
from rnnplay.core.cells import lstm_kernels

SETTINGS = {"nogil": True, "error_model": "numpy"}  # no cache: see the module's docstring
_compiling = threading.Lock()  # one compilation per kernel module, whichever thread asks first


class TimeLoops(NamedTuple):
    """``forward(acts, W_packed, bias, hs, cs, tanh_c, rec)`` and ``backward(acts, tanh_c, cs, dh_seq, dh, dc, dz,
    W_T_packed)``, the arrays as :class:`.lstm.LSTMCell` keeps them, each C-contiguous."""

    forward: Any
    backward: Any


def for_kernels(kernels: ModuleType) -> TimeLoops | None:
    """The loops on ``kernels``' product (:mod:`rnnplay.core.f32_kernels` or :mod:`.bf16_kernels`), compiled;
    None, for the rest of the process, when an address-space limit leaves no room to compile them."""
    with _compiling:
        return _compiled(kernels)


@functools.cache
def _compiled(kernels: ModuleType) -> TimeLoops | None:
    if not address_space.has_spare_room(address_space.COMPILER):
        return None
    product, prepare = either_way(kernels), kernels.prepare
    step, step_back = lstm_kernels.forward_step, lstm_kernels.backward_step

    @numba.njit(**SETTINGS)
    def forward(acts: np.ndarray, W_packed: np.ndarray, bias: np.ndarray, hs: np.ndarray, cs: np.ndarray,
                tanh_c: np.ndarray, rec: np.ndarray) -> None:  # fmt: skip
        for t in range(acts.shape[0]):
            product(prepare(hs[t]), W_packed, rec, t % 2 == 1)  # s⊙(h_{t-1}·W_hh), W's blocks back and forth
            step(acts[t], rec, bias, cs[t], cs[t + 1], tanh_c[t], hs[t + 1])

    @numba.njit(**SETTINGS)
    def backward(acts: np.ndarray, tanh_c: np.ndarray, cs: np.ndarray, dh_seq: np.ndarray, dh: np.ndarray,
                 dc: np.ndarray, dz: np.ndarray, W_T_packed: np.ndarray) -> None:  # fmt: skip
        for t in range(acts.shape[0] - 1, -1, -1):
            step_back(acts[t], tanh_c[t], cs[t], dh_seq[t], dh, dc, dz[t])
            product(prepare(dz[t]), W_T_packed, dh, t % 2 == 1)  # to h_{t-1}

    loops = TimeLoops(forward, backward)
    compile_on_one_step(loops, kernels)
    return loops


def either_way(kernels: ModuleType) -> Any:
    """``product(a, b_packed, out, backwards)`` of ``kernels``: their ``product_either_way``, which walks W's column
    blocks from the last when ``backwards`` — the loops turn at every step, so W's blocks used last are still in
    cache at the next (:func:`.tile_kernels.tile_walk`) — or their ``product`` one way always."""
    turning = getattr(kernels, "product_either_way", None)
    if turning is not None:
        return turning
    product = kernels.product

    @numba.njit(**SETTINGS)
    def one_way(a: np.ndarray, b_packed: np.ndarray, out: np.ndarray, backwards: bool) -> None:
        product(a, b_packed, out)

    return one_way


def compile_on_one_step(loops: TimeLoops, kernels: ModuleType, H: int = 16) -> None:
    """Call both loops once on one stream, one step and ``H`` units: numba compiles them for the array types
    every real call passes (float32, C order)."""
    zeros = functools.partial(np.zeros, dtype=np.float32)
    W_hh = zeros((H, 4 * H))
    (acts, dz), hs, cs, tanh_c = zeros((2, 1, 1, 4 * H)), zeros((2, 1, H)), zeros((2, 1, H)), zeros((1, 1, H))
    loops.forward(acts, kernels.pack(W_hh), zeros(4 * H), hs, cs, tanh_c, zeros((1, 4 * H)))
    loops.backward(acts, tanh_c, cs, zeros((1, 1, H)), zeros((1, H)), zeros((1, H)), dz,
                   kernels.pack(np.ascontiguousarray(W_hh.T)))


def warm_up() -> None:
    """Nothing to compile before a kernel module asks: :func:`for_kernels` compiles for it."""
