"""The vectorised vocabulary scan and encoder agree with plain Python across slice boundaries."""

from __future__ import annotations

import numpy as np
import pytest

from rnnplay.core import vocab as vocab_module
from rnnplay.core.errors import RnnplayError
from rnnplay.core.vocab import Vocab


@pytest.fixture(autouse=True)
def tiny_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vocab_module, "CHUNK", 7)  # many slices, some ASCII, some not


def reference_ids(vocab: Vocab, text: str) -> list[int]:
    index = {c: i for i, c in enumerate(vocab.chars)}
    return [index[c] for c in text]


def test_mixed_ascii_and_non_ascii_slices() -> None:
    text = "plain ascii here, then café ☕ and 𝄞 music, then ascii again.\n" * 3
    vocab = Vocab.from_text(text)
    assert list(vocab.chars) == sorted(set(text))
    assert vocab.encode(text).tolist() == reference_ids(vocab, text)
    assert vocab.decode(vocab.encode(text)) == text


def test_a_vocabulary_too_big_for_the_byte_table_still_encodes_ascii() -> None:
    text = "".join(chr(c) for c in range(32, 400)) + "hello"
    vocab = Vocab(tuple(reversed(sorted(set(text)))))  # ASCII characters get ids above 255
    assert vocab.encode("hello world").tolist() == reference_ids(vocab, "hello world")


def test_unknown_characters_in_ascii_and_other_slices() -> None:
    vocab = Vocab.from_text("abcdef ")
    with pytest.raises(RnnplayError, match=r"never seen 'x', 'é', 'z'"):
        vocab.encode("abc abc x abc é abcdef z")
    assert vocab.decode(vocab.encode("abc x abc é abz", on_unknown="skip")) == "abc  abc  ab"
    assert vocab.unknown("abc abc x abc é abcdef z x") == ["x", "é", "z"]
    assert vocab.encode("").dtype == np.uint8
