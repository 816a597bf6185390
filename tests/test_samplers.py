"""Samplers: declared parameters, the distributions they claim, and beam search's answers."""

from __future__ import annotations

import itertools
import tracemalloc

import numpy as np
import pytest

from rnnplay.builtin.samplers import BeamSampler, GreedySampler, TopKSampler, TopPSampler
from rnnplay.core.errors import RnnplayError
from rnnplay.core.params import Param, unescape
from rnnplay.core.sampler import TEMPERATURE, StepSampler, resolve_params, take_rows
from rnnplay.plugins.host import PluginHost

TEMPERATURE_HINT = ("for the most likely character every time, choose the greedy sampler; "  # core names no command
                    "at 100 every character is already about equally likely")

LOGITS = np.array([2.0, 1.5, 0.3, 0.0, -1.0, -2.5], dtype=np.float32)
DRAWS = 8_000
CHI2_999 = {1: 10.83, 2: 13.82, 3: 16.27, 4: 18.47, 5: 20.52}  # χ² critical values at p = 0.001


def softmax(y: np.ndarray) -> np.ndarray:
    e = np.exp(y - y.max())
    return e / e.sum()


def assert_matches(sampler: StepSampler, target: np.ndarray, **params: float) -> None:
    """Draw DRAWS ids with a fixed seed: never outside the target's support, and a χ² test inside it."""
    rng = np.random.default_rng(1234)
    assert_distribution([sampler.choose(LOGITS, rng, **params) for _ in range(DRAWS)], target)


def assert_distribution(ids: list[int], target: np.ndarray) -> None:
    """DRAWS ids: never outside the target's support, and a χ² test at p = 0.001 inside it."""
    assert len(ids) == DRAWS
    counts = np.bincount(ids, minlength=len(target))
    support = target > 0
    assert counts[~support].sum() == 0, f"sampled outside the support: {counts}"
    expected = DRAWS * target[support]
    chi2 = float(((counts[support] - expected) ** 2 / expected).sum())
    df = int(support.sum()) - 1
    if df:
        assert chi2 < CHI2_999[df], f"χ² = {chi2:.1f} for counts {counts} vs expected {DRAWS * target}"


def test_temperature_matches_softmax_of_scaled_logits() -> None:
    assert_matches(TEMPERATURE, softmax(LOGITS / 0.7), temperature=0.7)
    assert_matches(TEMPERATURE, softmax(LOGITS / 1.6), temperature=1.6)


def same_logits(ids: np.ndarray, state: object) -> tuple[np.ndarray, object]:
    """A stepper whose model always says LOGITS."""
    return LOGITS[None, :], state


def test_temperature_stream_matches_softmax_across_noise_blocks() -> None:
    """generate() draws its Gumbel noise NOISE_ROWS characters at a time; DRAWS spans many blocks."""
    assert DRAWS > 10 * TEMPERATURE.NOISE_ROWS
    for T in (0.7, 1.6):
        ids = list(TEMPERATURE.generate(same_logits, LOGITS, None, DRAWS, np.random.default_rng(99), temperature=T))
        assert_distribution(ids, softmax(LOGITS / T))


def test_temperature_stream_equals_one_choose_per_character() -> None:
    """The block-drawn noise is the same numbers in the same order: one text per seed, however it is drawn."""
    table = np.random.default_rng(0).standard_normal((6, 6)).astype(np.float32)  # logits depend on the last id

    def stepper(ids: np.ndarray, state: object) -> tuple[np.ndarray, object]:
        return table[ids], state

    n = 3 * TEMPERATURE.NOISE_ROWS + 17
    streamed = list(TEMPERATURE.generate(stepper, table[0], None, n, np.random.default_rng(5), temperature=0.9))
    rng, ids, logits = np.random.default_rng(5), [], table[0]
    for _ in range(n):
        ids.append(TEMPERATURE.choose(logits, rng, temperature=0.9))
        logits = table[ids[-1]]
    assert streamed == ids


def test_top_k_keeps_the_k_best_and_applies_the_temperature() -> None:
    target = np.zeros(6)
    target[:3] = softmax(LOGITS[:3] / 0.8)
    assert_matches(TopKSampler(), target, k=3, temperature=0.8)
    assert_matches(TopKSampler(), softmax(LOGITS), k=10, temperature=1.0)  # k >= V: plain softmax


def nucleus(p: float, temperature: float) -> np.ndarray:
    """Hand-computed target: LOGITS is sorted, so keep the first m whose model probabilities reach p."""
    probs = softmax(LOGITS)
    m = int(np.argmax(np.cumsum(probs) >= p)) + 1
    target = np.zeros(6)
    target[:m] = softmax(LOGITS[:m] / temperature)
    return target


@pytest.mark.parametrize(("p", "temperature"), [(0.5, 1.0), (0.8, 1.0), (0.8, 0.6), (1.0, 1.0)])
def test_top_p_keeps_the_nucleus(p: float, temperature: float) -> None:
    assert_matches(TopPSampler(), nucleus(p, temperature), p=p, temperature=temperature)


def test_top_p_keeps_the_character_that_crosses_p() -> None:
    probs = softmax(LOGITS)
    assert probs[0] < 0.6 < probs[0] + probs[1]
    assert_matches(TopPSampler(), nucleus(0.6, 1.0), p=0.6, temperature=1.0)
    assert (nucleus(0.6, 1.0) > 0).sum() == 2


def test_greedy_equals_argmax() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        y = rng.normal(size=30).astype(np.float32)
        assert GreedySampler().choose(y, rng) == int(np.argmax(y))


@pytest.mark.parametrize(
    ("param", "text", "message"),
    [
        (TEMPERATURE.params["temperature"], "0", "temperature must be in (0, 100] (got 0); " + TEMPERATURE_HINT),
        (TEMPERATURE.params["temperature"], "-1.5", "temperature must be in (0, 100] (got -1.5); " + TEMPERATURE_HINT),
        (TEMPERATURE.params["temperature"], "1e300",
         "temperature must be in (0, 100] (got 1e+300); " + TEMPERATURE_HINT),
        (TopKSampler.params["k"], "0", "k must be >= 1 (got 0)"),
        (TopKSampler.params["k"], "2.5", "k must be an integer (got '2.5')"),
        (TopPSampler.params["p"], "0", "p must be in (0, 1] (got 0)"),
        (TopPSampler.params["p"], "1.01", "p must be in (0, 1] (got 1.01)"),
        (TopPSampler.params["p"], "nan", "p must be a finite number in (0, 1] (got nan)"),
        (TEMPERATURE.params["temperature"], "inf", "temperature must be a finite number in (0, 100] (got inf)"),
        (TEMPERATURE.params["temperature"], "nan", "temperature must be a finite number in (0, 100] (got nan)"),
        (TEMPERATURE.params["temperature"], "-inf", "temperature must be a finite number in (0, 100] (got -inf)"),
        (Param("x", float, 0.0, "unbounded"), "1e400", "x must be a finite number (got inf)"),
        (BeamSampler.params["width"], "0", "width must be in [1, 256] (got 0)"),
    ],
)
def test_out_of_range_values_name_the_bound(param: Param, text: str, message: str) -> None:
    with pytest.raises(RnnplayError) as err:
        param.parse(text)
    assert str(err.value) == message


def test_params_parse_and_check() -> None:
    flag = Param("flag", bool, False, "a switch")
    assert flag.parse("yes") is True and flag.parse("off") is False
    assert TopPSampler.params["p"].parse("1") == 1.0
    assert BeamSampler.params["end"].parse("\\n") == "\n"
    assert TEMPERATURE.params["temperature"].check(2) == 2.0  # an int is a fine float
    assert TEMPERATURE.params["temperature"].describe().startswith("temperature (float in (0, 100], default 0.7): ")
    unset = Param("steps", int, None, "total steps", min=1)  # /help train showed "default None"
    assert unset.describe() == "steps (int >= 1, unset by default): total steps"
    choice = Param("mode", str, "a", "pick one", choices=("a", "b"))
    with pytest.raises(RnnplayError, match=r"mode must be one of 'a', 'b' \(got 'c'\)"):
        choice.parse("c")


@pytest.mark.parametrize(
    ("typed", "meant"),
    [("ROMEO:\\nBut", "ROMEO:\nBut"), ("a\\tb", "a\tb"), ("a\\\\nb", "a\\nb"), ("\\\\", "\\"),
     ("c:\\x", "c:\\x"), ("end\\", "end\\"), ("\\r\\n", "\r\n"), ("plain", "plain")],
)
def test_unescape_is_one_rule(typed: str, meant: str) -> None:
    """docs/escapes.md: \\n \\t \\r \\\\ name a character; any other backslash stays."""
    assert unescape(typed) == meant


def test_resolve_params_fills_defaults_and_suggests_names() -> None:
    assert resolve_params(TopKSampler(), {"k": "5"}) == {"k": 5, "temperature": 0.7}
    with pytest.raises(RnnplayError) as err:
        resolve_params(TopKSampler(), {"temprature": "1"})
    assert str(err.value) == (
        "sampler 'top-k' has no parameter 'temprature' (did you mean 'temperature'?); its parameters: k, temperature"
    )


def test_builtin_samplers_are_registered_through_the_hook() -> None:
    host = PluginHost(load_entry_points=False)
    assert {"temperature", "greedy", "top-k", "top-p", "beam"} <= set(host.samplers)
    assert all(host.samplers[n].plugin == "rnnplay" for n in ("temperature", "beam"))
    for entry in host.samplers.values():
        assert entry.obj.help and "\n" not in entry.obj.help
        assert all(p.help and "\n" not in p.help for p in entry.obj.params.values())


# -- beam search on hand-built steppers ---------------------------------------------------------
class MarkovStepper:
    """logits = log P[last id]: a first-order chain whose state is the last id (batched), counting calls."""

    def __init__(self, start: np.ndarray, P: np.ndarray) -> None:
        self.start, self.P, self.calls = np.log(start), np.log(P), 0

    def __call__(self, ids: np.ndarray, state: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        self.calls += 1
        return self.P[ids], [ids.copy()]

    def logp(self, seq: tuple[int, ...]) -> float:
        return float(self.start[seq[0]] + sum(self.P[a, b] for a, b in itertools.pairwise(seq)))


def beam(stepper: MarkovStepper, length: int, chars: tuple[str, ...] = (), **params) -> list[int]:
    state = [np.zeros(1, dtype=np.int64)]
    values = resolve_params(BeamSampler(), params)
    return list(BeamSampler().generate(stepper, stepper.start, state, length, np.random.default_rng(0), **values,
                                       chars=chars))


def greedy(stepper: MarkovStepper, length: int) -> list[int]:
    state = [np.zeros(1, dtype=np.int64)]
    return list(GreedySampler().generate(stepper, stepper.start, state, length, np.random.default_rng(0)))


# a (0.5) is the best first character, but every continuation of it is poor; b (0.4) leads to b (0.95)
TRAP = MarkovStepper(np.array([0.5, 0.4, 0.1]), np.array([[0.34, 0.33, 0.33], [0.025, 0.95, 0.025], [0.3, 0.3, 0.4]]))


def test_beam_finds_the_better_path_that_greedy_misses() -> None:
    assert greedy(TRAP, 2) == [0, 0]  # 0.5 · 0.34 = 0.17
    assert beam(TRAP, 2, width=2) == [1, 1]  # 0.4 · 0.95 = 0.38
    assert beam(TRAP, 6, width=2) == [1] * 6


def test_beam_returns_the_highest_scoring_sequence_by_brute_force() -> None:
    rng = np.random.default_rng(5)
    for _ in range(5):
        P = rng.dirichlet(np.ones(3) * 0.5, size=3)
        chain = MarkovStepper(rng.dirichlet(np.ones(3)), P)
        length = 4
        best = max(itertools.product(range(3), repeat=length), key=chain.logp)
        assert tuple(beam(chain, length, width=27)) == best  # width V^(L-1) keeps every prefix: exact


def test_beam_width_one_equals_greedy() -> None:
    rng = np.random.default_rng(6)
    for _ in range(5):
        chain = MarkovStepper(rng.dirichlet(np.ones(5)), rng.dirichlet(np.ones(5), size=5))
        assert beam(chain, 12, width=1) == greedy(chain, 12)


def test_beam_streams_the_shared_prefix_before_it_ends() -> None:
    # after 'a', both a and b are good, so the beam starting with 'b' dies at step 2 and 'a' is settled
    chain = MarkovStepper(np.array([0.6, 0.4, 1e-9]), np.array([[0.5, 0.5, 1e-9], [0.2, 0.2, 0.6], [0.4, 0.3, 0.3]]))
    state = [np.zeros(1, dtype=np.int64)]
    stream = BeamSampler().generate(chain, chain.start, state, 20, np.random.default_rng(0), width=2, alpha=0.0)
    first = next(stream)
    assert first == 0 and chain.calls <= 2  # yielded long before the 19 steps are done
    assert len([first, *stream]) == 20


def test_beam_streams_a_length_too_large_to_hold_in_memory_width_by_length() -> None:
    """`rnnplay sample --sampler beam --length 10**12 | head`: what is settled is yielded and forgotten, so memory
    follows the undecided characters, not width x length (4 x 10**12 ids would be 32 TB)."""
    # "a" again and again is the most likely text; a beam that leaves it falls further behind at every step,
    # so the beams settle each character a few steps later (a chain whose rival paths never die would not)
    leaves = [1e-9, 0.5, 0.5]  # from b or c, never back to a
    chain = MarkovStepper(np.array([0.9, 0.05, 0.05]), np.array([[0.9, 0.05, 0.05], leaves, leaves]))
    beam(chain, 20)  # numpy's one-time allocations happen outside the measurement

    def peak_memory(chars: int) -> int:
        state = [np.zeros(1, dtype=np.int64)]
        tracemalloc.start()
        try:
            stream = BeamSampler().generate(chain, chain.start, state, 10**12, np.random.default_rng(0), width=4)
            assert sum(1 for c in itertools.islice(stream, chars) if c == 0) == chars
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    short, long = peak_memory(1_000), peak_memory(10_000)
    assert long < 2_000_000 and long < 1.2 * short + 65_536, (short, long)  # ten times the text, the same memory


def test_beam_end_finishes_beams_and_length_normalisation_ranks_them() -> None:
    # id 2 is the end character: ending at once (0.5) beats "a" + end (0.3 · 0.9 = 0.27) on raw probability,
    # but per character "a\n" (ln 0.27 / 2 = -0.65) beats "\n" (ln 0.5 = -0.69)
    chain = MarkovStepper(np.array([0.3, 0.2, 0.5]), np.array([[0.05, 0.05, 0.9], [1 / 3] * 3, [1 / 3] * 3]))
    chars = ("a", "b", "\n")
    assert beam(chain, 10, chars, width=4, end="\n", alpha=0.0) == [2]
    assert beam(chain, 10, chars, width=4, end="\n", alpha=1.0) == [0, 2]
    # at least two characters: "a\n" (0.27) is the best finished beam that long, ahead of "\n\n" (0.17)
    assert beam(chain, 10, chars, width=4, end="\n", alpha=0.0, min_length=2) == [0, 2]
    assert beam(chain, 10, chars, width=4, end="\n", alpha=0.0, min_length=3)[-1] == 2
    assert chain.calls < 2 * 9  # both searches stopped early: no live beam could catch up
    with pytest.raises(RnnplayError, match="never seen"):
        beam(chain, 5, chars, end="z")


def test_take_rows_reorders_nested_states() -> None:
    state = [(np.arange(3)[:, None] * np.ones((3, 2)), np.arange(3.0)), (np.arange(3),)]
    picked = take_rows(state, np.array([2, 2, 0]))
    assert picked[0][1].tolist() == [2, 2, 0] and picked[1][0].tolist() == [2, 2, 0]
    assert isinstance(picked, list) and isinstance(picked[0], tuple)
