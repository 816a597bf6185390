"""``rnnplay score``: how well a model predicts a text, in nats and bits per character."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rnnplay.core import jit
from rnnplay.core.data import split_point
from rnnplay.core.errors import RnnplayError, counted, printable
from rnnplay.core.params import ESCAPES_SAID, unescape
from rnnplay.core.score import Running, describe_unknown, score_stream
from rnnplay.core.vocab import Vocab
from rnnplay.corpora.text_pieces import Tally, TextFile, TextPieces, stdin_pieces
from rnnplay.models.library import open_model
from rnnplay.plugins.host import get_host
from rnnplay.ui.cli import add_encoding_option, interrupted, model_command
from rnnplay.ui.cli.bars import Estimate, file_pass, reading_bar
from rnnplay.ui.cli.cmd_sample import SPOOL_INSTEAD, read_stdin
from rnnplay.ui.event_text import loss_text

VAL_FRACTION = 0.1  # the standard split: the last 10% of a corpus is its validation text
# The compiled kernels (rnnplay.core.jit) take a moment to load and then save a little on each character: below this
# many characters in the part scored they cost more than they save, as for `sample` (docs/performance.md).
COMPILE_FROM = 2_000
EXAMPLES = f"""\
examples:
  rnnplay score model.npz --text "To be, or not to be"
  rnnplay score model.npz --text 'ROMEO:\\nBut soft'           {ESCAPES_SAID} as in docs/escapes.md
  rnnplay score model.npz --file ../shared/corpora/tinyshakespeare.txt --val-split
  cat scene.txt | rnnplay score --text - --skip-unknown

Every character but the first is scored from everything before it, as in training.
CRLF line ends are read as LF when the model has never seen a '\\r' (it was trained on LF text).
A file is read twice (count, then score); one that changes in between is refused, not scored as two texts.
stdin piped in past 4 MiB is kept in a temporary file in the cache folder (RNNPLAY_CACHE_DIR) for those passes."""


def register(sub: argparse._SubParsersAction) -> None:
    p = model_command(sub, "score", "the loss of a text under a model (nats and bits per character)",
                      "Print how well a model predicts a text: mean cross-entropy in nats and bits per character.",
                      EXAMPLES)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--text", help=f"the text to score ({ESCAPES_SAID} understood); - reads it from stdin")
    src.add_argument("--file", metavar="PATH", help="a file whose text to score; - reads it from stdin (a pipe's "
                     "past 4 MiB kept in a temporary file in the cache folder, as the text is read twice: count, "
                     "then score)")
    p.add_argument("--val-split", action="store_true", help="score only the last 10%% (the validation split)")
    p.add_argument("--skip-unknown", action="store_true",
                   help="leave out characters the model has never seen (and say how many) instead of refusing")
    add_encoding_option(p, "--file and stdin")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    source, what = read_source(args)
    model = open_model(args.model)
    source.crlf_as_lf = "\r" not in model.vocab.chars  # the model learnt LF text: CRLF is read as LF
    start, what, tally = scored_part(source, model.vocab, what, args.val_split)
    unknown = describe_unknown(list(tally.unknown), tally.unknown_count)
    left = tally.chars - tally.unknown_count
    if unknown and not args.skip_unknown:
        raise RnnplayError(f"{what} has {unknown}: pass --skip-unknown to score the rest, "
                           "or use a model trained on text that has them")
    if left < 2:  # said here, where the cause is known: a short text, a short last 10%, or all unseen
        gone = " once those the model has never seen are left out" if unknown else ""
        raise RnnplayError(f"{what} has {counted(left, 'character')}{gone}: need at least two characters to score "
                           "(the first one only primes the model)")
    if tally.chars < COMPILE_FROM:  # as sample counts its seed: the characters read, those left out too
        jit.disable()  # loading the kernels would take longer than they save (COMPILE_FROM)
    ids = (model.vocab.encode(piece, on_unknown="skip") for piece in source.pieces(start))
    running = Running()
    try:
        with get_host().blame("cells", model.cell.name, "scoring"), reading_bar("scoring", left - 1) as bar:
            estimate = Estimate(f"scoring {left - 1:,} characters of {what}", left - 1, bar)
            nats, scored = score_stream(model, ids, left, progress=estimate, running=running)
    except KeyboardInterrupt as stop:  # Ctrl-C: the loss of the part scored, marked partial, is not thrown away
        if not running.scored:
            raise
        return interrupted(stop, f"after {running.scored:,} of {left - 1:,} characters of {what}: "
                                 f"{loss_text(running.nats / running.scored)} on the part scored (partial)")
    if unknown:
        print(f"rnnplay: left out {unknown}", file=sys.stderr)
    print(f"{loss_text(nats)} on {scored:,} characters of {what}")
    return 0


def scored_part(source: TextPieces, vocab: Vocab, what: str, val_split: bool) -> tuple[int, str, Tally]:
    """(the first character to score, the part's name, its tally): the whole text, or its last 10% by characters
    (floor, as :func:`~rnnplay.core.data.split_ids`), counted after CRLF is read as LF. A pass over the text
    each, before the model reads any of it; CRLF read as LF is said on stderr."""
    with file_pass(source.bytes_hint) as progress:
        tally = source.tally(vocab, 0, progress, f"reading {what}")
    if source.crlf:
        print(f"rnnplay: reading {counted(source.crlf, 'CRLF line end')} as LF (the model knows no '\\r')",
              file=sys.stderr)
    if not val_split:
        return 0, what, tally
    start, what = split_point(tally.chars, VAL_FRACTION), f"the last 10% of {what}"
    with file_pass(source.bytes_hint) as progress:
        return start, what, source.tally(vocab, start, progress, f"reading {what}")


def read_source(args: argparse.Namespace) -> tuple[TextPieces, str]:
    """(the text, how to name it): --file, read a piece at a time; --text with its escapes; stdin, a long one kept
    in a temporary file for the passes (:func:`~rnnplay.corpora.text_pieces.stdin_pieces`)."""
    if args.file is not None and args.file != "-":
        return TextFile(Path(args.file), args.encoding), printable(args.file)
    if args.text == "-" or args.file == "-":  # `--file -` reads stdin too, as most tools' do
        return read_stdin("the text", lambda data: stdin_pieces(data, args.encoding, SPOOL_INSTEAD % "--file")), "stdin"
    return TextPieces(unescape(args.text)), "the text"
