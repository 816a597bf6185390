"""The products' kernels come from numba's disk cache: a process that loads them compiles nothing in numba.

Their walk over the micro-kernels' tiles (rnnplay/core/tile_kernels.py) was a closure on the process's micro-kernels,
compiled again in every training process; now it takes their addresses as an argument and is cached like the rest.
The micro-kernels are LLVM IR compiled by llvmlite, not numba: they do not count. No timings: the CPU it saves is in
docs/performance.md.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from rnnplay.core import jit, products
from tests.child_env import child_env

LOADS_THE_KERNELS = """\
import json
from numba.core import event

compiled = []


class Compiles(event.Listener):
    def on_start(self, e):
        compiled.append(e.data["dispatcher"].py_func.__qualname__)

    def on_end(self, e):
        pass


event.register("numba:compile", Compiles())
from rnnplay.core import jit, products
loops = jit.load("rnnplay.core.cells.lstm_loops")
precisions = [p for p in products.PRECISIONS if products.kernels(p) is not None]
assert all(loops.for_kernels(products.kernels(p)) is not None for p in precisions)
print(json.dumps({"precisions": precisions, "compiled": compiled}))
"""


def test_a_process_that_loads_the_kernels_and_the_loops_compiles_nothing_in_numba() -> None:
    if products.kernels("float32") is None or jit.load("rnnplay.core.cells.lstm_loops") is None:
        pytest.skip("no compiled products on this CPU (or numba is off)")
    for _ in range(2):  # the first process may fill the cache; the second finds everything there
        done = subprocess.run([sys.executable, "-c", LOADS_THE_KERNELS], capture_output=True, text=True,
                              env=child_env(), timeout=300)
        assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout)
    assert loaded["precisions"] and loaded["compiled"] == []
