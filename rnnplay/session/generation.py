"""Writing with the model from a session: continuations, /compare, /score, /copy and /transcript save.

Threads: one generation runs at a time, in the order they were asked for (a ticket each, as at a
counter); a new one, or :meth:`Generation.cancel`, stops the running one within one step (a
``threading.Event`` checked every step). A
generation samples from :meth:`Session.snapshot`, a copy of the weights while they train,
so the user keeps playing with the latest weights while the model trains. While one runs,
``steps_may_run`` is clear and the training's next step waits for it (for at most
``training_job.GIVE_WAY_SECONDS``): the two would otherwise share the cores, and the
continuation the user is reading would crawl (docs/performance.md, "Generation beside a training").
A turn gone quiet for ``stall_watch.STALL_SECONDS`` (a plugin's sampler that hangs) sets it again:
training waiting on a turn that writes nothing would crawl instead, for as long as the turn hangs.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rnnplay.core import jit
from rnnplay.core.errors import RnnplayError, out_of_memory
from rnnplay.core.generate import Cancelled, Primed, generate, prime_seed
from rnnplay.core.model import Model
from rnnplay.core.score import Score, score_text, unknown_summary
from rnnplay.core.work import LONG_TEXT, Progress
from rnnplay.models.bundled import no_model
from rnnplay.session.events import (
    Chunk,
    ClipboardCopy,
    CompareShown,
    ScoreShown,
    Surprise,
    TurnEnded,
    TurnStarted,
)
from rnnplay.session.inspection import Branch, TurnRecord, sampler_label
from rnnplay.session.late_work import SHOW_AFTER, LateWork
from rnnplay.session.recovery import RecoveryFile
from rnnplay.session.stall_watch import StallWatch
from rnnplay.session.transcript import CompareRecord, CompareRow, Conversation, save_transcript

if TYPE_CHECKING:
    from rnnplay.session.session import Session


def seed_work(seed: str) -> str:
    """'reading a seed of 100,000 characters': how a seed's reading is shown as work; while the compiled kernels
    load (the first run on a machine compiles them, for many seconds on a busy one), what it waits for first."""
    reading = f"reading a seed of {len(seed):,} characters"
    waits = "waiting for the compiled kernels, then "  # a first run on a machine compiles them
    return f"{waits}{reading}" if jit.loading() else reading


def surprises(text: str, score: Score, worst: int) -> tuple[Surprise, ...]:
    """The ``worst`` least expected characters of ``text`` by its ``score``, least expected first."""
    rows = []
    for i in (int(i) for i in np.argsort(score.probs)[:worst]):
        guess, p = score.alternatives(i)[0]
        rows.append(Surprise(text[i + 1], text[max(0, i - 11) : i + 1], float(score.probs[i]), guess, float(p)))
    return tuple(rows)


class Generation:
    """The session's generator: one continuation at a time, each recorded as a turn (``session.turns``)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.quiet = threading.Event()  # set while no generation runs
        self.quiet.set()
        self.steps_may_run = threading.Event()  # ... or while the one running has gone quiet: a training step waits
        self.steps_may_run.set()
        self._turn = threading.Condition()  # one generation at a time, served in ticket order
        self._tickets = self._serving = 0
        self._given_up: set[int] = set()  # tickets finished or abandoned, not yet passed by _serving
        self._cancel_lock = threading.RLock()  # the current cancel event, and the tickets given with it
        self._cancel = threading.Event()
        self.rng = np.random.default_rng()
        self.compares: list[CompareRecord] = []  # every /compare shown, for /transcript save
        self._records = threading.Lock()  # the turns, the comparisons and the turn being written, saved together
        self._writing: tuple[partial[TurnRecord], list[str]] | None = None  # (its record, its text so far)
        self.phase: str | None = None  # the turn under way: "reading" its seed, "writing" its text, or None
        self.recovery = RecoveryFile(self.conversation, session.warn)  # what no /transcript save holds

    # -- one at a time --------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return not self.quiet.is_set()

    def cancel(self) -> bool:
        """Stop a running generation within one step; True if one was running."""
        running = self.running
        with self._cancel_lock:
            self._cancel.set()
        return running

    def new_cancel(self) -> threading.Event:
        """The event :meth:`cancel` sets from now on; the running generation's is set, so it stops."""
        with self._cancel_lock:
            self._cancel.set()
            self._cancel = threading.Event()
            return self._cancel

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[tuple[Model, threading.Event]]:
        """Exclusive use of the generator: stops the running generation, waits for it, yields (model, cancel)."""
        model = self.session.snapshot()
        if model is None:
            raise RnnplayError(no_model())
        with self._cancel_lock, self._turn:  # a ticket: generations run in the order they stopped the one before,
            cancel, ticket = self.new_cancel(), self._tickets  # so seeds sent quickly keep the order they were typed
            self._tickets += 1
        try:
            with self._turn:
                self._turn.wait_for(lambda: self._serving == ticket)
        except BaseException:  # interrupted while waiting: the ticket is given up, not left to block the queue
            self._done(ticket)
            raise
        self.quiet.clear()
        self.steps_may_run.clear()
        try:
            yield model, cancel
        finally:
            self.quiet.set()
            self.steps_may_run.set()
            self._done(ticket)

    def _done(self, ticket: int) -> None:
        """Ticket ``ticket`` is finished or given up: serve the next one still waiting."""
        with self._turn:
            self._given_up.add(ticket)
            while self._serving in self._given_up:
                self._given_up.remove(self._serving)
                self._serving += 1
            self._turn.notify_all()

    def known(self, model: Model, text: str, too_short: str = "") -> str:
        """``text`` without the characters the model has never seen (with a warning naming them).

        ``too_short``: the error when fewer than two known characters remain, raised instead of the warning
        (which it then includes), so that the user reads one line.
        """
        unknown = unknown_summary(model.vocab, text)
        kept = model.vocab.decode(model.vocab.encode(text, on_unknown="skip"))
        skipped = f"skipped {unknown}"
        if too_short and len(kept) < 2:
            raise RnnplayError(f"{too_short} ({skipped})" if unknown else too_short)
        if unknown:
            self.session.warn(skipped)
        return kept

    def _turn_rng(self) -> np.random.Generator:
        """Same seed, same continuation: a fixed /set seed restarts the generator every turn."""
        seed = self.session.seed
        return self.rng if seed is None else np.random.default_rng(seed)

    # -- writing --------------------------------------------------------------------------
    def generate(self, seed: str) -> str:
        """Continue ``seed`` with the current sampler, emitting the text as it comes."""
        return self.write(seed)

    def write(self, seed: str, branch: Branch | None = None) -> str:
        """:meth:`generate`, recording the turn as a /whatif ``branch`` when it is one."""
        s = self.session
        with self.exclusive() as (model, cancel), \
                s.at_work.running(("samplers", s.sampler_name), ("cells", model.cell.name)):
            known = self.known(model, seed)
            sampler, name, params = s.sampler, s.sampler_name, dict(s.params)
            # how this turn is written, as it starts: a /load, /set or /sampler while it streams changes the next
            record = partial(TurnRecord, known, kind="continuation", model=s.model_name, sampler=name,
                             params=params, length=s.length, rng_seed=s.seed, stop=s.stop, branch=branch,
                             typed=seed if known != seed else "")
            length, stop = s.length, s.stop
            # a plugin's fault: one line naming it (a plugin cell's too, when a built-in sampler trips on it)
            blame = partial(s.host.blame, "samplers", s.sampler_name, "generating", cell=model.cell.name)
            out: list[str] = []
            self._under_way((record, out), "reading")  # a leave while the seed is read keeps it (the recovery file)
            try:
                with blame(), self.reading(known) as progress:  # the seed is read before the turn starts
                    stream = generate(model, seed, sampler, params, length, self._turn_rng(), stop=stop,
                                      cancel=cancel, on_unknown="skip", progress=progress)
            except BaseException:  # a seed refused (NaN scores, a plugin's fault): no turn, as before it was read
                self._under_way(None, None)
                raise
            self.phase = "writing"
            s.emit(TurnStarted(seed, sampler_label(name, params)))  # the header: the settings the turn is written with
            reason = "error"
            try:
                quiet = self.quiet_turn  # a quiet turn says it is at work, and a training stops giving way
                with StallWatch(s.emit, s.sampler_name, length, quiet) as watch:
                    for chunk in s.host.blamed(stream, "samplers", s.sampler_name, "generating", cell=model.cell.name):
                        out.append(chunk)
                        watch.chunk(Chunk(chunk))
                reason = "stopped" if cancel.is_set() else "done"
            finally:
                with self._records:
                    s.turns.append(record(text="".join(out), ended=reason))
                    self._writing, self.phase = None, None
                s.emit(TurnEnded(reason, sum(map(len, out))))
                self.recovery.changed()
        return "".join(out)

    def _under_way(self, writing: tuple[partial[TurnRecord], list[str]] | None, phase: str | None) -> None:
        """The turn under way from now (its record and its text so far) and its ``phase``, which /transcript save,
        the recovery file and the app's leaving keys see; (None, None) when none is."""
        with self._records:
            self._writing, self.phase = writing, phase

    def quiet_turn(self, quiet: bool) -> None:
        """The turn being written has gone quiet (True: a training beside it need not wait) or writes again."""
        (self.steps_may_run.set if quiet else self.steps_may_run.clear)()

    @contextlib.contextmanager
    def reading(self, seed: str) -> Iterator[Progress]:
        """A seed's reading into the model shown as work (its share done), before its continuation starts: a long
        seed's at once, a shorter one's once it has taken a moment (:mod:`.late_work`)."""
        after = 0 if len(seed) >= LONG_TEXT else SHOW_AFTER  # its words said when shown: kernels may hold it up
        with LateWork(self.session.working, partial(seed_work, seed), after) as work:
            yield work.progress

    def compare(self, seed: str, names: list[str] | None = None, length: int = 80) -> list[tuple[str, str]]:
        """The same seed and random seed through several samplers (the active one with its settings, as /sampler and
        /set left them; each other one with the values set of the parameters it shares, such as a temperature, and
        its defaults for the rest): a CompareShown event, and a comparison in the conversation (:attr:`compares`)."""
        s = self.session
        samplers = [s.host.get("samplers", n) for n in names or sorted(s.host.samplers)]
        active = s.sampler  # the settings as they are now: a /set while it runs changes no row
        chosen = [dict(s.params) if sampler is active else s.params_for(sampler) for sampler in samplers]
        rows: list[CompareRow] = []
        length = min(length, s.length)
        with self.exclusive() as (model, cancel), s.working(f"comparing {len(samplers)} samplers") as report:
            known = self.known(model, seed)
            record = partial(CompareRecord, len(s.turns), s.model_name, known, typed=seed if known != seed else "")
            seed_value = s.seed if s.seed is not None else int(self.rng.integers(1 << 31))
            primed = self._read_once(model, seed, cancel, report)  # every sampler continues the same reading
            for i, sampler in enumerate(samplers):
                if primed is None or cancel.is_set():
                    break
                report(i / len(samplers), f"comparing samplers: {sampler.name} ({i + 1} of {len(samplers)})")
                params = chosen[i]
                try:  # one sampler that fails (a plugin's) leaves the others' rows
                    with s.host.blame("samplers", sampler.name, "comparing samplers", cell=model.cell.name):
                        text = "".join(generate(model, primed, sampler, params, length,
                                                np.random.default_rng(seed_value), stop=s.stop, cancel=cancel))
                except (RnnplayError, MemoryError) as err:
                    s.error(str(err) if isinstance(err, RnnplayError) else out_of_memory(err))
                    rows.append(CompareRow(sampler.name, params, "", failed=True))
                    continue
                rows.append(CompareRow(sampler.name, params, text))
            with self._records:
                self.compares.append(record(seed_value, length, s.stop, tuple(rows),
                                            "stopped" if cancel.is_set() else "done"))
            self.recovery.changed()
        shown = [(row.label, row.text) for row in rows]
        s.emit(CompareShown(seed, tuple(shown)))
        if s.seed is None:
            s.info(f"random seed {seed_value}: /set seed {seed_value} repeats this comparison")
        return shown

    def _read_once(self, model: Model, seed: str, cancel: threading.Event,
                   report: Callable[[float, str], None]) -> Primed | None:  # fmt: skip
        """``seed`` read into ``model`` (None when stopped), a long one shown as work (its share read)."""
        what = seed_work(seed)
        progress = None if len(seed) < LONG_TEXT else lambda done: report(done, what)
        try:
            with self.session.host.blame("cells", model.cell.name, "reading the seed"):
                return prime_seed(model, seed, cancel=cancel, progress=progress)
        except Cancelled:
            return None

    def score(self, text: str, worst: int = 3) -> Score:
        """How surprised the model is by ``text``: its bits per character, and its ``worst`` least expected
        characters (a :class:`ScoreShown`)."""
        s = self.session
        model = s.snapshot()
        if model is None:
            raise RnnplayError(no_model())
        if len(text) < LONG_TEXT:
            result = score_text(model, text)
        else:
            with self.exclusive() as (_, cancel), s.working(f"scoring {len(text) - 1:,} characters") as report:
                result = score_text(model, text, progress=report, cancel=cancel.is_set)
        shown = ScoreShown(surprises(text, result, worst))
        least = "; least expected:" if shown.surprises else ""
        s.info(f"{result.bits_per_char:.3f} bits/char ({result.nats_per_char:.3f} nats/char) "
               f"over {len(result.probs):,} predicted characters{least}")
        s.emit(shown)
        return result

    # -- keeping what was written -----------------------------------------------------------
    def copy_last(self) -> str:
        """Put the last continuation on the clipboard (a :class:`ClipboardCopy` for the front end)."""
        if self.running:  # its record comes when it ends: the last one recorded is the turn before
            raise RnnplayError("a continuation is still being written: /copy when it ends, or Esc stops it first")
        text = next((t.text for t in reversed(self.session.turns) if t.kind == "continuation"), None)
        if text is None:
            raise RnnplayError("nothing to copy yet: type a seed and press Enter, then /copy")
        self.session.emit(ClipboardCopy(text))  # the front end copies it and says so
        return text

    def conversation(self) -> Conversation:
        """Everything written so far, for /transcript save: the turns, the comparisons, the turn being written."""
        with self._records:
            writing = None if self._writing is None else self._writing[0](text="".join(self._writing[1]),
                                                                           ended="writing")
            return Conversation(list(self.session.turns), list(self.compares), writing)

    def save_transcript(self, path: str, force: bool = False) -> Path:
        """Write every turn (seed, continuation, sampler and settings) and every /compare as Markdown (.md) or
        JSON Lines (.jsonl); a turn still being written goes in with its text so far."""
        conversation = self.conversation()
        if not conversation.turns and not conversation.compares and conversation.writing is None:
            raise RnnplayError("nothing to save yet: type a seed and press Enter first")
        saved = save_transcript(Path(os.path.expanduser(path)), conversation, force)
        self.recovery.saved(conversation.size)
        writing = conversation.writing
        note = "" if writing is None else (f" (turn {len(conversation.turns) + 1} is still being written: "
                                           f"its first {len(writing.text):,} characters)")
        self.session.info(f"saved {conversation.summary()} to {saved}{note}")
        return saved

    def keep_unsaved(self) -> str | None:
        """As the front end leaves: a conversation holding what no /transcript save wrote goes to the session's
        recovery file in the data folder (written again if more came since); the line naming it, or saying why
        it could not be written; None when nothing was unsaved."""
        return self.recovery.finish()
