"""Hostile table: bad input to `rnnplay sample` and `rnnplay score`, each one row.

Every row runs the real command in a subprocess inside a sandbox, on a small model
saved there, and checks that it failed in one ``rnnplay: error:`` line that names
what is wrong (no traceback), that it changed no file, and that it ended within its
time bound (a FIFO or a terminal-less stdin must not block it).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rnnplay.core.cells import LSTMCell
from rnnplay.core.model import Model
from rnnplay.core.vocab import Vocab
from rnnplay.models.bundled import save_model

from .harness import Outcome, Sandbox, assert_nothing_outside, assert_one_line_error

TEXT = "ROMEO:\nBut soft, what light through yonder window breaks?\nIt is the east, and Juliet is the sun.\n"
MODEL = "m.npz"
STRANGE = "".join(chr(0x400 + i) for i in range(13))

BIGGER_THAN_MEMORY = ("rnnplay neurons holds about", "bytes for each character of its text at once",
                      "bytes of memory it may use now", "give a part of it")
ROWS = [
    # sampler parameters that compare as numbers but are none (issue 14, item 7)
    pytest.param(["sample", MODEL, "--temperature", "inf"], None, "temperature must be a finite number", id="temp-inf"),
    pytest.param(["sample", MODEL, "--temperature", "nan"], None, "temperature must be a finite number", id="temp-nan"),
    pytest.param(["sample", MODEL, "--set", "temperature=-inf"], None, "finite number in (0, 100]",
                 id="temp-minus-inf"),
    pytest.param(["sample", MODEL, "--temperature", "1e300"], None, "temperature must be in (0, 100]",
                 id="temp-overflowing-the-noise"),
    pytest.param(["sample", MODEL, "--temperature", "-1e3"], None, "temperature must be in (0, 100]",
                 id="temp-negative-exponent"),  # argparse took -1e3 for a flag: "expected one argument"
    pytest.param(["sample", MODEL, "--sampler", "top-p", "--set", "p=nan"], None, "p must be a finite number",
                 id="top-p-nan"),
    pytest.param(["sample", MODEL, "--sampler", "top-k", "--set", "temperature=1e999"], None, "got inf",
                 id="overflowing-float"),
    pytest.param(["sample", MODEL, "--rng-seed", "-5"], None, "--rng-seed must be a whole number >= 0",
                 id="negative-rng-seed"),
    pytest.param(["sample", MODEL, "--length", "-1"], None, "length must be >= 0", id="negative-length"),
    # where a seed comes from
    pytest.param(["sample", MODEL, "--seed-file", "missing.txt"], None, "missing.txt: no such file",
                 id="seed-file-missing"),
    pytest.param(["sample", MODEL, "--seed-file", "pipe"], None, "named pipe", id="seed-file-fifo"),
    pytest.param(["sample", MODEL, "--seed-file", "folder"], None, "folder", id="seed-file-folder"),
    pytest.param(["sample", MODEL, "--seed-file", "binary.bin"], None, "binary", id="seed-file-binary"),
    pytest.param(["sample", MODEL, "--seed-file", "latin1.txt"], None, ("not valid utf-8", "try --encoding latin-1"),
                 id="seed-file-not-utf8"),
    pytest.param(["neurons", MODEL, "--unit", "0:1", "--file", "latin1.txt"], None,
                 ("not valid utf-8", "try --encoding latin-1"), id="neurons-file-not-utf8"),
    pytest.param(["sample", MODEL, "--seed-file", "-"], "ROM\x00EO", "stdin looks like a binary",
                 id="seed-file-dash-is-stdin"),
    pytest.param(["neurons", MODEL, "--unit", "0:1", "--file", "-"], "B", "too short",
                 id="neurons-file-dash-is-stdin"),
    pytest.param(["sample", MODEL, "--seed", "-"], "ROM\x00EO", "stdin looks like a binary", id="seed-stdin-binary"),
    pytest.param(["sample", MODEL, "--seed", "Rosé", "--strict"], None, "never seen 'é'", id="strict-seed"),
    pytest.param(["sample", MODEL, "--seed", "RO\udcff"], None, "is not UTF-8 text", id="seed-argument-not-utf8"),
    pytest.param(["score", MODEL, "--text", "To\udce9"], None, "is not UTF-8 text", id="score-argument-not-utf8"),
    # what score reads
    pytest.param(["score", MODEL, "--text", f"But {STRANGE}"], None,
                 ("13 characters the model has never seen", "and 3 more", "--skip-unknown"), id="score-unknown"),
    pytest.param(["score", MODEL, "--text", "-"], "", "need at least two characters", id="score-empty-stdin"),
    pytest.param(["score", MODEL, "--file", "pipe"], None, "named pipe", id="score-fifo"),
    pytest.param(["score", MODEL, "--file", "folder"], None, "folder", id="score-folder"),
    pytest.param(["score", MODEL, "--file", "lone-cr.txt"], None, "'\\r'", id="score-lone-cr"),
    pytest.param(["score", MODEL, "--text", "B"], None, "need at least two", id="score-one-char"),
    pytest.param(["score", MODEL, "--text", "Bé", "--skip-unknown"], None, "need at least two", id="score-skip-to-one"),
    pytest.param(["score", MODEL, "--text", f"{STRANGE}", "--skip-unknown"], None,
                 "has 0 characters once those the model has never seen are left out", id="score-skip-to-none"),
    pytest.param(["score", MODEL, "--text", "Bu", "--val-split"], None, "the last 10% of the text has 1 character",
                 id="score-val-split-too-short"),
    # a seed or a scored file is read a piece at a time, never whole: a terabyte is no size to refuse, and its first
    # piece (NUL bytes past "ROMEO: ") is found binary at once
    pytest.param(["sample", MODEL, "--seed-file", "huge.txt"], None, "looks like a binary file",
                 id="seed-file-terabyte-streamed"),
    pytest.param(["score", MODEL, "--file", "huge.txt"], None, "looks like a binary file",
                 id="score-file-terabyte-streamed"),
    pytest.param(["neurons", MODEL, "--unit", "0:1", "--file", "huge.txt"], None, BIGGER_THAN_MEMORY,
                 id="neurons-file-over-memory"),
]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    m = Model(LSTMCell(), Vocab.from_text(TEXT), 8, 1, seed=1)
    return save_model(tmp_path_factory.mktemp("model") / MODEL, m)


def furnish(box: Sandbox, model: Path) -> None:
    """The model and the odd files the rows name, in the sandbox's work folder."""
    (box.work / MODEL).write_bytes(model.read_bytes())
    os.mkfifo(box.work / "pipe")
    (box.work / "folder").mkdir()
    (box.work / "binary.bin").write_bytes(b"ROMEO\x00\x01")
    (box.work / "latin1.txt").write_bytes("Rosé".encode("latin-1"))
    (box.work / "lone-cr.txt").write_bytes(b"But soft\rwhat light")
    with open(box.work / "huge.txt", "wb") as f:  # a terabyte that takes no disk (sparse): more than any memory here
        f.write(b"ROMEO: ")
        f.truncate(1 << 40)


@pytest.mark.parametrize(("args", "stdin", "mentions"), ROWS)
def test_bad_input_is_one_line(sandbox: Sandbox, model: Path, args: list[str], stdin: str | None,
                               mentions: str | tuple[str, ...]) -> None:
    furnish(sandbox, model)
    before = sandbox.snapshot()
    out = sandbox.run(args, stdin=stdin, timeout=60)
    assert_one_line_error(out, mentions=mentions)
    assert_nothing_outside(before, sandbox.snapshot())


@pytest.mark.parametrize("args", [["sample", MODEL, "--seed", "-"], ["score", MODEL, "--text", "-"],
                                  ["neurons", MODEL, "--unit", "0:1", "--file", "-"]],
                         ids=["sample", "score", "neurons"])
def test_an_endless_binary_stdin_is_refused_at_its_first_block(sandbox: Sandbox, model: Path, args: list[str]) -> None:
    """``< /dev/zero`` never ends: stdin is read a block at a time, and the first one is found binary (read whole,
    it filled the memory and Ctrl-C could not stop it)."""
    furnish(sandbox, model)
    with open("/dev/zero", "rb") as zero:
        proc = subprocess.run([sys.executable, "-m", "rnnplay", *args], cwd=sandbox.work, env=sandbox.env,
                              stdin=zero, capture_output=True, text=True, timeout=60)
    assert_one_line_error(Outcome(proc.returncode, proc.stdout, proc.stderr, 0.0),
                          mentions="stdin looks like a binary file")
