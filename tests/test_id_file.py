"""Corpora larger than memory: a text file's ids streamed into the cache and trained on through a memory map.

Every test compares the file-backed path (rnnplay.corpora.file_corpus) with the in-memory one (a Corpus
holding its text) on real files: same vocabulary, checksum, split, batches, weights and errors.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from file_limits import small_disk as small_disk_of

from rnnplay.core.data import StreamBatcher, split_ids
from rnnplay.core.errors import RnnplayError
from rnnplay.core.train_config import ModelSpec, TrainConfig
from rnnplay.core.trainer import StepEvent
from rnnplay.core.vocab import Vocab
from rnnplay.corpora import Corpus, id_build, id_cache, load_corpus, text_stream
from rnnplay.corpora import file_corpus as file_corpus_module
from rnnplay.corpora import id_file as id_file_module
from rnnplay.corpora import memory as memory_module
from rnnplay.corpora.file_corpus import FileCorpus, file_corpus
from rnnplay.corpora.id_file import vocab_key
from rnnplay.corpora.id_hold import hold, in_use, lock_path
from rnnplay.corpora.text import check_text, read_text_file
from rnnplay.models.bundled import load_model
from rnnplay.session.resume import resume_run
from rnnplay.session.training_runs import continue_run, new_run
from rnnplay.ui.cli.cmd_corpus import describe

LINE = "Thé quick brown fox — jumps over 12 lazy dogs; ünïcode ✓ and\ttabs.\n"
TEXT = "".join(LINE[i:] + LINE[:i] for i in range(0, 60, 7)) * 6  # ~3.6 kB, 40-odd distinct characters
CONFIG = {"batch_size": 4, "seq_length": 16, "val_every": 0, "seed": 7}


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache of the test's own, and every text file, however small, loaded through an id file."""
    monkeypatch.setenv("RNNPLAY_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(file_corpus_module, "ID_FILE_BYTES", 0)
    return tmp_path / "cache" / "ids"


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read 64 bytes at a time: characters split between chunks, new characters met late, renumbering mid-stream."""
    monkeypatch.setattr(text_stream, "CHUNK_BYTES", 64)


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def both(path: Path, encoding: str = "utf-8") -> tuple[Corpus, FileCorpus]:
    text = read_text_file(path, encoding)
    return Corpus(path.name, text, str(path)), file_corpus(path, encoding)


def batches(ids: np.ndarray, count: int) -> list[tuple[np.ndarray, np.ndarray, bool]]:
    batcher = StreamBatcher(ids, CONFIG["batch_size"], CONFIG["seq_length"])
    return [(b.inputs, b.targets, b.reset) for b in (batcher.next() for _ in range(count))]


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("chunked", [False, True], ids=["one-chunk", "64-byte-chunks"])
def test_both_paths_give_the_same_corpus_and_batches(tmp_path: Path, cache: Path, chunked: bool,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    if chunked:
        monkeypatch.setattr(text_stream, "CHUNK_BYTES", 64)
    memory, mapped = both(write(tmp_path / "t.txt", TEXT))
    vocab = memory.vocab()
    assert mapped.vocab() == vocab and mapped.sha256 == memory.sha256 and mapped.chars == memory.chars == len(TEXT)
    ids = mapped.encode(vocab)
    assert isinstance(ids, np.memmap) and not ids.flags.writeable and ids.dtype == np.uint8
    (train_a, val_a), (train_b, val_b) = split_ids(memory.encode(vocab)), split_ids(ids)
    assert np.array_equal(train_a, train_b) and np.array_equal(val_a, val_b)
    per_epoch = StreamBatcher(train_a, CONFIG["batch_size"], CONFIG["seq_length"]).batches_per_epoch
    for (xa, ya, ra), (xb, yb, rb) in zip(batches(train_a, 2 * per_epoch + 3), batches(train_b, 2 * per_epoch + 3),
                                          strict=True):
        assert np.array_equal(xa, xb) and np.array_equal(ya, yb) and ra == rb and xb.dtype == np.int32
    assert np.array_equal(mapped.counts(), memory.counts())
    assert mapped.unknown(Vocab(tuple("Thé"))) == memory.unknown(Vocab(tuple("Thé")))
    assert mapped.head(30) == TEXT[:30] and mapped.text == TEXT


def test_training_on_both_paths_gives_the_same_weights(tmp_path: Path, cache: Path) -> None:
    runs = [new_run(c, ModelSpec("lstm", 1, 16), TrainConfig(steps=4, **CONFIG))
            for c in both(write(tmp_path / "t.txt", TEXT))]
    for run in runs:
        list(run.trainer.run())
    for name, value in runs[0].model.params.items():
        assert np.array_equal(value, runs[1].model.params[name]), name


def test_id_files_get_the_permissions_a_plain_open_gives(tmp_path: Path, cache: Path) -> None:
    file_corpus(write(tmp_path / "t.txt", TEXT))
    umask = os.umask(0)
    os.umask(umask)
    built = [p for p in cache.rglob("*") if p.is_file()]
    assert built and all(p.stat().st_mode & 0o777 == 0o666 & ~umask for p in built), built


def test_a_second_load_reuses_the_ids_and_writes_nothing(tmp_path: Path, cache: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "t.txt", TEXT)
    first = load_corpus(str(path))
    assert isinstance(first, FileCorpus)
    before = snapshot(cache)
    sidecar = json.loads((cache / f"{first.sha256}.json").read_text())
    assert sidecar["chars"] == len(TEXT) and sidecar["vocab"] == "".join(first.vocab().chars)

    def no_encoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("the text was encoded again")

    monkeypatch.setattr("rnnplay.corpora.file_corpus.encode_file", no_encoding)
    again = load_corpus(f"file:{path}")
    assert again.sha256 == first.sha256 and np.array_equal(again.encode(again.vocab()), first.encode(first.vocab()))
    assert snapshot(cache) == before
    os.utime(path, ns=(1, 1))  # the file's state changed: its text is hashed and encoded again
    monkeypatch.setattr("rnnplay.corpora.file_corpus.encode_file", id_build.encode_file)
    assert load_corpus(str(path)).sha256 == first.sha256


def test_more_than_256_characters_take_uint16(tmp_path: Path, cache: Path, small_chunks: None) -> None:
    rare = "".join(chr(0x400 + i) for i in range(300))  # met after the ASCII text: the ids widen mid-stream
    text = TEXT * 2 + rare + TEXT + rare[::-1] + "\U0001f600"
    memory, mapped = both(write(tmp_path / "wide.txt", text))
    ids = mapped.encode(mapped.vocab())
    assert ids.dtype == np.uint16 and mapped.vocab() == memory.vocab() and len(mapped.vocab()) > 256
    assert np.array_equal(ids, memory.encode(memory.vocab())) and mapped.sha256 == memory.sha256


def test_late_characters_are_sorted_at_the_end(tmp_path: Path, cache: Path, small_chunks: None,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(id_build, "REORDER_BUDGET", 0)  # new characters appended, one renumbering at the end
    memory, mapped = both(write(tmp_path / "t.txt", TEXT + "!AZ"))
    assert mapped.vocab() == memory.vocab()
    assert np.array_equal(mapped.encode(mapped.vocab()), memory.encode(memory.vocab()))


@pytest.mark.parametrize("late", ["!AZ", "".join(chr(0x400 + i) for i in range(300))], ids=["sorted", "widened"])
def test_ids_are_renumbered_in_their_own_file_a_few_at_a_time(tmp_path: Path, cache: Path, small_chunks: None,
                                                             monkeypatch: pytest.MonkeyPatch, late: str) -> None:
    """The renumbering rewrites the part file in place, 5 ids at a time: widened to uint16 from its end backwards,
    no id overwritten before it is read. It wrote a second part file, which needed room for two copies."""
    monkeypatch.setattr(id_build, "REORDER_BUDGET", 0)
    monkeypatch.setattr(id_file_module, "CHUNK_IDS", 5)
    made = []
    monkeypatch.setattr(id_build, "TempFile", lambda folder: made.append(id_file_module.TempFile(folder)) or made[-1])
    memory, mapped = both(write(tmp_path / "t.txt", TEXT + late + TEXT[:101]))
    assert len(made) == 1
    assert mapped.vocab() == memory.vocab()
    assert np.array_equal(mapped.encode(mapped.vocab()), memory.encode(memory.vocab()))
    assert not list(cache.glob(".tmp-*"))


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 6 MB tmpfs (mounting it takes root): room for one copy of :func:`one_copy` and its ids, not two."""
    with small_disk_of(tmp_path / "disk", "6m") as disk:  # the test's own process may hold a text's lock there
        yield disk


def one_copy() -> str:
    """A text just over the size that goes through an id file: 4.2 MB of the small disk's 6 MB."""
    line = "the quick brown fox jumps over the lazy dog\n"
    return line * (file_corpus_module.ID_FILE_BYTES // len(line) + 1)


def test_a_late_early_character_needs_no_room_for_a_second_copy(tmp_path: Path, small_disk: Path) -> None:
    """A character that sorts first, met last, renumbers every id at the end. That rewrite wrote a second file
    beside the first: on a disk with room for one copy and not two, the build filled it, and the text was read
    into memory instead (a note, and every later load encoded it again)."""
    big = write(tmp_path / "big.txt", one_copy() + "\t")
    env = {**os.environ, "RNNPLAY_CACHE_DIR": str(small_disk), "RNNPLAY_LOAD_PLUGINS": ""}
    done = subprocess.run([sys.executable, "-m", "rnnplay", "corpus", "show", str(big), "--preview", "0"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0 and "vocabulary:  29 characters" in done.stdout, done.stderr
    assert "note" not in done.stderr, done.stderr
    [ids] = (small_disk / "ids").glob("*.ids")
    assert ids.stat().st_size == big.stat().st_size and not list((small_disk / "ids").glob(".tmp-*"))


def test_a_models_vocabulary_without_room_for_its_ids_is_renumbered_in_memory(tmp_path: Path,
                                                                               small_disk: Path) -> None:
    """A model's vocabulary (fine-tuning, resuming) gets the text's ids in a second file. That file was written
    without asking for room first: on a disk with room for one copy, it filled the disk and failed. Now the room
    is checked as a build's is, and the ids are renumbered in memory instead, with a note."""
    text = one_copy()
    corpus = file_corpus(write(tmp_path / "big.txt", text), folder=small_disk / "ids")
    wider = Vocab(tuple(sorted(set(text) | set("XYZ"))))
    ids = corpus.encode(wider)
    assert np.array_equal(ids, wider.encode(text))
    assert len(corpus.notes) == 1 and "only" in corpus.notes[0] and "in memory instead" in corpus.notes[0]
    assert [p.name for p in (small_disk / "ids").glob("*.ids")] == [corpus.id_file.path(corpus.vocab()).name]
    assert not list((small_disk / "ids").glob(".tmp-*"))


def test_resuming_an_in_memory_checkpoint_on_the_file_path(tmp_path: Path, cache: Path) -> None:
    memory, mapped = both(write(tmp_path / "t.txt", TEXT))
    whole = new_run(memory, ModelSpec("lstm", 1, 16), TrainConfig(steps=6, **CONFIG))
    list(whole.trainer.run())
    half = new_run(memory, ModelSpec("lstm", 1, 16), TrainConfig(steps=6, **CONFIG))
    for event in half.trainer.run():
        if isinstance(event, StepEvent) and event.step == 3:
            half.trainer.stop()
    saved = half.save(tmp_path / "half.npz")
    resumed = resume_run(saved, mapped, {"steps": 6})
    list(resumed.trainer.run())
    for name, value in whole.model.params.items():
        assert np.array_equal(value, resumed.model.params[name]), name


def test_fine_tuning_renumbers_the_ids_for_the_models_vocabulary(tmp_path: Path, cache: Path) -> None:
    old = new_run(Corpus("old", "the quick brown fox jumps " * 40, "t"), ModelSpec("rnn", 1, 12),
                  TrainConfig(steps=2, **CONFIG))
    list(old.trainer.run())
    memory, mapped = both(write(tmp_path / "new.txt", TEXT))
    assert mapped.unknown(old.model.vocab) == memory.unknown(old.model.vocab)
    runs = [continue_run(old.model, c, TrainConfig(steps=3, **CONFIG)) for c in (memory, mapped)]
    assert runs[0].added == runs[1].added and runs[1].added
    assert np.array_equal(runs[0].trainer.batcher.streams, runs[1].trainer.batcher.streams)
    for run in runs:
        list(run.trainer.run())
    for name, value in runs[0].model.params.items():
        assert np.array_equal(value, runs[1].model.params[name]), name
    assert mapped.id_file.path(runs[1].model.vocab).is_file()  # the renumbered ids, cached beside the own
    with pytest.raises(RnnplayError) as mapped_error:
        mapped.encode(old.model.vocab)
    with pytest.raises(RnnplayError) as memory_error:
        memory.encode(old.model.vocab)
    assert str(mapped_error.value) == str(memory_error.value)


@pytest.mark.parametrize("damage", [200, 7], ids=["past-the-vocabulary", "another-character"])
def test_an_id_file_damaged_on_the_disk_is_made_again(tmp_path: Path, cache: Path, damage: int) -> None:
    """One byte changed in the cached ids: 200 failed every later run as 'a bug in rnnplay' (index out of range)
    until the cache was removed by hand, and 7, a valid id, trained on another text without a word."""
    path = write(tmp_path / "t.txt", TEXT)
    first = load_corpus(str(path))
    good = np.array(first.encode(first.vocab()))
    own = cache / f"{first.sha256}-{vocab_key(first.vocab())}.ids"
    with own.open("r+b") as f:
        f.seek(10)
        f.write(bytes([damage if good[10] != damage else damage + 1]))
    again = load_corpus(str(path))
    assert np.array_equal(again.encode(again.vocab()), good)
    other = Vocab(tuple(sorted(set(TEXT) | {"€"})))  # a model's vocabulary: the ids renumbered into it, then damaged
    renumbered = np.array(again.encode(other))
    with again.id_file.path(other).open("r+b") as f:
        f.seek(10)
        f.write(bytes([renumbered[10] + 1]))
    assert np.array_equal(load_corpus(str(path)).encode(other), renumbered)


BAD = [
    pytest.param(("x" * 500 + "\n") * 3 + "caf\xe9 ok", "latin-1", id="invalid-utf8-late"),
    pytest.param("ab\ncd\x00ef", "utf-8", id="binary"),
    pytest.param("\n" * 5 + "é" * 40, "utf-8-truncated", id="truncated-at-the-end"),
    pytest.param("", "utf-8", id="empty"),
    pytest.param("aaaa", "utf-8", id="one-character"),
]


@pytest.mark.parametrize(("text", "how"), BAD)
@pytest.mark.parametrize("chunked", [False, True], ids=["one-chunk", "64-byte-chunks"])
def test_bad_text_says_the_same_line_on_both_paths(tmp_path: Path, cache: Path, text: str, how: str, chunked: bool,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    if chunked:
        monkeypatch.setattr(text_stream, "CHUNK_BYTES", 64)
    data = text.encode("utf-8")[:-1] if how == "utf-8-truncated" else text.encode("utf-8" if how == "utf-8" else how)
    path = tmp_path / "bad.txt"
    path.write_bytes(data)
    with pytest.raises(RnnplayError) as in_memory:
        check_text(read_text_file(path), path.name)  # what load_corpus checks of an in-memory corpus
    with pytest.raises(RnnplayError) as mapped:
        file_corpus(path)
    assert str(mapped.value) == str(in_memory.value)
    assert not [p for p in cache.rglob("*") if p.is_file()], "a failed load left files in the cache"


def test_a_byte_order_mark_is_dropped_and_other_encodings_stream(tmp_path: Path, cache: Path,
                                                                  small_chunks: None) -> None:
    marked = tmp_path / "bom.txt"
    marked.write_bytes(b"\xef\xbb\xbf" + TEXT.encode("utf-8"))
    memory, mapped = both(marked)
    assert mapped.text == memory.text == TEXT and mapped.sha256 == memory.sha256 and mapped.head(3) == TEXT[:3]
    utf16 = write(tmp_path / "utf16.txt", TEXT, "utf-16")
    memory, mapped = both(utf16, "utf-16")
    assert mapped.sha256 == memory.sha256 and mapped.vocab() == memory.vocab()
    assert np.array_equal(mapped.encode(mapped.vocab()), memory.encode(memory.vocab()))


def folder(root: Path) -> Path:
    """Files of every kind a folder joins: nested, a byte-order mark, no last line break, empty, binary (skipped),
    a name that is not UTF-8, one with a line break, text past U+FFFF."""
    (root / "sub" / "deeper").mkdir(parents=True)
    write(root / "a.txt", TEXT)
    write(root / "sub" / "b.md", "no line break at the end \U0001f600")
    (root / "sub" / "deeper" / "c.txt").write_bytes(b"\xef\xbb\xbf" + b"marked\n" * 3)
    write(root / "empty.txt", "")
    (root / "blob.bin").write_bytes(b"\x00\x01\x02" * 100)
    write(root / os.fsdecode(b"caf\xe9.txt"), "Latin-1 name\n")
    write(root / "x\n==> y <==.txt", "forged?\n")
    return root


JOINED = (f"==> a.txt <==\n{TEXT}\n\n==> caf\ufffd.txt <==\nLatin-1 name\n\n==> empty.txt <==\n\n\n"
          "==> sub/b.md <==\nno line break at the end \U0001f600\n\n==> sub/deeper/c.txt <==\nmarked\nmarked\nmarked\n"
          "\n==> x\\n==> y <==.txt <==\nforged?\n")  # what folder() joins to (TEXT has no last line break)


@pytest.mark.parametrize("chunked", [False, True], ids=["one-chunk", "64-byte-chunks"])
def test_a_folder_gives_the_same_text_and_ids_through_the_id_file(tmp_path: Path, chunked: bool,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """dir: below ID_FILE_BYTES joins its text in memory; from it on, streams it into an id file (as a large
    file does): the same text, header lines, checksum, vocabulary, ids, head and summary either way."""
    monkeypatch.setenv("RNNPLAY_CACHE_DIR", str(tmp_path / "cache"))
    if chunked:
        monkeypatch.setattr(text_stream, "CHUNK_BYTES", 64)
    spec = f"dir:{folder(tmp_path / 'notes')}"
    memory = load_corpus(spec)
    assert memory.text == JOINED and memory.description == "6 files, 1 binary file skipped"
    monkeypatch.setattr(file_corpus_module, "ID_FILE_BYTES", 0)
    mapped = load_corpus(spec)
    assert type(memory) is Corpus and isinstance(mapped, FileCorpus)
    assert mapped.text == JOINED and mapped.sha256 == memory.sha256 and mapped.chars == memory.chars
    assert mapped.vocab() == memory.vocab() and mapped.description == memory.description
    assert np.array_equal(mapped.encode(mapped.vocab()), memory.encode(memory.vocab()))
    assert np.array_equal(mapped.counts(), memory.counts())
    assert mapped.head(100) == JOINED[:100] and describe(mapped, 300, "x") == describe(memory, 300, "x")


def test_a_folder_of_many_small_files_reaches_the_encoder_in_few_pieces(tmp_path: Path, cache: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Each file of a folder came to the encoder as three pieces (header, text, blank line), each call costing as
    much as thousands of characters: 20,000 files of 400 bytes (8 MB) took 10.2 s to encode where one 8 MB file
    takes 0.1 s. Now small pieces are joined first: the same text and ids in a few calls."""
    (tmp_path / "many").mkdir()
    for i in range(300):
        write(tmp_path / "many" / f"f{i:03}.txt", LINE * (1 + i % 3) + ("é" if i == 250 else ""))
    calls = []
    encode = id_build.StreamEncoder.encode
    monkeypatch.setattr(id_build.StreamEncoder, "encode", lambda self, piece, keep: calls.append(piece) or
                        encode(self, piece, keep))
    mapped = load_corpus(f"dir:{tmp_path / 'many'}")
    assert isinstance(mapped, FileCorpus) and len(calls) <= 3, len(calls)
    monkeypatch.setattr(file_corpus_module, "ID_FILE_BYTES", 1 << 40)
    memory = load_corpus(f"dir:{tmp_path / 'many'}")
    assert mapped.sha256 == memory.sha256 and mapped.vocab() == memory.vocab()
    assert np.array_equal(mapped.encode(mapped.vocab()), memory.encode(memory.vocab()))


def test_listing_a_folder_of_many_files_says_how_many_it_has_found(tmp_path: Path) -> None:
    """Listing a folder took about 1.3 s per 20,000 files with nothing shown, on a terminal or off it: a folder of
    200,000 files was some 20 s of silence before the first line. Its count is now shown as the glob goes (off a
    terminal, a line once $RNNPLAY_STATUS_SECONDS pass without one)."""
    (tmp_path / "many").mkdir()
    for i in range(2500):
        (tmp_path / "many" / f"f{i:04}.txt").write_text(f"file {i}\n")
    env = {**os.environ, "RNNPLAY_CACHE_DIR": str(tmp_path / "cache"), "RNNPLAY_LOAD_PLUGINS": "",
           "RNNPLAY_STATUS_SECONDS": "0.000001"}
    done = subprocess.run([sys.executable, "-m", "rnnplay", "corpus", "show", f"dir:{tmp_path / 'many'}", "--preview",
                           "0"], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0 and "many: 2,500 files" in done.stdout, done.stderr
    assert "listing many: 1,000 files so far\nlisting many: 2,000 files so far\n" in done.stderr, done.stderr


def test_a_folder_with_a_bad_file_is_one_line_and_leaves_no_ids(tmp_path: Path, cache: Path) -> None:
    root = folder(tmp_path / "notes")
    (root / "sub" / "latin.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    with pytest.raises(RnnplayError, match=r"latin.txt is not valid utf-8 \(byte 3, line 1\); try --encoding"):
        load_corpus(f"dir:{root}")
    assert not [p for p in cache.rglob("*") if p.is_file()], "a failed load left files in the cache"


def test_a_fifo_is_refused_at_once(tmp_path: Path, cache: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(RnnplayError, match="named pipe"):
        file_corpus(tmp_path / "pipe")


CHILD = """
import resource, sys
from rnnplay.corpora import load_corpus
from rnnplay.core.train_config import ModelSpec, TrainConfig
from rnnplay.core.trainer import StepEvent
from rnnplay.session.training_runs import new_run

def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

run = new_run(load_corpus(sys.argv[1]), ModelSpec("lstm", 1, 8), TrainConfig(batch_size=8, seq_length=16, steps=2))
list(run.trainer.run())
print(peak())
"""


@pytest.mark.parametrize("as_folder", [False, True], ids=["file", "dir"])
def test_training_on_a_50_mb_corpus_stays_far_below_its_size_in_memory(tmp_path: Path, cache: Path,
                                                                       as_folder: bool) -> None:
    """Peak RSS of a child that loads (encodes) and trains on 50 MB, against the same child on 50 kB; as a file,
    and as the one file of a ``dir:`` folder.

    The in-memory path held the text and its ids, 2.8 times the file at its peak (a folder joined in memory
    more: its files' texts and the joined text); the file path holds one MB-sized chunk's scratch while
    encoding and a few pages of the map while training, so the peak grows by less than a fifth of the corpus
    (the bound leaves room for the allocator's noise).
    """
    words = TEXT.split(" ")
    rng = np.random.default_rng(0)
    sentence = " ".join(words[i] for i in rng.integers(0, len(words), 20_000)) + "\n"
    big, small = tmp_path / "big.txt", tmp_path / "small.txt"
    with open(big, "w") as f:
        while f.tell() < 50_000_000:
            f.write(sentence)
    small.write_text(sentence[:50_000])
    specs = [str(small), str(big)]
    if as_folder:
        for path in (small, big):
            path.parent.joinpath(path.stem).mkdir()
            path.rename(path.parent / path.stem / path.name)
        specs = [f"dir:{tmp_path / 'small'}", f"dir:{tmp_path / 'big'}"]
    env = {**os.environ, "RNNPLAY_CACHE_DIR": str(cache.parent), "RNNPLAY_JIT": "0"}
    peaks = [int(subprocess.run([sys.executable, "-c", CHILD, spec], env=env, capture_output=True, text=True,
                                check=True).stdout) for spec in specs]
    grew = peaks[1] - peaks[0]
    assert grew < 50_000_000 / 5, f"peak RSS {peaks[1] / 1e6:.0f} MB, +{grew / 1e6:.0f} MB over 50 kB"


def test_a_cache_that_cannot_be_written_falls_back_to_memory(tmp_path: Path, cache: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "afile").write_text("")
    monkeypatch.setenv("RNNPLAY_CACHE_DIR", str(tmp_path / "afile"))  # a file where the cache's folder should be
    corpus = load_corpus(str(write(tmp_path / "t.txt", TEXT)))
    assert type(corpus) is Corpus and corpus.text == TEXT
    (tmp_path / "notes").mkdir()
    write(tmp_path / "notes" / "a.txt", TEXT)
    folder = load_corpus(f"dir:{tmp_path / 'notes'}")
    for loaded in (corpus, folder):  # said, not silent: each later run reads the whole text again
        [note] = loaded.notes
        assert note.startswith(f"cannot write the corpus's ids in {tmp_path / 'afile'}") and "into memory" in note


def test_the_cli_says_when_the_cache_could_not_take_the_ids(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    big = write(tmp_path / "big.txt", TEXT * (file_corpus_module.ID_FILE_BYTES // len(TEXT) + 1))
    env = {**os.environ, "RNNPLAY_CACHE_DIR": str(tmp_path / "afile"), "RNNPLAY_LOAD_PLUGINS": ""}
    done = subprocess.run([sys.executable, "-m", "rnnplay", "corpus", "show", str(big)], capture_output=True,
                          text=True, env=env, timeout=120)
    assert done.returncode == 0 and "big.txt" in done.stdout, done.stderr
    notes = [line for line in done.stderr.splitlines() if line.startswith("rnnplay: note: cannot write")]
    assert len(notes) == 1 and "RNNPLAY_CACHE_DIR" in notes[0] and "read into memory" in notes[0], done.stderr


@pytest.mark.parametrize("as_folder", [False, True], ids=["file", "dir"])
def test_the_cli_trains_and_shows_a_corpus_through_its_id_file(tmp_path: Path, as_folder: bool) -> None:
    """Every corpus of ID_FILE_BYTES or more ended in a traceback ('FileCorpus' object has no attribute 'notes')
    in `train` and `corpus show`: the tests loaded such corpora, but no command read their notes."""
    (tmp_path / "notes").mkdir()
    big = write(tmp_path / "notes" / "big.txt", TEXT * (file_corpus_module.ID_FILE_BYTES // len(TEXT) + 1))
    spec = f"dir:{big.parent}" if as_folder else str(big)
    env = {**os.environ, "RNNPLAY_CACHE_DIR": str(tmp_path / "cache"), "RNNPLAY_LOAD_PLUGINS": "", "RNNPLAY_JIT": "0"}
    for command in (["corpus", "show", spec, "--preview", "20"],
                    ["train", spec, "--steps", "2", "--hidden", "8", "--layers", "1", "--batch-size", "2",
                     "--seq-length", "8", "--val-every", "0", "--out", str(tmp_path / "m.npz")]):
        done = subprocess.run([sys.executable, "-m", "rnnplay", *command], capture_output=True, text=True, env=env,
                              timeout=300, cwd=tmp_path)
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert list((tmp_path / "cache" / "ids").glob("*.ids")) and load_model(tmp_path / "m.npz").training["step"] == 2


@pytest.mark.parametrize("as_folder", [False, True], ids=["file", "dir"])
def test_a_second_load_says_it_checked_the_cached_ids_and_where(tmp_path: Path, as_folder: bool) -> None:
    """A second load of a large text counts its cached ids (a few seconds a GB) and said nothing all the while:
    2.5 GB of text was 5.7 s of silence before the first line of `train`."""
    (tmp_path / "notes").mkdir()
    big = write(tmp_path / "notes" / "big.txt", TEXT * ((64 << 20) // len(TEXT) + 1))  # 64 MiB of ids, a byte a char
    spec = f"dir:{big.parent}" if as_folder else str(big)
    env = {**os.environ, "RNNPLAY_CACHE_DIR": str(tmp_path / "cache"), "RNNPLAY_LOAD_PLUGINS": ""}
    said = [subprocess.run([sys.executable, "-m", "rnnplay", "corpus", "show", spec, "--preview", "0"],
                           capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path).stderr
            for _ in range(2)]
    assert "checked the cached ids" not in said[0] and "encoded" in said[0], said[0]
    assert f"its ids kept in {tmp_path / 'cache' / 'ids'} for the next load" in said[0], said[0]  # where, and why
    name = "notes" if as_folder else "big.txt"
    assert f"checked the cached ids of {name} in " in said[1] and str(tmp_path / "cache" / "ids") in said[1], said[1]
    assert "encoded" not in said[1], said[1]


def test_a_file_encoded_anew_says_what_its_earlier_versions_left_in_the_cache(tmp_path: Path) -> None:
    """Each edit of a large file left another id file as large as the text in the cache, without a word: a 400 MB
    file edited twice held 1.2 GB. The load after an edit says how much, and what removes it; not while another
    file still has the earlier text, nor once a prune has removed it."""
    big = write(tmp_path / "big.txt", TEXT * (file_corpus_module.ID_FILE_BYTES // len(TEXT) + 1))
    env = {**os.environ, "RNNPLAY_CACHE_DIR": str(tmp_path / "cache"), "RNNPLAY_LOAD_PLUGINS": ""}

    def rnnplay(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "rnnplay", *args], capture_output=True, text=True, env=env,
                              timeout=300, cwd=tmp_path)
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
        return done.stderr

    def note_after_edit() -> str:
        with big.open("a") as f:
            f.write("an edit\n")
        return "".join(line for line in rnnplay("corpus", "show", str(big), "--preview", "0").splitlines()
                       if line.startswith("rnnplay: note:"))

    (tmp_path / "copy.txt").write_bytes(big.read_bytes())
    rnnplay("corpus", "show", str(tmp_path / "copy.txt"), "--preview", "0")
    rnnplay("corpus", "show", str(big), "--preview", "0")
    assert note_after_edit() == ""  # copy.txt's memo still leads to the first text
    note = note_after_edit()
    assert note.count("MB of ids of earlier versions of big.txt") == 1 and "--prune" in note, note
    rnnplay("corpus", "cache", "--prune")
    assert note_after_edit().count("MB of ids") == 1  # the last edit's, not those a prune removed


def test_a_folder_encoded_anew_says_what_its_earlier_versions_left_in_the_cache(tmp_path: Path, cache: Path) -> None:
    """A single file encoded anew after an edit said how much of the cache its earlier versions' ids held; a dir:
    folder whose member was edited left its earlier ids there without a word. It says the same line now: not while
    the folder is unchanged, nor for ids a prune has removed."""
    (tmp_path / "notes").mkdir()
    write(tmp_path / "notes" / "a.txt", TEXT)
    member = write(tmp_path / "notes" / "b.txt", TEXT[::-1] * 300)  # 1 MB of ids: each version's counts in the note
    spec = f"dir:{tmp_path / 'notes'}"

    def notes() -> list[str]:
        corpus = load_corpus(spec)
        corpus.release()  # as a run done with it does: its ids no longer held from a prune
        return corpus.notes

    def notes_after_edit() -> list[str]:
        with member.open("a") as f:
            f.write("an edit\n")
        return notes()

    assert notes() == [] and notes() == []  # encoded, then found unchanged
    [note] = notes_after_edit()
    assert note.startswith("the cache also holds ") and "MB of ids of earlier versions of notes, which no load will " \
        f"read again (in {cache}); `rnnplay corpus cache --prune` removes them" in note, note
    id_cache.prune()
    assert notes_after_edit() == [note], note  # the last edit's, not those the prune removed


def test_a_killed_builds_part_file_is_removed_before_the_room_is_measured(tmp_path: Path, cache: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The free space was checked before a killed build's part file was removed: where that file was what filled
    the disk, every later load was refused room (and read the text into memory) while the file stayed."""
    cache.mkdir(parents=True)
    stale = cache / ".tmp-999999999-dead.part"  # a PID no process has
    stale.write_bytes(b"ids of a build killed midway")
    seen = []
    measure = id_build.check_room
    monkeypatch.setattr(id_build, "check_room", lambda folder, size: (seen.append(stale.exists()), measure(folder,
                                                                                                         size)))
    load_corpus(str(write(tmp_path / "t.txt", TEXT)))
    assert seen and not any(seen)


def test_a_part_file_removed_by_another_process_is_said_so(tmp_path: Path, cache: Path, small_chunks: None) -> None:
    """A prune that could not see a live build (another PID namespace, a second machine on the same NFS home)
    removed its part file; the build then said "cannot write the corpus's ids in …: No such file or directory; free
    some space there, or set RNNPLAY_CACHE_DIR …", which no space would cure. Now it says what happened."""
    removed: list[Path] = []

    def remove_the_part(*_: object) -> None:  # as another process does, while the build reads its text
        for part in cache.glob(".tmp-*.part"):
            part.unlink()
            removed.append(part)

    corpus = file_corpus(write(tmp_path / "t.txt", TEXT), progress=remove_the_part)
    assert removed and corpus.text == TEXT
    [note] = corpus.notes
    assert "were removed by another process" in note and str(removed[0]) in note, note
    assert "free some space" not in note and note.endswith("(this time the text was read into memory instead)")
    assert not list(cache.glob(".tmp-*"))


def test_memory_limited_by_a_control_group_bounds_what_is_read_into_memory(tmp_path: Path) -> None:
    """A text read into memory was weighed against the machine's RAM alone: in a container (or under systemd's
    MemoryMax=) of less, the process was killed outright, with no word."""
    v1, v2 = tmp_path / "v1", tmp_path / "v2"
    (v1 / "memory" / "jobs" / "one").mkdir(parents=True)
    (v1 / "memory" / "jobs" / "one" / "memory.limit_in_bytes").write_text("9223372036854771712\n")  # none
    (v1 / "memory" / "jobs" / "memory.limit_in_bytes").write_text("300000000\n")  # its parent's
    (tmp_path / "v1.cgroup").write_text("9:cpu:/\n4:memory:/jobs/one\n0::/\n")
    assert memory_module._cgroup_limit(tmp_path / "v1.cgroup", v1) == 300_000_000
    (v2 / "user.slice").mkdir(parents=True)
    (v2 / "user.slice" / "memory.max").write_text("max\n")
    (tmp_path / "v2.cgroup").write_text("0::/user.slice\n")
    assert memory_module._cgroup_limit(tmp_path / "v2.cgroup", v2) is None
    (v2 / "user.slice" / "memory.max").write_text("1073741824\n")
    assert memory_module._cgroup_limit(tmp_path / "v2.cgroup", v2) == 1 << 30
    assert memory_module._cgroup_limit(tmp_path / "missing", v2) is None
    assert 0 < memory_module.usable_memory() <= memory_module._ram()


def test_a_text_read_into_memory_instead_of_the_cache_is_weighed_as_held_whole(tmp_path: Path) -> None:
    """With the cache unwritable, a file up to a quarter of the memory rnnplay may use was read into memory; but a
    text read whole is held about four times over (bytes, str, ids): 300 MB peaked at 1.1 GB here, and under a
    200 MB memory cgroup a 40 MB file peaked at 235 MB, past the limit that ends a process with no word. A 16 MB
    file there is now the cache's one-line error; a 4 MiB one still falls back to memory."""
    (tmp_path / "cg" / "x").mkdir(parents=True)
    (tmp_path / "cg" / "self.cgroup").write_text("0::/x\n")
    (tmp_path / "cg" / "x" / "memory.max").write_text("200000000\n")
    (tmp_path / "afile").write_text("")
    env = {**os.environ, "RNNPLAY_CACHE_DIR": str(tmp_path / "afile"), "RNNPLAY_LOAD_PLUGINS": "",
           "RNNPLAY_CGROUP_ROOT": str(tmp_path / "cg")}
    for size, fits in ((16_000_000, False), (file_corpus_module.ID_FILE_BYTES, True)):
        big = write(tmp_path / "big.txt", TEXT * (size // len(TEXT.encode()) + 1))
        done = subprocess.run([sys.executable, "-m", "rnnplay", "corpus", "show", str(big), "--preview", "0"],
                              capture_output=True, text=True, env=env, timeout=120)
        errors = [line for line in done.stderr.splitlines() if line.startswith("rnnplay: error:")]
        if fits:
            assert done.returncode == 0 and "read into memory instead" in done.stderr, done.stderr
        else:
            assert done.returncode == 1 and len(errors) == 1 and "RNNPLAY_CACHE_DIR" in errors[0], done.stderr


@pytest.mark.parametrize("as_folder", [False, True], ids=["file", "dir"])
def test_a_text_past_u_ffff_is_weighed_at_four_bytes_a_character(tmp_path: Path, as_folder: bool,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A text read whole was weighed at four times its file's size, measured on ASCII; but one character past U+FFFF
    (an emoji) makes Python's str take four bytes every character, and the text peaked at 6.3 times its size. The
    weight now follows the widest character and the characters, counted in a pass over the text before it is read:
    an emoji at the end of 1.8 MB of text is refused where the same text alone (its widest character in the BMP) is
    read into memory."""
    (tmp_path / "cg" / "x").mkdir(parents=True)
    (tmp_path / "cg" / "self.cgroup").write_text("0::/x\n")
    (tmp_path / "cg" / "x" / "memory.max").write_text("40000000\n")  # a quarter: 10 MB
    (tmp_path / "afile").write_text("")
    monkeypatch.setenv("RNNPLAY_CGROUP_ROOT", str(tmp_path / "cg"))
    monkeypatch.setenv("RNNPLAY_CACHE_DIR", str(tmp_path / "afile"))
    monkeypatch.setattr(file_corpus_module, "ID_FILE_BYTES", 0)
    bmp = TEXT * (1_800_000 // len(TEXT.encode()))  # held: 3 bytes a byte and 2 a character, 8.6 MB
    for name, text, fits in (("bmp", bmp, True), ("emoji", bmp[:-1] + "\U0001F600", False)):  # 4 a character: 12 MB
        (tmp_path / name).mkdir()
        path = write(tmp_path / name / "t.txt", text)
        spec = f"dir:{path.parent}" if as_folder else str(path)
        if fits:
            assert "read into memory instead" in load_corpus(spec).notes[0]
        else:
            with pytest.raises(RnnplayError, match="RNNPLAY_CACHE_DIR"):
                load_corpus(spec)


def test_small_files_are_read_into_memory_and_write_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RNNPLAY_CACHE_DIR", str(tmp_path / "cache"))
    corpus = load_corpus(str(write(tmp_path / "t.txt", TEXT)))
    assert type(corpus) is Corpus and corpus.text == TEXT and not (tmp_path / "cache").exists()


def test_corpus_show_says_the_same_of_both_paths_reading_only_the_head(tmp_path: Path, cache: Path) -> None:
    memory, mapped = both(write(tmp_path / "t.txt", TEXT))
    assert describe(mapped, 120, "x") == describe(memory, 120, "x")
    shown = describe(mapped, 0, "x")
    assert f"{len(TEXT.encode()):,} bytes" in shown and f"{TEXT.count(chr(10)):,} lines" in shown


@pytest.mark.parametrize("damage", ["sidecar", "ids"])
def test_a_damaged_cache_entry_is_built_again(tmp_path: Path, cache: Path, damage: str) -> None:
    path = write(tmp_path / "t.txt", TEXT)
    first = file_corpus(path)
    if damage == "sidecar":
        (cache / f"{first.sha256}.json").write_text('{"format": 1, "vocab": ["ab", "c"]}')
    else:
        with open(first.id_file.path(first.vocab()), "r+b") as f:
            f.truncate(10)
    again = file_corpus(path)
    assert again.vocab() == first.vocab() and np.array_equal(again.encode(again.vocab()), Corpus(
        "t", TEXT, "t").encode(first.vocab()))


def test_a_file_larger_than_the_free_disk_is_refused_before_anything_is_written(tmp_path: Path, cache: Path) -> None:
    huge = tmp_path / "huge.txt"
    with open(huge, "wb") as f:
        f.write(TEXT.encode() * 4)  # text first, so it is not taken for a binary file
        f.truncate(1 << 42)  # sparse: 4 TiB that take no disk
    with pytest.raises(RnnplayError, match="ids need 4,398,046,511,104 bytes"):
        load_corpus(str(huge))
    assert not [p for p in cache.rglob("*") if p.is_file()]


def test_uses_of_one_text_share_its_lock_until_the_last_is_released(tmp_path: Path) -> None:
    """A text's shared lock was kept for the process's life; now it goes with the last use released."""
    sha = "a" * 64
    lock = lock_path(tmp_path, sha)
    first, second = hold(tmp_path, sha), hold(tmp_path, sha)
    assert in_use(lock)
    first.release()
    first.release()  # a second release of the same use changes nothing
    assert in_use(lock)
    second.release()
    assert not in_use(lock) and lock.exists()
