"""``rnnplay train``: train a model on a corpus, with a live progress line.

Every flag is checked before the corpus loads (by TrainConfig and ModelSpec, the checks the app's /train shares)
and every output path before the first step. Ctrl-C (or SIGTERM) only asks the trainer to stop between two steps
(or saves at once past a validation), so its checkpoint resumes bit-for-bit; a failed save goes to a rescue copy.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from rnnplay.core.ctrl_c import ctrl_c_raises
from rnnplay.core.errors import RnnplayError, counted, printable
from rnnplay.core.model import Model
from rnnplay.core.process_clock import process_age
from rnnplay.core.train_config import ModelSpec, TrainConfig, check_best
from rnnplay.core.trainer import Event, FinishedEvent, StepEvent, ValidationEvent
from rnnplay.corpora import Corpus
from rnnplay.distributed.data_parallel import Cluster, NodeLost, data_parallel
from rnnplay.models.library import find_model
from rnnplay.session.checkpoint_floor import checkpoint_bytes
from rnnplay.session.output_paths import check_room, identity, lock_outputs, same_file, saves_again
from rnnplay.session.resume import continue_hint, resume_run, time_spent
from rnnplay.session.step_watch import StepWatch, step_stall_seconds
from rnnplay.session.training_runs import (
    BestCheckpoint,
    Saved,
    TrainingRun,
    growth_text,
    init_from_run,
    new_run,
    open_base,
    periodic_save,
)
from rnnplay.ui.cli import interrupted
from rnnplay.ui.cli.bars import STATUS_SECONDS, read_corpus, status_seconds
from rnnplay.ui.cli.interrupts import Interrupts
from rnnplay.ui.cli.progress import TrainingProgress, placing_bar
from rnnplay.ui.cli.streams import lenient_output
from rnnplay.ui.cli.train_flags import (
    BUDGET_FIELDS,
    CHECKPOINT_EVERY,
    CONFIG_FIELDS,
    MODEL_FIELDS,
    add_cluster_flags,
    add_output_flags,
    add_setting_flags,
    given,
)
from rnnplay.ui.cli.train_memory import out_of_memory
from rnnplay.ui.cli.train_outputs import check_outputs, plotted
from rnnplay.ui.event_text import duration, loss_text
from rnnplay.ui.leave_signals import on_leave_signals, raise_terminated

ENDED = {"budget": "steps done", "stopped": "stopped", "diverged": "diverged"}  # in the ETA's place at the end

EXAMPLES = """\
examples:
  rnnplay train ../shared/corpora/tinyshakespeare.txt --cell lstm --layers 2 --hidden 256 --time 600
  rnnplay train notes.txt --cell rnn --layers 1 --hidden 128 --steps 2000 --out notes.npz
  rnnplay train notes.txt --resume notes.npz --steps 4000      continue where it stopped
  rnnplay train notes.txt --epochs 20 --dropout 0.4 --best best.npz   keep the best validation point
  rnnplay train notes.txt --init-from shakespeare --time 120 --out notes.npz   fine-tune a model
  rnnplay train big.txt --workers 4 --ray-address 10.0.0.5:6379 --batch-size 128   on a Ray cluster

Ctrl-C (or SIGTERM) stops after the current step, saves a resumable checkpoint to --out and exits
(during a validation, a second Ctrl-C or the first SIGTERM saves the run at its last step at once);
--resume picks it up exactly there. On --resume, --lr, the schedule, clipping, validation, sampling, the
budget and --precision may change (a budget given replaces the saved one); the model's shape, --batch-size,
--seq-length, --optimizer, --val-fraction and --seed are the checkpoint's, and a different value is refused.

--init-from MODEL (a path, or a name in the model library) fine-tunes: MODEL's weights, a fresh
optimizer and fresh settings; characters of the corpus the model lacks are added to its vocabulary.
The shape is the model's (--cell, --layers, --hidden may only repeat it); the checkpoint records its
ancestry (the models and corpora it came from).

--workers N computes each step on N Ray workers (pip install 'rnnplay[ray]'), each with --batch-size/N
of the streams, and gives the weights one process does (to float rounding). Without --ray-address (or RAY_ADDRESS) a
local Ray starts and stops with the run; a run resumes with any N that divides its batch size."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="train a model on a corpus", description="Train a character model with truncated BPTT.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("corpus", help="the training text: a file path or corpus spec")
    add_setting_flags(p)
    add_output_flags(p)
    add_cluster_flags(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    spec_flags, settings = given(args, MODEL_FIELDS), given(args, CONFIG_FIELDS)
    if args.init_from is not None and args.resume is not None:
        raise RnnplayError("--init-from and --resume cannot go together: --resume continues a run exactly where it "
                           "stopped, --init-from starts a new run from a model's weights")
    ModelSpec(**spec_flags)  # every flag checked before anything loads
    config = TrainConfig(**settings)
    CHECKPOINT_EVERY.check(args.checkpoint_every)
    args.status_seconds = status_seconds()
    step_stall_seconds()  # $RNNPLAY_STEP_STALL_SECONDS checked before anything loads
    cluster = Cluster(args.workers, args.ray_address)
    cluster.check(settings.get("batch_size") if args.resume else config.batch_size)  # Ray there; B split evenly
    out, best, plot = check_outputs(args)
    if args.resume is None:  # a resumed run's val fraction is its checkpoint's (checked once it is read)
        check_best(config, best)  # before the corpus loads and --init-from's reading: the refusal is the only line
    base = find_model(args.init_from) if args.init_from is not None else None
    for flag, path in (("--out", out), ("--best", best)):  # the model fine-tuning starts from is kept
        if base is not None and path is not None and base.resolve() == path.resolve():
            raise RnnplayError(f"{flag} {path} is the model --init-from reads: give the fine-tuned model a name of "
                               "its own")
    with lock_outputs((out, "--out"), (best, "--best"), (plot, "--plot")):  # held: refused before the corpus loads
        return build(args, spec_flags, settings, cluster, (out, best, plot), base)


def build(args: argparse.Namespace, spec_flags: dict[str, Any], settings: dict[str, Any], cluster: Cluster,
          outputs: tuple[Path, Path | None, Path | None], base_path: Path | None = None) -> int:
    """The run the flags ask for (new, fine-tuned from the model file ``base_path``, or resumed) on its corpus,
    checked to fit, then trained."""
    out, best, _ = outputs
    base = open_base(base_path) if base_path is not None else None
    if base is not None:  # before the text is read: a disk too small for the checkpoint of any text
        room_for_checkpoint(base[1].model, TrainConfig(**settings), out, best)
    corpus = read_corpus(args.corpus, args.encoding)
    if base is not None:  # and for the rows of the text's new characters, before the model reads it to place them
        room_for_checkpoint(base[1].model, TrainConfig(**settings), out, best, corpus)
    said = len(corpus.notes)
    extra = {"command": "rnnplay " + shlex.join(sys.argv[1:]) if sys.argv[1:2] == ["train"] else None}
    no_budget = args.resume is None and all(k not in settings for k in BUDGET_FIELDS)
    try:
        if args.resume is not None:
            if any(k in settings for k in BUDGET_FIELDS):  # a budget given replaces the saved one as a whole
                settings = {**dict.fromkeys(BUDGET_FIELDS), **settings}
            run_ = resume_run(args.resume, corpus, settings, spec_flags, extra)
        else:
            config = TrainConfig(**settings)
            if no_budget:
                config.epochs = 1.0
            if base is not None:
                run_ = init_from_run(args.init_from, base, corpus, config, spec_flags, extra,
                                     lambda path, model: placing_bar(path, model, corpus, config.val_fraction))
                args.init_from = base[0].name
            else:
                run_ = new_run(corpus, ModelSpec(**spec_flags), config, extra)
    except MemoryError:
        raise RnnplayError("not enough memory for this model, its optimizer state and the corpus: choose a "
                           "smaller --hidden or --layers, or a smaller corpus") from None
    except KeyboardInterrupt as stop:  # Ctrl-C (or SIGTERM) while the model reads the text, to place new characters
        return interrupted(stop, "before the first step: nothing was trained or saved")
    cluster.check(run_.trainer.config.batch_size)  # a resumed run's batch size is its checkpoint's
    check_best(run_.trainer.config, best)  # a resumed run's val fraction is its checkpoint's, unless given
    again = saves_again(run_.trainer, args.checkpoint_every)  # a later save writes beside the earlier one
    check_room([(out, "--out", again), *([(best, "--best", True)] if best else [])], run_.checkpoint_bytes())
    say_notes(no_budget, args.save_dtype)  # once the model is built: a mistake in its flags is the only line
    for line in [*(f"rnnplay: note: {n}" for n in corpus.notes[said:]), *(f"warning: {w}" for w in run_.warnings)]:
        say(line)  # a note: the vocabulary's ids kept in memory, the cache had no room (as read_corpus says a load's)
    return train(run_, args, cluster, outputs)


def room_for_checkpoint(model: Model, config: TrainConfig, out: Path, best: Path | None,
                        corpus: Corpus | None = None) -> None:
    """One line when --out's disk (and --best's) cannot hold the checkpoint of a run from ``model`` with ``config``
    on ``corpus``, its new characters added to the vocabulary (None: a text without any; the text not read yet):
    :mod:`rnnplay.session.checkpoint_floor`."""
    size = checkpoint_bytes(model, config, len(corpus.unknown(model.vocab)) if corpus is not None else 0)
    check_room([(out, "--out", False), *([(best, "--best", True)] if best else [])], size)


def train(run_: TrainingRun, args: argparse.Namespace, cluster: Cluster,
          outputs: tuple[Path, Path | None, Path | None]) -> int:
    """Run ``run_`` to its end, saving it to --out (and --best, both locked by run), then draw --plot; the exit code."""
    out, best, plot = outputs
    run_.trainer.clock_from = time.perf_counter() - process_age()  # --time counts the whole command (docs/training.md)
    run_.trainer.timing.saves = True  # and the last save in it
    with lenient_output() as stdout, Interrupts(run_.trainer, out) as interrupts:
        if plot is not None:  # drawn at the end, or by a signal that leaves at once (a hung step)
            interrupts.drawing = lambda tell: plotted(run_, plot, tell)
        announce(run_, args.resume, args.init_from)  # from here on, Ctrl-C stops the run between two steps
        keeper = BestCheckpoint.for_run(best, run_, out) if best is not None else None
        loop = TrainingLoop(run_, out, args.checkpoint_every, args.save_dtype, keeper, interrupts, args.status_seconds,
                            args.resume)
        if args.resume is not None and same_file(args.resume, out):  # until a save, --out holds the step resumed
            run_.holds[os.fspath(out)] = run_.trainer.step, identity(out)
        try:
            with on_workers(run_, cluster):
                code = loop.run()
        except BaseException:
            if failed := interrupts.draw(say):
                say(f"warning: {failed}")  # before the run's own line, which says where it is saved
            raise
        failed = interrupts.draw(say)
    problem = failed or (stdout.problem() if stdout is not None else None)  # a plot not drawn, last lines unseen
    if problem and code == 0:
        raise RnnplayError(f"{problem}; the run itself ended well, and its checkpoint is {out}")
    if problem:
        say(f"warning: {problem}")
    return code


def say_notes(no_budget: bool, save_dtype: str) -> None:
    """What the run will do that its flags did not say, or that a user may not expect."""
    if no_budget:
        print("note: no budget given (--steps, --epochs or --time); training for 1 epoch", file=sys.stderr)
    if save_dtype != "float32":
        print(f"note: --save-dtype {save_dtype} rounds the saved weights, so --resume continues close to, not "
              "exactly where, this run would; leave it out to resume bit for bit", file=sys.stderr)


@contextmanager
def on_workers(run_: TrainingRun, cluster: Cluster) -> Iterator[None]:
    """The run's steps on the cluster's Ray workers (said once they have started), or in this process.

    Until the workers have started no step is made, so Ctrl-C, SIGTERM or SIGHUP ends the command there and then
    ("rnnplay: interrupted", "rnnplay: stopped by SIGTERM"), with nothing to save: Ray waits 20 s for a cluster
    that turns it away, deaf to the run's own handler, which only asks the run to stop after its next step.
    """
    with ExitStack() as stack:
        with ExitStack() as starting:
            if cluster.uses_ray:  # in this process the first step is at once
                starting.enter_context(ctrl_c_raises())
                starting.enter_context(on_leave_signals(raise_terminated))
                print(f"starting {cluster.describe()}", file=sys.stderr)
            gradients = stack.enter_context(data_parallel(run_.trainer, cluster))
            if gradients is not None:
                print(gradients.describe(), file=sys.stderr)
        yield


def say(text: str) -> None:
    """One line on stderr; a file name in it (--out, --init-from, a corpus) may hold a newline or an escape
    sequence, which is written as an escape so that it neither splits the line nor moves the cursor."""
    print(printable(text), file=sys.stderr)


def announce(run_: TrainingRun, resumed: str | None, base: str | None = None) -> None:
    model, corpus = run_.model, run_.corpus
    named = f"{corpus.name} ({corpus.left_out})" if corpus.left_out else corpus.name  # "d1 (1 binary file skipped)"
    if base is not None:
        say(f"fine-tuning {base} ({model.num_layers}×{model.hidden_size} {model.cell.name}, {growth_text(run_)}) "
            f"on {named}: {corpus.chars:,} chars, {model.num_params():,} parameters")
        return
    what = f"resuming {resumed}" if resumed else "training"
    say(f"{what}: a {model.num_layers}-layer {model.cell.name} of {model.hidden_size} units "
        f"({model.num_params():,} parameters) on {named}: {corpus.chars:,} chars, "
        f"vocabulary {model.vocab.size}; step {run_.trainer.step}")
    if run_.changes:
        print(f"changed for this run: {', '.join(run_.changes)}", file=sys.stderr)


class TrainingLoop:
    """One run's events on the terminal: the progress line, checkpoints, the best checkpoint, the ending."""

    def __init__(self, run_: TrainingRun, out: Path, checkpoint_every: int, save_dtype: str,
                 best: BestCheckpoint | None, interrupts: Interrupts, status_every: float = STATUS_SECONDS,
                 resumed: str | None = None) -> None:
        self.run_, self.out, self.checkpoint_every, self.best, self.resumed = run_, out, checkpoint_every, best, resumed
        self.interrupts = interrupts
        self.progress = TrainingProgress(sys.stderr, status_every, run_.trainer)
        self.save_kwargs = {"dtype": save_dtype} if save_dtype != "float32" else {}
        self.start_step = run_.trainer.step
        self.troubles: dict[str, str] = {}  # what went wrong with the periodic saves ("out") or the best's, said once

    def run(self) -> int:
        events, code = self.run_.events(), 0
        with StepWatch(self.progress.message, self.run_.trainer, "Ctrl-C twice leaves without it") as watch:
            self.interrupts.follow(watch, lambda: self.save(self.out))  # Ctrl-C again leaves a step that never returns
            while True:
                try:
                    with watch.taking(self.run_.trainer.step + 1):
                        event = next(events, None)
                except RnnplayError as err:  # a step failed (a plugin cell, say); the one before it is intact: keep it
                    self.progress.finish()
                    kept = self.save_after_failure(resumable=isinstance(err, NodeLost))
                    raise RnnplayError(f"{err}; {kept}") from None
                except MemoryError:  # in a step, or in a validation or a sample after a whole step
                    self.progress.finish()
                    kept = self.save_after_failure()
                    raise RnnplayError(out_of_memory(self.run_, self.out, self.start_step > 0, kept)) from None
                if event is None:
                    return code
                code = self.handle(event) or code

    def handle(self, event: Event) -> int | None:
        self.progress.show(event)  # the status line, and the other events' lines (rnnplay.ui.event_text)
        match event:
            case StepEvent() if self.checkpoint_every and event.step % self.checkpoint_every == 0:
                self.checkpoint()
            case ValidationEvent() if self.best is not None:
                self.offer_best(event.val_loss)
            case FinishedEvent():
                self.progress.finish(ENDED.get(event.reason, "ended"))
                return self.finish(event)
        return None

    def save(self, path: Path) -> Saved:
        began = time.perf_counter()
        with self.interrupts.writing(path):
            saved = self.run_.save_or_rescue(path, **self.save_kwargs)
        self.run_.trainer.timing.saving = time.perf_counter() - began  # a --time budget keeps as long for its last
        if path == self.out:
            self.interrupts.kept = saved.path, self.run_.trainer.step
        return saved

    def checkpoint(self) -> None:
        """A periodic save; when it fails, say where the run goes instead (once, not at every checkpoint) and
        keep training; say so too when --out can be written again."""
        trouble, text = periodic_save(lambda: self.save(self.out), self.out, self.run_.trainer.step)
        if trouble is not None:
            self.warn(trouble, f"warning: {text}")
        elif self.troubles.pop("out", None) is not None:
            self.progress.message(text)

    def warn(self, trouble: str, text: str, of: str = "out") -> None:
        """Say ``text`` unless the saves ``of`` --out or the best already met this ``trouble`` last time."""
        if self.troubles.get(of) != trouble:
            self.troubles[of] = trouble
            self.progress.message(text)

    def offer_best(self, val_loss: float) -> None:
        assert self.best is not None
        try:
            with self.interrupts.writing(self.best.path):
                saved = self.best.offer(self.run_, val_loss, **self.save_kwargs)
        except RnnplayError as err:
            self.warn("unsaved", f"warning: the best checkpoint was not saved: {err}; each new best tries again",
                      of="best")
            return
        if saved is not None and saved.problem:
            self.warn("rescued", f"warning: {saved.problem}; kept the best checkpoint in {saved.path} instead",
                      of="best")

    @property
    def saved_step(self) -> int | None:
        """The step of the newest checkpoint at --out: the run's last save there, or the step it resumed in place."""
        return self.run_.holds.get(os.fspath(self.out), (None, ()))[0]

    def final_save(self) -> Saved:
        """The last save of the run; if both --out and the rescue copy fail, one line says what is left."""
        try:
            return self.save(self.out)
        except RnnplayError as err:
            kept = "" if self.saved_step is not None else "; nothing was saved"  # else the error says what it holds
            raise RnnplayError(f"{err}{kept}: free some space or fix the folder, then train again") from None

    def finish(self, event: FinishedEvent) -> int:
        seconds = self.run_.trainer.config.seconds
        if event.reason == "budget" and event.step == self.start_step and seconds is not None:  # nothing to keep
            kept = f"{self.out} is as it was" if self.saved_step is not None or self.out.exists() else "nothing saved"
            trainer = self.run_.trainer  # a resume whose own start-up spent what its budget had left: as refused
            note = (time_spent(self.resumed, trainer, started=True) if self.resumed
                    else trainer.timing.no_step_note(seconds, event.seconds))
            raise RnnplayError(f"{note}; {kept}")
        saved, self.interrupts.done = self.final_save(), True  # a Ctrl-C from now on says nothing (Interrupts)
        where = saved.path
        outcome = f"{saved.problem}; the run went to {where} instead" if saved.problem else f"saved {where}"
        if event.reason == "stopped" or (event.reason == "budget" and self.interrupts.presses):  # Ctrl-C in the save
            say(f"interrupted at step {event.step}: {outcome}; {continue_hint(where, self.run_.trainer)}")
            return self.interrupts.exit_code
        if event.reason == "diverged":
            why = self.run_.divergence(event.step, "--lr", f"continue with --resume {where} and a lower --lr")
            raise RnnplayError(f"training diverged: {why}; {outcome}")
        if saved.problem:
            raise RnnplayError(f"the run finished at step {event.step} but {outcome}: copy it where you want it, or "
                               f"continue with --resume {where}")
        ran = f"{counted(event.step - self.start_step, 'more step')} in {duration(event.seconds)}"  # this run's
        say(f"{outcome} at step {event.step:,}, after {ran}" if self.start_step else
            f"{outcome} after {counted(event.step, 'step')} in {duration(event.seconds)}")
        if self.best is not None and self.best.kept:
            say(self.best.describe(self.run_))
        print(f"final: train loss {loss_text(event.train_loss)}, validation loss {loss_text(event.val_loss)}")
        if (compared := self.run_.against_start()) is not None:
            say(compared[0])
        return 0

    def save_after_failure(self, resumable: bool = False) -> str:
        """After a failed step: save the run as it was before that step, and say where (and, for a failure that
        another try may not meet, such as a lost Ray node, how to continue)."""
        step = self.run_.trainer.step
        if step == self.start_step:
            return "no step was made, so nothing was saved"
        if step == self.saved_step:
            path, kept = self.out, f"{self.out} holds the run up to step {step}"
        else:
            try:
                path = self.save(self.out).path
            except RnnplayError as err:
                return f"the run could not be saved either ({err})"
            kept = f"the run up to step {step} is saved in {path}"
        return kept + (f": continue with --resume {path} (and --workers the cluster has room for)" if resumable else "")
