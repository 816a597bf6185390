"""Adam's step and the weight average in one compiled pass, cut into pieces on the step's threads: numpy's numbers."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from numpy_updates import numpy_updates

from rnnplay.core import averaging, jit, optim, pieces
from rnnplay.core.optim import UPDATE_KERNELS

# Two model sizes: one below pieces.SMALL (one piece, on the caller's thread), one above it (a piece per core).
SMALL_SHAPES = [(65, 64), (16, 64), (64,), (16, 65), (65,)]
LARGE_SHAPES = [(65, 1024), (256, 1024), (1024,), (256, 65), (65,)]


def arrays(shapes: list[tuple[int, ...]], seed: int, scale: float = 1.0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {f"w{i}": (rng.standard_normal(s) * scale).astype(np.float32) for i, s in enumerate(shapes)}


def copies(a: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: v.copy() for k, v in a.items()}


def test_the_kernels_load() -> None:
    assert jit.load(UPDATE_KERNELS) is not None, "numba is installed with rnnplay, but the update kernels did not load"


@pytest.mark.parametrize("shapes", [SMALL_SHAPES, LARGE_SHAPES], ids=["one piece", "a piece per core"])
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_compiled_adam_takes_numpys_steps_bit_for_bit(shapes: list, weight_decay: float,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    start = arrays(shapes, seed=1)
    compiled, reference = optim.Adam(copies(start), weight_decay), optim.Adam(copies(start), weight_decay)
    ours, theirs = copies(start), copies(start)
    for step in range(6):
        grads = arrays(shapes, seed=10 + step, scale=10.0 ** -step)  # tiny gradients too: ε matters there
        update = compiled.propose(ours, grads, 3e-3)
        assert update.checked is True, "the compiled pass should have checked finiteness"
        compiled.apply(ours, update)
        with monkeypatch.context() as numpy_step:
            numpy_updates(numpy_step)
            expected = reference.propose(theirs, grads, 3e-3)
        assert expected.checked is None and expected.finite()
        reference.apply(theirs, expected)
    for name in start:
        np.testing.assert_array_equal(ours[name], theirs[name])
        for slot in ("m", "v"):
            np.testing.assert_array_equal(compiled.state[slot][name], reference.state[slot][name])
    assert compiled.t == reference.t == 6


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_a_step_that_would_make_a_weight_non_finite_is_found_in_the_same_pass(bad: float) -> None:
    params = arrays(LARGE_SHAPES, seed=2)
    adam = optim.Adam(copies(params))
    grads = arrays(LARGE_SHAPES, seed=3)
    grads["w1"][200, 1000] = bad  # in the last piece of the large matrix
    update = adam.propose(params, grads, 1e-3)
    assert update.finite() is False
    assert adam.t == 0 and not any(a.any() for a in adam.state["m"].values()), "propose changed the optimizer"


def test_float64_weights_take_the_numpy_step() -> None:
    params = {k: v.astype(np.float64) for k, v in arrays(SMALL_SHAPES, seed=4).items()}
    update = optim.Adam(copies(params)).propose(params, {k: np.ones_like(v) for k, v in params.items()}, 1e-3)
    assert update.checked is None and update.finite()
    assert all(a.dtype == np.float64 for a in update.params.values())


@pytest.mark.parametrize("shapes", [SMALL_SHAPES, LARGE_SHAPES], ids=["one piece", "a piece per core"])
def test_the_compiled_weight_average_is_numpys(shapes: list, monkeypatch: pytest.MonkeyPatch) -> None:
    start = arrays(shapes, seed=5)
    model_a, model_b = copies(start), copies(start)
    compiled, reference = averaging.WeightAverage(0.999, model_a), averaging.WeightAverage(0.999, model_b)
    for t in range(1, 8):
        moves = arrays(shapes, seed=20 + t)
        for name, d in moves.items():
            compiled.raw[name] += d
            reference.raw[name] += d
        compiled.update(t)
        with monkeypatch.context() as numpy_step:
            numpy_updates(numpy_step)
            reference.update(t)
    for name in start:
        np.testing.assert_array_equal(compiled.average[name], reference.average[name])
        np.testing.assert_array_equal(model_a[name], model_b[name])  # the model holds the average after each update
        np.testing.assert_array_equal(model_a[name], compiled.average[name])


@pytest.mark.parametrize("n", [0, 1, 7, 64, 1001])
@pytest.mark.parametrize("count", [1, 2, 3, 8])
def test_the_pieces_of_an_array_cover_each_number_once(n: int, count: int) -> None:
    a = np.zeros((n, 3), dtype=np.float32)
    for k in range(count):
        view = pieces.Piece(k, count).of(a)
        assert np.shares_memory(view, a) or view.size == 0
        view += 1
    assert (a == 1).all()


def test_a_piece_of_an_array_that_is_not_contiguous_is_refused() -> None:
    with pytest.raises(ValueError, match="not C-contiguous"):
        pieces.Piece(0, 2).of(np.zeros((4, 4), dtype=np.float32).T)


def test_pieces_run_on_worker_threads_and_come_back_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pieces.threads, "usable_cores", lambda: 3)
    seen: list[str] = []

    def work(piece: pieces.Piece) -> int:
        seen.append(threading.current_thread().name)
        return piece.index

    assert pieces.run(work, pieces.SMALL) == [0, 1, 2]
    assert all(name.startswith("rnnplay-step") for name in seen)
    assert pieces.run(work, pieces.SMALL - 1) == [0]  # a small pass: whole, here
    assert seen[-1] == threading.current_thread().name


def test_a_piece_that_fails_fails_the_pass_after_the_others_end(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pieces.threads, "usable_cores", lambda: 4)
    # a pool that runs the 4 pieces at once, whatever thread count an earlier test in this process fixed
    monkeypatch.setattr(pieces.parallel_step, "WORKERS", 4)
    finished: list[int] = []
    all_started, release = threading.Barrier(4), threading.Event()

    def work(piece: pieces.Piece) -> None:
        all_started.wait(timeout=10)  # every piece is running (none can be cancelled) when piece 0 fails
        if piece.index == 0:
            raise RuntimeError("piece 0 broke")
        release.wait(timeout=10)
        finished.append(piece.index)

    threading.Timer(0.2, release.set).start()
    with pytest.raises(RuntimeError, match="piece 0 broke"):
        pieces.run(work, pieces.SMALL)
    assert sorted(finished) == [1, 2, 3], "the pass returned while other pieces were still running"
