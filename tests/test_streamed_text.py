"""`rnnplay score --file` and `rnnplay sample --seed-file` read their file a piece at a time, never whole: the same
numbers as the text read whole, the memory of a piece, a word up front for a long scoring; a long stdin kept in
a temporary file, and refused in one line when the disk has no room for it; a file changed between passes;
a file removed from a folder being read, and a file-size limit (ulimit -f), said as such."""

from __future__ import annotations

import hashlib
import io
import os
import re
import resource
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tiny_model import save_sharp_model

from rnnplay.core.errors import RnnplayError
from rnnplay.core.generate import prime, prime_stream
from rnnplay.core.score import score_stream, score_text
from rnnplay.corpora import memory as memory_module
from rnnplay.corpora import text as text_module
from rnnplay.corpora import text_pieces, text_stream
from rnnplay.corpora.base import no_progress
from rnnplay.corpora.folders import JoinedStream
from rnnplay.corpora.id_build import encode_file
from rnnplay.corpora.text_pieces import TextFile, TextPieces
from rnnplay.models.library import open_model
from rnnplay.ui.cli import bars, cmd_sample, main
from rnnplay.ui.event_text import loss_text

TEXT = "ROMEO:\nBut soft, what light through yonder window breaks?\nIt is the east, and Juliet is the sun.\n"
ALPHABET = TEXT + "ü€"  # two characters of two and three bytes in UTF-8: characters and bytes differ


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_sharp_model(tmp_path_factory.mktemp("model") / "m.npz", ALPHABET)


def prose(n: int, seed: int = 0) -> str:
    """``n`` characters drawn from the model's alphabet."""
    chars = np.array(sorted(set(ALPHABET)))
    return "".join(np.random.default_rng(seed).choice(chars, n).tolist())


@pytest.fixture
def never_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """A file read whole by `score` or `sample` (as they did) fails the test."""
    def whole(path: Path, *args: object) -> bytes:
        raise AssertionError(f"{path} was read whole")

    monkeypatch.setattr(cmd_sample, "read_regular_file", whole)


def scored(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[str, str]:
    assert main(["score", *args]) == 0, capsys.readouterr().err
    out = capsys.readouterr()
    return out.out, out.err


def test_the_streamed_score_is_the_in_memory_score(model_path: Path) -> None:
    model = open_model(str(model_path))
    text = prose(3000)
    whole = score_text(model, text)
    pieces = [model.vocab.encode(text[i : i + 777]) for i in range(0, len(text), 777)]  # seams off the chunks'
    nats, count = score_stream(model, pieces, len(text))
    assert count == len(whole.probs) == len(text) - 1
    assert nats == pytest.approx(whole.nats_per_char, rel=1e-12)
    with pytest.raises(RnnplayError, match="need at least two characters"):
        score_stream(model, [model.vocab.encode("R")], 1)


def test_a_streamed_seed_leaves_the_state_the_whole_seed_leaves(model_path: Path) -> None:
    model = open_model(str(model_path))
    ids = model.vocab.encode(prose(2500, seed=1))
    logits, states = prime(model, ids)
    primed = prime_stream(model, [ids[i : i + 300] for i in range(0, len(ids), 300)], len(ids))
    np.testing.assert_array_equal(primed.logits, logits)  # the same chunks: the same bits
    for mine, theirs in zip(primed.states, states, strict=True):
        for a, b in zip(mine, theirs, strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("val_split", [False, True])
def test_score_file_in_small_pieces_equals_the_text_read_whole(model_path: Path, tmp_path: Path, capsys,
                                                                monkeypatch: pytest.MonkeyPatch, never_whole: None,
                                                                val_split: bool) -> None:
    """Pieces of 7 bytes split the two- and three-byte characters and the CRLFs between them; the last 10% is
    counted in characters after CRLF is read as LF, floor, as training's split."""
    lf = prose(2000, seed=2)
    (tmp_path / "crlf.txt").write_bytes(lf.replace("\n", "\r\n").encode())
    monkeypatch.setattr(text_stream, "CHUNK_BYTES", 7)
    out, err = scored(capsys, str(model_path), "--file", str(tmp_path / "crlf.txt"), *["--val-split"] * val_split)
    part = lf[int(len(lf) * 0.9) :] if val_split else lf
    expected = score_text(open_model(str(model_path)), part)
    what = f"the last 10% of {tmp_path / 'crlf.txt'}" if val_split else str(tmp_path / "crlf.txt")
    assert out == f"{loss_text(expected.nats_per_char)} on {len(part) - 1:,} characters of {what}\n"
    assert err == f"rnnplay: reading {lf.count(chr(10)):,} CRLF line ends as LF (the model knows no '\\r')\n"


def test_crlf_split_between_pieces_is_one_line_end() -> None:
    text = TextPieces(crlf_as_lf=True)
    pieces = ["a\r", "\nb\r", "\r\n", "c\r\r", "\n\r"]
    assert "".join(text._line_ends(pieces)) == "".join(pieces).replace("\r\n", "\n")
    assert text.crlf == "".join(pieces).count("\r\n") == 3


def test_unknown_characters_count_in_the_scored_part_only(model_path: Path, tmp_path: Path, capsys,
                                                          never_whole: None) -> None:
    """Unseen characters before the last 10% are no matter for --val-split; in it they are refused, counted and
    named, or left out with --skip-unknown, as before."""
    tail = prose(500, seed=3)
    (tmp_path / "head.txt").write_text("Ωψ" * 2250 + tail)  # the last 10% of 5,000 characters is the tail
    out, _ = scored(capsys, str(model_path), "--file", str(tmp_path / "head.txt"), "--val-split")
    assert out.startswith(loss_text(score_text(open_model(str(model_path)), tail).nats_per_char))
    (tmp_path / "tail.txt").write_text(prose(4500, seed=4) + tail[:100] + "Ω" + tail[100:250] + "ψψ" + tail[250:])
    assert main(["score", str(model_path), "--file", str(tmp_path / "tail.txt"), "--val-split"]) == 1
    err = capsys.readouterr().err
    assert err == (f"rnnplay: error: the last 10% of {tmp_path / 'tail.txt'} has 3 characters the model has never "
                   "seen (2 distinct: 'Ω' 'ψ'): pass --skip-unknown to score the rest, or use a model trained on "
                   "text that has them\n")
    (tmp_path / "tail.txt").write_text(prose(4500, seed=4) + tail[:250] + "Ωψψ" + tail[250:])  # from 4,502 on
    out, err = scored(capsys, str(model_path), "--file", str(tmp_path / "tail.txt"), "--val-split", "--skip-unknown")
    assert out.startswith(loss_text(score_text(open_model(str(model_path)), tail[2:]).nats_per_char))
    assert err.startswith("rnnplay: left out 3 characters the model has never seen (2 distinct: 'Ω' 'ψ')")


def test_a_large_scoring_says_how_many_characters_and_how_long_first(model_path: Path, tmp_path: Path, capsys,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bars, "LARGE_TEXT", 1000)  # characters: a large text, for this test
    (tmp_path / "t.txt").write_text(prose(3000, seed=5))
    out, err = scored(capsys, str(model_path), "--file", str(tmp_path / "t.txt"))
    assert re.fullmatch(rf"rnnplay: scoring 2,999 characters of {re.escape(str(tmp_path))}/t.txt: about \S+ at "
                        r"[\d,]+ characters a second\n", err), err
    assert out.endswith("on 2,999 characters of " + str(tmp_path / "t.txt") + "\n")
    _, err = scored(capsys, str(model_path), "--file", str(tmp_path / "t.txt"), "--val-split")
    assert err == ""  # 299 characters: no word


def peak_rss(args: list[str], cwd: Path) -> int:
    """The peak resident memory (bytes) of ``rnnplay ARGS``, run alone under a parent of its own."""
    measure = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL);"
               " print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    done = subprocess.run([sys.executable, "-c", measure, sys.executable, "-m", "rnnplay", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return int(done.stdout) * 1024


@pytest.mark.parametrize("command", [["score", "--val-split", "--skip-unknown", "--file"],
                                     ["sample", "--length", "5", "--seed-file"]], ids=["score", "sample"])
def test_a_long_file_costs_the_memory_of_a_piece(model_path: Path, tmp_path: Path, command: list[str]) -> None:
    """48 MB of text whose characters the model mostly has never seen (so it reads little of it): read whole, it
    took its size at least twice over (bytes, then text); read a piece at a time, a few pieces'."""
    size = 48 << 20
    (tmp_path / "small.txt").write_text(("x" * 999 + "R") * 100)
    (tmp_path / "long.txt").write_text(("x" * 999 + "R") * (size // 1000))
    small = peak_rss([command[0], str(model_path), *command[1:], "small.txt"], tmp_path)
    long = peak_rss([command[0], str(model_path), *command[1:], "long.txt"], tmp_path)
    assert long - small < size // 4, f"{small:,} bytes for 100 kB, {long:,} for {size:,}"


def test_ctrl_c_ends_a_long_scoring_in_one_line(model_path: Path, tmp_path: Path) -> None:
    (tmp_path / "long.txt").write_text(prose(1_000_000, seed=6))
    proc = subprocess.Popen([sys.executable, "-m", "rnnplay", "score", str(model_path), "--file", "long.txt"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stderr.readline()  # the estimate, once the scoring is under way
        assert first.startswith("rnnplay: scoring 999,999 characters of long.txt: about "), first
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    partial = (r"( after [\d,]+ of 999,999 characters of long\.txt: [\d.]+ nats/char \([\d.]+ bits\) on the part "
               r"scored \(partial\))?")  # the loss of the part scored, once a chunk is
    assert proc.returncode == 130 and out == "" and re.fullmatch(f"rnnplay: interrupted{partial}\n", err), err


def test_a_folder_member_removed_before_its_turn_is_said_so(tmp_path: Path) -> None:
    for name in ("a.txt", "b.txt"):
        (tmp_path / name).write_text(TEXT * 10)
    joined = JoinedStream([tmp_path / "a.txt", tmp_path / "b.txt"], tmp_path, "utf-8")
    pieces = joined.pieces(no_progress, "")
    next(pieces)
    (tmp_path / "b.txt").unlink()
    with pytest.raises(RnnplayError) as err:
        list(pieces)
    assert str(err.value) == (f"{tmp_path / 'b.txt'} was removed while the folder was read (it was listed, then "
                              "gone before its turn); run the command again once nothing removes files there")


def test_stdout_past_the_file_size_limit_says_so_not_a_full_disk(model_path: Path, tmp_path: Path) -> None:
    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (100, 100))

    with open(tmp_path / "out.txt", "w") as out:
        done = subprocess.run([sys.executable, "-m", "rnnplay", "sample", str(model_path), "--length", "500"],
                              cwd=tmp_path, stdout=out, stderr=subprocess.PIPE, text=True, preexec_fn=small_files,
                              timeout=300)
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.rstrip().endswith("the file-size limit (ulimit -f) was reached: raise it, or send the output "
                                         "elsewhere"), done.stderr


def test_text_file_refuses_a_file_that_changed_between_its_readings(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text(TEXT)
    text = TextFile(path)
    assert "".join(text.pieces()) == TEXT
    path.write_text(TEXT * 2)
    with pytest.raises(RnnplayError, match="changed while it was read"):
        "".join(text.pieces())


def test_sample_from_a_seed_file_in_pieces_is_the_sample_from_the_seed_whole(model_path: Path, tmp_path: Path,
                                                                           capsys, monkeypatch,
                                                                           never_whole: None) -> None:
    seed = prose(3000, seed=7)
    (tmp_path / "seed.txt").write_text(seed)
    args = ["sample", str(model_path), "--length", "50", "--rng-seed", "4"]
    assert main([*args, "--seed", seed.replace("\\", "\\\\").replace("\n", "\\n")]) == 0
    typed = capsys.readouterr().out
    monkeypatch.setattr(text_stream, "CHUNK_BYTES", 7)
    assert main([*args, "--seed-file", str(tmp_path / "seed.txt")]) == 0
    assert capsys.readouterr().out == typed and typed.startswith(seed)


@pytest.mark.parametrize("command", [["sample", "--length", "20", "--rng-seed", "3", "--seed-file"],
                                     ["score", "--val-split", "--file"]], ids=["sample", "score"])
def test_a_long_stdin_is_kept_in_a_file_and_read_as_the_file_is(
    model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    command: list[str],
) -> None:
    """stdin cannot be read twice, so it was held whole, and refused past a third of the memory: 500 kB under
    1 MiB. Now past SPOOL_FROM it goes to a temporary file in the cache, gone once read: the file's output. Here
    62.5 kB under 128 KiB, in more than one block: `sample` runs its seed through the model a character at a time,
    twice, and 500 kB of it took seconds."""
    monkeypatch.setattr(memory_module, "available_memory", lambda: (1 << 17, "128 KiB, as a test says"))
    monkeypatch.setattr(text_pieces, "SPOOL_FROM", 2 * text_module.BINARY_SNIFF)  # past the first block read
    monkeypatch.setenv("RNNPLAY_CACHE_DIR", str(tmp_path / "cache"))
    text = prose(62_500, seed=8)
    (tmp_path / "t.txt").write_text(text)
    assert main([command[0], str(model_path), *command[1:], str(tmp_path / "t.txt")]) == 0
    from_file = capsys.readouterr().out
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode())))
    assert main([command[0], str(model_path), *command[1:], "-"]) == 0, capsys.readouterr().err
    assert capsys.readouterr().out == from_file.replace(str(tmp_path / "t.txt"), "stdin")
    assert list((tmp_path / "cache" / "tmp").iterdir()) == []


def test_a_file_given_as_stdin_is_read_in_place_not_copied(model_path: Path, tmp_path: Path) -> None:
    """``score --file - < big.txt``: stdin is a regular file, read again as a file is, not copied to the cache."""
    (tmp_path / "t.txt").write_text(("\u00a7" * 99_999 + "R") * 30)  # 6 MB, 30 characters the model knows
    env = {**os.environ, "RNNPLAY_CACHE_DIR": str(tmp_path / "cache")}
    args = [sys.executable, "-m", "rnnplay", "score", str(model_path), "--skip-unknown", "--file"]
    with (tmp_path / "t.txt").open("rb") as text:
        piped = subprocess.run([*args, "-"], stdin=text, cwd=tmp_path, env=env, capture_output=True, text=True,
                               timeout=300)
    named = subprocess.run([*args, "t.txt"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert piped.returncode == 0 and named.returncode == 0, piped.stderr + named.stderr
    assert piped.stdout == named.stdout.replace("t.txt", "stdin") and " on 29 characters of stdin" in piped.stdout
    assert not (tmp_path / "cache" / "tmp").exists()


def test_a_disk_without_room_for_a_long_stdin_is_one_line(model_path: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(text_pieces, "SPOOL_FROM", 1 << 16)
    monkeypatch.setattr(text_pieces, "SPOOL_MARGIN", 1 << 62)  # more than any disk has free
    monkeypatch.setenv("RNNPLAY_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(prose(200_000).encode())))
    assert main(["score", str(model_path), "--file", "-"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"rnnplay: error: stdin has sent more than 0 bytes, and {tmp_path / 'cache' / 'tmp'} has ")
    assert err.endswith("free some space there, set RNNPLAY_CACHE_DIR to a folder with room, or save it in a file "
                        "and give --file FILE\n") and err.count("\n") == 1, err
    assert list((tmp_path / "cache" / "tmp").iterdir()) == []


def test_a_file_changed_between_the_passes_of_score_is_refused(model_path: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """score reads a file twice, count then score: rewritten in between with the same size, its score mixed two
    texts and said nothing."""
    path = tmp_path / "t.txt"
    path.write_text(prose(5000, seed=1))
    tally = TextFile.tally

    def then_changed(self: TextFile, *args: object) -> object:
        found = tally(self, *args)
        path.write_text(prose(5000, seed=2))  # the same size, another text
        return found

    monkeypatch.setattr(TextFile, "tally", then_changed)
    assert main(["score", str(model_path), "--file", str(path)]) == 1
    out = capsys.readouterr()
    assert out.out == "" and out.err == (
        f"rnnplay: error: {path} changed while it was read (another file, size or time than at the first of "
        "rnnplay's passes over it): the result would mix two texts; run the command again once nothing writes to "
        "it, or on a copy of it\n")


def test_passes_over_a_file_hash_nothing_and_an_id_file_still_gets_its_sha256(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every pass of score and sample hashed the whole text, for a sha256 nothing read."""
    path = tmp_path / "t.txt"
    path.write_text(TEXT * 100)
    sha256 = text_module.text_sha256(TEXT * 100)
    real = hashlib.sha256
    monkeypatch.setattr(text_stream.hashlib, "sha256", lambda *a: pytest.fail("a pass hashed its text"))
    assert "".join(TextFile(path).pieces()) == TEXT * 100
    monkeypatch.setattr(text_stream.hashlib, "sha256", real)
    with path.open("rb") as handle:
        ids = encode_file(handle, path.stat().st_size, str(path), "t", "utf-8", no_progress, tmp_path / "ids")
    assert ids.sha256 == sha256
