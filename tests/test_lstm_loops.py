"""The LSTM's loops over time compiled whole (rnnplay/core/cells/lstm_loops.py): the same bits as the Python loops.

A training chunk's forward and backward with the compiled loops, against the same chunk with the loops in
Python (:func:`rnnplay.core.cells.lstm.time_loops` answering None), in each precision whose kernels run here.
No timings: the speed is in docs/performance.md (benchmarks/under_load.py).
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from rnnplay.core import jit, parallel_step, products
from rnnplay.core.cells import LSTMCell, lstm
from rnnplay.core.dropout import Dropout
from rnnplay.core.model import Model
from rnnplay.core.vocab import Vocab
from tests.child_env import child_env

VOCAB = Vocab.from_text("abcdefghijklmnopqrstuvwxyz .,\n")
T, B, H = 9, 40, 32  # H a multiple of 16: the products' kernels take both ways; two chunks (a small model's 32)


def needs(precision: str) -> None:
    if products.kernels(precision) is None or jit.load(lstm.LOOPS) is None:
        pytest.skip(f"no compiled {precision} products on this CPU (or numba is off)")


def step(model: Model, seed: int) -> tuple[float, dict[str, np.ndarray], list]:
    rng = np.random.default_rng(seed)
    inputs, targets = rng.integers(0, VOCAB.size, (T, B)), rng.integers(0, VOCAB.size, (T, B))
    states = [tuple(rng.uniform(-0.5, 0.5, s.shape).astype(np.float32) for s in state)
              for state in model.initial_state(B)]  # fmt: skip
    return parallel_step.loss_and_grads(model, inputs, targets, states, np.random.default_rng(seed), workers=3)


@pytest.mark.parametrize("precision", products.PRECISIONS)
@pytest.mark.parametrize("noise", [Dropout(), Dropout(0.3, locked=True, weight=0.3)], ids=["none", "dropout"])
def test_the_compiled_loops_give_the_python_loops_bits(precision: str, noise: Dropout,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    needs(precision)
    model = Model(LSTMCell(), VOCAB, H, 2, noise.output, seed=1)
    model.noise, model.products = noise, precision
    calls = []
    real = lstm.time_loops
    monkeypatch.setattr(lstm, "time_loops", lambda gates, W: calls.append(real(gates, W)) or calls[-1])
    compiled = step(model, 5)
    assert calls and all(loops is not None for loops in calls)  # every layer, both ways, ran compiled
    monkeypatch.setattr(lstm, "time_loops", lambda gates, W: None)
    python = step(model, 5)
    assert compiled[0] == python[0]
    for name, g in python[1].items():
        assert np.array_equal(compiled[1][name], g), name
    for ours, theirs in zip(compiled[2], python[2], strict=True):
        assert all(np.array_equal(a, b) for a, b in zip(ours, theirs, strict=True))


def test_the_chunk_size_follows_the_compiled_loops() -> None:
    needs("float32")
    assert parallel_step.chunk_size(Model(LSTMCell(), VOCAB, 256, 2)) == parallel_step.NARROW_CHUNK
    assert parallel_step.chunk_size(Model(LSTMCell(), VOCAB, 200, 2)) == parallel_step.CHUNK  # 200: not 16·k
    assert parallel_step.chunk_size(Model(LSTMCell(), VOCAB, 256, 2, dtype=np.float64)) == parallel_step.CHUNK


LOADS_THE_LOOPS = """\
from rnnplay.core import jit, products
from rnnplay.core.cells import lstm
loops = jit.load(lstm.LOOPS)
assert loops.for_kernels(products.kernels("float32")) is not None
print(*(sum(f.stats.cache_hits.values()) for f in (loops.forward, loops.backward)),
      *(sum(f.stats.cache_misses.values()) for f in (loops.forward, loops.backward)))
"""


def test_a_process_loads_the_loops_from_numbas_disk_cache() -> None:
    """They were compiled again in every training process (about a second of CPU); now the second process finds
    both loops in the cache the first one wrote (or found)."""
    needs("float32")
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", LOADS_THE_LOOPS], capture_output=True, text=True,
                              env=child_env(), timeout=300)
        assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "1", "0", "0"]  # hits of forward and backward, then misses: none
