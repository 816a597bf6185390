"""``rnnplay score``: how well a model predicts a text, in nats and bits per character."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rnnplay.core.errors import RnnplayError, printable
from rnnplay.core.model import Model
from rnnplay.core.params import unescape
from rnnplay.core.score import score_text, unknown_summary
from rnnplay.models.library import open_model
from rnnplay.plugins.host import get_host
from rnnplay.ui.cli import add_encoding_option, model_command
from rnnplay.ui.cli.cmd_sample import read_stdin, read_text
from rnnplay.ui.cli.progress import reading_bar
from rnnplay.ui.event_text import loss_text

ORDER = 30
VAL_FRACTION = 0.1  # the standard split: the last 10% of a corpus is its validation text
EXAMPLES = """\
examples:
  rnnplay score model.npz --text "To be, or not to be"
  rnnplay score model.npz --text 'ROMEO:\\nBut soft'           \\n, \\t and \\\\ as in docs/escapes.md
  rnnplay score model.npz --file ../shared/corpora/tinyshakespeare.txt --val-split
  cat scene.txt | rnnplay score --text - --skip-unknown

Every character but the first is scored from everything before it, as in training.
CRLF line ends are read as LF when the model has never seen a '\\r' (it was trained on LF text)."""


def register(sub: argparse._SubParsersAction) -> None:
    p = model_command(sub, "score", "the loss of a text under a model (nats and bits per character)",
                      "Print how well a model predicts a text: mean cross-entropy in nats and bits per character.",
                      EXAMPLES)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--text", help="the text to score (\\n, \\t, \\\\ understood); - reads it from stdin")
    src.add_argument("--file", metavar="PATH", help="a file whose text to score; - reads it from stdin")
    p.add_argument("--val-split", action="store_true", help="score only the last 10%% (the validation split)")
    p.add_argument("--skip-unknown", action="store_true",
                   help="leave out characters the model has never seen (and say how many) instead of refusing")
    add_encoding_option(p, "--file and stdin")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    text, what = read_source(args)
    model = open_model(args.model)
    text = read_crlf_as_lf(text, model)
    if args.val_split:
        text = text[int(len(text) * (1 - VAL_FRACTION)) :]  # floor, as rnnplay.core.data.split_ids
        what = f"the last 10% of {what}"
    unknown = unknown_summary(model.vocab, text)
    if unknown and not args.skip_unknown:
        raise RnnplayError(f"{what} has {unknown}: pass --skip-unknown to score the rest, "
                           "or use a model trained on text that has them")
    if unknown:
        text = model.vocab.decode(model.vocab.encode(text, on_unknown="skip"))
    if len(text) < 2:  # said here, where the cause is known: a short text, a short last 10%, or all unseen
        left = " once those the model has never seen are left out" if unknown else ""
        raise RnnplayError(f"{what} has {len(text)} character{'' if len(text) == 1 else 's'}{left}: need at least "
                           "two characters to score (the first one only primes the model)")
    with get_host().blame("cells", model.cell.name, "scoring"), reading_bar("scoring", len(text)) as progress:
        score = score_text(model, text, progress=progress)
    if unknown:
        print(f"rnnplay: left out {unknown}", file=sys.stderr)
    print(f"{loss_text(score.nats_per_char)} on {len(score.probs):,} characters of {what}")
    return 0


def read_source(args: argparse.Namespace) -> tuple[str, str]:
    """(the text, how to name it): --text with its escapes, stdin, or --file, read as it is."""
    if args.file is not None and args.file != "-":
        return read_text(Path(args.file), args.encoding), printable(args.file)
    if args.text == "-" or args.file == "-":  # `--file -` reads stdin too, as most tools' do
        return read_stdin("the text", args.encoding), "stdin"
    return unescape(args.text), "the text"


def read_crlf_as_lf(text: str, model: Model) -> str:
    """CRLF line ends as LF, when the model has never seen a '\\r' (so it learnt LF text); said on stderr."""
    crlf = text.count("\r\n")
    if not crlf or "\r" in model.vocab.chars:
        return text
    print(f"rnnplay: reading {crlf:,} CRLF line end{'' if crlf == 1 else 's'} as LF (the model knows no '\\r')",
          file=sys.stderr)
    return text.replace("\r\n", "\n")
