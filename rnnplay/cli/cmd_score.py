"""``rnnplay score``: how well a model predicts a text, in nats and bits per character."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..core.score import score_text
from ..errors import RnnplayError
from .cmd_sample import load_model_arg
from .render import loss_text

ORDER = 30
VAL_FRACTION = 0.1  # the standard split: the last 10% of a corpus is its validation text
EXAMPLES = """\
examples:
  rnnplay score model.npz --text "To be, or not to be"
  rnnplay score model.npz --file ../shared/corpora/tinyshakespeare.txt --val-split

Every character but the first is scored from everything before it, as in training."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "score", help="the loss of a text under a model (nats and bits per character)",
        description="Print how well a model predicts a text: mean cross-entropy in nats and bits per character.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", nargs="?", help="checkpoint from `rnnplay train` (default: the bundled model)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--text", help="the text to score")
    src.add_argument("--file", type=Path, help="a file whose text to score")
    p.add_argument("--val-split", action="store_true", help="score only the last 10%% (the validation split)")
    p.add_argument("--encoding", default="utf-8", help="text encoding of --file (default utf-8)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    text = args.text if args.text is not None else _read(args.file, args.encoding)
    what = "the text" if args.text is not None else str(args.file)
    if args.val_split:
        text = text[int(len(text) * (1 - VAL_FRACTION)) :]  # floor, as rnnplay.core.data.split_ids
        what = f"the last 10% of {what}"
    model = load_model_arg(args.model)
    score = score_text(model, text)
    print(f"{loss_text(score.nats_per_char)} on {len(score.probs):,} characters of {what}")
    return 0


def _read(path: Path, encoding: str) -> str:
    try:
        return path.read_text(encoding=encoding)
    except FileNotFoundError:
        raise RnnplayError(f"{path}: no such file; check the path") from None
    except UnicodeDecodeError as err:
        raise RnnplayError(f"{path} is not {encoding} text ({err.reason}); pass --encoding") from None
    except OSError as err:
        raise RnnplayError(f"{path}: {err.strerror}") from None
