"""Fine-tuning with a growing vocabulary: the numerics of grow_vocab, and `rnnplay train --init-from` on real files."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from rnnplay.core.cells.rnn import RNNCell
from rnnplay.core.data import split_point
from rnnplay.core.errors import RnnplayError
from rnnplay.core.finetune import LIFT_CHARS, grow_vocab, grown_vocab, mean_log_normaliser
from rnnplay.core.model import Model
from rnnplay.core.train_config import ModelSpec, TrainConfig
from rnnplay.core.vocab import Vocab, describe_char
from rnnplay.corpora import Corpus
from rnnplay.models import bundled
from rnnplay.models.bundled import load_model
from rnnplay.session.training_runs import continue_run, growth_text, new_run
from rnnplay.ui.cli import main

OLD_TEXT = "".join(line[i:] + line[:i] for line in ["To be, or not to be: that is the question.\n"]
                   for i in range(0, 40, 3)) * 2
NEW_TEXT = "Café über 5€, to be or not. " * 12  # '5' 'C' 'f' 'é' 'ü' '€' are new; the old 'T', 'q', ':' unused
NEW = ("5", "C", "f", "é", "ü", "€")
SMALL = ["--batch-size", "4", "--seq-length", "16"]


def rnnplay(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rnnplay", *args], cwd=cwd, capture_output=True, text=True)


def trained(cell: str, text: str = OLD_TEXT) -> Model:
    run = new_run(Corpus("old.txt", text, "tests"), ModelSpec(cell, 2, 12),
                  TrainConfig(batch_size=4, seq_length=16, steps=3, val_every=0, seed=3))
    for _ in run.trainer.run():
        pass
    return run.model


@pytest.fixture(scope="module", params=["lstm", "rnn", "lnlstm"])
def old_model(request: pytest.FixtureRequest) -> Model:
    return trained(request.param)


def grown(old: Model, seed: int = 7) -> tuple[Model, list[str], np.ndarray]:
    new_chars = sorted(set(NEW_TEXT) - set(old.vocab.chars))
    vocab = Vocab(old.vocab.chars + tuple(new_chars))
    ids = vocab.encode(NEW_TEXT)
    return grow_vocab(old, new_chars, ids, np.random.default_rng(seed)), new_chars, ids


def test_old_rows_are_unchanged_and_new_rows_have_the_stated_init(old_model: Model) -> None:
    before = {k: v.copy() for k, v in old_model.params.items()}
    new, new_chars, ids = grown(old_model)
    V, K, H = old_model.vocab.size, len(new_chars), old_model.hidden_size
    assert new.vocab.chars == old_model.vocab.chars + tuple(new_chars) and tuple(new_chars) == NEW
    assert all(np.array_equal(old_model.params[k], v) for k, v in before.items())  # the old model is untouched
    W = new.params["layers.0.W_xh"]
    assert W.shape[0] == V + K and np.array_equal(W[:V], before["layers.0.W_xh"])  # old input rows
    fresh = old_model.cell.init_params(V + K, H, np.random.default_rng(7), old_model.dtype)["W_xh"]
    assert np.array_equal(W[V:], fresh[V:])  # new input rows: the cell's own init at the new size, from the seed
    assert np.abs(W[V:]).max() <= 1 / np.sqrt(H) and np.abs(W[V:]).min() > 0
    assert not np.array_equal(grown(old_model, seed=8)[0].params["layers.0.W_xh"][V:], W[V:])
    assert np.array_equal(new.params["head.W_hy"][:, :V], before["head.W_hy"])  # old head rows
    assert np.array_equal(new.params["head.b_y"][:V], before["head.b_y"])
    assert not new.params["head.W_hy"][:, V:].any()  # new head rows: zero weights ...
    counts = np.bincount(ids, minlength=V + K) + 1.0  # ... and the add-one smoothed log frequency as the bias,
    freqs = counts[V:] / counts.sum()  # lifted by the old logits' mean log-normaliser over the new text
    lift = mean_log_normaliser(new, ids[:LIFT_CHARS], V)
    assert np.allclose(new.params["head.b_y"][V:], np.log(freqs) + lift - np.log1p(-freqs.sum()), rtol=1e-5)
    for name in before:  # every other parameter: the same values, copies
        if name not in ("layers.0.W_xh", "head.W_hy", "head.b_y"):
            assert np.array_equal(new.params[name], before[name])
            assert not np.shares_memory(new.params[name], old_model.params[name])


def test_new_characters_start_with_about_their_share_of_the_text(old_model: Model) -> None:
    """With the lift, the probability the grown model gives the new characters on the new text is near their share."""
    new, _, ids = grown(old_model)
    V = old_model.vocab.size
    logits, _, _ = new.forward(ids[:, None], new.initial_state(1))
    y = logits[:, 0].astype(np.float64)
    p = np.exp(y - y.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    share = float((ids >= V).mean())
    assert 0.2 * share < float(p[:, V:].sum(axis=1).mean()) < 5 * share


def test_old_characters_keep_their_relative_probabilities_at_step_zero(old_model: Model) -> None:
    new, _, _ = grown(old_model)
    V = old_model.vocab.size
    ids = old_model.vocab.encode(OLD_TEXT[:50])[:, None]  # old characters only: the same ids in both vocabularies
    before, _, _ = old_model.forward(ids, old_model.initial_state(1))
    after, _, _ = new.forward(ids, new.initial_state(1))
    assert np.allclose(after[..., :V], before, atol=1e-6)
    assert np.array_equal(after[..., V:], np.broadcast_to(new.params["head.b_y"][V:], after[..., V:].shape))
    p_old = np.exp(before - before.max(-1, keepdims=True))
    p_new = np.exp(after - after.max(-1, keepdims=True))
    p_old /= p_old.sum(-1, keepdims=True)
    p_new = p_new[..., :V] / p_new[..., :V].sum(-1, keepdims=True)
    assert np.allclose(p_new, p_old, atol=1e-6)


def test_continue_run_grows_and_trains() -> None:
    old = trained("lstm")
    run = continue_run(old, Corpus("new.txt", NEW_TEXT, "tests"),
                       TrainConfig(batch_size=4, seq_length=16, steps=2, val_every=0, seed=5))
    assert run.added == NEW and run.model.vocab.chars[-len(NEW):] == run.added
    assert run.model is not old and old.vocab.size == run.model.vocab.size - len(NEW)
    *_, last = run.trainer.run()
    assert last.reason == "budget" and np.isfinite(last.train_loss)


def test_a_run_from_a_model_is_compared_with_it_on_the_same_validation_characters() -> None:
    old = trained("lstm")
    corpus = Corpus("old.txt", OLD_TEXT, "tests")
    config = TrainConfig(batch_size=4, seq_length=16, steps=3, val_every=0, seed=5)
    before = {k: v.copy() for k, v in old.params.items()}
    harmed = continue_run(old, corpus, replace(config, lr=3.0))  # far too high: the run undoes what it had
    *_, last = harmed.trainer.run()
    line, worse = harmed.against_start()
    val_ids = harmed.trainer.val_ids
    assert harmed.trainer.val_chars == len(val_ids) - 1  # the characters scored: each but the first, as `score` says
    start_loss = old.evaluate(val_ids)
    assert worse and last.val_loss > start_loss
    assert line.startswith(f"validation loss {last.val_loss:.4f} nats/char, against {start_loss:.4f} for the "
                           f"model it started from (the same {harmed.trainer.val_chars:,} characters): this run made "
                           "it worse")
    assert all(np.array_equal(before[k], v) for k, v in old.params.items())  # the start is unchanged
    helped = continue_run(old, corpus, replace(config, steps=40))  # 3 steps in, the model has much to learn
    *_, last = helped.trainer.run()
    line, worse = helped.against_start()
    assert not worse and last.val_loss < start_loss and "made it worse" not in line
    assert continue_run(old, Corpus("new.txt", NEW_TEXT, "tests"), config).against_start() is None  # grown: no
    assert new_run(corpus, ModelSpec("lstm", 1, 8), config).against_start() is None  # fresh: nothing to compare


class ConcatCell(RNNCell):
    """An RNN that keeps [inputs; hidden] rows in one matrix W, so rows follow the input block."""

    name = "concat"

    def init_params(self, input_size, hidden_size, rng, dtype=np.float32):
        return {"W": rng.uniform(-0.1, 0.1, (input_size + hidden_size, hidden_size)).astype(dtype),
                "b": np.zeros(hidden_size, dtype)}

    def forward(self, params, x, state):
        H = params["W"].shape[1]
        return super().forward({"W_xh": params["W"][:-H], "W_hh": params["W"][-H:], "b_h": params["b"]}, x, state)


class DoubleCell(ConcatCell):
    name = "double"

    def init_params(self, input_size, hidden_size, rng, dtype=np.float32):
        return {"W": np.zeros((2 * input_size, hidden_size), dtype)}


def test_the_cell_says_which_axes_grow() -> None:
    old = Model(ConcatCell(), Vocab(tuple("abc")), 4, 1)
    new = grow_vocab(old, ["d", "e"], np.array([0, 3, 4, 4]), np.random.default_rng(0))
    W, W0 = new.params["layers.0.W"], old.params["layers.0.W"]
    assert W.shape == (3 + 2 + 4, 4) and np.array_equal(W[:3], W0[:3]) and np.array_equal(W[5:], W0[3:])
    assert np.array_equal(new.params["layers.0.b"], old.params["layers.0.b"])
    with pytest.raises(RnnplayError, match="one row per character") as err:
        grow_vocab(Model(DoubleCell(), Vocab(tuple("abc")), 4, 1), ["d"], np.array([3]), np.random.default_rng(0))
    assert "\n" not in str(err.value)
    with pytest.raises(RnnplayError, match="already there"):
        grow_vocab(old, ["a"], np.array([0]), np.random.default_rng(0))


class Char(str):
    """A character that counts how often it is compared for equality (sets hash it; a scan compares it)."""

    compared = 0

    def __eq__(self, other: object) -> bool:
        Char.compared += 1
        return str.__eq__(self, other)

    __hash__ = str.__hash__


def test_growing_by_many_characters_compares_each_a_few_times_not_with_every_other() -> None:
    """A text of 65,000 new characters waited minutes before its first step: the check for repeated characters
    counted each one in the whole tuple (K² comparisons). Counted here in comparisons, not seconds."""
    new = [Char(chr(0x4E00 + i)) for i in range(2000)]
    Char.compared = 0
    grown = grown_vocab(Vocab(tuple("abc")), new)
    assert grown.size == 2003 and Char.compared < 10 * len(new), Char.compared
    with pytest.raises(RnnplayError, match="given twice"):
        grown_vocab(Vocab(tuple("abc")), [*new, new[5]])


def test_growth_names_combining_marks_by_code_point() -> None:
    """A fine-tune on text with decomposed accents said "2 new: '\u0301' '\u0308'" with each mark drawn on its
    opening quote; it names them U+0301 and U+0308, as it names control characters."""
    old = trained("rnn")
    run = continue_run(old, Corpus("marks.txt", OLD_TEXT + "e\u0301 a\u0308 " * 5, "tests"),
                       TrainConfig(batch_size=2, seq_length=8, steps=1))
    assert growth_text(run).endswith("2 new: U+0301 U+0308"), growth_text(run)
    assert describe_char("é") == "'é'" and describe_char("\x1b") == "U+001B"


# -- rnnplay train --init-from, end to end ------------------------------------------------------------
@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("finetune")
    (folder / "old.txt").write_text(OLD_TEXT)
    (folder / "new.txt").write_text(NEW_TEXT)
    r = rnnplay("train", "old.txt", "--layers", "1", "--hidden", "16", *SMALL, "--steps", "3", "--out", "old.npz",
                cwd=folder)
    assert r.returncode == 0, r.stderr
    return folder


def test_init_from_fine_tunes_samples_scores_and_records_ancestry(files: Path) -> None:
    old = load_model(files / "old.npz").model
    r = rnnplay("train", "new.txt", "--init-from", "old.npz", *SMALL, "--steps", "3", "--out", "new.npz", cwd=files)
    assert r.returncode == 0, r.stderr
    reading, start = r.stderr.splitlines()[:2]  # the reading that places the new characters, then what the run is
    read = split_point(len(NEW_TEXT), 0.1)  # the training split alone is read, not the 10% held out
    assert reading == f"rnnplay: adding 6 new characters to old.npz: reading {read:,} characters of new.txt"
    assert start.startswith(f"fine-tuning old.npz (1×16 lstm, {old.vocab.size} characters + 6 new: "
                            "'5' 'C' 'f' 'é' 'ü' '€') on new.txt: ")
    ckpt = load_model(files / "new.npz")
    assert ckpt.model.vocab.chars == (*old.vocab.chars, *NEW) and ckpt.training["step"] == 3
    (gen,) = ckpt.meta["ancestry"]
    sha = hashlib.sha256((files / "old.npz").read_bytes()).hexdigest()
    assert gen == {"model": "old.npz", "sha256": sha, "corpus": "old.txt", "step": 3}
    r = rnnplay("sample", "new.npz", "--seed", "Café T", "--length", "30", cwd=files)
    assert r.returncode == 0 and r.stdout.startswith("Café T"), r.stderr
    r = rnnplay("score", "new.npz", "--text", "To be: Café über 5€?", cwd=files)  # '?' is in neither
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "'?'" in r.stderr
    r = rnnplay("score", "new.npz", "--text", "To be: Café über 5€, the question", cwd=files)
    assert r.returncode == 0 and "nats/char" in r.stdout, r.stderr
    # a second generation, from a weights-only copy: its ancestry is the first's and the copy itself
    assert rnnplay("export", "new.npz", "weights.npz", cwd=files).returncode == 0
    (files / "more.txt").write_text(NEW_TEXT + "Ωmega. " * 10)
    r = rnnplay("train", "more.txt", "--init-from", "weights.npz", *SMALL, "--steps", "2", "--hidden", "16",
                "--out", "more.npz", cwd=files)
    assert r.returncode == 0, r.stderr
    assert "+ 3 new: 'g' 'm' 'Ω')" in r.stderr.splitlines()[1]
    lineage = load_model(files / "more.npz").meta["ancestry"]
    assert [g["model"] for g in lineage] == ["old.npz", "weights.npz"] and lineage[1]["corpus"] == "new.txt"
    r = rnnplay("train", "old.txt", "--init-from", "old.npz", *SMALL, "--steps", "3", "--lr", "3", "--out",
                "worse.npz", cwd=files)  # the same vocabulary: compared with the start, said when worse
    assert r.returncode == 0 and r.stderr.splitlines()[-1].endswith("A lower learning rate than 3 or a longer run "
                                                                    "may help"), r.stderr
    r = rnnplay("train", "more.txt", "--resume", "more.npz", "--steps", "3", cwd=files)  # --resume keeps it
    assert r.returncode == 0, r.stderr
    assert load_model(files / "more.npz").meta["ancestry"] == lineage


def test_init_from_reads_the_model_once(files: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The disk's check for the least checkpoint and the run itself share one read of the model's file."""
    read: list[str] = []
    real = bundled.load_checkpoint
    monkeypatch.setattr(bundled, "load_checkpoint", lambda path, *a, **k: read.append(Path(path).name) or
                        real(path, *a, **k))
    monkeypatch.chdir(files)
    assert main(["train", "new.txt", "--init-from", "old.npz", *SMALL, "--steps", "1", "--out", "once.npz"]) == 0
    assert read.count("old.npz") == 1, read


@pytest.mark.parametrize(("args", "says"), [
    (["--init-from", "missing.npz"], "missing.npz: no such file"),
    (["--init-from", "old.npz", "--resume", "old.npz"], "--init-from and --resume cannot go together"),
    (["--init-from", "old.npz", "--hidden", "32"], "--hidden 32 (the model's: 16) cannot apply"),
    (["--init-from", "old.npz", "--cell", "rnn", "--layers", "1"], "--cell rnn (the model's: lstm) cannot apply"),
    (["--init-from", "old.npz", "--out", "old.npz"], "is the model --init-from reads"),
])
def test_bad_init_from_is_one_line(files: Path, args: list[str], says: str) -> None:
    r = rnnplay("train", "new.txt", *SMALL, "--steps", "1", "--out", "bad.npz", *args, cwd=files)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and says in r.stderr, r.stderr
    assert not (files / "bad.npz").exists()
