"""Hostile table: fine-tuning with a growing vocabulary (`rnnplay train --init-from`) and looking inside a model
(`rnnplay neurons`), each case one row.

Rows are checked as the training table's (test_train.py) are, in a sandbox holding
its small model ``m.npz`` and text ``small.txt``: a failing row must end in one
``rnnplay: error:`` line naming what is wrong and change nothing; a row that
succeeds must say its phrase on stderr and may write only its ``--out``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rnnplay.core.limits import MAX_VOCAB

from . import test_train as train_table
from .harness import Sandbox
from .test_train import CORPUS, Make, Row

resumable = train_table.resumable  # the training table's m.npz (a fixture), and its checks of a row
check_row = train_table.test_hostile_train

TINY = ["--batch-size", "2", "--seq-length", "8", "--steps", "2", "--val-every", "0", "--sample-every", "0"]
ESCAPED = "m\x1b[31mred\nx.npz"  # a model file name with an escape sequence and a line break


def copy_model(name: str) -> Make:
    return lambda work: (work / name).write_bytes((work / "m.npz").read_bytes())


def half_precision(work: Path) -> None:
    """m.npz as a float16 model: its metadata's dtype (which a checkpoint may say) and its arrays."""
    with np.load(work / "m.npz", allow_pickle=False) as npz:
        content = {k: npz[k].astype(np.float16) if k.startswith("param/") else npz[k] for k in npz.files}
    meta = json.loads(str(content["__meta__"]))
    content["__meta__"] = np.array(json.dumps({**meta, "dtype": "float16"}))
    with (work / "m.npz").open("wb") as f:
        np.savez(f, **content)


def alphabet(name: str, distinct: int) -> Make:
    """A text of CORPUS's characters and CJK ones after them (surrogates skipped), ``distinct`` characters in all."""
    def make(work: Path) -> None:
        have = sorted(set(CORPUS))
        more = (chr(c) for c in range(0x4E00, 0x110000) if not 0xD800 <= c < 0xE000)
        extra = [next(more) for _ in range(distinct - len(have))]
        (work / name).write_text(CORPUS + "".join(extra), encoding="utf-8")
    return make


ROWS = [
    # file names with escape sequences and line breaks, in the lines a successful fine-tune prints
    pytest.param(Row(["train", "small.txt", "--init-from", ESCAPED, *TINY, "--out", "ft\x1b[2J.npz"], code=0,
                     make=copy_model(ESCAPED), allowed=("work/ft\x1b[2J.npz",),
                     said="fine-tuning m\\x1b[31mred\\nx.npz"), id="init-from-and-out-names-with-escapes"),
    # the model fine-tuning starts from is kept: --best may not name it either (its best step replaced it)
    pytest.param(Row(["train", "small.txt", "--init-from", "m.npz", *TINY, "--val-every", "1", "--best", "./m.npz",
                      "--out", "ft.npz"], ("--best", "is the model --init-from reads")),
                 id="init-from-best-is-the-model"),
    pytest.param(Row(["train", "small.txt", "--init-from", "", *TINY, "--out", "ft.npz"], ("name is empty",)),
                 id="init-from-an-empty-name"),  # was ". is not a regular file but a folder"
    pytest.param(Row(["neurons", "", "--unit", "0:0", "--text", "To be"], ("name is empty",)),
                 id="neurons-an-empty-model-name"),
    # a vocabulary that would grow past the limit: no flag sets it, so the line names the text, not a value
    pytest.param(Row(["train", "wide.txt", "--init-from", "m.npz", *TINY], ("lacks", "65,536", "at most"),
                     make=alphabet("wide.txt", MAX_VOCAB + 1)), id="init-from-grows-past-the-vocabulary-limit"),
    pytest.param(Row(["train", "wide.txt", "--cell", "rnn", "--hidden", "8", "--layers", "1", *TINY],
                     ("65,537 distinct characters", "fewer distinct"), make=alphabet("wide.txt", MAX_VOCAB + 1)),
                 id="new-model-past-the-vocabulary-limit"),
    # a float16 model trains in float32: in half precision every step was skipped, then "diverged: a lower --lr"
    pytest.param(Row(["train", "small.txt", "--init-from", "m.npz", *TINY, "--steps", "4", "--out", "ft.npz"],
                     code=0, make=half_precision, allowed=("work/ft.npz",), said="saved ft.npz after 4 steps"),
                 id="init-from-a-float16-model"),
    # rnnplay neurons: texts and numbers it cannot use
    pytest.param(Row(["neurons", "m.npz", "--unit", "0:0", "--text", "ééé"], ("too short", "'é'")),
                 id="neurons-text-all-unseen"),  # the skipped characters said in the error, not in a note before it
    pytest.param(Row(["neurons", "m.npz", "--find", "inside-quotes", "--text", "€\x1b"], ("too short", "U+001B")),
                 id="neurons-find-text-all-unseen"),
    pytest.param(Row(["neurons", "m.npz", "--find", "after-newline", "--file", "small.txt", "--streams", "0"],
                     ("--streams must be at least 1",)), id="neurons-streams-zero"),
    pytest.param(Row(["neurons", "m.npz", "--find", "after-newline", "--file", "small.txt", "--streams", "-5"],
                     ("--streams must be at least 1",)), id="neurons-streams-negative"),
    # a negative unit reaches the command's own check (argparse took -1:0 for a flag: "expected one argument")
    pytest.param(Row(["neurons", "m.npz", "--unit", "-1:0", "--text", "To be"], ("no unit -1:0", "layers 0-")),
                 id="neurons-unit-negative-layer"),
]


@pytest.mark.parametrize("row", ROWS)
def test_hostile_finetune_and_inspect(row: Row, sandbox: Sandbox, resumable: Path, capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    check_row(row, sandbox, resumable, capsys, monkeypatch)  # the training table's checks, on its m.npz and text
