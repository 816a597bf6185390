"""``rnnplay train``: train a model on a corpus, with a live progress line."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from ..core.optim import OPTIMIZERS, SCHEDULES
from ..core.trainer import FinishedEvent, SampleEvent, SkippedEvent, StepEvent, TrainConfig, ValidationEvent
from ..corpora import load_corpus
from ..plot import plot_format, write_loss_plot
from ..training import BestCheckpoint, ModelSpec, TrainingRun, new_run, resume_run
from .progress import ProgressBar
from .render import bar_text, duration, loss_text

ORDER = 10
EXAMPLES = """\
examples:
  rnnplay train ../shared/corpora/tinyshakespeare.txt --cell lstm --layers 2 --hidden 256 --time 600
  rnnplay train notes.txt --cell rnn --layers 1 --hidden 128 --steps 2000 --out notes.npz
  rnnplay train notes.txt --resume notes.npz --steps 4000      continue where it stopped
  rnnplay train notes.txt --epochs 20 --dropout 0.4 --best best.npz   keep the best validation point

Ctrl-C saves a resumable checkpoint to --out and exits; --resume picks it up."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="train a model on a corpus", description="Train a character model with truncated BPTT.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("corpus", help="the training text: a file path or corpus spec")
    m = p.add_argument_group("model")
    m.add_argument("--cell", default="lstm", help="recurrent cell: rnn, lstm, or one from a plugin (default lstm)")
    m.add_argument("--layers", type=int, default=2, help="stacked layers (default 2)")
    m.add_argument("--hidden", type=int, default=256, help="hidden units per layer (default 256)")
    m.add_argument("--dropout", type=float, default=0.0,
                   help="dropout on each layer's output (between layers and before the head), 0 to <1 (default 0)")
    o = p.add_argument_group("optimisation")
    o.add_argument("--batch-size", type=int, default=64, help="parallel streams B (default 64)")
    o.add_argument("--seq-length", type=int, default=100, help="BPTT length T (default 100)")
    o.add_argument("--optimizer", default="adam", choices=sorted(OPTIMIZERS), help="default adam")
    o.add_argument("--lr", type=float, default=4e-3, help="peak learning rate (default 4e-3)")
    o.add_argument("--lr-schedule", choices=SCHEDULES, default="cosine",
                   help="cosine: from --lr down to --lr/10 over the budget; constant: --lr throughout (default cosine)")
    o.add_argument("--lr-decay", type=float, default=1.0, help="multiply the rate by this ... (default 1: none)")
    o.add_argument("--lr-decay-every", type=int, default=0, help="... every N steps (default 0: every epoch)")
    o.add_argument("--clip", type=float, default=5.0, help="gradient clip (default 5)")
    o.add_argument("--clip-mode", choices=["norm", "value"], default="norm", help="global norm or per value")
    o.add_argument("--seed", type=int, default=0, help="random seed: same seed, same run (default 0)")
    b = p.add_argument_group("budget (one or more; training stops at the first reached)")
    b.add_argument("--steps", type=int, help="total optimisation steps")
    b.add_argument("--epochs", type=float, help="total passes over the training split")
    b.add_argument("--time", type=float, dest="seconds", metavar="SECONDS", help="wall-clock seconds for this run")
    r = p.add_argument_group("output")
    r.add_argument("--out", default="model.npz", help="checkpoint to write (default model.npz)")
    r.add_argument("--best", metavar="PATH",
                   help="also keep the checkpoint with the lowest validation loss so far at PATH "
                        "(saved after each validation that beats it; a run that overfits loses nothing)")
    r.add_argument("--resume", metavar="CHECKPOINT", help="continue a run saved by train")
    r.add_argument("--val-every", type=int, default=500, help="validate every N steps (default 500)")
    r.add_argument("--sample-every", type=int, default=0, help="print a sample every N steps (default 0: never)")
    r.add_argument("--checkpoint-every", type=int, default=1000, help="save every N steps (default 1000)")
    r.add_argument("--save-dtype", choices=["float32", "float16"], default="float32",
                   help="precision of the saved weights (float16 halves the file)")
    r.add_argument("--encoding", default="utf-8", help="text encoding of the corpus (default utf-8)")
    r.add_argument("--plot", metavar="PATH",
                   help="write the loss curves to PATH (.png or .svg) when training ends or is interrupted")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.plot:
        plot_format(args.plot)  # a bad name fails now, not after the training
    if args.best:
        BestCheckpoint.check_paths(args.best, args.out)  # before the corpus loads
    corpus = load_corpus(args.corpus, encoding=args.encoding, progress=ProgressBar())
    budget = {"steps": args.steps, "epochs": args.epochs, "seconds": args.seconds}
    if all(v is None for v in budget.values()):
        if not args.resume:
            print("rnnplay: no budget given (--steps, --epochs or --time); training for 1 epoch", file=sys.stderr)
        budget["epochs"] = None if args.resume else 1.0
    extra = {"command": "rnnplay " + shlex.join(sys.argv[1:]) if sys.argv[1:2] == ["train"] else None}
    if args.resume:
        budget = {k: v for k, v in budget.items() if v is not None}
        run_ = resume_run(args.resume, corpus, budget, extra)
    else:
        config = TrainConfig(
            batch_size=args.batch_size, seq_length=args.seq_length, optimizer=args.optimizer, lr=args.lr,
            lr_schedule=args.lr_schedule,
            clip=args.clip, clip_mode=args.clip_mode, lr_decay=args.lr_decay, lr_decay_every=args.lr_decay_every,
            val_every=args.val_every, sample_every=args.sample_every, seed=args.seed, **budget,
        )
        spec = ModelSpec(args.cell, args.layers, args.hidden, args.dropout)
        run_ = new_run(corpus, spec, config, extra)
    model = run_.model
    print(
        f"training a {model.num_layers}-layer {model.cell.name} of {model.hidden_size} units "
        f"({model.num_params():,} parameters) on {corpus.name}: {len(corpus.text):,} chars, "
        f"vocabulary {model.vocab.size}; step {run_.trainer.step}",
        file=sys.stderr,
    )
    best = BestCheckpoint.for_run(args.best, run_, args.out) if args.best else None
    code = _loop(run_, Path(args.out), args.checkpoint_every, args.save_dtype, best)
    if args.plot:
        h = run_.trainer.history
        if h.steps or h.val_steps:
            title = f"{model.num_layers}-layer {model.cell.name} of {model.hidden_size} units on {corpus.name}"
            path = write_loss_plot(args.plot, h.steps, h.losses, h.val_steps, h.val_losses, title=title)
            print(f"wrote the loss curves to {path}", file=sys.stderr)
    return code


def _loop(run_: TrainingRun, out: Path, checkpoint_every: int, save_dtype: str, best: BestCheckpoint | None) -> int:
    progress = ProgressLine(sys.stderr)
    save_kwargs = {"dtype": save_dtype} if save_dtype != "float32" else {}
    val = None
    try:
        for event in run_.trainer.run():
            if isinstance(event, StepEvent):
                progress.update(event, val)
                if checkpoint_every and event.step % checkpoint_every == 0:
                    run_.save(out, **save_kwargs)
            elif isinstance(event, ValidationEvent):
                val = event.val_loss
                if best is not None:
                    best.offer(run_, val, **save_kwargs)
            elif isinstance(event, SampleEvent):
                progress.message(f"--- sample at step {event.step} ---\n{event.text}\n---")
            elif isinstance(event, SkippedEvent):
                progress.message(f"step {event.step}: {event.reason}")
            elif isinstance(event, FinishedEvent):
                progress.finish()
                run_.save(out, **save_kwargs)
                print(f"saved {out} after {event.step} steps in {duration(event.seconds)}", file=sys.stderr)
                if best is not None and best.kept:
                    print(best.describe(run_), file=sys.stderr)
                print(f"final: train loss {loss_text(event.train_loss)}, validation loss {loss_text(event.val_loss)}")
    except KeyboardInterrupt:
        progress.finish()
        run_.save(out, **save_kwargs)
        print(f"interrupted at step {run_.trainer.step}: saved {out}; continue with --resume {out}", file=sys.stderr)
        return 130
    return 0


class ProgressLine:
    """One status line, redrawn in place on a terminal and printed now and then elsewhere."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.last_len = 0
        self.last_printed_step = 0

    def update(self, e: StepEvent, val: float | None) -> None:
        val_s = f" val {val:.3f}" if val is not None else ""
        bar = f"{bar_text(e.fraction)} " if e.fraction is not None else ""
        line = (f"{bar}step {e.step} epoch {e.epoch:.2f} loss {e.loss:.3f}{val_s} lr {e.lr:.2g} "
                f"| {e.chars_per_sec:,.0f} chars/s | ETA {duration(e.eta_seconds)}")
        if self.tty:
            self.stream.write("\r" + line.ljust(self.last_len))
            self.last_len = len(line)
            self.stream.flush()
        elif e.step - self.last_printed_step >= 100 or e.step == 1:
            self.last_printed_step = e.step
            print(line, file=self.stream, flush=True)

    def message(self, text: str) -> None:
        self.finish()
        print(text, file=self.stream, flush=True)

    def finish(self) -> None:
        if self.tty and self.last_len:
            self.stream.write("\n")
            self.stream.flush()
            self.last_len = 0
