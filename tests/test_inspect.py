"""Looking inside a model: activations, condition signals, unit ranking, and `rnnplay neurons`."""

from __future__ import annotations

import os
import subprocess
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from rnnplay.core.cells.layernorm_lstm import LayerNormLSTMCell
from rnnplay.core.cells.lstm import LSTMCell
from rnnplay.core.cells.rnn import RNNCell
from rnnplay.core.errors import RnnplayError
from rnnplay.core.model import Model
from rnnplay.core.neurons import (
    Cancelled,
    Unit,
    activations,
    char_probabilities,
    condition_signal,
    correlations,
    find_neurons,
    rank_units,
    read_states,
    unit_activations,
)
from rnnplay.core.vocab import Vocab
from rnnplay.models.bundled import BUNDLED_MODEL, save_model
from rnnplay.ui.cli import main

PAREN_TEXT = "ab (ba ab) ba\nab (a b) (bb) aa ba (abba) b\n" * 3 + "a (b) ab ab (ab ba) b\n"


def parens_model() -> Model:
    """A 1-layer RNN of 6 units where unit 0 is a hand-wired 'inside parentheses' latch.

    h0_t = tanh(6·h0_{t-1} - 2 + in_t) with in = +20 for '(' and -20 for ')', 0 otherwise:
    from h0 = 0, tanh(-2) ≈ -0.96 and then -1 is a fixed point (tanh(-8)); '(' flips it to
    +1, which is also a fixed point (tanh(4) ≈ 0.999); ')' flips it back. The other units
    are random and do not read unit 0.
    """
    vocab = Vocab.from_text(PAREN_TEXT)
    model = Model(RNNCell(), vocab, hidden_size=6, num_layers=1, seed=3, dtype=np.float64)
    p = model.params
    p["layers.0.W_xh"][:, 0] = 0.0
    p["layers.0.W_xh"][vocab.chars.index("("), 0] = 20.0
    p["layers.0.W_xh"][vocab.chars.index(")"), 0] = -20.0
    p["layers.0.W_hh"][:, 0] = 0.0
    p["layers.0.W_hh"][0, :] = 0.0
    p["layers.0.W_hh"][0, 0] = 6.0
    p["layers.0.b_h"][0] = -2.0
    return model


def random_model(cell, layers: int = 2) -> Model:
    return Model(cell, Vocab.from_text(PAREN_TEXT), hidden_size=8, num_layers=layers, seed=1, dtype=np.float64)


@pytest.mark.parametrize("cell", [RNNCell(), LSTMCell(), LayerNormLSTMCell()], ids=["rnn", "lstm", "lnlstm"])
def test_activations_equal_the_forward_pass_of_every_layer(cell) -> None:
    model = random_model(cell)
    acts = activations(model, PAREN_TEXT)
    assert acts.shape == (len(PAREN_TEXT), 2, 8)
    x = model.vocab.encode(PAREN_TEXT)[:, None]
    for layer in range(2):
        h_seq, _, _ = cell.forward(model.layers[layer], x, model.initial_state(1)[layer])
        np.testing.assert_allclose(acts[:, layer], h_seq[:, 0], atol=1e-12)
        x = h_seq


def test_parallel_streams_read_each_piece_from_a_fresh_state() -> None:
    model = random_model(LSTMCell())
    text = PAREN_TEXT[:50]
    acts = activations(model, text, which="c", streams=3)  # pieces of 17, 17 and 16 characters
    assert acts.shape == (50, 2, 8)
    for start, stop in ((0, 17), (17, 34), (34, 50)):
        np.testing.assert_allclose(acts[start:stop], activations(model, text[start:stop], which="c"), atol=1e-12)


def test_one_reading_gives_h_and_c_with_progress_and_a_cancel() -> None:
    model = random_model(LSTMCell())
    fractions: list[float] = []
    both = read_states(model, PAREN_TEXT, ("h", "c"), streams=2, progress=fractions.append)
    for which in ("h", "c"):
        np.testing.assert_array_equal(both[which], activations(model, PAREN_TEXT, which, streams=2))
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and 0 < fractions[0] < 0.1
    asked = []
    with pytest.raises(Cancelled, match=f"stopped after reading 6 of {len(PAREN_TEXT)} characters"):
        activations(model, PAREN_TEXT, streams=2, cancel=lambda: asked.append(1) or len(asked) > 3)
    with pytest.raises(RnnplayError, match="no cell state c"):
        read_states(random_model(RNNCell()), PAREN_TEXT, ("h", "c"))


def test_lstm_cell_state_matches_the_forward_state_and_rnn_has_none() -> None:
    model = random_model(LSTMCell())
    c = activations(model, PAREN_TEXT, which="c")
    ids = model.vocab.encode(PAREN_TEXT)
    for k in (1, 7, len(ids)):
        _, states, _ = model.forward(ids[:k, None], model.initial_state(1))
        for layer in range(2):
            np.testing.assert_allclose(c[k - 1, layer], states[layer][1][0], atol=1e-12)
    with pytest.raises(RnnplayError, match="no cell state"):
        activations(random_model(RNNCell()), "ab", which="c")
    with pytest.raises(RnnplayError, match="never seen"):
        activations(model, "abz")


def test_condition_signals_on_small_strings() -> None:
    text = "He said \"hi (x)\" and 'yes' don't.\n[a]\nxy"

    def bits(name: str) -> str:
        return "".join(str(int(v)) for v in condition_signal(text, name))

    #                                  He said "hi (x)" and 'yes' don't.¶[a]¶xy   (¶ = newline)
    assert bits("inside-quotes") ==      "0000000011111110000001111000000000000000"
    assert bits("inside-parens") ==      "0000000000001100000000000000000000110000"
    assert bits("after-newline") ==      "1000000000000000000000000000000000100010"
    assert bits("regex:[a-z]{2,}") ==    "0001111001100000011100111001110000000011"
    pos = condition_signal("abc\nde\n", "line-position")
    np.testing.assert_allclose(pos, np.array([0, 1, 2, 3, 0, 1, 2]) / 3)
    # an unclosed quote ends at a blank line; a nested quote of the other kind is just text
    assert "".join(str(int(v)) for v in condition_signal("'tis\n\nab", "inside-quotes")) == "11111000"
    assert "".join(str(int(v)) for v in condition_signal('"a \'b\' c" d', "inside-quotes")) == "11111111000"


def test_bad_conditions_are_one_line_errors() -> None:
    with pytest.raises(RnnplayError, match="unknown condition 'inside-braces': use one of inside-quotes"):
        condition_signal("abc", "inside-braces")
    with pytest.raises(RnnplayError, match="bad regular expression"):
        condition_signal("abc", "regex:(")
    with pytest.raises(RnnplayError, match="regex: needs a pattern after it"):  # not 'never changes'
        condition_signal("abc", "regex:")
    with pytest.raises(RnnplayError, match="never changes"):
        find_neurons(parens_model(), "ab ba", "inside-parens")


def test_correlations_match_numpy_corrcoef() -> None:
    rng = np.random.default_rng(0)
    acts = rng.normal(size=(200, 2, 5))
    acts[:, 1, 4] = 0.3  # a dead unit
    signal = (rng.random(200) < 0.3).astype(float)
    r = correlations(acts, signal)
    for i in range(2):
        for j in range(5):
            expected = 0.0 if (i, j) == (1, 4) else np.corrcoef(acts[:, i, j], signal)[0, 1]
            assert r[i, j] == pytest.approx(expected, abs=1e-12)
    ranked = rank_units(acts, signal, top=10)
    assert [abs(s.correlation) for s in ranked] == sorted((abs(s.correlation) for s in ranked), reverse=True)


def test_the_hand_wired_parenthesis_unit_is_ranked_first() -> None:
    scores = find_neurons(parens_model(), PAREN_TEXT, "inside-parens", top=3)
    assert len(scores) == 3
    assert (scores[0].layer, scores[0].unit) == (0, 0)
    assert scores[0].correlation > 0.99
    assert abs(scores[1].correlation) < 0.9


def test_char_probabilities_line_up_with_the_text() -> None:
    model = random_model(LSTMCell())
    score = char_probabilities(model, "abba")
    assert score.probs.shape == (3,) and score.top_ids.shape == (3, 5)
    assert np.all((score.probs > 0) & (score.probs < 1))


# -- the CLI ----------------------------------------------------------------------------------


def rnnplay(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rnnplay", *args], cwd=cwd, capture_output=True, text=True)


def test_cli_ranks_units_and_colours_a_text(tmp_path: Path) -> None:
    save_model(tmp_path / "parens.npz", parens_model())
    r = rnnplay("neurons", "parens.npz", "--find", "inside-parens", "--text", PAREN_TEXT, "--top", "3", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("units whose h tracks inside-parens over")
    rank, layer, unit, corr = lines[2].split()
    assert (rank, layer, unit) == ("1", "0", "0") and float(corr) > 0.99
    assert "--unit 0:0" in lines[-1]

    r = rnnplay("neurons", "parens.npz", "--unit", "0:0", "--text", "ab (ab) a", "--color=always", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("layer 0 unit 0 (h): red positive, blue negative")
    assert "\x1b[38;5;16;48;5;196m(" in r.stdout  # deep red inside the parentheses
    assert "\x1b[38;5;16;48;5;21ma" in r.stdout  # deep blue outside


COLOURING = ["-m", "rnnplay", "neurons", "parens.npz", "--unit", "0:0", "--text", "ab (ab) a"]


@pytest.mark.parametrize("into", ["> coloured.txt", "| cat > coloured.txt"])
def test_cli_colours_a_text_only_on_a_terminal(tmp_path: Path, into: str) -> None:
    """As `sample --heat` does: a file or a pipe got the escape codes (the README says colours are off in a pipe);
    now the text, and a line on stderr that says why and how to force them. A terminal still gets them."""
    pexpect = pytest.importorskip("pexpect")
    save_model(tmp_path / "parens.npz", parens_model())
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    r = subprocess.run(["bash", "-c", f'"$@" {into}', "-", sys.executable, *COLOURING], cwd=tmp_path, env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stderr == "rnnplay: stdout is not a terminal, so no colours (use --color=always to force them)\n"
    assert (tmp_path / "coloured.txt").read_text() == "layer 0 unit 0 (h): range -1.00 to +1.00\nab (ab) a\n"
    child = pexpect.spawn(sys.executable, COLOURING, cwd=str(tmp_path), env={**env, "TERM": "xterm-256color"},
                          timeout=60)
    child.expect(pexpect.EOF)
    assert "\x1b[38;5;16;48;5;196m(" in child.before.decode()  # deep red inside the parentheses


def test_cli_mistakes_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    save_model(tmp_path / "parens.npz", parens_model())
    monkeypatch.chdir(tmp_path)
    cases = {
        ("--unit", "2:0", "--text", "ab"): "no unit 2:0: this model has layers 0-0 of units 0-5",
        ("--unit", "x", "--text", "ab"): "--unit wants LAYER:UNIT",
        ("--find", "inside-parens"): "give the text to read with --text TEXT or --file PATH",
        ("--find", "nope", "--text", "ab (a)"): "unknown condition 'nope'",
        ("--find", "inside-parens", "--file", "missing.txt"): "missing.txt: no such file",
    }
    for args, message in cases.items():  # in-process: the same code path as the command, without the start-up
        assert main(["neurons", "parens.npz", *args]) == 1
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, (args, err)
    assert main(["neurons", "parens.npz", "--find", "after-newline", "--text", r"ab (a)\nba (b)\nab"]) == 0
    assert "skipping" not in capsys.readouterr().err  # \n typed is a newline (docs/escapes.md), not '\' and 'n'
    r = rnnplay("neurons", "parens.npz", "--find", "inside-parens", "--text", "ab ba", cwd=tmp_path)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "never changes in this text" in r.stderr
    if not BUNDLED_MODEL.exists():
        assert main(["neurons", "--find", "inside-parens", "--text", "ab (a)"]) == 1
        assert "no bundled model" in capsys.readouterr().err


@pytest.mark.parametrize(("condition", "which", "streams"), [("inside-parens", "h", 1), ("line-position", "c", 3),
                                                            ("after-newline", "h", 7)])
def test_find_neurons_reads_without_keeping_the_activations_and_ranks_as_the_exact_pass(
        condition: str, which: str, streams: int) -> None:
    """The running sums give the correlations that the stored activations give (with a unit that never changes
    kept at r = 0), read in as many pieces."""
    model = random_model(LSTMCell())
    model.params["layers.1.W_xh"][:, 3] = 0.0  # layer 1 unit 3's input gate... and more: make unit 3 constant
    model.params["layers.1.W_hh"][:, 3] = 0.0
    text = PAREN_TEXT * 3
    exact = rank_units(activations(model, text, which, streams), condition_signal(text, condition), 16, which)
    found = find_neurons(model, text, condition, 16, which, streams)
    assert [(s.layer, s.unit) for s in found] == [(s.layer, s.unit) for s in exact]
    assert np.allclose([s.correlation for s in found], [s.correlation for s in exact], atol=1e-9)


def test_a_long_text_is_read_in_memory_that_follows_the_text_not_the_units() -> None:
    """`rnnplay neurons --find/--unit --file` on tiny Shakespeare with the bundled model kept every unit after
    every character (4.5 GB, then two float64 copies of it). The peak allocation is counted here, in bytes: four
    times the text may cost a few bytes a character more, not a copy of every unit's values."""
    model = Model(RNNCell(), Vocab.from_text(PAREN_TEXT), hidden_size=64, num_layers=2, seed=1)
    every_unit = model.num_layers * model.hidden_size * 4  # bytes a character that one float32 copy of them holds

    def peak(read: Callable[[str], object], text: str) -> int:
        tracemalloc.start()
        try:
            read(text)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    short, long = PAREN_TEXT * 20, PAREN_TEXT * 80
    for read in (lambda text: find_neurons(model, text, "inside-parens", streams=4),
                 lambda text: unit_activations(model, text, Unit(1, 5))):
        read(short)  # what a first reading sets up once (compiled steps, caches) is not the text's
        more = peak(read, long) - peak(read, short)
        assert more < (len(long) - len(short)) * every_unit / 8, more


def test_unit_activations_are_that_column_of_the_activations() -> None:
    model = random_model(LSTMCell())
    for unit in (Unit(0, 2), Unit(1, 7, "c")):
        column = activations(model, PAREN_TEXT, unit.which)[:, unit.layer, unit.unit]
        assert np.array_equal(unit_activations(model, PAREN_TEXT, unit), column)
    with pytest.raises(RnnplayError, match="no layer 2 unit 0"):
        unit_activations(model, PAREN_TEXT, Unit(2, 0))
