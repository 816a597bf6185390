"""A corpus card whose spec names a plugin's loader (``peek:PATH``) is held to the card's folder like a built-in spec.

A real package installed with pip registers the loader ``peek``: it reads the file its
argument names, or makes a catalogue entry when the argument is no file. A card may come
from anyone, so ``peek:../secret.txt`` in it must not read a file beside the card's folder;
a path beside the card is read from there, wherever the command runs; a catalogue number
reaches the plugin as written.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from child_env import python_path

from .harness import Sandbox, assert_nothing_outside, assert_one_line_error

TEXT = "To be, or not to be, that is the question.\nWhether 'tis nobler in the mind to suffer.\n" * 20
OUTSIDE_CARD = ("reads outside the card's folder", "move the text next to the card", "rnnplay train")
PLUGIN = '''from pathlib import Path

from rnnplay.corpora import Corpus
from rnnplay.plugins.hookspecs import hookimpl


class Peek:
    name = "peek"
    help = "a file's text, or a catalogue entry: peek:PATH or peek:NUMBER"

    def load(self, spec, progress):
        path = Path(spec).expanduser()
        text = path.read_text() if path.is_file() else f"entry {spec}: all the world's a stage\\n" * 40
        return Corpus(path.name, text, spec)


@hookimpl
def register_corpus_loaders(register):
    register(Peek())
'''


@pytest.fixture(scope="module")
def peek_plugin(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment that makes rnnplay load the pip-installed ``rnnplay-peek``."""
    root = tmp_path_factory.mktemp("peek")
    package = root / "rnnplay-peek"
    (package / "peek").mkdir(parents=True)
    (package / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "rnnplay-peek"\nversion = "0.1"\n[project.entry-points.rnnplay]\npeek = "peek"\n'
    )
    (package / "peek" / "__init__.py").write_text(PLUGIN)
    target = root / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(package)], check=True, capture_output=True, timeout=300)
    return {"PYTHONPATH": python_path(target)}


def secrets_and(make: Callable[[Path], None] | None = None) -> Callable[[Path], None]:
    """A secret.txt beside the card's folder and in the home folder, a decoy t.txt in the working folder,
    then ``make`` in the card's folder."""
    def setup(work: Path) -> None:
        for secret in (work / "secret.txt", work.parent / "home" / "secret.txt"):
            secret.write_text("SECRET " * 200)
        (work / "t.txt").write_text("DECOY " * 200)
        if make is not None:
            make(work / "cards")
    return setup


def beside(name: str) -> Callable[[Path], None]:
    return lambda cards: (cards / name).write_text(TEXT)


def link_out(name: str) -> Callable[[Path], None]:
    return lambda cards: os.symlink(cards.parent / "secret.txt", cards / name)


CASES = [  # (id, the card's spec, what is made in the card's folder, expected: a refusal's words or stdout)
    ("dotdot", "peek:../secret.txt", None, OUTSIDE_CARD),
    ("absolute", "peek:{work}/secret.txt", None, (*OUTSIDE_CARD, "peek:")),
    ("tilde", "peek:~/secret.txt", None, (*OUTSIDE_CARD, "home/secret.txt")),
    ("absolute-missing", "peek:/no/such/book.txt", None, OUTSIDE_CARD),
    ("link-out", "peek:notes.txt", link_out("notes.txt"), (*OUTSIDE_CARD, "secret.txt")),
    ("beside-the-card", "peek:t.txt", beside("t.txt"), "cards/t.txt"),
    ("catalogue-number", "peek:1342", None, "1342"),
]


@pytest.mark.parametrize(("spec", "make", "expected"), [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_a_plugin_spec_in_a_card_stays_in_the_card_folder(sandbox: Sandbox, peek_plugin: dict[str, str], spec: str,
                                                          make: Callable[[Path], None] | None,
                                                          expected: str | tuple[str, ...]) -> None:
    cards = sandbox.work / "cards"
    cards.mkdir()
    (cards / "c.toml").write_text(f'name = "c"\n[source]\nspec = "{spec.format(work=sandbox.work)}"\n')
    secrets_and(make)(sandbox.work)
    before = sandbox.snapshot()
    out = sandbox.run(["corpus", "show", "card:cards/c.toml"], timeout=60, env=peek_plugin)
    if isinstance(expected, tuple):
        assert_one_line_error(out, mentions=expected)
    else:
        assert out.code == 0 and "Traceback" not in out.stderr, out.stderr[-2000:]
        assert expected in out.stdout, out.stdout
        assert "DECOY" not in out.stdout
    assert "SECRET" not in out.stdout + out.stderr
    assert_nothing_outside(before, sandbox.snapshot(), allowed=("cache/",))
