"""Hostile table: fine-tuning with a growing vocabulary (`rnnplay train --init-from`) and looking inside a model
(`rnnplay neurons`), each case one row.

A row runs the real command in process (``rnnplay.ui.cli.main``) inside a sandbox
holding a small model ``m.npz`` and a text ``small.txt``. A failing row must end in
one ``rnnplay: error:`` line naming what is wrong, and change nothing; a row that
succeeds may write only its ``--out``, and every line it prints on stderr must be
one line with no control character (a file name holding an escape sequence is
shown escaped).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rnnplay.core.cells import RNNCell
from rnnplay.core.limits import MAX_VOCAB
from rnnplay.core.model import Model
from rnnplay.core.vocab import Vocab
from rnnplay.models.bundled import save_model

from .harness import Sandbox, assert_nothing_outside, assert_one_line_error
from .test_train import Make, Row

TEXT = "ROMEO:\nBut soft, what light through yonder window breaks?\nIt is the east, and Juliet is the sun.\n" * 8
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
    """A text of TEXT's characters and CJK ones after them (surrogates skipped), ``distinct`` characters in all."""
    def make(work: Path) -> None:
        have = sorted(set(TEXT))
        more = (chr(c) for c in range(0x4E00, 0x110000) if not 0xD800 <= c < 0xE000)
        extra = [next(more) for _ in range(distinct - len(have))]
        (work / name).write_text(TEXT + "".join(extra), encoding="utf-8")
    return make


ROWS = [
    # file names with escape sequences and line breaks, in the lines a successful fine-tune prints
    pytest.param(Row(["train", "small.txt", "--init-from", ESCAPED, *TINY, "--out", "ft\x1b[2J.npz"], code=0,
                     make=copy_model(ESCAPED), allowed=("work/ft\x1b[2J.npz",),
                     said="fine-tuning m\\x1b[31mred\\nx.npz"), id="init-from-and-out-names-with-escapes"),
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
]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    m = Model(RNNCell(), Vocab.from_text(TEXT), 8, 1, seed=1)
    return save_model(tmp_path_factory.mktemp("model") / "m.npz", m, extra={"corpus": {"name": "small.txt"}})


@pytest.mark.parametrize("row", ROWS)
def test_hostile_finetune_and_inspect(row: Row, sandbox: Sandbox, model: Path, capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    (sandbox.work / "small.txt").write_text(TEXT)
    (sandbox.work / "m.npz").write_bytes(model.read_bytes())
    if row.make is not None:
        row.make(sandbox.work)
    before = sandbox.snapshot()
    out = sandbox.run_in_process(row.args, capsys, monkeypatch)
    if row.code == 0:
        assert out.code == 0 and "Traceback" not in out.stderr, out.stderr[-2000:]
        assert row.said in out.stderr, out.stderr
        shown = out.stderr.replace("\r", "\n").splitlines()  # a progress bar's redraws are lines of their own
        assert not [ln for ln in shown if any(not c.isprintable() for c in ln)], out.stderr
    else:
        assert_one_line_error(out, mentions=row.mentions, code=row.code)
    assert_nothing_outside(before, sandbox.snapshot(), allowed=row.allowed or ("\0",))
