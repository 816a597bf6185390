"""The seed's usage, exactly as written in the issue."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from pty_screen import environment

from rnnplay.core.errors import RnnplayError


def test_seed_usage_works_as_written(small_text: str) -> None:
    from rnnplay import CharRNN

    text = small_text[:1500]
    vocab_size = len(set(text))
    rnn = CharRNN(vocab_size, hidden_size=128)
    losses = rnn.train(text, epochs=2)
    output = rnn.generate(seed="To be", length=200, temp=0.7)
    assert len(output) == 200 and set(output) <= set(text)
    assert sum(losses[-20:]) / 20 < sum(losses[:20]) / 20
    # the seed's defaults
    assert (rnn.hidden_size, rnn.config.seq_length, rnn.config.lr) == (128, 25, 0.01)
    assert (rnn.config.optimizer, rnn.config.clip_mode, rnn.cell) == ("adagrad", "value", "rnn")


def test_cell_and_layers_options_and_reproducible_generation(small_text: str, tmp_path) -> None:
    from rnnplay import CharRNN

    rnn = CharRNN(len(set(small_text)), hidden_size=32, cell="lstm", num_layers=2, batch_size=4)
    rnn.train(small_text, steps=20)
    assert rnn.model.num_layers == 2 and rnn.model.cell.name == "lstm"
    a = rnn.generate(seed="To be", length=50, temp=0.7, rng_seed=1)
    assert a == rnn.generate(seed="To be", length=50, temp=0.7, rng_seed=1)
    rnn.save(tmp_path / "m.npz")
    again = CharRNN.load(tmp_path / "m.npz")
    assert again.generate(seed="To be", length=50, temp=0.7, rng_seed=1) == a


def test_unknown_seed_characters_warn_by_name(small_text: str) -> None:
    from rnnplay import CharRNN

    rnn = CharRNN(len(set(small_text)), hidden_size=16)
    rnn.train(small_text, steps=5)
    with pytest.warns(UserWarning, match="'Z'"):
        assert len(rnn.generate(seed="Zo", length=10)) == 10


def test_wrong_vocab_size_and_unknown_cell_are_one_line_errors(small_text: str) -> None:
    from rnnplay import CharRNN

    with pytest.raises(RnnplayError, match="distinct characters"):
        CharRNN(3).train(small_text)
    with pytest.raises(RnnplayError, match=r"unknown cell 'lstn'.*did you mean 'lstm'"):
        CharRNN(10, cell="lstn")
    for size in (0, -1, "10", 2.5, True):  # each was taken until train() failed on it, or at random
        with pytest.raises(RnnplayError, match="vocab_size must be a whole number"):
            CharRNN(size)


def test_a_loaded_or_trained_model_goes_on_learning_and_is_never_replaced(small_text: str, tmp_path) -> None:
    """CharRNN.load(path).train(text) built a new random model (its first loss 3.4 where the saved one had 2.5),
    and a later save over the same path would have lost the trained weights; so did train() on another text."""
    from rnnplay import CharRNN

    rnn = CharRNN(len(set(small_text)), hidden_size=32)
    rnn.train(small_text, steps=300)
    trained = rnn.model.evaluate(rnn.model.vocab.encode(small_text[:2000]))
    rnn.save(tmp_path / "m.npz")
    loaded = CharRNN.load(tmp_path / "m.npz")
    model = loaded.model
    first = loaded.train(small_text[:3000], steps=5)[0]
    assert loaded.model is model and first < trained + 0.5  # its own weights: nowhere near a new model's ln V
    part = small_text[3000:6000]
    assert rnn.train(part, steps=5)[0] < trained + 0.5 and rnn.model.vocab.size == len(set(small_text))
    with pytest.raises(RnnplayError, match=r"never seen \('€'\).*--init-from"):
        loaded.train(small_text[:100] + "€", steps=1)
    with pytest.raises(RnnplayError, match=r"not a bytes: decode it first"):
        loaded.train(small_text[:100].encode(), steps=1)


def test_divergence_and_bad_generate_arguments_are_one_line_errors(small_text: str) -> None:
    """A run whose every step was skipped returned [] without a word; generate(5) or length=2.5 raised TypeError."""
    from rnnplay import CharRNN

    rnn = CharRNN(len(set(small_text)), hidden_size=8, optimizer="sgd", learning_rate=1e300, clip=1e300)
    with pytest.raises(RnnplayError, match="training diverged: 3 steps in a row"):
        rnn.train(small_text, steps=20)
    for kwargs, says in [({"seed": 5}, "seed must be a str, not a int"), ({"length": 2.5}, "length must be"),
                         ({"length": -1}, "length must be"), ({"rng_seed": "a"}, "rng_seed must be")]:
        with pytest.raises(RnnplayError, match=says):
            rnn.generate(**kwargs)


def test_save_names_its_file_as_every_checkpoint_is_named(small_text: str, tmp_path: Path) -> None:
    """save('m.txt') wrote a checkpoint (a zip) named m.txt, and save('m') a file named m: now the rule of /save and
    `train --out`, and load('m') reads the m.npz that save('m') wrote."""
    from rnnplay import CharRNN

    rnn = CharRNN(len(set(small_text)), hidden_size=8)
    rnn.train(small_text, steps=2)
    with pytest.raises(RnnplayError, match=r"^m\.txt: a checkpoint is a \.npz file, e\.g\. save\('.*/m\.npz'\)$"):
        rnn.save(tmp_path / "m.txt")
    assert rnn.save(tmp_path / "m") == tmp_path / "m.npz" and list(tmp_path.iterdir()) == [tmp_path / "m.npz"]
    assert CharRNN.load(tmp_path / "m").generate("T", 5, rng_seed=1) == rnn.generate("T", 5, rng_seed=1)


def test_save_keeps_an_existing_file_and_a_running_trainings_output(small_text: str, small_file: Path,
                                                                    tmp_path: Path) -> None:
    """save() replaced any file at its path, and wrote over the --out of a running `rnnplay train` (which then
    replaced it again at its end): now an existing file only with overwrite=True, and a held output never."""
    from rnnplay import CharRNN

    rnn = CharRNN(len(set(small_text)), hidden_size=16)
    rnn.train(small_text, steps=5)
    path = rnn.save(tmp_path / "m.npz")
    before = path.read_bytes()
    rnn.train(small_text, steps=5)
    with pytest.raises(RnnplayError, match=r"m\.npz exists: save\(path, overwrite=True\) replaces it"):
        rnn.save(path)
    assert path.read_bytes() == before
    assert rnn.save(path, overwrite=True) == path and path.read_bytes() != before
    train = subprocess.Popen([sys.executable, "-m", "rnnplay", "train", str(small_file), "--cell", "rnn", "--hidden",
                              "8", "--batch-size", "2", "--seq-length", "8", "--steps", "1000000",
                              "--checkpoint-every", "0", "--out", "run.npz"], cwd=tmp_path, env=environment(tmp_path),
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert train.stderr is not None
        assert any(line.startswith("training:") for line in train.stderr), train.communicate()  # its lock taken
        for overwrite in (False, True):
            with pytest.raises(RnnplayError, match=rf"another training \(PID {train.pid}\) is writing .*run\.npz"):
                rnn.save(tmp_path / "run.npz", overwrite=overwrite)
        assert not (tmp_path / "run.npz").exists()
    finally:
        train.send_signal(signal.SIGINT)
        train.communicate(timeout=120)
    assert train.returncode == 130 and (tmp_path / "run.npz").exists()
