"""The Session: a model, a sampler and its settings, and at most one training job.

Front ends are thin. They pass every line the user types to :meth:`Session.submit`
and render the events the session emits to its subscribers::

    line ─► submit ─┬─ "/name args" ─► the command registry ─► Session methods
                    └─ anything else ─► a seed: TurnStarted, Chunk…, TurnEnded

Events come from whichever thread did the work (a generation, the training
thread), so a front end hands them over to its own UI thread. Nothing here knows
about Textual or prompt-toolkit.

Threads: one generation runs at a time (``_gen_lock``); a new one, or
:meth:`cancel`, stops the running one within one step (a ``threading.Event``
checked every step). The training thread owns the model's weights while it takes
a step (``_model_lock``); a generation copies the weights under that lock and
samples from the copy, so the user keeps playing with the latest weights while
the model trains.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from rnnplay.core import jit, threads
from rnnplay.core.errors import RnnplayError
from rnnplay.core.generate import generate
from rnnplay.core.model import Model
from rnnplay.core.neurons import Unit
from rnnplay.core.sampler import resolve_params, unescape
from rnnplay.core.score import Score, score_text
from rnnplay.core.trainer import FinishedEvent, SampleEvent, SkippedEvent, StepEvent, TrainConfig, ValidationEvent
from rnnplay.core.vocab import describe_char
from rnnplay.core.work import Cancelled
from rnnplay.corpora import Corpus, load_corpus
from rnnplay.models.bundled import BUNDLED_MODEL, load_model, no_model, save_model
from rnnplay.models.library import find_model, free_path, library_path, models_dir
from rnnplay.plugins.commands import find_command, parse_number, split_command
from rnnplay.plugins.host import get_host, suggest
from rnnplay.session.events import (
    Changed,
    Chunk,
    Cleared,
    ClipboardCopy,
    CompareShown,
    Event,
    LossPoint,
    Message,
    Progress,
    QuitRequested,
    TrainingEnded,
    TrainingSample,
    TurnEnded,
    TurnStarted,
    Working,
)
from rnnplay.session.inspection import LookInside, TurnRecord, sampler_label, value_text
from rnnplay.session.training_runs import (
    BestCheckpoint,
    ModelSpec,
    OutputLock,
    TrainingRun,
    ancestry,
    check_output_path,
    continue_run,
    growth_text,
    new_run,
)
from rnnplay.session.transcript import save_transcript

DEFAULT_SAMPLER = "temperature"
SETTINGS = ("length", "seed", "stop")
SETTING_ALIASES = {"num_predict": "length", "max_tokens": "length"}  # names people know from Ollama and friends
MAX_LENGTH = 100_000


LONG_SCORE = 5_000  # characters from which /score shows that it is at work


def fit_batches(n: int, batch_size: int, seq_length: int) -> tuple[int, int]:
    """Shrink (B, T) until B streams of T+1 characters fit in ``n`` training characters."""
    batch_size = max(1, min(batch_size, n // (seq_length + 1)))
    seq_length = max(1, min(seq_length, n // batch_size - 1))
    return batch_size, seq_length


def shape_text(model: Model) -> str:
    """'2×512 lstm'."""
    return f"{model.num_layers}×{model.hidden_size} {model.cell.name}"


class StepThrottle:
    """Which training steps to forward: step 1, then at most one each 0.1 s, carrying the mean loss since the last."""

    def __init__(self) -> None:
        self.pending: list[float] = []
        self.last = 0.0

    def offer(self, event: StepEvent) -> StepEvent | None:
        """``event`` with its loss averaged over the steps held back since the last one forwarded, or None."""
        self.pending.append(event.loss)
        now = time.monotonic()
        if now - self.last < 0.1 and event.step != 1:
            return None
        self.last = now
        mean = float(np.mean(self.pending))
        self.pending.clear()
        return replace(event, loss=mean)


class WorkReport:
    """Emits :class:`Working` events for one piece of work: at most ten a second, and whenever ``what`` changes."""

    def __init__(self, emit: Callable[[Event], None], what: str) -> None:
        self.emit, self.what, self.last = emit, what, time.monotonic()

    def __call__(self, fraction: float | None, what: str | None = None) -> None:
        now = time.monotonic()
        if (what is None or what == self.what) and now - self.last < 0.1:
            return
        self.what, self.last = what or self.what, now
        self.emit(Working(self.what, fraction))


@dataclass
class TrainingJob:
    run: TrainingRun
    out: Path
    lock: OutputLock  # on ``out`` while the job runs, so no other training writes it
    best: BestCheckpoint | None = None  # /train … best=PATH
    thread: threading.Thread | None = None
    last: StepEvent | None = None
    val_loss: float | None = None
    losses: list[tuple[int, float]] = field(default_factory=list)  # (step, mean loss) as plotted
    val_losses: list[tuple[int, float]] = field(default_factory=list)
    ended: TrainingEnded | None = None  # set, and the lock let go, before the event is emitted

    @property
    def alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive() and self.ended is None


class Session(LookInside):
    def __init__(self) -> None:
        self.host = get_host()
        self.model: Model | None = None
        self.meta: dict[str, Any] = {}
        self.model_name = ""
        self.model_path: Path | None = None  # the file the model was loaded from or is trained into
        self.spec = ModelSpec(cell="lstm", layers=2, hidden=128)  # what /train builds anew; /new changes it
        self.sampler_name = DEFAULT_SAMPLER if DEFAULT_SAMPLER in self.host.samplers else min(self.host.samplers)
        self.user_values: dict[str, Any] = {}  # sampler parameters the user set, kept across samplers
        self.params: dict[str, Any] = self._params_for(self.sampler)
        self.length = 300
        self.seed: int | None = None
        self.stop: str | None = None
        self.history: list[str] = []
        self.turns: list[TurnRecord] = []  # every continuation and /heat TEXT; /whatif turn=N counts from 1
        self.unit = Unit(0, 0)  # the unit /neurons shows when none is named
        self._corpus_cache: tuple[str, str] | None = None  # (sha256, text) of the model's corpus, once read
        self.keys_help = ""  # the front end's keys, shown by /help
        self.training: TrainingJob | None = None
        self._rng = np.random.default_rng()
        self._subscribers: list[Callable[[Event], None]] = []
        self._lock = threading.Lock()  # subscribers and the current cancel event
        self._model_lock = threading.Lock()  # the weights, while the training thread takes a step
        self._gen_lock = threading.Lock()  # one generation at a time
        self._cancel = threading.Event()
        self.generating = False

    # -- events ------------------------------------------------------------------------
    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Call ``callback(event)`` for every event (from the emitting thread); returns an unsubscribe."""
        with self._lock:
            self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    def emit(self, event: Event) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            callback(event)

    def info(self, text: str) -> None:
        self.emit(Message("info", text))

    def warn(self, text: str) -> None:
        self.emit(Message("warning", text))

    def error(self, text: str) -> None:
        self.emit(Message("error", text))

    # -- the one entry point -------------------------------------------------------------
    def submit(self, line: str) -> None:
        """Run a slash command, or continue ``line`` with the model. Errors become one-line events.

        A seed is read through :func:`~rnnplay.core.sampler.unescape` (``\\n`` a newline), as
        every text typed in a command is; :meth:`generate` itself takes text as it is.
        """
        if not line.strip():
            return
        self.history.append(line)
        try:
            if line.startswith("//"):  # '//x' continues the text '/x'
                self.generate(unescape(line[1:]))
            elif line.startswith("/"):
                self.run_command(line)
            else:
                self.generate(unescape(line))
        except Cancelled as stopped:  # the user stopped it: news, not an error
            self.info(str(stopped))
        except RnnplayError as err:
            self.error(str(err))

    def run_command(self, line: str) -> None:
        name, argline = split_command(line)
        command = find_command(name, self.host)
        try:
            command.run(self, argline)
        except RnnplayError:
            raise
        except Exception as err:  # a broken plugin command must not take the app down
            plugin = self.host.commands.get(command.name)
            where = f" (from {plugin.plugin})" if plugin else ""
            raise RnnplayError(f"/{command.name}{where} failed: {err.__class__.__name__}: {err}") from err

    def greet(self) -> None:
        """The first line a front end shows: what is loaded and what to do."""
        if self.model is None:
            self.info(no_model())
        else:
            self.info(f"{self.model_name}: type a few characters and press Enter; /help lists the commands")

    def quit(self) -> None:
        self.emit(QuitRequested())

    def clear(self) -> None:
        self.emit(Cleared())

    def close(self) -> None:
        """Stop a generation and any training (which saves its checkpoint) before the program ends."""
        self.cancel()
        job = self.training
        if job is not None and job.alive:
            job.run.trainer.stop()
            assert job.thread is not None
            job.thread.join(timeout=120)

    @contextlib.contextmanager
    def working(self, what: str) -> Iterator[WorkReport]:
        """Announce slow work (:class:`Working`), yield a callable that reports its progress, and say when it ends."""
        self.emit(Working(what))
        try:
            yield WorkReport(self.emit, what)
        finally:
            self.emit(Working(what, done=True))

    # -- models ------------------------------------------------------------------------
    def set_model(self, model: Model | None, meta: dict[str, Any], name: str, path: Path | None = None) -> None:
        with self._model_lock:
            self.model, self.meta, self.model_name, self.model_path = model, meta, name, path
        self.emit(Changed("model"))

    def _refuse_while_training(self, what: str) -> None:
        if self.training is not None and self.training.alive:
            raise RnnplayError(f"a model is training; /stop it before you {what}")

    def load(self, name: str | None) -> None:
        """Open a checkpoint: a path, a model's name in the library (/models), or the bundled model when None."""
        self._refuse_while_training("load another")
        if name is None and not BUNDLED_MODEL.exists():
            raise RnnplayError(no_model())
        path = BUNDLED_MODEL if name is None else find_model(name)
        ckpt = load_model(path)
        self.training = None
        self.set_model(ckpt.model, ckpt.meta, path.name, path)
        self.info(f"loaded {self.model_name}: {self.describe_model()}")

    @classmethod
    def open(cls, path: str | None) -> Session:
        """A session on the checkpoint at ``path``, or on the bundled model (if installed) when None.

        A bad path fails here, as one line, before any front end takes the screen.
        The compiled kernels start loading in the background (:func:`jit.preload`).
        """
        jit.preload()
        session = cls()
        if path:
            session.load(path)
        else:
            session.load_bundled()
        return session

    def load_bundled(self) -> None:
        """Open the bundled model if it is installed; otherwise stay without a model (greet says so)."""
        if BUNDLED_MODEL.exists():
            self.load(None)

    def save(self, path: str, force: bool = False) -> Path:
        """Save the model (with its training state while it trains); an existing file only with ``force``."""
        if self.model is None:
            raise RnnplayError("there is no model to save: /load or /train one first")
        target = Path(os.path.expanduser(path))
        if not target.suffix:
            target = target.with_suffix(".npz")
        if target.is_file() and not force:
            raise RnnplayError(f"{target} exists: /save {path} force replaces it, or /save {free_path(target)} "
                               "keeps both")
        check_output_path(target, "/save", checkpoint=True)
        job = self.training
        with self._model_lock:
            if job is not None and job.run.model is self.model:
                saved = job.run.save(target)  # with the training state, so `rnnplay train --resume` continues it
            else:
                keep = {k: self.meta[k] for k in ("corpus", "history", "command", "ancestry") if k in self.meta}
                saved = save_model(target, self.model, extra=keep)
        self.info(f"saved {saved}")
        return saved

    def new_model(self, spec: ModelSpec) -> None:
        """Set the shape /train builds; with a vocabulary at hand, also start an untrained model of it."""
        self._refuse_while_training("start a new model")
        cell = self.host.cell(spec.cell)
        self.spec = spec
        shape = f"{spec.layers}-layer {spec.cell} of {spec.hidden} units"
        if self.model is None:
            self.info(f"new {shape}: /train FILE trains it on a text")
            return
        seed = int(self._rng.integers(1 << 31))
        model = Model(cell, self.model.vocab, spec.hidden, spec.layers, spec.dropout, seed=seed)
        self.training = None
        self.set_model(model, {"corpus": self.meta.get("corpus")}, "untrained")
        self.info(f"new untrained {shape} ({model.num_params():,} parameters) on the same characters: "
                  "it babbles until you /train FILE")

    def describe_model(self) -> str:
        m = self.model
        if m is None:
            return "none"
        return f"{m.num_layers}-layer {m.cell.name} of {m.hidden_size} units, {m.num_params():,} parameters"

    def card(self) -> list[tuple[str, str]]:
        """The model card: (label, value) rows for /show and the side panel."""
        m = self.model
        if m is None:
            return [("model", "none"), ("get one", "/load PATH, /train FILE")]
        corpus = (self.meta.get("corpus") or {}).get("name", "?")
        val = (self.meta.get("history") or {}).get("val_loss")
        steps = (self.meta.get("training") or self.meta.get("trained") or {}).get("step")
        job = self.training
        if job is not None and job.run.model is m:
            val, steps = job.val_loss, job.run.trainer.step
        rows = [("model", self.model_name), ("cell", m.cell.name), ("layers", str(m.num_layers)),
                ("hidden", str(m.hidden_size)), ("parameters", f"{m.num_params():,}"),
                ("vocabulary", f"{m.vocab.size} chars"), ("corpus", corpus or "?"),
                ("val loss", f"{val:.3f} nats" if val is not None else "n/a")]
        if steps is not None:
            rows.append(("trained", f"{steps:,} steps"))
        return rows

    def snapshot(self) -> Model | None:
        """The model to generate from: the weights themselves, or a copy while they train."""
        with self._model_lock:
            m = self.model
            if m is None or self.training is None or not self.training.alive:
                return m
            params = {k: v.copy() for k, v in m.params.items()}
        return Model(m.cell, m.vocab, m.hidden_size, m.num_layers, m.dropout, dtype=m.dtype, params=params)

    # -- sampler and settings ----------------------------------------------------------------
    @property
    def sampler(self) -> Any:
        return self.host.get("samplers", self.sampler_name)

    def _params_for(self, sampler: Any) -> dict[str, Any]:
        """``sampler``'s defaults, except where the user set a value of the same name that it accepts."""
        params = {k: p.default for k, p in sampler.params.items()}
        for key, value in self.user_values.items():
            if key in params:
                with contextlib.suppress(RnnplayError):
                    params[key] = sampler.params[key].check(value)
        return params

    def parse_param(self, sampler: Any, key: str, text: str) -> Any:
        if key not in sampler.params:
            raise RnnplayError(f"sampler {sampler.name} has no parameter {key!r}{suggest(key, list(sampler.params))}; "
                               f"its parameters: {', '.join(sampler.params) or 'none'}")
        return sampler.params[key].parse(text)

    def set_sampler(self, name: str, pairs: dict[str, str]) -> None:
        """Switch sampler, or change the current one's parameters; ``pairs`` are typed text.

        Parameters not given take the value the user set earlier for one of the same
        name (``/temp 0.5`` survives ``/sampler top-k``), else the sampler's default.
        """
        sampler = self.host.get("samplers", name)
        given = resolve_params(sampler, pairs)
        self.user_values.update({k: given[k] for k in pairs})
        self.sampler_name, self.params = name, self._params_for(sampler)
        self.emit(Changed("sampler"))
        self.info(f"sampler: {self.sampler_label()}")

    def setting_names(self) -> list[str]:
        return [*self.sampler.params, *SETTINGS]

    def set_value(self, key: str, text: str) -> None:
        """/set KEY VALUE: a parameter of the current sampler, or length, seed, stop."""
        key = SETTING_ALIASES.get(key, key)
        if key == "length":
            self.length = parse_number(key, text, int, 1, MAX_LENGTH)
        elif key == "seed":
            self.seed = None if text.lower() in ("random", "none", "") else parse_number(key, text, int, 0, 2**63 - 1)
        elif key == "stop":
            self.stop = None if text.lower() in ("none", "") else unescape(text)
        elif key in self.sampler.params:
            self.params[key] = self.user_values[key] = self.parse_param(self.sampler, key, text)
            self.emit(Changed("sampler"))
            self.info(f"sampler: {self.sampler_label()}")
            return
        else:
            owners = sorted(n for n, r in self.host.samplers.items() if key in r.obj.params)
            if owners:
                raise RnnplayError(f"sampler {self.sampler_name} has no parameter {key!r}; "
                                   f"{', '.join(owners)} {'has' if len(owners) == 1 else 'have'} it: "
                                   f"/sampler {owners[0]} {key}={text}")
            names = self.setting_names()
            raise RnnplayError(f"unknown setting {key!r}{suggest(key, names)}; settings: {', '.join(names)}")
        self.emit(Changed("settings"))
        self.info(f"{key} = {self.setting_text(key)}")

    def setting_text(self, key: str) -> str:
        if key == "length":
            return f"{self.length} chars"
        if key == "seed":
            return "random" if self.seed is None else str(self.seed)
        return "none" if self.stop is None else repr(self.stop)

    def sampler_label(self) -> str:
        """'temperature temperature=0.7': the current sampler and its parameters."""
        return sampler_label(self.sampler_name, self.params)

    def sampler_card(self) -> list[tuple[str, str]]:
        return [("sampler", self.sampler_name), *((k, value_text(v)) for k, v in self.params.items()),
                *((k, self.setting_text(k)) for k in SETTINGS)]

    # -- generation ------------------------------------------------------------------------
    def cancel(self) -> bool:
        """Stop a running generation within one step; True if one was running."""
        running = self.generating
        with self._lock:
            self._cancel.set()
        return running

    @contextlib.contextmanager
    def _turn(self) -> Iterator[tuple[Model, threading.Event]]:
        """Exclusive use of the generator: stops the running generation, waits for it, yields (model, cancel)."""
        model = self.snapshot()
        if model is None:
            raise RnnplayError(no_model())
        cancel = self._new_cancel()
        with self._gen_lock:
            self.generating = True
            try:
                yield model, cancel
            finally:
                self.generating = False

    def _new_cancel(self) -> threading.Event:
        """The event :meth:`cancel` sets from now on; the running generation's is set, so it stops."""
        with self._lock:
            self._cancel.set()
            self._cancel = threading.Event()
            return self._cancel

    def _turn_rng(self) -> np.random.Generator:
        """Same seed, same continuation: a fixed /set seed restarts the generator every turn."""
        return self._rng if self.seed is None else np.random.default_rng(self.seed)

    def _report_unknown(self, model: Model, text: str) -> None:
        unknown = model.vocab.unknown(text)
        if unknown:
            self.warn(f"skipped {len(unknown)} character(s) the model does not know: "
                      f"{' '.join(describe_char(c) for c in unknown[:10])}")

    def generate(self, seed: str) -> str:
        """Continue ``seed`` with the current sampler, emitting the text as it comes."""
        with self._turn() as (model, cancel):
            self._report_unknown(model, seed)
            sampler, params = self.sampler, dict(self.params)
            self.emit(TurnStarted(seed, self.sampler_label()))
            out: list[str] = []
            reason = "error"
            try:
                for chunk in generate(model, seed, sampler, params, self.length, self._turn_rng(),
                                      stop=self.stop, cancel=cancel, on_unknown="skip"):
                    out.append(chunk)
                    self.emit(Chunk(chunk))
                reason = "stopped" if cancel.is_set() else "done"
            finally:
                known = model.vocab.decode(model.vocab.encode(seed, on_unknown="skip"))
                self.turns.append(TurnRecord(known, "".join(out), "continuation", self.model_name, self.sampler_name,
                                             params, self.length, self.seed, self.stop, reason))
                self.emit(TurnEnded(reason, sum(map(len, out))))
        return "".join(out)

    def compare(self, seed: str, names: list[str] | None = None, length: int = 80) -> list[tuple[str, str]]:
        """The same seed and random seed through several samplers (their default settings): a CompareShown event."""
        names = names or sorted(self.host.samplers)
        samplers = [self.host.get("samplers", n) for n in names]
        rows: list[tuple[str, str]] = []
        with self._turn() as (model, cancel), self.working(f"comparing {len(samplers)} samplers") as report:
            self._report_unknown(model, seed)
            seed_value = self.seed if self.seed is not None else int(self._rng.integers(1 << 31))
            for i, sampler in enumerate(samplers):
                report(i / len(samplers), f"comparing samplers: {sampler.name} ({i + 1} of {len(samplers)})")
                params = {k: p.default for k, p in sampler.params.items()}
                text = "".join(generate(model, seed, sampler, params, min(length, self.length),
                                        np.random.default_rng(seed_value), stop=self.stop, cancel=cancel,
                                        on_unknown="skip"))
                rows.append((sampler_label(sampler.name, params), text))
                if cancel.is_set():
                    break
        self.emit(CompareShown(seed, tuple(rows)))
        if self.seed is None:
            self.info(f"random seed {seed_value}: /set seed {seed_value} repeats this comparison")
        return rows

    def score(self, text: str, worst: int = 3) -> Score:
        """How surprised the model is by ``text``: bits per character and its least expected characters."""
        model = self.snapshot()
        if model is None:
            raise RnnplayError(no_model())
        if len(text) < LONG_SCORE:
            result = score_text(model, text)
        else:
            with self._turn() as (_, cancel), self.working(f"scoring {len(text):,} characters") as report:
                result = score_text(model, text, progress=report, cancel=cancel.is_set)
        lines = [f"{result.bits_per_char:.3f} bits/char ({result.nats_per_char:.3f} nats/char) "
                 f"over {len(result.probs)} predicted characters; least expected:"]
        for i in np.argsort(result.probs)[:worst]:
            guess, p = result.alternatives(int(i))[0]
            lines.append(f"  {describe_char(text[i + 1])} after {text[max(0, i - 11) : i + 1]!r}: "
                         f"p={result.probs[i]:.3f} (expected {describe_char(guess)}, p={p:.2f})")
        self.info("\n".join(lines))
        return result

    def copy_last(self) -> str:
        """Put the last continuation on the clipboard (a :class:`ClipboardCopy` for the front end)."""
        text = next((t.text for t in reversed(self.turns) if t.kind == "continuation"), None)
        if text is None:
            raise RnnplayError("nothing to copy yet: type a seed and press Enter, then /copy")
        self.emit(ClipboardCopy(text))  # the front end copies it and says so
        return text

    def save_transcript(self, path: str, force: bool = False) -> Path:
        """Write every turn (seed, continuation, sampler and settings) as Markdown (.md) or JSON Lines (.jsonl)."""
        if not self.turns:
            raise RnnplayError("nothing to save yet: type a seed and press Enter first")
        saved = save_transcript(Path(os.path.expanduser(path)), self.turns, force)
        self.info(f"saved {len(self.turns)} turn{'s' * (len(self.turns) != 1)} to {saved}")
        return saved

    # -- training --------------------------------------------------------------------------
    def train(
        self, corpus_spec: str, config: TrainConfig, spec: ModelSpec | None = None, out: str | None = None,
        best: str | None = None,
    ) -> TrainingJob:
        """Train in a background thread; the model in training becomes the current model.

        With ``spec`` None the loaded model trains further (its weights, a fresh optimizer;
        characters of the corpus it lacks are added to its vocabulary, as `rnnplay train
        --init-from` does, and the checkpoint records its ancestry); with no model loaded, or with a
        ``spec``, a new model of that shape (or of :attr:`spec`) starts. The checkpoint goes
        to ``out``, or to a free name in the model library; an existing file is never
        replaced. ``best``: also keep the checkpoint with the lowest validation loss there.
        """
        self._refuse_while_training("start another")
        target = self._new_file(out, "out") if out else None
        best_path = self._new_file(best, "best") if best else None
        corpus = self._load_corpus(corpus_spec)
        base = self.model if spec is None else None
        self._fit_config(config, corpus)
        extra = {"command": f"/train {corpus_spec}"}
        if base is None:
            run = new_run(corpus, spec or self.spec, config, extra)
            what = f"training a new {shape_text(run.model)} ({run.model.num_params():,} parameters)"
        else:
            lineage = ancestry(self.meta, self.model_path, self.model_name)
            run = continue_run(base, corpus, config, {**extra, "continued_from": self.model_name, "ancestry": lineage})
            grown = f", {growth_text(run)}" if run.added else ""
            what = f"continuing {self.model_name} ({shape_text(base)}{grown})"
        target = target or check_output_path(library_path(corpus.name), "the model library", checkpoint=True)
        keeper = BestCheckpoint.for_run(best_path, run, target) if best_path else None
        job = TrainingJob(run, target, OutputLock(target).__enter__(), keeper)  # released when the job ends
        self.training = job
        meta = {"corpus": {"name": corpus.name, "source": corpus.source, "sha256": corpus.sha256},
                **{k: run.extra[k] for k in ("ancestry",) if k in run.extra}}  # what a later /train passes on
        self.set_model(run.model, meta, target.name, target)
        self.emit(Changed("training"))
        self.info(f"{what} on {corpus.name} ({len(corpus.text):,} chars); checkpoint: {target}; "
                  "/stop ends it, and you can keep generating meanwhile")
        job.thread = threading.Thread(target=self._train_loop, args=(job,), name="rnnplay-train", daemon=True)
        job.thread.start()
        return job

    @staticmethod
    def _new_file(path: str, key: str) -> Path:
        """``path`` expanded and writable, refused in one line when a file is there (a new checkpoint never
        replaces one)."""
        target = Path(os.path.expanduser(path))
        if not target.suffix:
            target = target.with_suffix(".npz")
        if target.is_file():
            default = f" (or leave out= off: a new name in {models_dir()})" if key == "out" else ""
            raise RnnplayError(f"{target} exists and would be overwritten: {key}={free_path(target)} keeps both"
                               f"{default}")
        return check_output_path(target, f"{key}=", checkpoint=True)

    def _load_corpus(self, corpus_spec: str) -> Corpus:
        """The corpus, with Working events while it loads; :meth:`cancel` stops a download (:class:`Cancelled`)."""
        cancel = self._new_cancel()

        def progress(label: str, done: int, total: int | None, unit: str = "B") -> None:
            if cancel.is_set():
                raise Cancelled(f"stopped loading {corpus_spec}; nothing was trained")
            report(done / total if total else None, label)

        with self.working(f"loading {corpus_spec}") as report:
            return load_corpus(corpus_spec, progress=progress)

    def _fit_config(self, config: TrainConfig, corpus: Corpus) -> None:
        """Shrink batch and sequence to a short corpus, and give one pass (at least 100 steps) when no budget is set."""
        n_train = int(len(corpus.text) * (1 - config.val_fraction))
        batch, seq = fit_batches(n_train, config.batch_size, config.seq_length)
        if (batch, seq) != (config.batch_size, config.seq_length):
            self.info(f"{corpus.name} is short ({len(corpus.text):,} chars): batch {batch} x sequence {seq}")
            config.batch_size, config.seq_length = batch, seq
        if config.steps is None and config.epochs is None and config.seconds is None:
            config.steps = max(100, n_train // (batch * seq))
            self.info(f"no budget given: {config.steps} steps (one pass, at least 100); set steps= or time=")

    def stop_training(self) -> None:
        job = self.training
        if job is None or not job.alive:
            raise RnnplayError("no model is training; /train FILE starts one")
        job.run.trainer.stop()
        self.info(f"stopping after this step; the checkpoint goes to {job.out}")

    def _train_loop(self, job: TrainingJob) -> None:
        try:
            with threads.busy_cores():  # generation meanwhile keeps off BLAS's threads (rnnplay.core.threads)
                job.ended = self._train_events(job)
        finally:
            job.lock.__exit__(None, None, None)
        self.emit(job.ended)
        self.emit(Changed("model"))

    def _train_events(self, job: TrainingJob) -> TrainingEnded:
        """Forward the run's events until it ends; how it ended."""
        events = job.run.events()
        steps = StepThrottle()
        try:
            while True:
                with self._model_lock:
                    event = next(events)
                match event:
                    case FinishedEvent():
                        return self._on_finished(job, event)
                    case StepEvent():
                        job.last = event
                        forwarded = steps.offer(event)
                        if forwarded is not None:
                            job.losses.append((event.step, forwarded.loss))
                            self.emit(forwarded)
                            self.emit(LossPoint(event.step, forwarded.loss, None))
                            self._emit_progress(job)
                    case ValidationEvent():
                        self._on_validation(job, event)
                    case SampleEvent():
                        self.emit(event)
                        self.emit(TrainingSample(event.step, event.text))
                    case SkippedEvent():
                        self.emit(event)
                        self.warn(f"training step {event.step}: {event.reason}")
        except Exception as err:  # a training failure must not take the app down, nor lose the steps made
            message = str(err) if isinstance(err, RnnplayError) else f"{err.__class__.__name__}: {err}"
            path = self._save_job(job) if job.run.trainer.step else None
            kept = f"; the run up to step {job.run.trainer.step} is in {path}" if path else ""
            self.error(f"training failed: {message}{kept}")
            return TrainingEnded(job.run.trainer.step, "error", None if path is None else str(path))

    def _on_validation(self, job: TrainingJob, event: ValidationEvent) -> None:
        job.val_loss = event.val_loss
        job.val_losses.append((event.step, event.val_loss))
        self.emit(event)
        self.emit(LossPoint(event.step, None, event.val_loss))
        if job.best is None:
            return
        with self._model_lock:
            saved = job.best.offer(job.run, event.val_loss)
        if saved is not None and saved.problem:
            self.warn(f"{saved.problem}; the best checkpoint is kept in {saved.path} instead")
            job.best.path = saved.path

    def _on_finished(self, job: TrainingJob, event: FinishedEvent) -> TrainingEnded:
        self._emit_progress(job)
        path = self._save_job(job)
        val = f"validation loss {event.val_loss:.3f} nats/char" if event.val_loss is not None else ""
        ended = {"stopped": "stopped", "diverged": "stopped: the loss was not finite, so the weights were kept as "
                 "they were and a lower lr= may help"}.get(event.reason, "done")
        saved = f"saved {path}" if path else ""
        self.info("; ".join(filter(None, [f"training {ended} at step {event.step}", val, saved])))
        if job.best is not None and job.best.kept:
            self.info(job.best.describe(job.run))
        return TrainingEnded(event.step, event.reason, None if path is None else str(path))

    def _save_job(self, job: TrainingJob) -> Path | None:
        """Save the run to its checkpoint, or to a rescue copy (with a warning saying why) when that fails;
        None, with an error saying what to do, when both fail."""
        try:
            with self._model_lock:
                saved = job.run.save_or_rescue(job.out)
        except RnnplayError as err:
            self.error(f"{err}; the model is still loaded: /save PATH keeps it")
            return None
        if saved.problem:
            self.warn(f"{saved.problem}; saved to {saved.path} instead")
        self.model_path = saved.path
        if self.model is job.run.model:
            self.meta = {**self.meta, "trained": {"step": job.run.trainer.step}}  # the step its ancestry records
        return saved.path

    def _emit_progress(self, job: TrainingJob) -> None:
        e = job.last
        if e is not None:
            self.emit(Progress(e.step, e.fraction, e.epoch, e.loss, job.val_loss, e.chars_per_sec, e.eta_seconds))
