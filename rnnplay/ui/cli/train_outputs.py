"""``rnnplay train``'s outputs: --out, --best and --plot checked before the corpus loads (each writable, none the
same file as another), and the loss curves drawn into --plot at the end."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

from rnnplay.core.errors import RnnplayError
from rnnplay.models.library import saved_as
from rnnplay.session.checkpoint_names import checkpoint_name, refuse_the_corpus
from rnnplay.session.output_paths import check_output_path
from rnnplay.session.training_runs import BestCheckpoint, TrainingRun
from rnnplay.ui.plot_file import check_replaceable, write_loss_plot


def check_outputs(args: argparse.Namespace) -> tuple[Path, Path | None, Path | None]:
    """--out (by default the --resume file, or model.npz), --best and --plot: each writable, none the same file
    as another; an existing file that is not a checkpoint (the corpus, say) is never a checkpoint path. --resume
    NAME reads NAME.npz when that is what ``--out NAME`` wrote; --out and --best are named by the rule every
    checkpoint is (:func:`checkpoint_name`: NAME gets .npz, another suffix is refused)."""
    if args.resume is not None:
        args.resume = str(saved_as(args.resume))
    for path, option in ((args.out, "--out "), (args.best, "--best ")):  # as given: the corpus is said to be one
        if path is not None and path != args.resume:  # the loader says it if that file is not a checkpoint
            refuse_the_corpus(Path(os.path.expanduser(path)), args.corpus, option)
    if args.out is not None:
        args.out = str(checkpoint_name(args.out, "--out", "--out "))
    if args.best is not None:
        args.best = str(checkpoint_name(args.best, "the best checkpoint", "--best "))
    args.out = args.out or args.resume or "model.npz"
    resumed_in_place = args.out == args.resume
    try:
        out = check_output_path(args.out, "--resume" if resumed_in_place else "--out", checkpoint=not resumed_in_place)
    except RnnplayError as err:
        if not resumed_in_place:
            raise
        raise RnnplayError(f"{err} (or give --out PATH to save the resumed run elsewhere)") from None
    best = BestCheckpoint.check_paths(args.best, args.out) if args.best is not None else None
    plot = None
    if args.plot is not None:
        plot = check_output_path(args.plot, "--plot", example="loss.png")
        check_replaceable(plot)  # its format known, and never the corpus or a checkpoint
    if plot is not None and plot.resolve() in {p.resolve() for p in (out, best) if p is not None}:
        raise RnnplayError(f"--plot {plot} is also a checkpoint path: give the plot a name of its own")
    return out, best, plot


def plotted(run_: TrainingRun, plot: Path, tell: Callable[[str], None]) -> str | None:
    """Draw the run's loss curves into ``plot`` and ``tell`` so; the one line of what went wrong, if it could not be
    written. A signal handler may draw them between a step's two appends to the history: its pairs are cut even."""
    h, model = run_.trainer.history, run_.model
    n, n_val = min(len(h.steps), len(h.losses)), min(len(h.val_steps), len(h.val_losses))
    if n or n_val:
        title = f"{model.num_layers}-layer {model.cell.name} of {model.hidden_size} units on {run_.corpus.name}"
        try:
            path = write_loss_plot(plot, h.steps[:n], h.losses[:n], h.val_steps[:n_val], h.val_losses[:n_val],
                                   title=title)
        except RnnplayError as err:
            return str(err)
        tell(f"wrote the loss curves to {path}")
    return None
