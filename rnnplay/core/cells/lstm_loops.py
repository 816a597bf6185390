"""An LSTM layer's loops over time, compiled whole: one call forward and one backward per sequence and layer.

:mod:`.lstm` runs the loops in Python, two calls a time step each way: the product
with W_hh (:mod:`rnnplay.core.products`) and the gate maths (:mod:`.lstm_kernels`).
Where both are compiled, this module makes the same loops one numba function each,
calling the same two compiled functions in the same order, so the result is the
same, bit for bit::

    forward,  t = 0 … T-1:     rec = h_{t-1}·(s⊙W_hh)          step(acts_t, rec, s⊙b)  → c_t, tanh(c_t), h_t
    backward, t = T-1 … 0:     step⁻¹(acts_t, …) → dz_t        dh = dz_t·W_hhᵀ           (to h_{t-1})

(the products walk W's column blocks from alternate ends at alternate steps, :func:`.tile_kernels.walk`'s
``backwards``: the same sums, with W's last blocks still in cache where W is larger than a core's L2).

What changes is who waits: the Python loop takes the interpreter's lock (the GIL) a
few times per step, and the threads of a chunked training step
(:mod:`rnnplay.core.parallel_step`) queue for it; here a thread takes it once per
sequence and layer, so many threads can share the cores with small chunks of streams
(docs/performance.md, "time loops compiled whole").

The loops do not call the product by name: its walk over the tiles
(:func:`.tile_kernels.walk`) and the kernels' ``prepare`` come as the addresses of their
compiled code, called through :func:`call_at`, with the kernels' plan (the addresses of
the micro-kernels compiled in this process). The loops are kept in numba's disk cache like
the other kernels, per kind of word (float32, or bfloat16 pairs), and numba checks a
cached function against its own file alone: what they call by address runs as its module
is now, but the gate maths they call by name (:mod:`.lstm_kernels`) runs from their cache
as it was until this file changes too (docs/performance.md). Loading them costs a fifth of
the CPU that compiling them did in every training process (figures in
docs/performance.md). They are loaded, and what they call compiled, there and then, on
arrays of one stream and one step, and not at their first real call: that call comes in a
training step's worker thread beside the step's arrays, and LLVM, short of memory under an
address-space limit, ends the process (``std::bad_alloc``) where Python would raise. So
the room is checked first (:func:`.address_space.has_spare_room`); without it the loops
stay in Python for the rest of the process. Loaded only through :mod:`rnnplay.core.jit`.
"""

from __future__ import annotations

import functools
import threading
from types import ModuleType
from typing import Any, NamedTuple

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core.typing import Signature
from numba.extending import intrinsic

from rnnplay.core import address_space
from rnnplay.core.cells import lstm_kernels
from rnnplay.core.tile_kernels import walk

SETTINGS = {"cache": True, "nogil": True, "error_model": "numpy"}
_compiling = threading.Lock()  # one compilation per kernel module, whichever thread asks first


@numba.njit(**SETTINGS)
def forward(product: int, plan: np.ndarray, prepare: int, acts: np.ndarray, W_packed: np.ndarray, bias: np.ndarray,
            hs: np.ndarray, cs: np.ndarray, tanh_c: np.ndarray, rec: np.ndarray) -> None:  # fmt: skip
    for t in range(acts.shape[0]):
        call_product(product, plan, t % 2 == 1, call_prepare(prepare, hs[t], W_packed), W_packed, rec)  # s⊙(h·W_hh)
        lstm_kernels.forward_step(acts[t], rec, bias, cs[t], cs[t + 1], tanh_c[t], hs[t + 1])


@numba.njit(**SETTINGS)
def backward(product: int, plan: np.ndarray, prepare: int, acts: np.ndarray, tanh_c: np.ndarray, cs: np.ndarray,
             dh_seq: np.ndarray, dh: np.ndarray, dc: np.ndarray, dz: np.ndarray,
             W_T_packed: np.ndarray) -> None:  # fmt: skip
    for t in range(acts.shape[0] - 1, -1, -1):
        lstm_kernels.backward_step(acts[t], tanh_c[t], cs[t], dh_seq[t], dh, dc, dz[t])
        call_product(product, plan, t % 2 == 1, call_prepare(prepare, dz[t], W_T_packed), W_T_packed, dh)  # to h_{t-1}


@intrinsic
def call_product(typingctx: Any, address: types.Integer, plan: types.Array, backwards: types.Boolean, a: types.Array,
                 b: types.Array, out: types.Array) -> tuple[Signature, Any]:  # fmt: skip
    """``walk(plan, backwards, a, b, out)``, the compiled :func:`.tile_kernels.walk` at ``address``
    (:func:`address_of`)."""
    def codegen(context: Any, builder: Any, signature: Signature, args: tuple) -> Any:
        call_at(context, builder, args[0], types.none, signature.args[1:], args[1:])
        return context.get_dummy_value()

    return types.none(address, plan, backwards, a, b, out), codegen


@intrinsic
def call_prepare(typingctx: Any, address: types.Integer, a: types.Array, like: types.Array) -> tuple[Signature, Any]:
    """``prepare(a)``, the compiled function at ``address``: rows of the words of ``like`` (a packed weight)."""
    words = types.Array(like.dtype, 2, "C")

    def codegen(context: Any, builder: Any, signature: Signature, args: tuple) -> Any:
        return call_at(context, builder, args[0], words, (a,), (args[1],))  # a new reference, as numba's calls give

    return words(address, a, like), codegen


def call_at(context: Any, builder: Any, address: Any, result: types.Type, arguments: tuple, values: tuple) -> Any:
    """The call of a numba function's C wrapper at ``address``: ``arguments``' types as its values, by value."""
    kind = ir.FunctionType(context.get_value_type(result), [context.get_value_type(t) for t in arguments])
    return builder.call(builder.inttoptr(address, kind.as_pointer()), values)


class TimeLoops(NamedTuple):
    """``forward(acts, W_packed, bias, hs, cs, tanh_c, rec)`` and ``backward(acts, tanh_c, cs, dh_seq, dh, dc, dz,
    W_T_packed)``, the arrays as :class:`.lstm.LSTMCell` keeps them, each C-contiguous; ``callees``, the compiled
    product and prepare they call by address, kept alive with them."""

    forward: Any
    backward: Any
    callees: tuple


def for_kernels(kernels: ModuleType) -> TimeLoops | None:
    """The loops on ``kernels``' product (:mod:`rnnplay.core.f32_kernels` or :mod:`.bf16_kernels`), ready to run;
    None, for the rest of the process, when an address-space limit leaves no room to compile what they call."""
    with _compiling:
        return _compiled(kernels)


@functools.cache
def _compiled(kernels: ModuleType) -> TimeLoops | None:
    if not address_space.has_spare_room(address_space.COMPILER):
        return None
    f32 = types.Array(types.float32, 2, "C")
    words = types.Array(numba.typeof(kernels.pack(np.zeros((2, 16), dtype=np.float32))).dtype, 2, "C")
    plan = numba.typeof(kernels.PLAN)
    product = address_of(walk, types.none(plan, types.boolean, words, types.Array(words.dtype, 3, "C"), f32))
    prepare = address_of(kernels.prepare, words(f32))
    arguments = product[0], kernels.PLAN, prepare[0]
    loops = TimeLoops(functools.partial(forward, *arguments), functools.partial(backward, *arguments),
                      (product[1], prepare[1]))
    compile_on_one_step(loops, kernels)
    return loops


def address_of(function: Any, signature: Signature) -> tuple[int, Any]:
    """The address of ``function`` (a numba dispatcher) compiled for ``signature`` (compiled now if it is not yet),
    as :func:`call_product` and :func:`call_prepare` call it, and what keeps its code alive."""
    compiled = types.CompileResultWAP(function.get_compile_result(signature))
    return compiled.address, compiled


def compile_on_one_step(loops: TimeLoops, kernels: ModuleType, H: int = 16) -> None:
    """Call both loops once on one stream, one step and ``H`` units: numba loads them from its disk cache, or
    compiles them, for the array types every real call passes (float32, C order; ``kernels``' words)."""
    zeros = functools.partial(np.zeros, dtype=np.float32)
    W_hh = zeros((H, 4 * H))
    (acts, dz), hs, cs, tanh_c = zeros((2, 1, 1, 4 * H)), zeros((2, 1, H)), zeros((2, 1, H)), zeros((1, 1, H))
    loops.forward(acts, kernels.pack(W_hh), zeros(4 * H), hs, cs, tanh_c, zeros((1, 4 * H)))
    loops.backward(acts, tanh_c, cs, zeros((1, 1, H)), zeros((1, H)), zeros((1, H)), dz,
                   kernels.pack(np.ascontiguousarray(W_hh.T)))


def warm_up() -> None:
    """Nothing to load before a kernel module asks: :func:`for_kernels` loads the loops for it."""
