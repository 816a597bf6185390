"""Streaming generation: priming, reproducibility, stop strings, cancel, unknown seed characters."""

from __future__ import annotations

import re
import threading
from typing import Any

import numpy as np
import pytest

from rnnplay.builtin.samplers import BeamSampler, GreedySampler
from rnnplay.core import generate as generate_module
from rnnplay.core.cells import LSTMCell
from rnnplay.core.errors import RnnplayError
from rnnplay.core.generate import PRIME_CHUNK, generate, prime, prime_seed
from rnnplay.core.model import Model, States
from rnnplay.core.sampler import TEMPERATURE, Sampler
from rnnplay.core.vocab import Vocab
from rnnplay.plugins.host import get_host

ALPHABET = "\n !,.:;?ERSTabcdehilmnorstuw"


@pytest.fixture
def model() -> Model:
    m = Model(LSTMCell(), Vocab(tuple(sorted(ALPHABET))), 24, 2, seed=7)
    for p in m.params.values():  # sharper than the default init, so samples are not uniform noise
        p *= 3.0
    return m


def text(model: Model, seed: str = "To be", length: int = 80, rng_seed: int = 1, sampler: Sampler = TEMPERATURE,
         **kw: Any) -> str:
    params = kw.pop("params", {"temperature": 1.0} if sampler is TEMPERATURE else {})
    return "".join(generate(model, seed, sampler, params, length, np.random.default_rng(rng_seed), **kw))


def test_streams_exactly_length_characters_from_the_alphabet(model: Model) -> None:
    out = text(model, length=120)
    assert len(out) == 120 and set(out) <= set(ALPHABET)
    assert text(model, length=0) == ""
    assert len(text(model, seed="", length=10)) == 10  # no seed: the zero state's prediction


def test_same_rng_seed_same_text_and_another_seed_differs(model: Model) -> None:
    assert text(model, rng_seed=3) == text(model, rng_seed=3)
    assert text(model, rng_seed=3) != text(model, rng_seed=4)
    assert text(model, sampler=BeamSampler(), params={"width": 3}) == text(model, sampler=BeamSampler(),
                                                                              params={"width": 3}, rng_seed=9)


def test_prime_equals_stepping_through_the_seed(model: Model) -> None:
    ids = model.vocab.encode("Tis the true one")
    logits, _ = prime(model, ids)
    step_states = model.initial_state(1)
    for i in ids:
        step_logits, step_states = model.step(np.array([i]), step_states)
    np.testing.assert_allclose(logits, step_logits[0], rtol=1e-4, atol=1e-5)


def test_greedy_continuation_is_the_argmax_path(model: Model) -> None:
    out = text(model, sampler=GreedySampler(), length=15)
    logits, states = prime(model, model.vocab.encode("To be"))
    expected = []
    for _ in range(15):
        i = int(np.argmax(logits))
        expected.append(model.vocab.chars[i])
        logits, states = model.step(np.array([i]), states)
        logits = logits[0]
    assert out == "".join(expected)
    assert text(model, sampler=BeamSampler(), params={"width": 1}, length=15) == out


def test_stop_string_ends_the_stream_right_after_it(model: Model) -> None:
    full = text(model, length=400)
    stop = next(full[i : i + 2] for i in range(100, 398) if full.find(full[i : i + 2]) >= 20)
    cut = text(model, length=400, stop=stop)
    assert cut == full[: full.find(stop) + len(stop)]
    assert cut.endswith(stop) and stop not in cut[:-1]


def count_steps(model: Model) -> list[int]:
    """Count the model steps that generation makes (through the steppers it asks the model for)."""
    calls = [0]
    make_stepper = model.stepper

    def counting_stepper():
        step = make_stepper()

        def counting(ids: np.ndarray, states: States) -> tuple[np.ndarray, States]:
            calls[0] += 1
            return step(ids, states)

        return counting

    model.stepper = counting_stepper  # type: ignore[method-assign]
    return calls


@pytest.mark.parametrize("sampler", [TEMPERATURE, BeamSampler()])
def test_cancel_stops_within_one_step(model: Model, sampler: Sampler) -> None:
    cancel = threading.Event()
    calls = count_steps(model)
    stream = generate(model, "To be", sampler, {}, 10_000, np.random.default_rng(0), cancel=cancel)
    got = []
    for ch in stream:
        got.append(ch)
        if calls[0] >= 5:
            cancel.set()
            at_cancel = calls[0]
    assert calls[0] == at_cancel  # not a single model step after the cancel
    assert len(got) < 50


def test_cancel_from_another_thread(model: Model) -> None:
    cancel = threading.Event()
    first = threading.Event()
    got: list[str] = []

    def consume() -> None:
        for ch in generate(model, "To be", TEMPERATURE, {}, 1_000_000, np.random.default_rng(0), cancel=cancel):
            got.append(ch)
            first.set()

    worker = threading.Thread(target=consume)
    worker.start()
    assert first.wait(30)
    cancel.set()
    worker.join(30)
    assert not worker.is_alive() and 0 < len(got) < 1_000_000


def test_unknown_seed_characters_are_skipped_or_refused(model: Model) -> None:
    assert model.vocab.unknown("To bé, ok") == ["é", "k"]
    assert text(model, seed="To bé, ok") == text(model, seed="To b, o")
    with pytest.raises(RnnplayError, match="never seen 'é', 'k'"):
        generate(model, "To bé, ok", TEMPERATURE, {}, 10, np.random.default_rng(0), on_unknown="error")


def test_bad_parameters_fail_before_anything_is_generated(model: Model) -> None:
    with pytest.raises(RnnplayError, match=r"temperature must be in \(0, 100\] \(got 0\)"):
        generate(model, "To", TEMPERATURE, {"temperature": "0"}, 10, np.random.default_rng(0))
    with pytest.raises(RnnplayError, match="has no parameter 'widht' \\(did you mean 'width'\\?\\)"):
        generate(model, "To", BeamSampler(), {"widht": 3}, 10, np.random.default_rng(0))
    with pytest.raises(RnnplayError, match="length must be >= 0"):
        generate(model, "To", TEMPERATURE, {}, -1, np.random.default_rng(0))


def test_a_long_seed_is_read_before_generate_returns_its_progress_heard_and_a_cancel_stops_the_reading(
        model: Model) -> None:
    seed = "To be, or not to be: that is the true one.\n" * 100  # four chunks and a part
    heard: list[float] = []
    stream = generate(model, seed, TEMPERATURE, {}, 20, np.random.default_rng(0), progress=heard.append)
    n = len(seed)
    assert heard == [min(k + PRIME_CHUNK, n) / n for k in range(0, n, PRIME_CHUNK)]  # all read, nothing asked yet
    assert "".join(stream) == text(model, seed=seed, length=20, rng_seed=0, params={})

    cancel = threading.Event()
    heard.clear()
    stream = generate(model, seed, TEMPERATURE, {}, 20, np.random.default_rng(0), cancel=cancel,
                      progress=lambda fraction: (heard.append(fraction), cancel.set()))
    assert heard == [PRIME_CHUNK / n] and list(stream) == []  # stopped after the chunk it was in


def test_a_seed_read_once_starts_every_continuation_as_the_text_would(model: Model,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    seed = "To be, or not to be: that is the true one.\n" * 30  # two chunks
    runs = ((TEMPERATURE, {"temperature": 1.0}), (GreedySampler(), {}), (BeamSampler(), {"width": 3}))
    expected = [text(model, seed=seed, length=40, rng_seed=5, sampler=sampler, params=params)
                for sampler, params in runs]
    reads: list[int] = []
    real_prime = generate_module.prime
    monkeypatch.setattr(generate_module, "prime", lambda m, ids, *a: reads.append(len(ids)) or real_prime(m, ids, *a))
    primed = prime_seed(model, seed)
    logits, states = primed.fresh()
    got = ["".join(generate(model, primed, sampler, params, 40, np.random.default_rng(5))) for sampler, params in runs]
    assert got == expected and reads == [len(seed)]  # read once, continued three times
    stopped = threading.Event()
    stopped.set()
    assert list(generate(model, primed, TEMPERATURE, {}, 40, np.random.default_rng(5), cancel=stopped)) == []
    np.testing.assert_array_equal(primed.logits, logits)  # the reading itself is left as it was
    for kept, now in zip(states, primed.states, strict=True):
        for a, b in zip(kept, now, strict=True):
            np.testing.assert_array_equal(a, b)


class Gives:
    """A plugin's sampler that yields one fixed id."""

    name, help, params = "gives", "one id", {}

    def __init__(self, i: object) -> None:
        self.i = i

    def generate(self, stepper, logits, state, length, rng, **params):
        yield self.i


@pytest.mark.parametrize("i", [-1, 10**6, 2.0, True, "a", np.int64(10**9)])
def test_an_id_that_is_no_character_is_said_in_one_line(model: Model, i: object) -> None:
    """-1 had a clear line; 10**6 said 'IndexError: tuple index out of range', 2.0 a TypeError, True was the id 1."""
    with pytest.raises(ValueError, match=re.escape(f"the sampler gave the character id {i!r}, not one of 0 to")):
        list(generate(model, "ab", Gives(i), {}, 5, np.random.default_rng(0)))


class Steps:
    """A plugin's sampler that steps the model with fixed ids, then yields a good one."""

    name, help, params = "steps", "steps with ids", {}

    def __init__(self, ids: list[int]) -> None:
        self.ids = np.array(ids)

    def generate(self, stepper, logits, state, length, rng, **params):
        stepper(self.ids, state)
        yield 0


@pytest.mark.parametrize("cell", ["lstm", "lnlstm", "rnn"])
@pytest.mark.parametrize("ids", [[-1], [99], [0, 1, 99]])
def test_stepping_the_model_with_an_id_that_is_no_character_is_said(cell: str, ids: list[int]) -> None:
    """The cells' table lookups clamp an id out of range to the first or last row, which sampled on silently."""
    text = "abcdefghij" * 20
    built = Model(get_host().cell(cell), Vocab.from_text(text), 8, 1)
    said = f"stepped the model with the character ids {ids}, not all of 0 to 9"
    with pytest.raises(ValueError, match=re.escape(said)):
        list(generate(built, "ab", Steps(ids), {}, 5, np.random.default_rng(0)))
