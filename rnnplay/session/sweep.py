"""A sweep: one ordinary training run per combination of settings, run as trials on Ray, and their results.

The grid is words ``KEY=V1,V2,...``: each KEY a ModelSpec or TrainConfig field or one of its aliases
(``hidden``, ``lr``, ``batch``), each value parsed and checked by that field's Param. The trials are the
cartesian product of the keys' values, in the order given (the last key varies fastest): for keys
k_1 … k_m with n_1 … n_m values, n_1·n_2·…·n_m trials. Every other setting is the same for all of them.

A trial is what ``rnnplay train`` does (:func:`~rnnplay.session.training_runs.new_run`, its events,
``save``), in a Ray worker (:mod:`rnnplay.distributed.trials`); its checkpoint comes back to the driver
as bytes, so on a cluster too the files land in the driver's ``--out`` folder, never over another run's
(:mod:`rnnplay.session.sweep_files`)::

    DIR/trial-NN-<key=value-...>.npz    every trial that finished (or diverged)
    DIR/best.npz                        a copy of the one with the lowest validation loss so far
    DIR/results.json                    every trial, sorted (:meth:`Sweep.summary`), rewritten as each one ends

Sorted means: finished trials by validation loss (then training loss), then those without one, then
diverged, cancelled and failed ones. A trial that fails (an impossible setting, a cell that raises) is
recorded with its one-line reason; the others go on. A sweep that stops early (Ctrl-C) keeps what ended.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from rnnplay.core.atomic_write import write_atomically
from rnnplay.core.errors import RnnplayError
from rnnplay.core.params import Param, params_of, parse_pairs
from rnnplay.core.train_config import ModelSpec, TrainConfig
from rnnplay.core.trainer import FinishedEvent, StepEvent, ValidationEvent
from rnnplay.core.vocab import Vocab
from rnnplay.corpora import Corpus
from rnnplay.distributed.trials import CANCELLED, FAILED, FINISHED, Outcome, Progress, TrialRunner
from rnnplay.plugins.host import get_host
from rnnplay.session.sweep_files import copy_best, keep_checkpoint
from rnnplay.session.training_runs import new_run

WAITING, RUNNING, DIVERGED = "waiting", "running", "diverged"
ORDER = (FINISHED, DIVERGED, CANCELLED, RUNNING, WAITING, FAILED)  # how statuses sort in the results
MAX_TRIALS = 1000
REPORT_EVERY = 0.5  # seconds between two progress rows a trial sends to the driver
BUDGETS = ("steps", "epochs", "seconds")
SETTINGS: dict[str, Param] = {**params_of(ModelSpec), **params_of(TrainConfig)}


@dataclass(frozen=True)
class Axis:
    """One key of the grid: as typed (``lr``), the field it names (``lr``), its values in the order given."""

    key: str
    name: str
    values: tuple[Any, ...]


@dataclass
class Trial:
    index: int  # from 0, in grid order
    settings: dict[str, Any]  # this trial's grid values, by the keys as typed
    spec: ModelSpec
    config: TrainConfig
    name: str  # 'trial-03-hidden=8-lr=0.002': its checkpoint's file name without '.npz'


@dataclass
class TrialResult:
    trial: Trial
    status: str = WAITING
    step: int = 0
    loss: float | None = None  # the last training loss
    val_loss: float | None = None
    best_val_loss: float | None = None  # the lowest validation loss so far (what a cancelled trial had reached)
    chars_per_sec: float | None = None
    fraction: float | None = None  # how much of the budget is spent
    seconds: float | None = None  # the training's own time, of its last run when it was run again (runs)
    error: str = ""
    checkpoint: Path | None = None
    runs: int = 1  # 2 when its first worker died and Ray ran it again from its start

    def rank(self) -> tuple[Any, ...]:
        """The sort key: status (ORDER), then validation loss (none last), training loss, grid order."""
        val, loss = _finite(self.val_loss), _finite(self.loss)
        return (ORDER.index(self.status), val is None, val or 0.0, loss is None, loss or 0.0, self.trial.index)

    def row(self) -> dict[str, Any]:
        """The JSON record of this trial (non-finite losses as null)."""
        return {"trial": self.trial.index + 1, "name": self.trial.name, "settings": self.trial.settings,
                "status": self.status, "step": self.step, "train_loss": _finite(self.loss),
                "val_loss": _finite(self.val_loss), "best_val_loss": _finite(self.best_val_loss),
                "chars_per_sec": _finite(self.chars_per_sec),
                "seconds": self.seconds, "runs": self.runs,
                "checkpoint": str(self.checkpoint) if self.checkpoint else None, "error": self.error or None}


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def value_text(value: Any) -> str:
    """A grid value as it reads best in a name or a table: 0.002, 256, lstm."""
    return f"{value:g}" if isinstance(value, float) else str(value)


# -- the grid ---------------------------------------------------------------------------------------
def parse_grid(words: list[str], given: dict[str, Any]) -> list[Axis]:
    """``['hidden=128,256', 'lr=2e-3,4e-3']`` -> the axes; one line for a malformed word, an unknown key (with
    the closest ones), a bad value, a setting given twice (in the grid, or as a flag too)."""
    axes: list[Axis] = []
    for word in words:
        key, sep, text = word.partition("=")
        key = key.strip()
        if not sep or not key:
            raise RnnplayError(f"--grid {word!r} is not KEY=V1,V2,...: e.g. --grid hidden=128,256 lr=2e-3,4e-3 "
                               "(the corpus goes before --grid)")
        texts = [t.strip() for t in text.split(",")]
        if not all(texts):
            raise RnnplayError(f"--grid {word!r} has an empty value: give its values separated by commas")
        values = tuple(next(iter(parse_pairs(SETTINGS, {key: t}).values())) for t in texts)
        name = next(iter(parse_pairs(SETTINGS, {key: texts[0]})))
        if len(set(values)) < len(values):
            raise RnnplayError(f"--grid {word!r} lists a value twice: give each once")
        twice = [a.key for a in axes if a.name == name]
        if twice:
            raise RnnplayError(f"--grid gives {name} twice ({twice[0]} and {key}): give it once")
        if name in given:
            raise RnnplayError(f"{name} is both a flag (--{name.replace('_', '-')} {value_text(given[name])}) and "
                               f"a --grid key: give it once")
        axes.append(Axis(key, name, values))
    return axes


def plan(words: list[str], spec_flags: dict[str, Any], settings: dict[str, Any]) -> list[Trial]:
    """Every trial of the grid ``words`` with the settings the flags gave, each checked before anything starts.

    A trial needs a budget (``--time``, ``--steps`` or ``--epochs``, as a flag or in the grid).
    """
    axes = parse_grid(words, {**spec_flags, **settings})
    count = math.prod(len(a.values) for a in axes)
    if count > MAX_TRIALS:
        raise RnnplayError(f"the grid makes {count:,} trials (at most {MAX_TRIALS:,}): give fewer values")
    if not any(name in settings for name in BUDGETS) and not any(a.name in BUDGETS for a in axes):
        raise RnnplayError("give each trial a budget: --time SECONDS, --steps N or --epochs N (e.g. --time 300)")
    cells = {a.name: a.values for a in axes}.get("cell", (spec_flags.get("cell", ModelSpec.cell),))
    for cell in cells:
        get_host().cell(cell)  # an unknown cell's name, with the closest ones, now rather than in every trial
    width = max(2, len(str(count)))
    trials = []
    for index, combo in enumerate(itertools.product(*(a.values for a in axes))):
        chosen = {a.name: v for a, v in zip(axes, combo, strict=True)}
        spec = ModelSpec(**{**spec_flags, **{k: v for k, v in chosen.items() if k in params_of(ModelSpec)}})
        config = TrainConfig(**{**settings, **{k: v for k, v in chosen.items() if k in params_of(TrainConfig)}})
        shown = {a.key: v for a, v in zip(axes, combo, strict=True)}
        words_ = "-".join(f"{k}={value_text(v)}" for k, v in shown.items())
        name = re.sub(r"[^A-Za-z0-9._=+-]", "_", f"trial-{index + 1:0{width}d}-{words_}")[:200]
        trials.append(Trial(index, shown, spec, config, name))
    return trials


# -- one trial, in a Ray worker ---------------------------------------------------------------------------
class ShippedCorpus(Corpus):
    """What the trials train on: the corpus's vocabulary and ids, made once by the driver, with its name, source
    and checksum (which their checkpoints record); not its text. Ray stores the ids once per node, shared by that
    node's trials, so a cluster's nodes need neither the corpus's file nor a copy each."""

    def __init__(self, corpus: Corpus) -> None:
        self.name, self.source, self.licence = corpus.name, corpus.source, corpus.licence
        self.description, self.settings = corpus.description, dict(corpus.settings)
        self.checksum, self.alphabet = corpus.sha256, corpus.vocab()
        self.ids = np.asarray(corpus.encode(self.alphabet))

    def __repr__(self) -> str:
        return f"ShippedCorpus({self.name!r}, {self.chars:,} chars)"

    __eq__ = object.__eq__
    __hash__ = object.__hash__

    @property
    def text(self) -> str:  # type: ignore[override]
        raise RnnplayError(f"a sweep's trial has the ids of {self.name}, not its text")

    @property
    def sha256(self) -> str:  # type: ignore[override]
        return self.checksum

    @property
    def chars(self) -> int:
        return len(self.ids)

    def vocab(self) -> Vocab:
        return self.alphabet

    def encode(self, vocab: Vocab) -> np.ndarray:
        if vocab != self.alphabet:
            raise RnnplayError(f"a sweep's trial has the ids of {self.name} in its own vocabulary only")
        return self.ids


def train_trial(corpus: Corpus, spec: ModelSpec, config: TrainConfig, extra: dict[str, Any], *,
                report: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """One training run, as ``rnnplay train`` makes it; its progress rows sent to ``report`` (at most every
    REPORT_EVERY seconds, and at each validation); returns its last row with the checkpoint's bytes."""
    report({"step": 0})
    run = new_run(corpus, spec, config, extra)
    row: dict[str, Any] = {"step": 0}
    speed = Speed(config.batch_size * config.seq_length)
    sent = time.monotonic()
    for event in run.events():
        match event:
            case StepEvent():
                row.update(step=event.step, loss=event.loss, chars_per_sec=speed.at(event), fraction=event.fraction)
            case ValidationEvent():
                row.update(val_loss=event.val_loss, best_val_loss=lowest(row.get("best_val_loss"), event.val_loss))
            case FinishedEvent():
                row.update(step=event.step, loss=event.train_loss, val_loss=event.val_loss, seconds=event.seconds,
                           reason=event.reason, fraction=1.0,
                           best_val_loss=lowest(row.get("best_val_loss"), event.val_loss))
        if isinstance(event, ValidationEvent) or time.monotonic() - sent >= REPORT_EVERY:
            report(dict(row))
            sent = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="rnnplay-trial-") as folder:
        row["checkpoint"] = run.save(Path(folder) / "trial.npz").read_bytes()
    return row


def lowest(best: float | None, val_loss: float | None) -> float | None:
    """The lower of two validation losses, a missing or non-finite one left out."""
    found = [x for x in (best, val_loss) if x is not None and math.isfinite(x)]
    return min(found) if found else None


class Speed:
    """A trial's characters per second, from the end of its first step (which also compiles the kernels) to the
    latest: (steps since) · B·T / (seconds since); the trainer's own figure until a second step is in."""

    def __init__(self, chars_per_step: int) -> None:
        self.chars_per_step = chars_per_step
        self.first: tuple[int, float] | None = None  # the first step seen, and when

    def at(self, event: StepEvent) -> float:
        now = time.perf_counter()
        if self.first is None:
            self.first = (event.step, now)
        steps, seconds = event.step - self.first[0], now - self.first[1]
        return steps * self.chars_per_step / seconds if steps > 0 and seconds > 0 else event.chars_per_sec


# -- the sweep, on the driver ------------------------------------------------------------------------------
@dataclass
class Sweep:
    trials: list[Trial]
    corpus: Corpus
    out: Path
    extra: dict[str, Any] = field(default_factory=dict)  # recorded in every checkpoint (the command line)
    results: list[TrialResult] = field(init=False)
    best: TrialResult | None = field(init=False, default=None)
    notes: list[str] = field(init=False, default_factory=list)  # what could not be written where it belongs
    interrupted: list[TrialResult] = field(init=False, default_factory=list)  # running when the sweep stopped
    results_written: bool = field(init=False, default=False)  # results.json holds the latest results

    def __post_init__(self) -> None:
        self.results = [TrialResult(t) for t in self.trials]

    def run(self, ray: ModuleType, workers: int) -> Iterator[TrialResult | None]:
        """Run every trial, ``workers`` at once; yields each TrialResult as it ends, and None whenever running
        trials have reported progress. However it stops, the trials not ended are cancelled and recorded."""
        runner = TrialRunner(ray, train_trial, workers)
        corpus = ray.put(ShippedCorpus(self.corpus))
        args = [(corpus, t.spec, t.config, {**self.extra, "sweep": {"trial": t.index + 1, "settings": t.settings}})
                for t in self.trials]
        try:
            for item in runner.run(args):
                yield self._ended(item) if isinstance(item, Outcome) else self._progress(item)
        finally:
            self.interrupted = [r for r in self.results if r.status == RUNNING]
            for result in self.results:
                if result.status in (WAITING, RUNNING):
                    result.status = CANCELLED
            if any(r.status != CANCELLED for r in self.results):
                self.write_results()

    def _progress(self, progress: Progress) -> None:
        for index, row in progress.rows.items():
            result = self.results[index]
            if result.status in (WAITING, RUNNING):
                result.status = RUNNING
                self._take(result, row)

    @staticmethod
    def _take(result: TrialResult, row: dict[str, Any]) -> None:
        for key in ("step", "loss", "val_loss", "best_val_loss", "chars_per_sec", "fraction", "seconds"):
            if key in row:
                setattr(result, key, row[key])

    def _ended(self, outcome: Outcome) -> TrialResult:
        """Record how a trial ended; a finished one's checkpoint is written first (a Ctrl-C during the write
        leaves the trial cancelled, never pointing at a file that is not there)."""
        result = self.results[outcome.index]
        result.runs = outcome.runs
        if outcome.status == FINISHED:
            row = outcome.value
            self._take(result, row)
            try:
                result.checkpoint = keep_checkpoint(self.out, result.trial.name, row["checkpoint"], self.notes)
            except RnnplayError as err:  # the trial's weights are lost: it failed, and the sweep goes on
                result.status, result.error = FAILED, f"its checkpoint could not be written: {err}"
            else:
                result.status = DIVERGED if row.get("reason") == "diverged" else FINISHED
                self._offer_best(result)
        else:
            result.status, result.error = outcome.status, outcome.error
        self.write_results()
        return result

    def _offer_best(self, result: TrialResult) -> None:
        """``best.npz`` becomes a copy of ``result``'s checkpoint if it now heads the sorted finished trials."""
        if result.status != FINISHED or (self.best is not None and self.best.rank() < result.rank()):
            return
        assert result.checkpoint is not None
        try:
            copy_best(self.out, result.checkpoint)
        except (RnnplayError, OSError) as err:  # the trial's own checkpoint holds the same weights
            self.notes.append(f"best.npz was not updated ({err}); the best trial's own checkpoint is "
                              f"{result.checkpoint}")
            return
        self.best = result

    def ranked(self) -> list[TrialResult]:
        return sorted(self.results, key=TrialResult.rank)

    def summary(self) -> dict[str, Any]:
        """What ``results.json`` and ``--json`` hold: the corpus, the best checkpoint, every trial sorted."""
        return {"corpus": self.corpus.name, "out": str(self.out),
                "best": str(self.out / "best.npz") if self.best is not None else None,
                "best_trial": self.best.trial.index + 1 if self.best is not None else None,
                "trials": [{"rank": i + 1, **r.row()} for i, r in enumerate(self.ranked())]}

    def write_results(self) -> None:
        """Rewrite results.json; when it cannot be written the sweep goes on (the table and --json still say it)."""
        text = json.dumps(self.summary(), indent=2) + "\n"
        try:
            write_atomically(self.out / "results.json", lambda f: f.write(text.encode()))
        except RnnplayError as err:
            self.notes.append(str(err))
            self.results_written = False
        else:
            self.results_written = True


