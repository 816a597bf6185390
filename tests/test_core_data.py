"""Vocabulary, the train/validation split and TBPTT batching."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rnnplay.core import data as data_module
from rnnplay.core import vocab as vocab_module
from rnnplay.core.data import StreamBatcher, release_pages, split_ids
from rnnplay.core.errors import RnnplayError
from rnnplay.core.vocab import Vocab, count_ids


def test_vocab_is_sorted_unique_and_round_trips() -> None:
    text = "hello, wörld!\n"
    vocab = Vocab.from_text(text)
    assert list(vocab.chars) == sorted(set(text))
    assert vocab.decode(vocab.encode(text)) == text
    assert vocab.encode(text).dtype == np.uint8  # one byte per character for up to 256 distinct ones


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
    with pytest.raises(RnnplayError, match=r"needs 2; give a longer text$"):  # nothing smaller to suggest
        StreamBatcher(np.arange(1, dtype=np.int32), 1, 1)


@pytest.mark.parametrize(("n", "batch_size", "seq_length"), [(1000, 4, 10), (997, 3, 7), (64, 1, 5), (500, 16, 2)])
def test_batches_are_the_columns_of_the_transposed_streams(n: int, batch_size: int, seq_length: int) -> None:
    ids = (np.arange(n) * 7 % 61).astype(np.uint8)
    b = StreamBatcher(ids, batch_size, seq_length)
    length = n // batch_size
    reference = ids[: length * batch_size].reshape(batch_size, length).T.astype(np.int32)  # the layout it replaced
    assert np.shares_memory(b.streams, ids)  # a view: the corpus's ids are not copied
    for k in range(2 * b.batches_per_epoch + 1):
        batch = b.next()
        start = (k % b.batches_per_epoch) * seq_length
        assert batch.inputs.dtype == np.int32 and batch.inputs.flags.c_contiguous
        assert np.array_equal(batch.inputs, reference[start : start + seq_length])
        assert np.array_equal(batch.targets, reference[start + 1 : start + seq_length + 1])


@pytest.mark.parametrize("state", [
    {"epoch": 0, "position": -5}, {"epoch": 0, "position": 10**9}, {"epoch": -1, "position": 0},
    {"epoch": 0, "position": "3"}, {"epoch": 0, "position": 2.5}, {"epoch": True, "position": 0},
    {"epoch": 0}, {}, [0, 1], None,
])
def test_a_saved_position_it_cannot_reach_is_one_line(state: object) -> None:
    b = StreamBatcher(np.arange(500, dtype=np.int32), 3, 5)
    with pytest.raises(RnnplayError, match="data position") as err:
        b.load_state_dict(state)  # type: ignore[arg-type]
    assert "\n" not in str(err.value) and (b.epoch, b.position) == (0, 0)


def test_the_end_of_an_epoch_is_a_position_it_can_resume_from() -> None:
    b = StreamBatcher(np.arange(500, dtype=np.int32), 3, 5)
    b.load_state_dict({"epoch": 2, "position": b.batches_per_epoch})
    assert b.next().reset and b.epoch == 3


def test_ids_take_the_smallest_unsigned_type_that_holds_the_vocabulary() -> None:
    small = "".join(chr(c) for c in range(256))
    assert Vocab.from_text(small).encode(small).dtype == np.uint8
    big = small + "ā"
    ids = Vocab.from_text(big).encode(big)
    assert ids.dtype == np.uint16 and ids.tolist() == list(range(257))


def test_ids_are_counted_in_slices_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vocab_module, "CHUNK", 5)
    ids = np.array([0, 1, 1, 3, 3, 3, 0, 2, 1, 1, 1, 0], dtype=np.uint8)
    assert count_ids(ids, 5).tolist() == np.bincount(ids, minlength=5).tolist()


def resident_file_kb() -> int:
    """This process's resident pages of mapped files (Linux)."""
    status = Path("/proc/self/status").read_text()
    return int(status.split("RssFile:")[1].split()[0])


def test_release_pages_lets_go_of_a_file_map_and_the_data_reads_the_same(tmp_path) -> None:
    ids = (np.arange(32 << 20) % 251).astype(np.uint8)
    ids.tofile(tmp_path / "ids")
    mapped = np.memmap(tmp_path / "ids", dtype=np.uint8, mode="r")
    before = resident_file_kb()
    counts = count_ids(mapped[: 16 << 20], 251)  # counting lets go as it goes
    assert resident_file_kb() - before < 4096
    assert np.array_equal(counts, np.bincount(ids[: 16 << 20], minlength=251))
    batcher = StreamBatcher(mapped, 8, 100)
    first = [batcher.next().inputs for _ in range(3 * data_module.RELEASE_EVERY)]
    assert resident_file_kb() - before < 4096
    batcher.load_state_dict({"epoch": 0, "position": 0})
    assert all(np.array_equal(a, batcher.next().inputs) for a in first)  # read again from the page cache
    in_memory = ids[:1000]
    release_pages(in_memory)  # not a map: left alone
    assert np.array_equal(in_memory, np.arange(1000) % 251)


@pytest.mark.parametrize("length", [0, 1, 2, 7, 1000, 1001, (1 << 20) + 3])
def test_count_ids_counts_uint8_pairs_as_bincount_would(length: int) -> None:
    ids = np.random.default_rng(length).integers(0, 200, length).astype(np.uint8)
    for size in (200, 300):
        assert np.array_equal(count_ids(ids, size), np.bincount(ids, minlength=size)[:size])
    assert np.array_equal(count_ids(ids[1::2], 200), np.bincount(ids[1::2], minlength=200))  # not contiguous
    assert np.array_equal(count_ids(ids.astype(np.uint16), 200), np.bincount(ids, minlength=200))


def test_a_text_too_short_to_batch_says_its_length_in_words() -> None:
    """A 2-character file leaves 1 training character: "it has 1 characters and needs 6464" read as a typo."""
    with pytest.raises(RnnplayError, match=r"it has 1 character and needs 6,464; use a smaller batch size"):
        StreamBatcher(np.zeros(1, dtype=np.int32), batch_size=64, seq_length=100)
