"""Setting up a training run from a corpus: shared by the CLI and the Session.

A run is a :class:`~rnnplay.core.trainer.Trainer` plus what it needs to be saved and resumed: the corpus's name
and checksum and the command that started it. A fresh run (:func:`new_run`) or fine-tuning (:func:`continue_run`,
:func:`init_from_run`) starts here; resuming a saved one is :func:`rnnplay.session.resume.resume_run`. Its output
paths are checked before the first step and locked against a second run (:mod:`rnnplay.session.output_paths`),
and a save that fails goes to a rescue copy in rnnplay's data folder (:meth:`TrainingRun.save_or_rescue`).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rnnplay.core.cells.base import Cell
from rnnplay.core.checkpoint import Checkpoint
from rnnplay.core.data import check_batches, split_ids
from rnnplay.core.errors import RnnplayError
from rnnplay.core.finetune import grow_vocab, grown_vocab
from rnnplay.core.limits import MAX_PARAMS, MAX_STATE, MAX_VOCAB, check_model_size, check_state_size
from rnnplay.core.model import Model
from rnnplay.core.param_shapes import param_shapes
from rnnplay.core.train_config import ModelSpec, TrainConfig
from rnnplay.core.trainer import MAX_BAD_STEPS, Event, Trainer
from rnnplay.core.vocab import Vocab, count_ids, describe_char
from rnnplay.corpora import Corpus
from rnnplay.corpora.file_corpus import FileCorpus
from rnnplay.folders import data_dir
from rnnplay.models.bundled import load_model, save_model
from rnnplay.plugins.host import get_host
from rnnplay.plugins.problems import what_to_do
from rnnplay.session.ancestry import ancestry
from rnnplay.session.memory_room import check_memory, footprint
from rnnplay.session.output_paths import check_output_path, identity, saved_to, still_locked
from rnnplay.session.vocab_growth import Growth


@dataclass
class Saved:
    path: Path  # where the checkpoint went
    problem: str | None = None  # why the intended path could not be written (then ``path`` is the rescue copy)


METADATA_ROOM = 1 << 16  # bytes a checkpoint's metadata and zip headers take, about (a long run's history: more)


@dataclass
class TrainingRun:
    trainer: Trainer
    corpus: Corpus
    extra: dict[str, Any] = field(default_factory=dict)
    changes: list[str] = field(default_factory=list)  # settings a resume changed: "lr 0.004 -> 0.1"
    added: tuple[str, ...] = ()  # characters a fine-tuning run appended to its model's vocabulary
    started: str = field(default_factory=lambda: time.strftime("%Y%m%d-%H%M%S"))
    start: Model | None = None  # the model a run continues with its vocabulary unchanged, to compare it with
    warnings: list[str] = field(default_factory=list)  # what a face says before the first step (memory to spare)
    first_step: int = field(init=False)  # the trainer's step when the run was set up: where this run's steps begin
    holds: dict[str, tuple[int, tuple[int, ...]]] = field(default_factory=dict)  # path: (step saved last, identity)

    def __post_init__(self) -> None:
        self.first_step = self.trainer.step

    def divergence(self, step: int, rate: str, retry: str) -> str:
        """Why this run ended as "diverged" at ``step``, and what to do (:func:`divergence`)."""
        return divergence(step, self.first_step, self.model.cell.name, rate, retry)

    def against_start(self) -> tuple[str, bool] | None:
        """The last validation beside the model the run started from, on the same characters (one more validation,
        of the start), and whether the run made it worse; None without a start or a validation.

        Continuing a model on the text it was trained on, at a fresh optimizer's full learning rate, can undo more
        than it teaches in a short run; a user should hear that the model they started from was better.
        """
        t = self.trainer
        if self.start is None or t.val_ids is None or not t.val_chars:
            return None
        before, after = self.start.evaluate(t.val_ids[: t.val_chars + 1]), t.history.val_losses[-1]
        line = (f"validation loss {after:.4f} nats/char, against {before:.4f} for the model it started from "
                f"(the same {t.val_chars:,} characters)")
        if after <= before:
            return line, False
        return (f"{line}: this run made it worse; the model it started from is unchanged. A lower learning rate "
                f"than {t.config.lr:g} or a longer run may help"), True

    @property
    def model(self) -> Model:
        return self.trainer.model

    def events(self) -> Iterator[Event]:
        """The trainer's events; an exception inside the cell (a plugin's, say) becomes one line naming its package.

        A step is all or nothing, so after such a failure the run can still be saved as it was before that step.
        """
        with get_host().blame("cells", self.model.cell.name, "training"):
            yield from self.trainer.run()

    def checkpoint_bytes(self) -> int:
        """About how large a checkpoint of this run is: its arrays (weights, optimizer state, carried states), which
        ``np.savez`` stores as they are, and room for the metadata."""
        arrays = [*self.model.params.values(), *self.trainer.checkpoint_state()[1].values()]
        return sum(a.nbytes for a in arrays) + METADATA_ROOM

    def save(self, path: str | os.PathLike[str], **kwargs: Any) -> Path:
        """Save weights and the full training state (resumable) atomically; refused when another run took ``path``
        since this one locked it (:func:`~rnnplay.session.output_paths.still_locked`)."""
        still_locked(path)
        meta = {
            "corpus": {"name": self.corpus.name, "source": self.corpus.source, "sha256": self.corpus.sha256,
                       "chars": self.corpus.chars},
            "history": {"val_loss": self.trainer.history.val_losses[-1] if self.trainer.history.val_losses else None},
            "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            **self.extra,
        }
        saved = save_model(path, self.model, training=self.trainer.checkpoint_state(), extra=meta, **kwargs)
        saved_to(path)
        self.holds[os.fspath(path)] = self.trainer.step, identity(path)
        return saved

    def rescue_path(self, path: str | os.PathLike[str]) -> Path:
        """Where a checkpoint goes when ``path`` cannot be written: rnnplay's data folder, one file per run and path
        (``--out o1/m.npz`` and ``--best o2/m.npz`` share a name, and must not share a rescue copy)."""
        where = hashlib.sha256(os.path.abspath(os.path.expanduser(path)).encode("utf-8", "surrogatepass")).hexdigest()
        return data_dir() / "rescued" / f"{Path(path).stem or 'model'}-{self.started}-{os.getpid()}-{where[:6]}.npz"

    def save_or_rescue(self, path: str | os.PathLike[str], **kwargs: Any) -> Saved:
        """Save to ``path``, or, when that fails (a full disk, a folder gone), to :meth:`rescue_path`.

        Raises a one-line error only when both fail; the training state is still in memory then.
        """
        try:
            return Saved(self.save(path, **kwargs))
        except (RnnplayError, OSError) as err:  # OSError: any the writer let through is as much a failed save
            problem = str(err) if isinstance(err, RnnplayError) else f"cannot write {path}: {err.strerror or err}"
        step, kept = self.holds.get(os.fspath(path), (None, ()))
        if step is not None and identity(path) == kept:  # the file there is still the run's, at an earlier step
            problem += f" ({path} is stale: it holds step {step})"
        rescue = self.rescue_path(path)
        try:
            return Saved(self.save(rescue, **kwargs), problem)
        except (RnnplayError, OSError) as err:
            raise RnnplayError(f"{problem}; the rescue copy failed too ({err})") from None


@contextlib.contextmanager
def released_on_failure(corpus: Corpus) -> Iterator[None]:
    """The block sets a run up on ``corpus``: when it fails, no run reads the corpus, and its ids may go."""
    try:
        yield
    except BaseException:
        corpus.release()
        raise


def divergence(step: int, first_step: int, cell: str, rate: str, retry: str) -> str:
    """Why a run that began at ``first_step`` ended as "diverged" at ``step``, and what to do, in the words of every
    face: ``rate`` is the face's name for the learning rate (``--lr``, ``lr=``), ``retry`` what it says to do when
    a lower one may help. When no step of the run went through, no rate mends it: the cell gives non-finite values
    from the start, and a plugin's cell is blamed on its plugin."""
    bad = f"{MAX_BAD_STEPS} steps in a row at step {step} had a non-finite loss or update"
    if step - first_step > MAX_BAD_STEPS:
        return f"{bad}, so the weights were left as they were; {retry}"
    plugin = get_host().cell_plugin(cell)
    owner, fix = (f" (from {plugin})", f"; {what_to_do(plugin)}") if plugin else ("", "")
    return (f"{bad}, the first of this run among them, so the model's cell {cell!r}{owner} gives non-finite values "
            f"from the start, which a lower {rate} does not mend{fix}")


def periodic_save(save: Callable[[], Saved], out: Path, step: int) -> tuple[str | None, str]:
    """A periodic checkpoint of step ``step`` to ``out`` by ``save()``, for `rnnplay train` and /train alike: what
    went wrong ("unsaved", "rescued", or None) and what to say of it (when it is news: a trouble met at the last
    checkpoint too is said once; None after a trouble, that ``out`` can be written again)."""
    try:
        saved = save()
    except RnnplayError as err:
        return "unsaved", f"{err}; training goes on, and each checkpoint tries again"
    if saved.problem:
        return "rescued", (f"{saved.problem}; saved step {step} to {saved.path} instead, and so will the next "
                           f"checkpoints until {out} can be written")
    return None, f"{out} can be written again: saved step {step} there"


@dataclass
class BestCheckpoint:
    """The run's checkpoint with the lowest validation loss so far, kept at ``path``.

    ``rnnplay train --best PATH`` and ``/train … best=PATH`` offer it every validation
    loss; it rewrites the file whenever one beats all earlier ones (a resumed run's
    earlier validations count, if the file is there).
    """

    path: Path
    loss: float = math.inf

    @staticmethod
    def check_paths(path: str | os.PathLike[str], out: str | os.PathLike[str]) -> Path:
        """``path`` expanded and writable; a one-line error if it is the regular checkpoint (it would overwrite it)."""
        target = check_output_path(path, "the best checkpoint", checkpoint=True)
        if target.resolve() == Path(os.path.expanduser(out)).resolve():
            raise RnnplayError(f"the best and the regular checkpoint are both {out}: give the best a name of its own")
        return target

    @classmethod
    def for_run(cls, path: str | os.PathLike[str], run: TrainingRun, out: str | os.PathLike[str]) -> BestCheckpoint:
        target = cls.check_paths(path, out)
        earlier = run.trainer.history.val_losses
        return cls(target, min(earlier) if earlier and os.path.exists(target) else math.inf)

    @property
    def kept(self) -> bool:
        """Whether a checkpoint is there to speak of (this run or the one it resumed saved one)."""
        return self.loss < math.inf

    def offer(self, run: TrainingRun, val_loss: float, **save_kwargs: Any) -> Saved | None:
        """Save ``run`` here (or to its rescue copy, which is then where the best is kept) if ``val_loss`` is the
        lowest yet; what was saved, if anything. When both fail, the error is raised and the best stays as it was."""
        if val_loss >= self.loss:
            return None
        saved = run.save_or_rescue(self.path, **save_kwargs)
        self.loss, self.path = val_loss, saved.path
        return saved

    def describe(self, run: TrainingRun) -> str:
        """'kept PATH: the lowest validation loss, 1.234 nats/char at step 500' (once :attr:`kept`)."""
        h = run.trainer.history
        at = h.val_steps[h.val_losses.index(self.loss)]
        return f"kept {self.path}: the lowest validation loss, {self.loss:.4f} nats/char at step {at}"


def new_run(corpus: Corpus, spec: ModelSpec, config: TrainConfig, extra: dict[str, Any] | None = None) -> TrainingRun:
    """A fresh model on ``corpus`` (vocabulary: every character of the corpus)."""
    vocab = corpus.vocab()
    if len(vocab) < 2:
        raise RnnplayError(f"corpus {corpus.name} has fewer than two distinct characters; there is nothing to learn")
    check_vocab_size(corpus, 0, len(vocab))
    cell = get_host().cell(spec.cell)
    warning = check_memory(footprint(cell, check_buildable(cell, vocab, spec, config), spec, config, corpus), config)
    with get_host().blame("cells", spec.cell, "creating its parameters"):  # a plugin's init_params
        model = Model(cell, vocab, spec.hidden, spec.layers, spec.dropout, seed=config.seed)
    train_ids, val_ids = split_ids(corpus.encode(vocab), config.val_fraction)
    if isinstance(corpus, FileCorpus):  # its sidecar counts the whole text: count only the validation part
        model.init_output_bias_from_counts(corpus.counts() - count_ids(val_ids, vocab.size))
    else:
        model.init_output_bias(train_ids)
    return TrainingRun(Trainer(model, train_ids, val_ids, config), corpus, dict(extra or {}),
                       warnings=[warning] if warning else [])


def continue_run(model: Model, corpus: Corpus, config: TrainConfig, extra: dict[str, Any] | None = None,
                 progress: Callable[[float], None] | None = None) -> TrainingRun:
    """A copy of ``model``'s weights trained further on ``corpus`` with a fresh optimizer.

    The corpus's characters the model lacks are appended to a copy's vocabulary (``finetune.grow_vocab``, the new
    rows drawn from ``config.seed``; ``progress`` its reading, once the run's checks pass): ``run.added`` names them,
    in code-point order. A float16 model trains as float32 (half precision skips each step); ``model`` is kept."""
    if model.dtype == np.float16:  # Adam's updates underflow or overflow in half precision: train in float32
        model = Model(model.cell, model.vocab, model.hidden_size, model.num_layers, model.dropout, dtype=np.float32,
                      params={k: v.astype(np.float32) for k, v in model.params.items()})
    added = tuple(sorted(corpus.unknown(model.vocab)))
    check_vocab_size(corpus, model.vocab.size, len(added))
    vocab = grown_vocab(model.vocab, added)
    spec = ModelSpec(model.cell.name, model.num_layers, model.hidden_size, model.dropout)
    shapes = check_buildable(model.cell, vocab, spec, config)
    warning = check_memory(footprint(model.cell, shapes, spec, config, corpus), config)
    train_ids, val_ids = split_ids(corpus.encode(vocab), config.val_fraction)
    check_batches(len(train_ids), config.batch_size, config.seq_length)  # before the reading: a refusal, not a wait
    with get_host().blame("cells", model.cell.name, "adding characters to the model"):  # a plugin's init_params
        copy = grow_vocab(model, added, train_ids, np.random.default_rng(config.seed), progress)
    return TrainingRun(Trainer(copy, train_ids, val_ids, config), corpus, dict(extra or {}), added=added,
                       start=None if added else model, warnings=[warning] if warning else [])


def open_base(path: Path) -> tuple[Path, Checkpoint]:
    """The model file ``path`` that fine-tuning starts from (a name the user gave, found by
    :func:`~rnnplay.models.library.find_model`): the path and its checkpoint, weights only (its training state is not
    read), hashed for the ancestry (:func:`ancestry`)."""
    return path, load_model(path, training_state=False, with_sha256=True)


def init_from_run(name: str, base: tuple[Path, Checkpoint], corpus: Corpus, config: TrainConfig,
                  spec: dict[str, Any] | None = None, extra: dict[str, Any] | None = None,
                  growth: Growth | None = None) -> TrainingRun:
    """Fine-tuning: the model ``name`` (its file and checkpoint ``base``: :func:`open_base`) trained on ``corpus``
    with a fresh optimizer and ``config``; its vocabulary grows to cover the corpus (:func:`continue_run`),
    ``growth(file, model)`` showing that reading (the ``progress`` it gives, None: nothing shown).

    ``spec`` (ModelSpec fields the user gave): the shape is the model's, so a different cell, layers or hidden is
    a one-line error; dropout may change. Any checkpoint works, a weights-only copy too (its training state is
    not read). The run's checkpoint records its ancestry (:func:`ancestry`).
    """
    spec = dict(spec or {})
    path, ckpt = base
    model = ckpt.model
    have = {"cell": model.cell.name, "layers": model.num_layers, "hidden": model.hidden_size}
    conflicts = [f"--{k} {v} (the model's: {have[k]})" for k, v in spec.items() if k in have and v != have[k]]
    if conflicts:
        raise RnnplayError(f"--init-from {name} takes its shape from the model, so {', '.join(conflicts)} cannot "
                           "apply: leave them out, or train a new model without --init-from")
    if spec.get("dropout", model.dropout) != model.dropout:
        model = Model(model.cell, model.vocab, model.hidden_size, model.num_layers, spec["dropout"],
                      dtype=model.dtype, params=model.params)
    lineage = ancestry(ckpt.meta, ckpt.sha256, path.name)
    with growth(path, model) if growth is not None else contextlib.nullcontext() as progress:
        return continue_run(model, corpus, config, {**(extra or {}), "ancestry": lineage}, progress)


def growth_text(run: TrainingRun, shown: int = 10) -> str:
    """"65 characters + 3 new: 'é' 'ü' '€'" (or "65 characters" when none were added)."""
    old = run.model.vocab.size - len(run.added)
    if not run.added:
        return f"{old} characters"
    names = " ".join(describe_char(c) for c in run.added[:shown])
    more = f" and {len(run.added) - shown} more" if len(run.added) > shown else ""
    return f"{old} characters + {len(run.added)} new: {names}{more}"


def check_vocab_size(corpus: Corpus, have: int, added: int) -> None:
    """One line when a model of ``have`` characters (0: a new model) plus the corpus's ``added`` would read more
    characters than any model may (the loader's limit), naming what to change: the text, since no flag sets it."""
    if have + added <= MAX_VOCAB:
        return
    if not have:
        raise RnnplayError(f"corpus {corpus.name} has {added:,} distinct characters, more than the {MAX_VOCAB:,} a "
                           "model can read: train on a text with fewer distinct characters (leave out rare scripts "
                           "or symbols)")
    raise RnnplayError(f"corpus {corpus.name} has {added:,} characters the model lacks; with its {have:,} that makes "
                       f"{have + added:,}, more than the {MAX_VOCAB:,} a model can read: fine-tune on a text with at "
                       f"most {MAX_VOCAB - have:,} new characters, or train a new model on it")


def check_buildable(cell: Cell, vocab: Vocab, spec: ModelSpec, config: TrainConfig) -> dict[str, tuple[int, ...]]:
    """The checkpoint loader's limits, checked before a model is built: a run that can save can be loaded.
    The shapes of the model's parameters."""
    check_model_size(spec.hidden, spec.layers, len(vocab))
    plugin = get_host().cell_plugin(spec.cell)
    where, advice = "the run", None
    if plugin is not None:  # the state's size is partly the plugin's choice: say so, and blame it if no batch fits
        where = f"the run of the cell {spec.cell!r} (from {plugin}, which gives it state_size {cell.state_size:,})"
        if spec.hidden * spec.layers * cell.state_size > MAX_STATE:
            advice = f"not even one stream fits, so no batch size mends it; {what_to_do(plugin)}"
    check_state_size(config.batch_size, spec.hidden, spec.layers, cell.state_size, where, advice=advice)
    shapes = param_shapes(cell, spec, len(vocab), plugin)
    total = sum(math.prod(shape) for shape in shapes.values())
    if total > MAX_PARAMS:
        raise RnnplayError(f"a {spec.layers}-layer {spec.cell} of {spec.hidden:,} units over {len(vocab)} characters "
                           f"has {total:,} parameters (at most {MAX_PARAMS:,}); choose a smaller hidden size or fewer "
                           "layers")
    return shapes


def fit_batches(n: int, batch_size: int, seq_length: int) -> tuple[int, int]:
    """Shrink (B, T) until B streams of T+1 characters fit in ``n`` training characters."""
    batch_size = max(1, min(batch_size, n // (seq_length + 1)))
    seq_length = max(1, min(seq_length, n // batch_size - 1))
    return batch_size, seq_length


def shape_text(model: Model) -> str:
    """'2×512 lstm'."""
    return f"{model.num_layers}×{model.hidden_size} {model.cell.name}"
