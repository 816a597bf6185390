"""``rnnplay export``: a small, weights-only copy of a checkpoint for sharing or bundling."""

from __future__ import annotations

import argparse
import os
import sys

from rnnplay.core.errors import RnnplayError, printable
from rnnplay.models.bundled import load_model, save_model
from rnnplay.models.library import find_model, free_path, resumable_step
from rnnplay.session.ancestry import trained_record
from rnnplay.session.checkpoint_names import checkpoint_name
from rnnplay.session.output_paths import check_output_path, holding, same_file
from rnnplay.ui.cli.bars import amount

EXAMPLES = """\
examples:
  rnnplay export run.npz small.npz                 weights only, float16 (an eighth of a training checkpoint)
  rnnplay export run.npz small.npz --dtype float32
  rnnplay export run.npz small.npz --force         replace small.npz if it is there

The copy keeps the metadata (corpus, command, loss history) but not the optimizer
state, so it can be sampled, scored and loaded in the app, not resumed. An existing
file at out is replaced only with --force (as /save PATH force in the app): it may be
another run's resumable checkpoint, whose training state the copy would lose."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="write a weights-only copy of a model (smaller; not resumable)",
        description="Write a weights-only copy of a checkpoint.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", help="checkpoint to copy (or a model's name from `rnnplay models`)")
    p.add_argument("out", help="file to write")
    p.add_argument(
        "--dtype",
        choices=["float16", "float32"],
        default="float16",
        help="precision of the stored weights (default float16)",
    )
    p.add_argument("--force", action="store_true", help="replace the file at out if there is one (refused without)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    source = find_model(args.model)  # a name is compared as the file it names
    named = checkpoint_name(args.out, "the export", f"rnnplay export {args.model} ")  # small -> small.npz
    if same_file(source, named):
        raise RnnplayError(f"{named} is the checkpoint being exported: writing the weights-only copy over it "
                           "would lose its training state; give another output file")
    out = check_output_path(named, "the export", checkpoint=True)  # never the corpus, a device or a folder
    if os.path.isfile(out) and not args.force:  # False past a folder we may not search: the check above says so
        step = resumable_step(out)
        held = f" and holds a training run at step {step:,} that `train --resume` continues" if step is not None else ""
        raise RnnplayError(f"{args.out} exists{held}: export does not replace it; give another output file (e.g. "
                           f"{free_path(out)}), or add --force to replace it")
    ckpt = load_model(source, training_state=False)  # the copy keeps no optimizer state
    kept = {k: v for k, v in ckpt.meta.items() if k not in _WRITTEN_BY_SAVE and k != "training"}
    meta = {**kept, **trained_record(ckpt.meta)}  # the run's state becomes its summary
    with holding(out, "output file", "export"):  # never written over a running training's output
        path = save_model(out, ckpt.model, extra=meta, dtype=args.dtype, replace=args.force,
                          fix="free some space, or give another output file")  # one made meanwhile is kept
    size = path.stat().st_size
    print(f"wrote {printable(str(path))} ({amount(size, 'B')}, {args.dtype}, {ckpt.model.num_params():,} "
          "parameters)", file=sys.stderr)
    return 0


# keys save_checkpoint writes itself from the model
_WRITTEN_BY_SAVE = {
    "format",
    "version",
    "cell",
    "cell_plugin",
    "plugins",
    "vocab",
    "hidden_size",
    "num_layers",
    "dropout",
    "dtype",
}
