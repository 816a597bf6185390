"""Vocabulary, the train/validation split and TBPTT batching."""

from __future__ import annotations

import numpy as np
import pytest

from rnnplay.core.data import StreamBatcher, split_ids
from rnnplay.core.vocab import Vocab
from rnnplay.errors import RnnplayError


def test_vocab_is_sorted_unique_and_round_trips() -> None:
    text = "hello, wörld!\n"
    vocab = Vocab.from_text(text)
    assert list(vocab.chars) == sorted(set(text))
    assert vocab.decode(vocab.encode(text)) == text
    assert vocab.encode(text).dtype == np.int32


def test_unknown_characters_are_named_not_crashed_on() -> None:
    vocab = Vocab.from_text("abc")
    with pytest.raises(RnnplayError, match=r"never seen 'x', 'é'"):
        vocab.encode("axé")
    assert vocab.decode(vocab.encode("axbé", on_unknown="skip")) == "ab"
    assert vocab.unknown("axbxé") == ["x", "é"]


def test_empty_text_is_a_one_line_error() -> None:
    with pytest.raises(RnnplayError, match="empty"):
        Vocab.from_text("")


def test_standard_split_of_tiny_shakespeare(shakespeare_path) -> None:
    text = shakespeare_path.read_text()
    train, val = split_ids(Vocab.from_text(text).encode(text))
    assert (len(train), len(val)) == (1_003_854, 111_540)  # the published convention
    assert Vocab.from_text(text).size == 65


def test_streams_are_contiguous_and_carry_over() -> None:
    ids = np.arange(1000, dtype=np.int32)
    b = StreamBatcher(ids, batch_size=4, seq_length=10)
    first, second = b.next(), b.next()
    assert first.reset and not second.reset
    assert first.inputs[:, 0].tolist() == list(range(10))  # stream 0 starts at 0
    assert first.inputs[:, 1].tolist() == list(range(250, 260))  # stream 1 starts at L = 250
    assert (first.targets == first.inputs + 1).all()
    assert second.inputs[0, 0] == first.inputs[-1, 0] + 1  # the next batch continues each stream


def test_epoch_wraps_and_resets_state() -> None:
    b = StreamBatcher(np.arange(100, dtype=np.int32), batch_size=2, seq_length=7)
    n = b.batches_per_epoch
    batches = [b.next() for _ in range(n + 1)]
    assert b.epoch == 1 and batches[n].reset
    assert (batches[n].inputs == batches[0].inputs).all()


def test_batcher_state_resumes_exactly() -> None:
    ids = np.arange(500, dtype=np.int32)
    a = StreamBatcher(ids, 3, 5)
    for _ in range(40):
        a.next()
    b = StreamBatcher(ids, 3, 5)
    b.load_state_dict(a.state_dict())
    assert (a.next().inputs == b.next().inputs).all()


def test_text_too_short_for_the_batch_says_what_to_do() -> None:
    with pytest.raises(RnnplayError, match="--batch-size"):
        StreamBatcher(np.arange(50, dtype=np.int32), 64, 100)
