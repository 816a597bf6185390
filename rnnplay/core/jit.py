"""Compiled loops for the LSTM's elementwise maths, through numba when it is there.

Why: at one stream (B = 1) an LSTM generation step is a matrix-vector product and
about a dozen elementwise numpy calls on a few hundred numbers, and each numpy
call has a fixed cost before it does any arithmetic, larger there than the maths;
in training, a dozen ufuncs forward and twenty backward per time step cost about
as much as the matrix products (docs/performance.md has the measurements). numba
compiles a plain Python loop to machine code (LLVM, vectorised for the CPU it runs
on), so the elementwise part of a step becomes one call; BLAS keeps every matrix
product. The numpy code stays the reference (:mod:`rnnplay.core.cells.lstm_gates`):
the compiled kernels compute the same formulas with the same arguments, and tests
hold them to it (to ~1e-6, not bit for bit: a run resumed with ``RNNPLAY_JIT=0``
after training with the kernels, or the other way round, is not bit-identical to
an unbroken one).

A kernel module imports numba at its top and is only ever imported through
:func:`load`, which answers None — the caller then runs its numpy code — when
``RNNPLAY_JIT=0`` is set, numba is missing or broken, or the module's ``warm_up()``
(its first, compiling call) fails, or an address-space limit (``ulimit -v``) leaves too
little room to compile. A broken compiler never stops generation or training.

Loading costs time once per process: importing numba and loading the kernels from
numba's disk cache (the first run on a machine compiles them, which takes longer).
The TUI and REPL call :func:`preload_for` as they start, so that happens while the user
types; :func:`load` waits for it. The opened model's cell's kernels load first (a seed typed at once waits for
those alone: the bundled model is a layer-normalised LSTM, and on a first run the LSTM's kernels, compiled before
them, made it wait for both), and a module loaded already is answered without the lock a later module's
compilation holds. A short ``rnnplay sample`` or ``rnnplay score`` would spend more
time loading than the kernels save, so it calls :func:`disable`.
Whether the kernels are used never depends on timing: the two paths agree to
~1e-6 in the logits, not bit for bit, and a seeded text must always be the same.

While the Session trains in its background thread it holds
:func:`rnnplay.core.threads.busy_cores`, and one-stream generation then does its
products in its own compiled loop instead of BLAS's threads, which would fight the
training's for the cores (figures in docs/samplers.md).
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
from types import ModuleType
from typing import Any

import numpy as np

from rnnplay.core import address_space

# what the app and the REPL load as they start (the opened model's cell's first: :func:`preload_for`)
BUILT_IN = ("rnnplay.core.cells.lstm_kernels", "rnnplay.core.cells.layernorm_kernels")
_lock = threading.Lock()
_loaded: dict[str, ModuleType | None] = {}
_importing: set[str] = set()  # kernel modules being imported (compiled, the first time on a machine) right now
_disabled = False  # by disable(), for the rest of the process
_NOT_YET = ModuleType("not loaded yet")  # what _loaded answers for a module no load has finished


def enabled() -> bool:
    """False after :func:`disable`, or when the environment says ``RNNPLAY_JIT=0`` (or false/no/off)."""
    return not _disabled and os.environ.get("RNNPLAY_JIT", "1").strip().lower() not in ("0", "false", "no", "off")


def disable() -> None:
    """Use the numpy code for the rest of this process (call it before making any stepper)."""
    global _disabled
    _disabled = True


def load(module: str) -> ModuleType | None:
    """The kernel module ``module`` (a dotted name), compiled and warmed up; None if it can't be.

    Waits for a :func:`preload` of it that is under way.
    """
    if not enabled():
        return None
    if (found := _loaded.get(module, _NOT_YET)) is not _NOT_YET:  # loaded: no wait for another module's compiling
        return found
    with _lock:
        if module not in _loaded:
            _loaded[module] = _import(module)
        return _loaded[module]


def for_dtype(module: str, dtype: Any, reference: ModuleType) -> ModuleType:
    """The kernel module ``module`` for float32 when it loads, else ``reference`` (the numpy module it mirrors)."""
    compiled = load(module) if np.dtype(dtype) == np.float32 else None
    return compiled if compiled is not None else reference


def preload(modules: tuple[str, ...] = BUILT_IN, first: str | None = None) -> None:
    """Start loading ``modules`` in a background thread, ``first`` (when one of them) before the others, so that the
    first :func:`load` finds them ready."""
    if enabled():
        order = sorted(modules, key=lambda module: module != first)  # a stable sort: the others keep their order
        threading.Thread(target=lambda: [load(m) for m in order], name="rnnplay-jit", daemon=True).start()


def preload_for(model: object | None) -> None:
    """:func:`preload`, the kernels ``model``'s cell steps with (its ``kernels``, when it names some) first."""
    preload(first=getattr(getattr(model, "cell", None), "kernels", None))


def loading() -> bool:
    """Whether kernels are being loaded right now (compiled, the first run on a machine): work that waits for them
    says so (:func:`rnnplay.session.generation.seed_work`)."""
    return bool(_importing)


def _import(module: str) -> ModuleType | None:
    first = "numba" not in sys.modules
    if not address_space.has_spare_room(address_space.NUMBA if first else address_space.COMPILER):
        return None  # LLVM short of memory would end the process; the step's arrays come after (address_space)
    _importing.add(module)
    try:
        kernels = importlib.import_module(module)
        kernels.warm_up()
    except Exception:  # ImportError without numba; any numba/LLVM error while compiling
        return None
    finally:
        _importing.discard(module)
    return kernels
