"""The min-p sampler: its distribution, its bounds, and its registration through the entry point."""

from __future__ import annotations

import numpy as np
import pytest
from rnnplay.core.cells import LSTMCell
from rnnplay.core.errors import RnnplayError
from rnnplay.core.generate import generate
from rnnplay.core.model import Model
from rnnplay.core.sampler import Sampler
from rnnplay.core.vocab import Vocab
from rnnplay.plugins.host import PluginHost

from rnnplay_minp import MinPSampler

LOGITS = np.array([2.0, 1.5, 0.3, 0.0, -1.0, -2.5], dtype=np.float32)
CHI2_999 = {1: 10.83, 2: 13.82, 3: 16.27, 4: 18.47, 5: 20.52}  # χ² critical values at p = 0.001


def target(min_p: float, temperature: float) -> np.ndarray:
    """Computed by hand: the model's probabilities, the cut, then the temperature on what is left."""
    p = np.exp(LOGITS - LOGITS.max())
    p /= p.sum()
    keep = p >= min_p * p.max()
    w = np.where(keep, np.exp(LOGITS / temperature), 0.0)
    return w / w.sum()


@pytest.mark.parametrize(("min_p", "temperature"), [(0.2, 1.0), (0.05, 0.7), (0.05, 2.0), (0.0, 1.0), (1.0, 1.0)])
def test_samples_follow_the_min_p_distribution(min_p: float, temperature: float) -> None:
    want = target(min_p, temperature)
    rng = np.random.default_rng(99)
    draws = 8_000
    counts = np.bincount([MinPSampler().choose(LOGITS, rng, min_p, temperature) for _ in range(draws)], minlength=6)
    support = want > 0
    assert counts[~support].sum() == 0
    expected = draws * want[support]
    df = int(support.sum()) - 1
    if df:
        assert float(((counts[support] - expected) ** 2 / expected).sum()) < CHI2_999[df]


def test_the_cut_is_relative_to_the_top_probability() -> None:
    # p / p_max = exp(y - max y) = 1, 0.61, 0.18, 0.14, 0.05, 0.01
    assert (target(0.2, 1.0) > 0).sum() == 2
    assert (target(0.1, 1.0) > 0).sum() == 4


def test_bounds_are_named() -> None:
    with pytest.raises(RnnplayError, match=r"min_p must be in \[0, 1\] \(got 1.5\)"):
        MinPSampler.params["min_p"].parse("1.5")


def test_is_registered_through_the_entry_point_and_generates() -> None:
    host = PluginHost()
    assert host.samplers["min-p"].plugin == "rnnplay-minp"
    assert not [f for f in host.failures if f.plugin == "rnnplay-minp"]
    sampler = host.get("samplers", "min-p")
    assert isinstance(sampler, Sampler)
    model = Model(LSTMCell(), Vocab(tuple("abcdef ")), 8, 1)
    out = "".join(generate(model, "abc", sampler, {"min_p": "0.3"}, 25, np.random.default_rng(0)))
    assert len(out) == 25 and set(out) <= set("abcdef ")
