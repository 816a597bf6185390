"""The session's training job: a run in a background thread, its events forwarded, its checkpoints kept.

:class:`Runner`, a collaborator of :class:`~rnnplay.session.session.Session`, starts at most one
:class:`TrainingJob` at a time. The training thread owns the model's weights while it takes a step (the session's
``model_lock``), so generation copies them under that lock (:meth:`Session.snapshot`). The trainer's events are
forwarded as they are (see :mod:`rnnplay.session.events`), and the checkpoint is saved (or rescued) when the run
ends, however it ends.

A continuation comes first: while one is being written (or a /compare, /score or inspection runs), the training
waits before its next step, for at most GIVE_WAY_SECONDS, then takes one step and waits again. The step in progress
finishes beside it. Both at once share the cores and the interpreter's lock, and the continuation the user is
reading would slow to a tenth of its speed (docs/performance.md). A continuation that has gone quiet (a plugin's
sampler that hangs) is not waited for. A step that does not return (a plugin's cell) is noticed and named
(:mod:`rnnplay.session.step_watch`).
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rnnplay.core import threads
from rnnplay.core.errors import RnnplayError, printable
from rnnplay.core.model import Model
from rnnplay.core.train_config import CHECKPOINT_EVERY, ModelSpec, TrainConfig, settings_named
from rnnplay.core.train_events import FinishedEvent, NoteEvent, SampleEvent, SkippedEvent, StepEvent, ValidationEvent
from rnnplay.core.work import Cancelled
from rnnplay.corpora import Corpus, load_corpus
from rnnplay.corpora.text import ENCODING_OPTION
from rnnplay.distributed.data_parallel import Cluster, data_parallel
from rnnplay.models.library import find_model
from rnnplay.session.ancestry import ancestry, file_sha256, model_named
from rnnplay.session.checkpoint_names import new_file
from rnnplay.session.events import Changed, TrainingEnded
from rnnplay.session.library_claim import claim_outputs
from rnnplay.session.past_validation import kept_past_validation
from rnnplay.session.reading_watch import ReadingWatch
from rnnplay.session.step_throttle import StepThrottle
from rnnplay.session.step_watch import StepWatch, step_stall_seconds
from rnnplay.session.training_runs import (
    BestCheckpoint,
    Saved,
    TrainingRun,
    continue_run,
    fit_batches,
    growth_text,
    new_run,
    periodic_save,
    released_on_failure,
    shape_text,
)
from rnnplay.session.vocab_growth import growth_work
from rnnplay.session.weights_wait import WeightsWait

if TYPE_CHECKING:
    from rnnplay.session.session import Session

GIVE_WAY_SECONDS = 2.0  # the longest a training step waits for a running generation


@dataclass
class TrainingJob:
    run: TrainingRun
    out: Path
    locks: contextlib.ExitStack  # on ``out`` and ``best`` while the job runs, so no other training writes them
    watch: StepWatch  # a step that does not return (a plugin's cell), noticed and named
    best: BestCheckpoint | None = None  # /train … best=PATH
    cluster: Cluster = field(default_factory=Cluster)  # /train … workers=N ray_address=ADDR: the steps on Ray
    checkpoint_every: int = CHECKPOINT_EVERY.default  # /train … checkpoint_every=N; 0: only when it ends
    thread: threading.Thread | None = None
    steps: StepThrottle = field(default_factory=StepThrottle)  # which of the trainer's StepEvents are forwarded
    val_loss: float | None = None
    val_losses: list[tuple[int, float]] = field(default_factory=list)
    ended: TrainingEnded | None = None  # set, and the lock let go, before the event is emitted
    back: str | None = None  # '/load NAME': the model the run continues, when it has a file to open again
    unsaved: bool = False  # its checkpoint and the rescue copy failed, and no /save has kept its model since
    trouble: str | None = None  # what went wrong with the last periodic save ("unsaved", "rescued"), said once
    before: tuple[Any, ...] = ()  # the session's model, meta, name, path and sha256 before: kept if no step is made
    first_step: int = 0
    last_saved: tuple[Path, int] | None = None  # where and at which step the run was last saved
    abandoned: bool = False  # the session left while a step had not returned
    none_said: bool = False  # /stop came before the first step and said that nothing is saved

    @property
    def alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive() and self.ended is None and not self.abandoned

    def made_a_step(self) -> bool:
        """Whether a step of the run went through (one given up as non-finite is not): else it saves nothing."""
        return self.run.trainer.step - self.first_step > self.run.trainer.bad_steps

    def before_kept(self) -> str:
        """What is loaded when the run saves nothing: the model before it ('tiny.npz is loaded, as before')."""
        return f"{model_named(*self.before[2:4])} is loaded, as before" if self.before[0] else "no model is loaded"


class Runner:
    """Starts, forwards and stops the session's one training job (``job``: the running or last one)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.job: TrainingJob | None = None
        self.wait = WeightsWait(session)  # the model lock for a seed or /save, waited for with a word

    def unsaved(self) -> bool:
        """Whether the loaded model is a training's that could not be saved (only the session holds it)."""
        job = self.job
        return job is not None and job.unsaved and job.run.model is self.session.model

    def kept(self, model: Model) -> None:
        """``model`` was saved (/save): a training of it whose own save failed has nothing more to lose."""
        if self.job is not None and self.job.run.model is model:
            self.job.unsaved = False

    def refuse_while_training(self, what: str) -> None:
        if self.job is not None and self.job.alive:
            raise RnnplayError(f"a model is training; /stop it before you {what}")

    # -- start and stop -----------------------------------------------------------------------
    def start(
        self, corpus_spec: str, config: TrainConfig, spec: ModelSpec | None = None, out: str | None = None,
        best: str | None = None, *, workers: int = 1, ray_address: str | None = None, encoding: str = "utf-8",
        checkpoint_every: int = CHECKPOINT_EVERY.default) -> TrainingJob:  # fmt: skip
        """Train in a background thread; the model in training becomes the session's current model.

        With ``spec`` None the loaded model trains further (its weights, a fresh optimizer;
        characters of the corpus it lacks are added to its vocabulary, as `rnnplay train
        --init-from` does, and the checkpoint records its ancestry); with no model loaded, or with a
        ``spec``, a new model of that shape (or of the session's ``spec``) starts. The checkpoint goes
        to ``out``, or to a free name in the model library; an existing file is never replaced. ``best``: also
        keep the lowest validation loss's checkpoint there. ``workers`` > 1 or a ``ray_address``: each step on
        that many Ray workers (:mod:`rnnplay.distributed.data_parallel`). ``encoding``: the text encoding of a
        corpus read from files. ``checkpoint_every``: save every that many steps (0: only when it ends)."""
        s = self.session
        self.refuse_while_training("start another")
        CHECKPOINT_EVERY.check(checkpoint_every)
        stall = step_stall_seconds()
        cluster = Cluster(workers, ray_address)
        cluster.check(config.batch_size)  # Ray installed and B split evenly, before the corpus loads
        target = new_file(out, "out", corpus_spec) if out else None
        best_path = new_file(best, "best", corpus_spec) if best else None
        corpus = self._load_corpus(corpus_spec, encoding)
        said = len(corpus.notes)  # said as it loaded; a model's vocabulary's ids kept in memory are noted later
        with released_on_failure(corpus):
            self._fit_config(config, corpus)
            cluster.check(config.batch_size)
            run, what = self._make_run(corpus_spec, corpus, config, spec)
            for warning in (*corpus.notes[said:], *run.warnings):
                s.warn(warning)
            target, keeper, locks = claim_outputs(target, best_path, corpus.name, run,
                                                  checkpoint_every)  # let go when it ends
        watch = StepWatch(s.warn, run.trainer, "Ctrl+D or /quit leaves rnnplay without it", stall)
        job = TrainingJob(run, target, locks, watch, keeper, cluster, checkpoint_every, first_step=run.trainer.step,
                          before=(s.model, s.meta, s.model_name, s.model_path, s.model_sha256))
        job.back = self._way_back() if run.start is not None else None
        self.job = job
        meta = {"corpus": {"name": corpus.name, "source": corpus.source, "sha256": corpus.sha256},
                **{k: run.extra[k] for k in ("ancestry",) if k in run.extra}}  # what a later /train passes on
        s.set_model(run.model, meta, target.name, target)
        s.emit(Changed("training"))
        s.info(f"{what} on {corpus.sized()}; checkpoint: {target}; "
               "/stop ends it, and you can keep generating meanwhile")
        job.thread = threading.Thread(target=self._loop, args=(job,), name="rnnplay-train", daemon=True)
        job.thread.start()
        return job

    def _make_run(self, corpus_spec: str, corpus: Corpus, config: TrainConfig,
                  spec: ModelSpec | None) -> tuple[TrainingRun, str]:
        """The run (a new model, or the loaded one continued) and what it does, in words."""
        s = self.session
        extra = {"command": f"/train {corpus_spec}"}
        with settings_named():  # a run refused for its memory names its sizes as /train takes them
            if spec is not None or s.model is None:
                run = new_run(corpus, spec or s.spec, config, extra)
                return run, f"training a new {shape_text(run.model)} ({run.model.num_params():,} parameters)"
            base, lineage = s.model, ancestry(s.meta, s.model_sha256, s.model_name)
            with growth_work(s, base, corpus, config.val_fraction) as progress:  # a new character's placing: shown
                run = continue_run(base, corpus, config, {**extra, "continued_from": s.model_name, "ancestry": lineage},
                                   progress)
        grown = f", {growth_text(run)}" if run.added else ""
        return run, f"continuing {model_named(s.model_name, s.model_path)} ({shape_text(base)}{grown})"

    def _way_back(self) -> str | None:
        """'/load NAME' that opens the loaded model again (by name when that finds it, else by path), or None."""
        s = self.session
        if s.model_path is None:
            return None
        try:
            by_name = find_model(s.model_name) == s.model_path
        except RnnplayError:
            by_name = False
        return f"/load {printable(s.model_name if by_name else str(s.model_path))}"

    def _load_corpus(self, corpus_spec: str, encoding: str) -> Corpus:
        """The corpus, with Working events while it loads (its loader's notes said after); cancelling stops a
        download (:class:`Cancelled`). Its errors name the encoding as /train takes it (``encoding=latin-1``)."""
        cancel = self.session.generation.new_cancel()

        def progress(label: str, done: int, total: int | None, unit: str = "B") -> None:
            if cancel.is_set():
                raise Cancelled(f"stopped loading {corpus_spec}; nothing was trained")
            report(done / total if total else None, label)

        option = ENCODING_OPTION.set("encoding=")
        try:
            with self.session.working(f"loading {corpus_spec}") as report:
                corpus = load_corpus(corpus_spec, encoding, progress)
        finally:
            ENCODING_OPTION.reset(option)
        for note in corpus.notes:  # a cache it could not use
            self.session.warn(note)
        return corpus

    def _fit_config(self, config: TrainConfig, corpus: Corpus) -> None:
        """Shrink batch and sequence to a short corpus, and give one pass (at least 100 steps) when no budget is set."""
        n_train = int(corpus.chars * (1 - config.val_fraction))
        batch, seq = fit_batches(n_train, config.batch_size, config.seq_length)
        if (batch, seq) != (config.batch_size, config.seq_length):
            self.session.info(f"{corpus.name} is short ({corpus.chars:,} chars): batch {batch} x sequence {seq}")
            config.batch_size, config.seq_length = batch, seq
        if config.steps is None and config.epochs is None and config.seconds is None:
            config.steps = max(100, n_train // (batch * seq))
            self.session.info(f"no budget given: {config.steps:,} steps (one pass, at least 100); set steps= or time=")

    def stop(self) -> None:
        job = self.job
        if job is None or not job.alive:
            raise RnnplayError("no model is training; /train FILE starts one")
        job.none_said = not (job.run.trainer.stop() or job.made_a_step())  # no step comes now: nothing is saved
        if job.watch.stalled():
            self.session.warn(job.watch.line())
        elif job.none_said:
            self.session.info(f"training stopped before its first step, so nothing is saved; {job.before_kept()}")
        else:
            self.session.info(f"stopping after this step; the checkpoint goes to {job.out}")

    def close(self) -> None:
        """Stop the job, if one runs, and wait while it saves its checkpoint; a step that has not returned for
        the watch's time is left behind, the last checkpoint named (:meth:`left_behind` then says so)."""
        job = self.job
        if job is None or not job.alive:
            return
        job.run.trainer.stop()
        assert job.thread is not None
        give_up = time.monotonic() + 120
        while job.thread.is_alive() and not job.abandoned and time.monotonic() < give_up:  # left by another close
            if job.watch.stalled():
                self._leave_behind(job)
                return
            job.thread.join(0.1)

    def left_behind(self) -> bool:
        """Whether the session was closed without a training step that never returned (its thread still runs)."""
        return self.job is not None and self.job.abandoned

    def _leave_behind(self, job: TrainingJob) -> None:
        job.abandoned = True
        job.last_saved = kept_past_validation(job.watch, lambda: job.run.save_or_rescue(job.out), job.last_saved,
                                              self.session.warn)  # a validation only reads the weights: saved now
        job.locks.close()
        self.session.warn(job.watch.left_behind(job.last_saved, job.back))

    # -- the training thread ------------------------------------------------------------------
    def _loop(self, job: TrainingJob) -> None:
        try:
            with threads.busy_cores(), job.watch, ReadingWatch(self.session.emit, job.run.trainer), settings_named():
                job.ended = self._forward(job)  # generation meanwhile keeps off BLAS's threads (core.threads)
        finally:
            job.locks.close()
        job.run.corpus.release()  # read no more: its ids may go to a prune (the arrays made stay readable)
        self._keep_model(job)
        self.session.emit(job.ended)
        self.session.emit(Changed("model"))

    def _keep_model(self, job: TrainingJob) -> None:
        """A run of which no step went through (its cell failed or gave NaN at once, or it was stopped first)
        leaves the model that was loaded before it, said in one line."""
        s = self.session
        if job.made_a_step() or s.model is not job.run.model:
            return
        s.set_model(*job.before)
        if not job.none_said:
            s.info(f"no step of the training went through, so nothing was saved; {job.before_kept()}")

    def _forward(self, job: TrainingJob) -> TrainingEnded:
        """Run the job (on its Ray workers, if it has any) until it ends; how it ended."""
        s = self.session
        try:
            with data_parallel(job.run.trainer, job.cluster) as gradients:
                if gradients is not None:
                    s.info(gradients.describe())
                return self._forward_events(job)
        except BaseException as err:  # a training failure must not take the app down, nor lose the steps made;
            # no Ctrl-C reaches this thread, so a KeyboardInterrupt or SystemExit here is the plugin's own
            message = str(err) if isinstance(err, RnnplayError) else f"{err.__class__.__name__}: {err}"
            path = self._save(job) if job.made_a_step() else None
            kept = f"; the run up to step {job.run.trainer.step} is in {path}" if path else ""
            s.error(f"training failed: {message}{kept}")
            return TrainingEnded(job.run.trainer.step, "error", None if path is None else str(path))

    def _forward_events(self, job: TrainingJob) -> TrainingEnded:
        """Forward the run's events until it ends."""
        events = job.run.events()
        while True:
            self.session.generation.steps_may_run.wait(GIVE_WAY_SECONDS)  # a continuation being written goes first
            with job.watch.taking(job.run.trainer.step + 1), self.session.model_lock:
                event = next(events)
            match event:
                case FinishedEvent():
                    return self._on_finished(job, event)
                case StepEvent():
                    self._forward_step(job.steps.offer(event))
                    if job.checkpoint_every and event.step % job.checkpoint_every == 0:
                        self._checkpoint(job)
                case ValidationEvent():
                    self._on_validation(job, event)
                case SampleEvent() | SkippedEvent() | NoteEvent():
                    self.session.emit(event)

    def _forward_step(self, forwarded: StepEvent | None) -> None:
        if forwarded is not None:
            self.session.emit(forwarded)

    def _on_validation(self, job: TrainingJob, event: ValidationEvent) -> None:
        s = self.session
        job.val_loss = event.val_loss
        job.val_losses.append((event.step, event.val_loss))
        s.emit(event)
        if job.best is None:
            return
        try:
            with s.model_lock:
                saved = job.best.offer(job.run, event.val_loss)
        except RnnplayError as err:  # the training goes on, and the next best tries again
            s.warn(f"the best checkpoint was not saved: {err}; training goes on")
            return
        if saved is not None and saved.problem:
            s.warn(f"{saved.problem}; the best checkpoint is kept in {saved.path} instead")

    def _checkpoint(self, job: TrainingJob) -> None:
        """A periodic save, as `rnnplay train` makes: a crash or a disk that fills up later loses no more than the
        steps since. A failure is said once (again once it is mended), and the training goes on."""
        s = self.session

        def save() -> Saved:
            with s.model_lock:
                saved = job.run.save_or_rescue(job.out)
            job.last_saved = saved.path, job.run.trainer.step
            return saved

        trouble, text = periodic_save(save, job.out, job.run.trainer.step)
        if trouble == job.trouble:
            return
        (s.warn if trouble is not None else s.info)(text)  # info: mended, the checkpoint is where it belongs again
        job.trouble = trouble

    def _on_finished(self, job: TrainingJob, event: FinishedEvent) -> TrainingEnded:
        self._forward_step(job.steps.flush())
        if not job.made_a_step() and event.reason == "stopped":  # nothing to save: _keep_model says so
            return TrainingEnded(event.step, event.reason, None)
        path = self._save(job) if job.made_a_step() else None
        val = f"validation loss {event.val_loss:.3f} nats/char{event.val_at()}" if event.val_loss is not None else ""
        ended = {"stopped": f"stopped at step {event.step}", "diverged": "diverged: " + job.run.divergence(
            event.step, "lr=", "a lower lr= may help")}.get(event.reason, f"done at step {event.step}")
        saved = f"saved {path}" if path else ""
        say = self.session.warn if event.reason == "diverged" else self.session.info
        say("; ".join(filter(None, [f"training {ended}", val, saved])))
        if job.best is not None and job.best.kept:
            self.session.info(job.best.describe(job.run))
        if event.reason == "budget" and (compared := job.run.against_start()) is not None:
            line, worse = compared
            if worse and job.back:
                self.session.warn(f"{line}; {job.back} brings it back")
            else:
                (self.session.warn if worse else self.session.info)(line)
        return TrainingEnded(event.step, event.reason, None if path is None else str(path))

    def _save(self, job: TrainingJob) -> Path | None:
        """Save the run to its checkpoint, or to a rescue copy (with a warning saying why) when that fails;
        None, with an error saying what to do, when both fail."""
        s = self.session
        try:
            with s.model_lock:
                saved = job.run.save_or_rescue(job.out)
        except RnnplayError as err:
            job.unsaved = True
            s.error(f"{err}; the model is still loaded: /save PATH keeps it")
            return None
        if saved.problem:
            s.warn(f"{saved.problem}; saved to {saved.path} instead")
        job.last_saved = saved.path, job.run.trainer.step
        s.model_path, s.model_sha256 = saved.path, file_sha256(saved.path)  # what a later /train's ancestry names
        if s.model is job.run.model:
            s.meta = {**s.meta, "trained": {"step": job.run.trainer.step}}  # the step its ancestry records
        return saved.path
