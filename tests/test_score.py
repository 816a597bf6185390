"""Scoring a text: loss in nats and bits, per-character probabilities, top-k alternatives."""

from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rnnplay.core import jit
from rnnplay.core import score as score_module
from rnnplay.core.cells import LSTMCell
from rnnplay.core.errors import RnnplayError
from rnnplay.core.generate import prime_seed
from rnnplay.core.model import Model
from rnnplay.core.ops import log_softmax
from rnnplay.core.score import RunningScore, score_text, unknown_summary
from rnnplay.core.vocab import Vocab
from rnnplay.models.bundled import save_model
from rnnplay.ui.cli import cmd_score, main

TEXT = "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n"


@pytest.fixture
def model() -> Model:
    m = Model(LSTMCell(), Vocab.from_text(TEXT), 16, 2, seed=2)
    for p in m.params.values():
        p *= 2.0
    return m


def test_loss_is_the_mean_negative_log_probability_of_characters_two_to_n(model: Model) -> None:
    ids = model.vocab.encode(TEXT)
    logits, _, _ = model.forward(ids[:-1, None], model.initial_state(1))
    logp = log_softmax(logits[:, 0].astype(np.float64))[np.arange(len(ids) - 1), ids[1:]]
    s = score_text(model, TEXT)
    assert s.probs.shape == (len(TEXT) - 1,)
    np.testing.assert_allclose(s.probs, np.exp(logp), rtol=1e-5)
    assert s.nats_per_char == pytest.approx(-logp.mean(), rel=1e-6)
    assert s.bits_per_char == pytest.approx(s.nats_per_char / math.log(2))
    assert s.nats_per_char == pytest.approx(model.evaluate(ids, batch_size=1), rel=1e-5)  # the training loss


def test_top_k_alternatives_are_sorted_and_consistent(model: Model) -> None:
    s = score_text(model, TEXT, top_k=4)
    assert s.top_ids.shape == s.top_probs.shape == (len(TEXT) - 1, 4)
    assert (np.diff(s.top_probs, axis=1) <= 0).all()
    assert (s.top_probs[:, 0] >= s.probs - 1e-6).all()  # nothing beats the most likely alternative
    ids = model.vocab.encode(TEXT)[1:]
    hit = s.top_ids == ids[:, None]
    np.testing.assert_allclose(s.top_probs[hit], s.probs[hit.any(axis=1)], rtol=1e-5)
    alt = s.alternatives(0)
    assert len(alt) == 4 and alt[0][0] in model.vocab.chars and alt[0][1] == pytest.approx(s.top_probs[0, 0])


def test_chunks_carry_the_state(model: Model, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = score_text(model, TEXT)
    monkeypatch.setattr(score_module, "CHUNK", 7)
    chunked = score_text(model, TEXT)
    np.testing.assert_allclose(chunked.probs, whole.probs, rtol=1e-5)


def test_running_score_matches_score_text(model: Model) -> None:
    s = score_text(model, TEXT[:30])
    ids = model.vocab.encode(TEXT[:30])
    running = RunningScore(model, prime_seed(model, TEXT[:1]))
    np.testing.assert_allclose([running.push(int(i)) for i in ids[1:]], s.probs, rtol=1e-4)


def test_bad_texts_get_one_line_errors(model: Model) -> None:
    with pytest.raises(RnnplayError, match="at least two characters"):
        score_text(model, "T")
    with pytest.raises(RnnplayError, match=r"has 2 characters the model has never seen \(1 distinct: 'é'\)"):
        score_text(model, "To bé é")


def test_unknown_characters_are_counted_and_at_most_ten_named(model: Model) -> None:
    strange = "".join(chr(0x400 + i) for i in range(14))
    summary = unknown_summary(model.vocab, "To be" + strange + strange[0])
    assert summary.startswith("15 characters the model has never seen (14 distinct: 'Ѐ' 'Ё' ")
    assert summary.endswith("'Љ' and 4 more)")
    assert unknown_summary(model.vocab, "To be") == ""


SHAKESPEARE = Path("/work/shared/corpora/tinyshakespeare.txt")


@pytest.mark.skipif(not SHAKESPEARE.exists(), reason="needs the tinyshakespeare corpus")
def test_ctrl_c_while_scoring_a_file_says_the_loss_of_the_part_scored_marked_partial(tmp_path: Path) -> None:
    text = SHAKESPEARE.read_text() * 8  # long enough that Ctrl-C lands well before the end
    (tmp_path / "big.txt").write_text(text)
    model = Model(LSTMCell(), Vocab.from_text(text), 128, 2, seed=2)
    save_model(tmp_path / "m.npz", model)
    proc = subprocess.Popen([sys.executable, "-m", "rnnplay", "score", "m.npz", "--file", "big.txt"], cwd=tmp_path,
                            env={**os.environ, "RNNPLAY_THREADS": "1"}, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:  # the estimate line comes once the first chunks are scored
        if line.startswith("rnnplay: scoring"):
            break
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:  # what it had said by then tells a lost Ctrl-C from an exit that was slow
        proc.kill()
        pytest.fail(f"still running 120 s after SIGINT; its stderr since the estimate: {proc.communicate()[1]!r}")
    assert proc.returncode == 130 and out == "" and "Traceback" not in err, err
    [said] = err.strip().splitlines()
    match = re.fullmatch(r"rnnplay: interrupted after ([\d,]+) of ([\d,]+) characters of big\.txt: "
                         r"([\d.]+) nats/char \(([\d.]+) bits\) on the part scored \(partial\)", said)
    assert match is not None, said
    done, total = (int(match[i].replace(",", "")) for i in (1, 2))
    assert 0 < done < total == len(text) - 1
    part = text[:done + 1]
    assert float(match[3]) == pytest.approx(score_text(model, part).nats_per_char, abs=2e-4)


@pytest.mark.parametrize("length", [83, cmd_score.COMPILE_FROM])
def test_score_turns_the_compiled_kernels_off_for_a_short_text_as_sample_does(model: Model, tmp_path: Path,
                                                                              length: int) -> None:
    """Loading the kernels cost a short text's score more CPU than they saved (docs/performance.md); a text of
    COMPILE_FROM characters or more keeps them."""
    save_model(tmp_path / "m.npz", model)
    text = (TEXT * (length // len(TEXT) + 1))[:length]
    assert main(["score", str(tmp_path / "m.npz"), "--text", text]) == 0
    assert jit.enabled() == (length >= cmd_score.COMPILE_FROM)
