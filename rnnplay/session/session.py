"""The Session: a model, a sampler and its settings, the turns written, and at most one training job.

Front ends are thin. They pass every line the user types to :meth:`Session.submit`
and render the events the session emits to its subscribers::

    line ─► submit ─┬─ "/name args" ─► the command registry ─► the session and its collaborators
                    └─ anything else ─► a seed: TurnStarted, Chunk…, TurnEnded

The session holds the state; the work is done by the collaborators it owns:
``generation`` (:mod:`rnnplay.session.generation`: continuations, /compare, /score),
``runner`` (:mod:`rnnplay.session.training_job`: the training job) and ``inspection``
(:mod:`rnnplay.session.inspection`: /heat, /whatif, /neurons). Commands reach them
through :class:`rnnplay.plugins.slash.SessionAPI`, the surface this class provides.

Events come from whichever thread did the work (a generation, the training
thread), so a front end hands them over to its own UI thread. Nothing here knows
about Textual or prompt-toolkit. The training thread owns the model's weights while
it takes a step (``model_lock``); :meth:`snapshot` copies them under that lock.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from rnnplay.core import jit
from rnnplay.core.errors import RnnplayError, out_of_memory, printable, shortened
from rnnplay.core.model import Model
from rnnplay.core.params import did_you_mean, unescape, worded
from rnnplay.core.sampler import resolve_params
from rnnplay.core.train_config import ModelSpec
from rnnplay.core.work import Cancelled
from rnnplay.models.bundled import BUNDLED_MODEL, load_model, no_model, save_model
from rnnplay.models.library import find_model, free_path, resumable_step
from rnnplay.plugins.host import get_host
from rnnplay.plugins.interrupts import UserInterrupts
from rnnplay.plugins.slash import find_command, parse_number, split_command
from rnnplay.session.ancestry import UNTRAINED, copy_record, trained_text
from rnnplay.session.at_work import AtWork
from rnnplay.session.checkpoint_names import TRANSCRIPT_INSTEAD, checkpoint_name
from rnnplay.session.events import Changed, Cleared, Event, Message, QuitRequested, Working
from rnnplay.session.generation import Generation
from rnnplay.session.inspection import Inspection, TurnRecord, sampler_label, value_text
from rnnplay.session.output_paths import check_output_path, holding
from rnnplay.session.training_job import Runner, TrainingJob

DEFAULT_SAMPLER = "temperature"
SETTINGS = ("length", "seed", "stop")
SETTING_ALIASES = {"num_predict": "length", "max_tokens": "length", "top_k": "k", "top_p": "p"}  # Ollama's names
MAX_LENGTH = 100_000


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


class Session:
    """What a person using rnnplay talks to, whatever the front end (see the module's docstring)."""

    def __init__(self) -> None:
        self.host = get_host()
        self.model: Model | None = None
        self.meta: dict[str, Any] = {}
        self.model_name = ""
        self.model_path: Path | None = None  # the file the model was loaded from or is trained into
        self.model_sha256: str | None = None  # of that file's bytes when loaded or saved (its ancestry's record)
        self.spec = ModelSpec()  # what /train builds anew (the declared defaults, as `rnnplay train`); /new changes it
        self.sampler_name = DEFAULT_SAMPLER if DEFAULT_SAMPLER in self.host.samplers else min(self.host.samplers)
        self.user_values: dict[str, Any] = {}  # sampler parameters the user set, kept across samplers
        self.params: dict[str, Any] = self.params_for(self.sampler)
        self.length = 300
        self.seed: int | None = None
        self.stop: str | None = None
        self.history: list[str] = []
        self.turns: list[TurnRecord] = []  # every continuation and /heat TEXT; /whatif turn=N counts from 1
        self.keys_help = ""  # the front end's keys, shown by /help
        self._rng = np.random.default_rng()
        self._subscribers: list[Callable[[Event], None]] = []
        self._lock = threading.Lock()  # the subscribers
        self.model_lock = threading.Lock()  # the weights, while the training thread takes a step
        self.at_work = AtWork(self.host, self.emit)  # the plugin code running now, named if it does not stop
        self.generation = Generation(self)
        self.runner = Runner(self)
        self.inspection = Inspection(self, self.generation)

    @property
    def training(self) -> TrainingJob | None:
        """The running training job, or the last one."""
        return self.runner.job

    def stop_hint(self) -> str:
        """What Esc or Ctrl+C says when no turn or command is at work to stop."""
        job = self.training
        if job is not None and job.alive:
            return "training goes on in the background: /stop ends it; Ctrl+D or /quit leaves"
        return "nothing to stop; Ctrl+D or /quit leaves"

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
        self.emit(Message("warning", shortened(text)))

    def error(self, text: str) -> None:
        self.emit(Message("error", shortened(text)))

    # -- the one entry point -------------------------------------------------------------
    def submit(self, line: str) -> None:
        """Run a slash command, or continue ``line`` with the model. Errors become one-line events.

        A seed is read through :func:`~rnnplay.core.params.unescape` (``\\n`` a newline), as
        every text typed in a command is; :meth:`generate` itself takes text as it is.
        """
        if not line.strip():
            return
        self.history.append(line)
        try:
            if line.startswith("//"):  # '//x' continues the text '/x'
                self.generation.generate(unescape(line[1:]))
            elif line.startswith("/"):
                self.run_command(line)
            else:
                self.generation.generate(unescape(line))
        except Cancelled as stopped:  # the user stopped it: news, not an error
            self.info(str(stopped))
        except RnnplayError as err:
            self.error(worded(err, "type /sampler {}"))  # a sampler a refusal suggests, as chosen here
        except MemoryError as err:  # raised where nothing could say more (a plugin's sampler, say)
            self.error(out_of_memory(err))

    def run_command(self, line: str) -> None:
        name, argline = split_command(line)
        command = find_command(name, self.host)
        with UserInterrupts() as keys, self.at_work.command(command.name):
            try:
                command.run(self, argline)
            except RnnplayError:
                raise
            except BaseException as err:  # a broken plugin command must not take the app down, whatever it raises
                keys.reraise_if_pressed(err)  # a Ctrl-C the user pressed still interrupts
                cell = self.model.cell.name if self.model is not None else None
                raise RnnplayError(self.host.command_failure(command.name, err, cell)) from err


    def greet(self) -> None:
        """The first line a front end shows: what is loaded and what to do."""
        self.info(no_model() if self.model is None else
                  f"{printable(self.model_name)}: type a few characters and press Enter; /help lists the commands")
        if self.generation.recovery.recovered:  # earlier sessions' conversations no line named (recovery_folder.py)
            self.emit(Message("note", self.generation.recovery.recovered))

    def quit(self) -> None:
        self.emit(QuitRequested())

    def clear(self) -> None:
        self.emit(Cleared())

    def close(self) -> bool:
        """Stop a generation and any training (which saves its checkpoint) before the program ends; False if a
        training's model could not be saved, and only the session holds it (/save keeps it)."""
        self.generation.cancel()
        self.runner.close()
        return not self.runner.unsaved()

    def cancel(self) -> bool:
        """Stop a running generation within one step (what Esc does), or a training a seed waits for after its
        step; True if either was running."""
        return self.generation.cancel() or self.runner.wait.stop_training()

    # the paths the REPL's tests take (tests/test_repl.py); the front ends and commands use ``generation``
    @property
    def generating(self) -> bool:
        return self.generation.running

    def generate(self, seed: str) -> str:
        return self.generation.generate(seed)

    def copy_last(self) -> str:
        return self.generation.copy_last()

    @contextlib.contextmanager
    def working(self, what: str) -> Iterator[WorkReport]:
        """Announce slow work (:class:`Working`), yield a callable that reports its progress, and say when it ends."""
        self.emit(Working(what))
        try:
            yield WorkReport(self.emit, what)
        finally:
            self.emit(Working(what, done=True))

    # -- models ------------------------------------------------------------------------
    def set_model(self, model: Model | None, meta: dict[str, Any], name: str, path: Path | None = None,
                  sha256: str | None = None) -> None:
        with self.model_lock:
            self.model, self.meta, self.model_name, self.model_path = model, meta, name, path
            self.model_sha256 = sha256
        self.emit(Changed("model"))

    def load(self, name: str | None) -> None:
        """Open a checkpoint: a path, a model's name in the library (/models), or the bundled model when None."""
        self.runner.refuse_while_training("load another")
        if name is None and not BUNDLED_MODEL.exists():
            raise RnnplayError(no_model())
        path = BUNDLED_MODEL if name is None else find_model(name)
        ckpt = load_model(path, with_sha256=True)
        self.runner.job = None
        self.set_model(ckpt.model, ckpt.meta, path.name, path, ckpt.sha256)
        self.info(f"loaded {printable(self.model_name)}: {self.describe_model()}")

    @classmethod
    def open(cls, path: str | None) -> Session:
        """A session on the checkpoint at ``path``, or on the bundled model (if installed) when None.

        A bad path fails here, as one line, before any front end takes the screen.
        The compiled kernels start loading in the background, the model's cell's first (:func:`jit.preload_for`).
        """
        session = cls()
        if path:
            session.load(path)
        else:
            session.load_bundled()
        jit.preload_for(session.model)
        return session

    def load_bundled(self) -> None:
        """Open the bundled model if it is installed; otherwise stay without a model (greet says so)."""
        if BUNDLED_MODEL.exists():
            self.load(None)

    def save(self, path: str, force: bool = False) -> Path:
        """Save the model (with its training state while it trains); an existing file only with ``force``."""
        if self.model is None:
            raise RnnplayError("there is no model to save: /load or /train one first")
        target = checkpoint_name(path, "the checkpoint", "/save ", TRANSCRIPT_INSTEAD)
        if os.path.isfile(target) and not force:  # False past a folder we may not search: the check says so
            raise RnnplayError(f"{target} exists: /save {path} force replaces it, or /save {free_path(target)} "
                               "keeps both")
        check_output_path(target, "the checkpoint", checkpoint=True)
        job = self.training
        resumable = resumable_step(target) if force and (job is None or job.run.model is not self.model) else None
        if resumable is not None:  # /save writes the weights only: `train --resume` would have nothing to go on with
            raise RnnplayError(f"{target} holds a training run that `rnnplay train --resume` continues (step "
                               f"{resumable:,}), and /save writes the weights only: /save {free_path(target)} instead")
        with self.runner.wait.held("/save cannot save it now"), holding(target, "name", "save"):  # not a run's output
            fix = "free some space, or /save to another path"
            if job is not None and job.run.model is self.model:
                saved = job.run.save(target, replace=force, fix=fix)  # with the training state, for `train --resume`
            else:
                saved = save_model(target, self.model, extra=copy_record(self.meta), replace=force,
                                   fix=fix)  # another's save kept
        self.runner.kept(self.model)
        self.info(f"saved {saved}")
        return saved

    def new_model(self, spec: ModelSpec) -> None:
        """Set the shape /train builds; with a vocabulary at hand, also start an untrained model of it."""
        self.runner.refuse_while_training("start a new model")
        cell = self.host.cell(spec.cell)
        self.spec = spec
        shape = f"{spec.layers}-layer {spec.cell} of {spec.hidden} units"
        if self.model is None:
            self.info(f"new {shape}: /train FILE trains it on a text")
            return
        seed = int(self._rng.integers(1 << 31))
        with self.host.blame("cells", spec.cell, "creating its parameters"):  # a plugin's init_params
            model = Model(cell, self.model.vocab, spec.hidden, spec.layers, spec.dropout, seed=seed)
        self.runner.job = None
        self.set_model(model, {"corpus": self.meta.get("corpus")}, UNTRAINED)
        self.info(f"new untrained {shape} ({model.num_params():,} parameters) on the same characters: "
                  "it babbles until you /train FILE")

    def describe_model(self) -> str:
        m = self.model
        if m is None:
            return "none"
        return f"{m.num_layers}-layer {m.cell.name} of {m.hidden_size} units, {m.num_params():,} parameters"

    def card(self) -> list[tuple[str, str]]:
        """The model card: (label, value) rows for /show and the side panel (labels short, to leave values room)."""
        m = self.model
        if m is None:
            return [("model", "none"), ("load", "/load PATH"), ("train", "/train FILE")]
        corpus = (self.meta.get("corpus") or {}).get("name", "?")
        val = (self.meta.get("history") or {}).get("val_loss")
        steps = (self.meta.get("training") or self.meta.get("trained") or {}).get("step")
        job = self.training
        if job is not None and job.run.model is m:
            val, steps = job.val_loss, job.run.trainer.step
        rows = [("model", printable(self.model_name)), ("cell", m.cell.name), ("layers", str(m.num_layers)),
                ("hidden", str(m.hidden_size)), ("params", f"{m.num_params():,}"),
                ("vocab", f"{m.vocab.size} chars"), ("corpus", corpus or "?"),
                ("val", f"{val:.3f} in training" if val is not None else "n/a")]  # /show says how it differs
        return rows + ([("steps", trained_text(steps, self.meta))] if steps is not None else [])

    def snapshot(self) -> Model | None:
        """The model to generate from: the weights themselves, or a copy while they train."""
        with self.runner.wait.held("the model is busy, so this is not run"):
            m = self.model
            if m is None or self.training is None or not self.training.alive:
                return m
            return m.astype(m.dtype)

    # -- sampler and settings ----------------------------------------------------------------
    @property
    def sampler(self) -> Any:
        return self.host.get("samplers", self.sampler_name)

    def params_for(self, sampler: Any) -> dict[str, Any]:
        """``sampler``'s defaults, except where the user set a value of the same name that it accepts."""
        params = {k: p.default for k, p in sampler.params.items()}
        for key, value in self.user_values.items():
            if key in params:
                with contextlib.suppress(RnnplayError):
                    params[key] = sampler.params[key].check(value)
        return params

    def set_sampler(self, name: str, pairs: dict[str, str]) -> None:
        """Switch sampler, or change the current one's parameters; ``pairs`` are typed text.

        Parameters not given take the value the user set earlier for one of the same
        name (``/temp 0.5`` survives ``/sampler top-k``), else the sampler's default.
        """
        sampler = self.host.get("samplers", name)
        given = resolve_params(sampler, pairs)
        self.user_values.update({k: given[k] for k in pairs})
        self.sampler_name, self.params = name, self.params_for(sampler)
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
            self.params[key] = self.user_values[key] = resolve_params(self.sampler, {key: text})[key]
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
            raise RnnplayError(f"unknown setting {key!r}{did_you_mean(key, names)}; settings: {', '.join(names)}")
        self.emit(Changed("settings"))
        self.info(f"{key} = {self.setting_text(key)}")

    def setting_text(self, key: str) -> str:
        if key == "length":
            return f"{self.length} chars"
        if key == "seed":
            return "random" if self.seed is None else str(self.seed)
        return "none" if self.stop is None else repr(self.stop)

    def sampler_label(self) -> str:
        """'temperature=0.7': the current sampler and its parameters (:func:`.inspection.sampler_label`)."""
        return sampler_label(self.sampler_name, self.params)

    def sampler_card(self) -> list[tuple[str, str]]:
        return [("sampler", self.sampler_name), *((k, value_text(v)) for k, v in self.params.items()),
                *((k, self.setting_text(k)) for k in SETTINGS)]
