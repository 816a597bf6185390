"""The chunked training step (rnnplay/core/parallel_step.py): the same maths as the whole batch, any worker count.

No timings here: the speed is in docs/performance.md (benchmarks/under_load.py).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from rnnplay.core import parallel_step
from rnnplay.core.cells import LayerNormLSTMCell, LSTMCell, RNNCell
from rnnplay.core.cells.base import Cell
from rnnplay.core.dropout import Dropout, Masks
from rnnplay.core.model import Model, States
from rnnplay.core.optim import Adam, clip_by_global_norm
from rnnplay.core.vocab import Vocab

VOCAB = Vocab.from_text("abcdefghijklmnopqrstuvwxyz .,\n")
B, T = 40, 12  # chunks of 32 and 8 streams: the small models here take chunk_size's WIDE_CHUNK


def batch(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, VOCAB.size, (T, B)), rng.integers(0, VOCAB.size, (T, B))


def carried(model: Model, seed: int) -> States:
    """A non-zero carried state for every layer, as after a few steps."""
    rng = np.random.default_rng(seed)
    return [tuple(rng.uniform(-0.5, 0.5, s.shape).astype(model.dtype) for s in state)
            for state in model.initial_state(B)]  # fmt: skip


def test_chunks_are_fixed_by_the_batch_size_and_the_model_shape_alone() -> None:
    assert parallel_step.chunk_size(Model(RNNCell(), VOCAB, 128, 1)) == parallel_step.WIDE_CHUNK  # 128² products
    assert parallel_step.chunk_size(Model(LSTMCell(), VOCAB, 24, 2)) == parallel_step.WIDE_CHUNK
    assert parallel_step.chunk_size(Model(RNNCell(), VOCAB, 256, 1)) == parallel_step.CHUNK  # 256²: SMALL_STEP
    assert parallel_step.chunk_size(Model(LSTMCell(), VOCAB, 256, 2, dtype=np.float64)) == parallel_step.CHUNK
    assert parallel_step.chunk_size(Model(LayerNormLSTMCell(), VOCAB, 512, 2)) == parallel_step.CHUNK
    assert parallel_step.chunk_bounds(40, 16) == [(0, 16), (16, 32), (32, 40)]
    assert parallel_step.chunk_bounds(64, 16) == [(0, 16), (16, 32), (32, 48), (48, 64)]
    assert parallel_step.chunk_bounds(64, 32) == [(0, 32), (32, 64)]
    assert parallel_step.chunk_bounds(5) == [(0, 5)]
    assert parallel_step.chunk_bounds(64) == parallel_step.chunk_bounds(64, 16)


@pytest.mark.parametrize("cell", [LSTMCell(), RNNCell(), LayerNormLSTMCell()], ids=["lstm", "rnn", "lnlstm"])
@pytest.mark.parametrize("noise", [Dropout(), Dropout(0.3), Dropout(0.3, locked=True, weight=0.3, embedding=0.2)],
                         ids=["none", "dropout", "locked-weight-embedding"])
def test_the_chunked_step_matches_the_whole_batch(cell: Cell, noise: Dropout) -> None:
    model = Model(cell, VOCAB, 24, 2, noise.output, seed=1)
    model.noise = noise
    inputs, targets = batch(2)
    states = carried(model, 3)
    whole = model.whole_loss_and_grads(inputs, targets, states, np.random.default_rng(4))
    chunked = parallel_step.loss_and_grads(model, inputs, targets, states, np.random.default_rng(4), workers=2)
    assert chunked[0] == pytest.approx(whole[0], rel=1e-6)
    assert chunked[1].keys() == whole[1].keys()
    for name, g in whole[1].items():
        np.testing.assert_allclose(chunked[1][name], g, rtol=1e-4, atol=1e-6, err_msg=name)
    for got, want in zip(chunked[2], whole[2], strict=True):  # the carried-out state, every stream in place
        for a, b in zip(got, want, strict=True):
            assert a.shape == b.shape  # float32 products of 16 rows and of 40 round apart, and LN's 1/σ scales that
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_float32_models_take_the_chunked_path_and_float64_the_reference() -> None:
    model = Model(LSTMCell(), VOCAB, 8, 1)
    assert parallel_step.chunked(model)
    assert not parallel_step.chunked(model.astype(np.float64))


def test_the_chunks_agree_with_the_whole_batch_in_float64() -> None:
    model = Model(LSTMCell(), VOCAB, 16, 2, 0.2, seed=5).astype(np.float64)
    inputs, targets = batch(6)
    states = carried(model, 7)
    whole = model.whole_loss_and_grads(inputs, targets, states, np.random.default_rng(8))
    chunked = parallel_step.loss_and_grads(model, inputs, targets, states, np.random.default_rng(8), workers=2)
    assert chunked[0] == pytest.approx(whole[0], rel=1e-12)
    for name, g in whole[1].items():
        np.testing.assert_allclose(chunked[1][name], g, rtol=1e-10, atol=1e-13, err_msg=name)


def train(workers: int, cell: Cell, steps: int = 5) -> dict[str, np.ndarray]:
    """The weights after ``steps`` clipped Adam steps with dropout, the state carried from step to step."""
    model = Model(cell, VOCAB, 32, 2, 0.25, seed=11)
    optimizer = Adam(model.params)
    rng = np.random.default_rng(12)
    states = model.initial_state(B)
    for step in range(steps):
        inputs, targets = batch(100 + step)
        _, grads, states = parallel_step.loss_and_grads(model, inputs, targets, states, rng, workers=workers)
        clip_by_global_norm(grads, 1.0)
        optimizer.step(model.params, grads, 1e-2)
    return model.params


@pytest.mark.parametrize("cell", [LSTMCell(), RNNCell()], ids=["lstm", "rnn"])
def test_the_weights_do_not_depend_on_the_number_of_workers(cell: Cell) -> None:
    one, two, three = train(1, cell), train(2, cell), train(3, cell)
    for name, w in one.items():
        assert np.array_equal(w, two[name]), name
        assert np.array_equal(w, three[name]), name


def test_a_failing_chunk_raises_in_the_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    model = Model(LSTMCell(), VOCAB, 8, 1)
    inputs, targets = batch(1)

    def broken(*args: object) -> None:
        raise RuntimeError("chunk failed")

    monkeypatch.setattr(parallel_step, "chunk_loss_and_grads", broken)
    with pytest.raises(RuntimeError, match="chunk failed"):
        parallel_step.loss_and_grads(model, inputs, targets, model.initial_state(B), workers=2)


def ordered_sum(model: Model, inputs: np.ndarray, targets: np.ndarray, states: States, masks: Masks,
                chunk: int) -> tuple[float, dict[str, np.ndarray]]:  # fmt: skip
    """The step done by hand: each chunk alone, in order, then loss l0 + l1 + … and gradients g0 + g1 + …."""
    results = []
    for lo, hi in parallel_step.chunk_bounds(inputs.shape[1], chunk):
        part_states, part_masks = parallel_step.streams_part(states, masks, slice(lo, hi))
        results.append(parallel_step.chunk_loss_and_grads(model, inputs[:, lo:hi], targets[:, lo:hi], part_states,
                                                          part_masks, inputs.size))
    grads = {name: g.copy() for name, g in results[0][1].items()}
    for _, chunk_grads, _ in results[1:]:
        for name, g in chunk_grads.items():
            grads[name] += g
    return sum(loss for loss, _, _ in results) / inputs.size, grads


@pytest.mark.parametrize("chunk", [40, 20, 8, 5, 3], ids=lambda c: f"{-(-B // c)}-chunks")
@pytest.mark.parametrize("workers", [1, 3])
def test_the_step_is_bit_for_bit_the_ordered_sum_of_its_chunks(monkeypatch: pytest.MonkeyPatch, chunk: int,
                                                                workers: int) -> None:  # fmt: skip
    monkeypatch.setattr(parallel_step, "chunk_size", lambda model: chunk)
    model = Model(LSTMCell(), VOCAB, 24, 2, 0.3, seed=21)
    inputs, targets = batch(22)
    states = carried(model, 23)
    want_loss, want = ordered_sum(model, inputs, targets, states, model.dropout_masks(np.random.default_rng(24), T, B),
                                  chunk)
    loss, grads, _ = parallel_step.loss_and_grads(model, inputs, targets, states, np.random.default_rng(24),
                                                  workers=workers)
    assert loss == want_loss
    assert grads.keys() == want.keys()
    for name, g in want.items():
        assert np.array_equal(grads[name], g), name


class GradientSets:
    """Wraps chunk_loss_and_grads: each chunk's gradient set watched until it is freed.

    With ``workers=1`` the chunks run one after the other; chunk k (k ≥ 3) first waits, up to WAIT
    seconds, for chunk k-2's gradients to be gone. Added in order and let go, they are gone once
    the caller has taken chunk k-2; kept until every chunk is done, they never are, and ``late``
    records the chunk that waited in vain (it waits no more after that).
    """

    WAIT = 30.0  # a guard against a hang on code that keeps every set; never reached when the sets go

    def __init__(self, real: Callable[..., parallel_step.ChunkResult]) -> None:
        self.real = real
        self.freed: list[threading.Event] = []
        self.alive = self.most = 0
        self.late: int | None = None
        self.lock = threading.Lock()

    def __call__(self, *args: Any) -> parallel_step.ChunkResult:
        k = len(self.freed)
        if k >= 3 and self.late is None and not self.freed[k - 2].wait(self.WAIT):
            self.late = k
        result = self.real(*args)
        gone = threading.Event()
        self.freed.append(gone)
        with self.lock:
            self.alive += 1
            self.most = max(self.most, self.alive)
        weakref.finalize(result[1]["layers.0.W_hh"], self.let_go, gone)
        return result

    def let_go(self, gone: threading.Event) -> None:
        with self.lock:
            self.alive -= 1
        gone.set()


def test_a_chunk_s_gradients_are_let_go_once_added(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel_step, "chunk_size", lambda model: 2)  # 20 chunks
    sets = GradientSets(parallel_step.chunk_loss_and_grads)
    monkeypatch.setattr(parallel_step, "chunk_loss_and_grads", sets)
    model = Model(LSTMCell(), VOCAB, 24, 2, 0.3, seed=31)
    inputs, targets = batch(32)
    parallel_step.loss_and_grads(model, inputs, targets, carried(model, 33), np.random.default_rng(34), workers=1)
    assert len(sets.freed) == B // 2
    assert sets.late is None, f"chunk {sets.late} started with chunk {sets.late - 2}'s gradients still kept"
    assert sets.most <= 3  # the sum (chunk 0's arrays), the chunk the caller is adding, the one just done


def test_a_chunk_s_carried_states_own_their_memory() -> None:
    """A cell's carried-out states are views of its forward's (T+1, b, H) arrays: handed on as they were, they
    kept every chunk's arrays alive until the step joined them (202 MiB of a 2x512 LSTM at B = 256)."""
    model = Model(LSTMCell(), VOCAB, 24, 2, 0.0, seed=41)
    inputs, targets = batch(42)
    masks = model.dropout_masks(None, T, 8)
    states = [tuple(s[:8] for s in state) for state in carried(model, 43)]
    _, _, out = parallel_step.chunk_loss_and_grads(model, inputs[:, :8], targets[:, :8], states, masks, T * 8)
    assert all(s.base is None for state in out for s in state)


class HeldFirst:
    """Chunk 0 waits, up to WAIT seconds, for chunk 4 to start, and notes whether it did."""

    WAIT = 5.0  # a guard on the code that hands out one chunk a worker: chunk 4 never starts while chunk 0 runs

    def __init__(self, real: Callable[..., parallel_step.ChunkResult]) -> None:
        self.real, self.calls, self.fourth = real, 0, threading.Event()
        self.lock = threading.Lock()
        self.ran_ahead = False

    def __call__(self, *args: Any) -> parallel_step.ChunkResult:
        with self.lock:
            k, self.calls = self.calls, self.calls + 1
        if k == 4:
            self.fourth.set()
        if k == 0:
            self.ran_ahead = self.fourth.wait(self.WAIT)
        return self.real(*args)


def test_no_more_chunks_are_handed_out_than_there_are_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """All K chunks went to the pool at once, so while chunk 0 ran the other worker took every later chunk, and each
    kept its gradients until chunk 0 was added. Now a chunk goes to the pool as one is added."""
    monkeypatch.setattr(parallel_step, "chunk_size", lambda model: 4)  # 10 chunks
    held = HeldFirst(parallel_step.chunk_loss_and_grads)
    monkeypatch.setattr(parallel_step, "chunk_loss_and_grads", held)
    model = Model(LSTMCell(), VOCAB, 24, 1, 0.0, seed=44)
    inputs, targets = batch(45)
    parallel_step.loss_and_grads(model, inputs, targets, carried(model, 46), None, workers=2)
    assert held.calls == B // 4 and not held.ran_ahead


def test_ctrl_c_while_adding_leaves_no_chunk_running(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel_step, "chunk_size", lambda model: 4)  # 10 chunks on 3 workers
    real, added = parallel_step.chunk_loss_and_grads, parallel_step.ChunkSum.add
    interrupted, started, running = threading.Event(), [], []

    def chunk(*args: Any) -> parallel_step.ChunkResult:
        later = bool(started)  # the first chunk runs at once, the others wait to be at work when the caller is
        started.append(1)  # interrupted
        running.append(1)
        try:
            if later:
                interrupted.wait(GradientSets.WAIT)
            return real(*args)
        finally:
            running.pop()

    def add(summed: parallel_step.ChunkSum, result: parallel_step.ChunkResult) -> None:
        added(summed, result)
        interrupted.set()
        raise KeyboardInterrupt

    monkeypatch.setattr(parallel_step, "chunk_loss_and_grads", chunk)
    monkeypatch.setattr(parallel_step.ChunkSum, "add", add)
    model = Model(LSTMCell(), VOCAB, 24, 2, seed=41)
    inputs, targets = batch(42)
    with pytest.raises(KeyboardInterrupt):
        parallel_step.loss_and_grads(model, inputs, targets, carried(model, 43), workers=3)
    assert running == []  # every chunk begun had finished before the interrupt reached the caller
    assert 1 < len(started) < B // 4  # some were at work then, the rest were cancelled


def test_without_room_for_a_worker_thread_the_caller_takes_the_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under an address-space limit that leaves no room for a thread's mappings, no pool starts: the calling
    thread runs the chunks in order, the weights are those of any worker count, and a note says so, once."""
    two = train(2, LSTMCell())
    monkeypatch.setattr(parallel_step, "_pools", {})
    monkeypatch.setattr(parallel_step.address_space, "threads_fitting", lambda wanted, each: 0)
    started = threading.active_count()
    none = train(3, LSTMCell())
    assert threading.active_count() == started
    assert all(np.array_equal(w, none[name]) for name, w in two.items())
    notes = parallel_step.take_notes()
    assert len(notes) == 1 and notes[0].startswith("no worker threads (the step's chunks run one by one) instead of 3")
    assert parallel_step.take_notes() == []


def test_a_fixed_thread_count_is_the_worker_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--threads 1`` (or RNNPLAY_THREADS=1) asks for one busy thread: one worker, not 4 a core."""
    monkeypatch.setattr(parallel_step, "WORKERS", None)
    monkeypatch.setattr(parallel_step.threads, "fixed_count", lambda: 1)
    assert parallel_step.worker_count() == 1
    monkeypatch.setattr(parallel_step.threads, "fixed_count", lambda: None)
    assert parallel_step.worker_count() == parallel_step.THREADS_PER_CORE * parallel_step.threads.usable_cores()
