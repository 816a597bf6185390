"""What a training step's chunks derive from the weights is made once a step (rnnplay/core/step_memo.py).

No timings here: the speed it buys is in docs/training.md (benchmarks/train_throughput.py).
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from rnnplay.core import parallel_step, products, step_memo
from rnnplay.core.cells import LayerNormLSTMCell, LSTMCell, RNNCell
from rnnplay.core.cells.base import Cell
from rnnplay.core.dropout import Dropout
from rnnplay.core.model import Model
from rnnplay.core.vocab import Vocab

VOCAB = Vocab.from_text("abcdefghijklmnopqrstuvwxyz .,\n")


def test_outside_a_step_every_call_makes_its_value() -> None:
    w = np.ones((3, 4), dtype=np.float32)
    assert step_memo.once("double", lambda: w * 2, w) is not step_memo.once("double", lambda: w * 2, w)


def test_in_a_step_a_value_is_made_once_per_tag_and_inputs() -> None:
    w, other = np.ones((3, 4), dtype=np.float32), np.ones((3, 4), dtype=np.float32)
    made: list[str] = []

    def double(x: np.ndarray, name: str) -> np.ndarray:
        made.append(name)
        return x * 2

    with step_memo.sharing(step_memo.StepMemo()):
        first = step_memo.once("double", lambda: double(w, "w"), w)
        assert step_memo.once("double", lambda: double(w, "w again"), w) is first
        assert step_memo.once("double", lambda: double(w[:], "a view of all of w"), w[:]) is first  # same memory
        step_memo.once("double", lambda: double(other, "other"), other)  # equal values, other memory
        step_memo.once("triple", lambda: double(w, "another tag"), w)
        step_memo.once("double", lambda: double(w.T, "w transposed"), w.T)  # same memory, other layout
    assert made == ["w", "other", "another tag", "w transposed"]
    with step_memo.sharing(step_memo.StepMemo()):  # the next step makes its own
        assert step_memo.once("double", lambda: double(w, "next step"), w) is not first
    assert made[-1] == "next step"


def test_a_step_keeps_its_inputs_so_their_memory_is_not_reused_under_another_key() -> None:
    memo = step_memo.StepMemo()
    with step_memo.sharing(memo):
        values = [step_memo.once("copy", lambda a=a: a.copy(), a)
                  for a in (np.full((64, 64), i, dtype=np.float32) for i in range(50))]  # fmt: skip
    assert [float(v[0, 0]) for v in values] == list(range(50))  # each temporary its own key, none freed meanwhile


def test_chunks_racing_for_a_value_share_the_one_made() -> None:
    memo, w = step_memo.StepMemo(), np.ones((8, 8), dtype=np.float32)
    calls, got = [], []
    start = threading.Barrier(8)

    def chunk() -> None:
        with step_memo.sharing(memo):
            start.wait()
            got.append(step_memo.once("made", lambda: calls.append(1) or w + 1, w))

    workers = [threading.Thread(target=chunk) for _ in range(8)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    assert len(calls) == 1 and len(got) == 8 and all(g is got[0] for g in got)


@pytest.mark.parametrize("cell", [LSTMCell(), RNNCell(), LayerNormLSTMCell()], ids=["lstm", "rnn", "lnlstm"])
def test_a_chunked_step_packs_each_weight_once_and_gives_the_same_numbers(
    cell: Cell, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = Model(cell, VOCAB, 24, 2, seed=1)
    model.noise = Dropout(0.2, weight=0.3)  # DropConnect: each layer's W_hh masked once a step, not per chunk
    rng = np.random.default_rng(2)
    inputs, targets = rng.integers(0, VOCAB.size, (12, 40)), rng.integers(0, VOCAB.size, (12, 40))
    states = model.initial_state(40)
    assert len(parallel_step.chunk_bounds(40, parallel_step.chunk_size(model))) == 2

    packed: list[tuple[object, ...]] = []
    original = products.Operand.__init__

    def counted(self: products.Operand, b: np.ndarray, *, kind: str = "step") -> None:
        packed.append(step_memo.identity(b))
        original(self, b, kind=kind)

    monkeypatch.setattr(products.Operand, "__init__", counted)
    shared = parallel_step.loss_and_grads(model, inputs, targets, states, np.random.default_rng(3), workers=2)
    weights = len(packed)
    assert weights >= 2 * model.num_layers  # W_hh and W_hhᵀ of each layer at least (and a weight's x·W_xh) …
    assert len(set(packed)) == weights  # … each once, for both chunks together

    packed.clear()
    monkeypatch.setattr(step_memo.StepMemo, "get", lambda self, tag, make, inputs: make())  # every chunk its own
    apart = parallel_step.loss_and_grads(model, inputs, targets, states, np.random.default_rng(3), workers=2)
    assert len(packed) == 2 * weights
    assert shared[0] == apart[0]
    for name, g in apart[1].items():
        np.testing.assert_array_equal(shared[1][name], g, err_msg=name)
