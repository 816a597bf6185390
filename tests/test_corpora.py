"""Corpus specs, cards and the one-line answers to bad input (real files in a temp folder)."""

from __future__ import annotations

import hashlib
import os
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest

from rnnplay.core.errors import RnnplayError
from rnnplay.corpora import Corpus, load_corpus
from rnnplay.corpora.cards import CARDS_DIR, builtin_cards
from rnnplay.plugins.host import Registered, get_host, reset_host

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def no_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RNNPLAY_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("RNNPLAY_CORPUS_MIRROR", raising=False)


# -- specs -----------------------------------------------------------------------------
def test_a_plain_path_and_file_prefix_give_the_same_corpus(small_file: Path, small_text: str) -> None:
    plain, prefixed = load_corpus(str(small_file)), load_corpus(f"file:{small_file}")
    assert plain.text == prefixed.text == small_text
    assert (plain.name, plain.source) == ("small.txt", str(small_file))
    assert plain.sha256 == hashlib.sha256(small_text.encode()).hexdigest()


def test_sha256_is_of_the_utf8_text_even_when_computed_in_slices() -> None:
    text = "héllo wörld ✓ " * 1000
    assert Corpus("t", text, "mem").sha256 == hashlib.sha256(text.encode("utf-8")).hexdigest()


def make_tree(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "b.txt").write_text("second file\n")
    (root / "a.txt").write_text("first file")  # no final newline: one is added
    (root / "sub" / "c.md").write_text("# nested\n")
    (root / ".hidden").write_text("secret\n")
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    return root


def test_dir_joins_files_in_order_with_headers_skipping_hidden_and_binary(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "notes")
    corpus = load_corpus(f"dir:{root}")
    assert corpus.text == (
        "==> a.txt <==\nfirst file\n\n==> b.txt <==\nsecond file\n\n==> sub/c.md <==\n# nested\n"
    )
    assert corpus.name == "notes" and corpus.description == "3 files, 1 binary file skipped"


def test_dir_with_a_glob_and_one_with_no_match(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "notes")
    assert load_corpus(f"dir:{root}:*.txt").text.count("==> ") == 2
    assert load_corpus(f"dir:{root}:**/*.md").text == "==> sub/c.md <==\n# nested\n"
    with pytest.raises(RnnplayError, match=r"matched no text files.*\*\.txt"):
        load_corpus(f"dir:{root}:*.rst")
    with pytest.raises(RnnplayError, match="no such folder"):
        load_corpus(f"dir:{tmp_path / 'missing'}")


def test_stdlib_is_this_pythons_library_without_tests_in_a_fixed_order() -> None:
    corpus = load_corpus("stdlib:")
    headers = [line for line in corpus.text.splitlines() if line.startswith("==> ") and line.endswith(" <==")]
    names = [h[4:-4] for h in headers]
    assert "os.py" in names and "json/decoder.py" in names
    assert not any(n.startswith(("test/", "site-packages/", "idlelib/")) or "/tests/" in n for n in names)
    assert names == sorted(names, key=lambda n: Path(sysconfig.get_paths()["stdlib"], n).parts)
    assert 2_000_000 < len(corpus.text) < 30_000_000  # big enough to learn from, small enough to load fast
    assert corpus.licence == "PSF-2.0"
    json_only = load_corpus("stdlib:json")
    assert json_only.name == "stdlib:json" and json_only.text.startswith("==> json/__init__.py <==\n")


# -- cards -----------------------------------------------------------------------------
def test_the_shipped_cards_are_complete() -> None:
    cards = builtin_cards()
    assert set(cards) >= {"tinyshakespeare", "stdlib"}
    shakespeare = cards["tinyshakespeare"]
    assert shakespeare.sha256 == "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
    assert (shakespeare.size, shakespeare.filename) == (1_115_394, "tinyshakespeare.txt")
    assert shakespeare.url.endswith("/karpathy/char-rnn/master/data/tinyshakespeare/input.txt")
    assert all(card.description and card.licence != "unknown" and card.train for card in cards.values())
    assert cards["stdlib"].spec == "stdlib:"


def test_the_repository_corpora_folder_is_the_package_cards() -> None:
    assert (ROOT / "corpora").resolve() == CARDS_DIR  # one source of truth: corpora/ links to the package data
    assert sorted(p.name for p in (ROOT / "corpora").glob("*.toml")) == sorted(p.name for p in CARDS_DIR.glob("*.toml"))


def test_a_card_with_a_local_spec_takes_its_name_and_settings(tmp_path: Path, small_file: Path) -> None:
    card = tmp_path / "mine.toml"
    card.write_text(f'name = "mine"\ndescription = "my notes"\nlicence = "CC0"\n[source]\nspec = "file:{small_file}"\n'
                    '[train]\nhidden = 64\n')
    corpus = load_corpus(f"card:{card}")
    assert (corpus.name, corpus.licence, corpus.description, corpus.settings) == ("mine", "CC0", "my notes",
                                                                                  {"hidden": 64})
    assert corpus.text == small_file.read_text()


def test_a_broken_card_is_a_one_line_error(tmp_path: Path) -> None:
    card = tmp_path / "bad.toml"
    card.write_text('name = "bad"\n[source]\nurl = "https://example.org/x.txt"\n')
    with pytest.raises(RnnplayError, match=r"bad.toml \[source\] with a url also needs sha256"):
        load_corpus(f"card:{card}")
    card.write_text("name = \n")
    with pytest.raises(RnnplayError, match=r"unreadable.*fix its TOML"):
        load_corpus(f"card:{card}")


# -- bad input: one line that says what to do ----------------------------------------------
@pytest.mark.parametrize(("content", "message"), [
    (b"", r"is empty; give a file with some text"),
    (b"aaaaaaaa", r"fewer than two distinct characters \(only 'a'\); there is nothing to learn"),
    (b"GIF89a\x00\x01\x02binary", r"looks like a binary file.*give a plain text file"),
    (b"line one\nline two caf\xe9\n", r"is not valid utf-8 \(byte 21, line 2\); try --encoding latin-1"),
])
def test_bad_files_get_one_line_errors(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(RnnplayError, match=message) as err:
        load_corpus(str(path))
    assert "\n" not in str(err.value)


def test_encoding_reads_what_utf8_cannot(tmp_path: Path) -> None:
    path = tmp_path / "latin.txt"
    path.write_bytes("café au lait\n".encode("latin-1"))
    assert load_corpus(str(path), encoding="latin-1").text == "café au lait\n"
    for name in ("klingon", "rot13", "zlib", "punycode"):  # unknown, not for text, or for domain names
        with pytest.raises(RnnplayError, match=f"unknown text encoding '{name}'"):
            load_corpus(str(path), encoding=name)
    with pytest.raises(RnnplayError, match="choose their own encoding; drop --encoding"):
        load_corpus("stdlib:json", encoding="latin-1")


def test_missing_things_name_the_closest_spelling(tmp_path: Path) -> None:
    with pytest.raises(RnnplayError, match=r"no such file; check the path"):
        load_corpus(f"file:{tmp_path / 'nope.txt'}")
    with pytest.raises(RnnplayError, match=r"no such file or corpus card \(did you mean 'tinyshakespeare'\?\)"):
        load_corpus("tinyshakespear")
    with pytest.raises(RnnplayError, match=r"unknown corpus prefix 'fiel:' \(did you mean 'file'\?\); known prefixes"):
        load_corpus("fiel:notes.txt")
    with pytest.raises(RnnplayError, match=r"no corpus card 'stdlb' \(did you mean 'stdlib'\?\)"):
        load_corpus("card:stdlb")
    with pytest.raises(RnnplayError, match=r"is a folder; give a text file, or dir:"):
        load_corpus(str(tmp_path))


# -- plugins add prefixes ------------------------------------------------------------------
class ShoutLoader:
    """A loader as a plugin would register it: shout:TEXT is TEXT in capitals."""

    name = "shout"
    help = "the argument, in capitals"

    def load(self, spec: str, progress: object) -> Corpus:
        return Corpus("shout", spec.upper(), "memory")


@pytest.fixture
def shout_registered() -> Iterator[None]:
    reset_host()
    get_host().corpus_loaders["shout"] = Registered(ShoutLoader(), "rnnplay-shout")
    yield
    reset_host()


def test_dispatch_goes_through_the_registry(shout_registered: None) -> None:
    assert load_corpus("shout:hello world").text == "HELLO WORLD"
    with pytest.raises(RnnplayError, match="fewer than two distinct"):  # loader output is checked too
        load_corpus("shout:zzz")
    with pytest.raises(RnnplayError, match=r"'shout' \(from rnnplay-shout\) returned text with unpaired surrogates"):
        load_corpus("shout:ab\ud800")


def test_a_loader_that_raises_is_one_line_naming_its_package() -> None:
    class Broken:
        name = "broken"
        help = "fails"

        def load(self, spec: str, progress: object) -> Corpus:
            raise ZeroDivisionError("oops")

    reset_host()
    try:
        get_host().corpus_loaders["broken"] = Registered(Broken(), "rnnplay-broken")
        with pytest.raises(RnnplayError, match=r"'broken' \(from rnnplay-broken\) failed while loading 'broken:x': "
                                               r"ZeroDivisionError: oops; report it to the authors of rnnplay-broken"):
            load_corpus("broken:x")
    finally:
        reset_host()


# -- hostile files and cards -------------------------------------------------------------------
def test_a_utf8_byte_order_mark_is_not_a_character(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes(b"\xef\xbb\xbfhello\n")
    (tmp_path / "b.txt").write_bytes(b"\xef\xbb\xbfworld\n")
    assert load_corpus(str(tmp_path / "a.txt")).text == "hello\n"
    assert "\ufeff" not in load_corpus(f"dir:{tmp_path}").text  # each file's mark, not only the first
    (tmp_path / "c.txt").write_bytes(b"\xef\xbb\xbfok\nbad \xff\n")
    with pytest.raises(RnnplayError, match=r"byte 10, line 2"):  # offsets count the mark
        load_corpus(str(tmp_path / "c.txt"))


def test_special_files_are_refused_not_waited_on(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(RnnplayError, match=r"pipe is a named pipe \(FIFO\), not a regular file"):
        load_corpus(str(tmp_path / "pipe"))
    with pytest.raises(RnnplayError, match=r"pipe is a named pipe \(FIFO\), not a regular file"):
        load_corpus(f"dir:{tmp_path}")
    with pytest.raises(RnnplayError, match="character device"):
        load_corpus("/dev/zero")


def write_card(path: Path, body: str) -> Path:
    path.write_text(body)
    return path


def test_card_names_cannot_lead_outside_the_cache(tmp_path: Path) -> None:
    url = 'url = "https://example.org/x.txt"\nsha256 = "' + "0" * 64 + '"\nsize = 10\n'
    for head, extra, message in [
        ('name = "../../escaped"\n', "", r"name = '../../escaped', which is a path"),
        ("", 'filename = "../escaped.txt"\n', r"filename = '../escaped.txt', which is a path"),
        ('name = ".."\n', "", r"name = '..', which is '..'"),
        ('name = "C:x"\n', "", "drive letter"),
        ("", 'filename = "a\\u0000b"\n', "NUL"),
    ]:
        card = write_card(tmp_path / "evil.toml", f"{head}[source]\n{url}{extra}")
        with pytest.raises(RnnplayError, match=message):
            load_corpus(f"card:{card}")
    assert not (tmp_path / "cache").exists()


def test_a_cache_folder_linked_elsewhere_is_refused(tmp_path: Path) -> None:
    (tmp_path / "cache" / "corpora").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", tmp_path / "cache" / "corpora" / "mine")
    card = write_card(tmp_path / "mine.toml", '[source]\nurl = "https://example.org/x.txt"\nsha256 = "'
                      + "0" * 64 + '"\nsize = 10\n')
    with pytest.raises(RnnplayError, match=r"leads outside .* symbolic link"):
        load_corpus(f"card:{card}")


def test_cards_that_lead_back_to_themselves_are_one_line(tmp_path: Path) -> None:
    write_card(tmp_path / "a.toml", f'[source]\nspec = "card:{tmp_path / "b.toml"}"\n')
    write_card(tmp_path / "b.toml", f'[source]\nspec = "card:{tmp_path / "a.toml"}"\n')
    with pytest.raises(RnnplayError, match=r"a.toml leads back to itself"):
        load_corpus(f"card:{tmp_path / 'a.toml'}")


def test_a_chain_of_cards_has_a_length_limit(tmp_path: Path, small_file: Path) -> None:
    for i in range(12):
        write_card(tmp_path / f"c{i}.toml", f'[source]\nspec = "card:{tmp_path / f"c{i + 1}.toml"}"\n')
    write_card(tmp_path / "c12.toml", f'[source]\nspec = "file:{small_file}"\n')
    with pytest.raises(RnnplayError, match="more than 8 cards"):
        load_corpus(f"card:{tmp_path / 'c0.toml'}")
    assert load_corpus(f"card:{tmp_path / 'c6.toml'}").text == small_file.read_text()


@pytest.mark.parametrize("spec", ["t.txt", "file:t.txt", "dir:notes:*.txt", "card:other.toml"])
def test_a_cards_relative_spec_is_read_beside_the_card(spec: str, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "cards"
    (folder / "notes").mkdir(parents=True)
    for path in (folder / "t.txt", folder / "notes" / "t.txt"):
        path.write_text("text that lives beside the card\n")
    write_card(folder / "other.toml", 'name = "other"\n[source]\nspec = "t.txt"\n')
    card = write_card(folder / "mine.toml", f'name = "mine"\n[source]\nspec = "{spec}"\n')
    monkeypatch.chdir(tmp_path)  # not the card's folder: a t.txt here would be another file
    (tmp_path / "t.txt").write_text("the working folder's file, not the card's\n")
    corpus = load_corpus(f"card:{card}")
    assert corpus.text.endswith("text that lives beside the card\n") and "working folder" not in corpus.text
