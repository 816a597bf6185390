"""Looking inside the model from a session: /heat, /whatif and /neurons.

:class:`Inspection`, a collaborator of :class:`~rnnplay.session.session.Session`, reads
texts back through the model: how likely it found each character (heat), a branch
from any position (what if), and one hidden unit's value along a text (neurons),
or the units that best track a condition. The session provides the model, the
turns written so far and the event stream, its :class:`~rnnplay.session.generation.Generation`
the exclusive use of the model and the branches; the numerical work is in
:mod:`rnnplay.core.score` and :mod:`rnnplay.core.neurons`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rnnplay.core.errors import RnnplayError, printable
from rnnplay.core.model import Model
from rnnplay.core.neurons import (
    NeuronScore,
    Unit,
    activations,
    auto_streams,
    condition_signal,
    rank_by_signal,
    unit_activations,
)
from rnnplay.core.score import score_text, unknown_summary
from rnnplay.core.vocab import describe_char
from rnnplay.corpora.cards import find_card
from rnnplay.corpora.text import read_text_file, text_sha256
from rnnplay.models.bundled import no_model
from rnnplay.session.events import HeatShown, NeuronsShown, UnitsFound

if TYPE_CHECKING:
    from rnnplay.session.generation import Generation
    from rnnplay.session.session import Session

MAX_SHOWN = 2_000  # characters /heat and /neurons colour
FIND_CHARS = 30_000  # characters /neurons find reads
EXCERPT = 240  # characters of the searched text /neurons find colours
EXCERPT_CONTEXT = 2000  # characters read before that excerpt, for the unit's state when it starts


@dataclass(frozen=True)
class Branch:
    """Where a /whatif branch comes from: turn ``turn`` with ``char`` at ``position`` instead of ``original``."""

    turn: int
    position: int
    char: str
    original: str


@dataclass(frozen=True)
class TurnRecord:
    """A text the model read: a continuation (its seed's known characters, and what it wrote) or a /heat TEXT.

    A continuation also records how it was written, for /transcript save: the model,
    the sampler and its parameters, the settings (length, random seed, stop), and for a
    /whatif branch, the turn and position it branches from.
    """

    seed: str
    text: str
    kind: str = "text"  # "continuation", or "text" for a text given to /heat
    model: str = ""
    sampler: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    length: int | None = None
    rng_seed: int | None = None  # /set seed; None: random
    stop: str | None = None
    ended: str = ""  # "done", "stopped" or "error"; "writing" in a transcript saved while it streams
    branch: Branch | None = None
    typed: str = ""  # the seed as typed, when the model left out characters of it that it has never seen

    @property
    def sampler_label(self) -> str:
        return sampler_label(self.sampler, self.params)

    @property
    def skipped(self) -> str:
        """The characters of the typed seed that the model has never seen and left out, each once, in order."""
        return left_out(self.seed, self.typed)


def left_out(read: str, typed: str) -> str:
    """The characters of ``typed`` that are not in ``read`` (the seed the model read), each once, in order."""
    known = set(read)
    return "".join(dict.fromkeys(ch for ch in typed if ch not in known))


TYPED_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"})  # unescape, reversed


def value_text(value: Any) -> str:
    """A setting's value as one would type it: 0.7 for a float, a newline as \\n."""
    if isinstance(value, float):
        return f"{value:g}"
    return value.translate(TYPED_ESCAPES) if isinstance(value, str) else str(value)


def sampler_label(name: str, params: dict[str, Any]) -> str:
    """'top-k k=10 temperature=0.7', 'temperature=0.7', 'greedy': the one label of a sampler and its parameters,
    wherever one is shown (turns, /sampler, /compare, transcripts). Every parameter is key=value, as /sampler and /set
    take it; a parameter named as its sampler stands for the sampler's name ('temperature=0.7', not 'temperature
    temperature=0.7'), and one that is empty (beam's ``end=``) is left out."""
    head = name if params.get(name, "") == "" else f"{name}={value_text(params[name])}"
    return " ".join([head, *(f"{k}={value_text(v)}" for k, v in params.items() if k != name and v != "")])


def branch_question(branch: Branch) -> str:
    """'what if turn 2 had 'x' instead of 'v' at position 2?'"""
    return (f"what if turn {branch.turn} had {describe_char(branch.char)} instead of "
            f"{describe_char(branch.original)} at position {branch.position}?")


def excerpt(text: str, signal: np.ndarray, size: int = EXCERPT) -> tuple[int, int]:
    """(start, stop) of about ``size`` characters showing the signal change: from the line before its first change."""
    changes = np.flatnonzero(signal[1:] != signal[:-1])
    at = int(changes[0]) + 1 if len(changes) else 0
    start = text.rfind("\n", 0, max(text.rfind("\n", 0, at), 0)) + 1
    end = text.find("\n", start + size)  # finish the line, unless it is long
    stop = start + size + 80 if end < 0 else min(end, start + size + 80)
    return start, min(stop, len(text))


class Inspection:
    """The session's look-inside commands: /heat, /whatif, /neurons; ``unit`` is the one /neurons shows by default."""

    def __init__(self, session: Session, generation: Generation) -> None:
        self.session, self.generation = session, generation
        self.unit = Unit(0, 0)
        self._corpus_cache: tuple[str, str] | None = None  # (sha256, text) of the model's corpus, once read

    def _require_model(self) -> Model:
        model = self.session.snapshot()
        if model is None:
            raise RnnplayError(no_model())
        return model

    def turn_record(self, turn: int | None = None,
                    instead: str = "or give a text (/heat TEXT)") -> tuple[int, TurnRecord]:
        """(number, record) of turn ``turn`` (counting from 1), or of the last one; ``instead``: what the command
        asking may do without a turn (its own form with a text), for the line that says there is none."""
        turns = self.session.turns
        if not turns:
            raise RnnplayError(f"nothing written yet: type a seed and press Enter, {instead}")
        if turn is None:
            return len(turns), turns[-1]
        if not 1 <= turn <= len(turns):
            raise RnnplayError(f"there is no turn {turn}: the turns so far are 1 to {len(turns)}")
        return turn, turns[turn - 1]

    def heat(self, text: str | None = None, turn: int | None = None) -> HeatShown:
        """How likely the model found each character of the last continuation (or turn N, or ``text``).

        For a continuation x_1..x_n of a seed s, position i gets

            p_i = softmax(y_i)[x_i],   y_i = the scores after reading s x_1 .. x_{i-1}

        the model's own probability (before any temperature or filtering the sampler
        applied), and the five characters it found likeliest there. A given ``text``
        becomes a turn of its own (so /whatif can branch from it); its first character
        has no probability, since nothing came before it.
        """
        model = self._require_model()
        if text is not None:
            known = self.generation.known(model, text, "give at least two characters the model knows, e.g. /heat "
                                                        "To be, or not")
            self.session.turns.append(TurnRecord("", known, "text", self.session.model_name))
            self.generation.recovery.changed()
            turn = None
        number, record = self.turn_record(turn)
        shown = record.text[:MAX_SHOWN]
        if not shown or len(record.seed) + len(shown) < 2:
            raise RnnplayError(f"turn {number} has nothing to colour; continue a longer seed first")
        self._check_known(model, number, record, record.seed + shown)
        with self.session.working(f"scoring {len(record.seed) + len(shown) - 1:,} characters"):
            score = score_text(model, record.seed + shown)
        first = len(record.seed) - 1  # score.probs[j] is p(full[j + 1]) and text[i] is full[len(seed) + i]
        probs = tuple(float(score.probs[first + i]) if first + i >= 0 else None for i in range(len(shown)))
        alternatives = tuple(tuple(score.alternatives(first + i)) if first + i >= 0 else () for i in range(len(shown)))
        if len(shown) < len(record.text):
            self.session.info(f"showing the first {MAX_SHOWN:,} of turn {number}'s {len(record.text):,} characters")
        event = HeatShown(number, record.seed, shown, probs, alternatives)
        self.session.emit(event)
        return event

    def _check_known(self, model: Model, number: int, record: TurnRecord, text: str) -> None:
        """One line when turn ``number`` has characters the loaded model lacks: written by another model, mostly."""
        unknown = unknown_summary(model.vocab, text)
        if not unknown:
            return
        other = record.model and record.model != self.session.model_name
        by = f"turn {number} was written by {printable(record.model)} and has" if other else f"turn {number} has"
        fix = f"/load {printable(record.model)} to colour it" if other else "colour another turn"
        raise RnnplayError(f"{by} {unknown.replace('the model', 'the loaded model', 1)}: {fix}, or give a text: "
                           "/heat TEXT")

    def whatif(self, pos: int, char: str, turn: int | None = None) -> str:
        """A branch: continue turn N (default the last) from its seed + text[:pos] + ``char``; the original stays."""
        model = self._require_model()
        number, record = self.turn_record(turn, "then /whatif POS CHAR branches from it")
        if not 0 <= pos < len(record.text):
            raise RnnplayError(f"no position {pos} in turn {number}: "
                               f"its positions run from 0 to {len(record.text) - 1}")
        if len(char) != 1:
            raise RnnplayError(f"give one character to put at position {pos} (got {char!r}); \\n is a newline")
        if model.vocab.unknown(char):
            raise RnnplayError(f"the model has never seen {describe_char(char)}; "
                               "pick one of the alternatives /heat shows")
        branch = Branch(number, pos, char, record.text[pos])
        self.session.info(branch_question(branch))
        return self.generation.write(record.seed + record.text[:pos] + char, branch)

    def check_unit(self, unit: Unit) -> Unit:
        model = self._require_model()
        if not 0 <= unit.layer < model.num_layers or not 0 <= unit.unit < model.hidden_size:
            raise RnnplayError(f"no {unit}: this model has layers 0-{model.num_layers - 1} "
                               f"of units 0-{model.hidden_size - 1}")
        if unit.which == "c" and model.cell.state_size < 2:
            raise RnnplayError(f"a {model.cell.name} cell has no cell state c: leave out state=c")
        return unit

    def neurons(self, unit: Unit | None = None, text: str | None = None) -> NeuronsShown:
        """Colour the last turn (seed and continuation), or ``text``, by one unit's value after each character."""
        model = self._require_model()
        unit = self.check_unit(unit or self.unit)
        if text is None:
            _, record = self.turn_record(instead="or give a text (/neurons LAYER UNIT TEXT)")
            text = record.seed + record.text
        else:
            text = self.generation.known(model, text)
        text = text[:MAX_SHOWN]
        if not text:
            raise RnnplayError("nothing to colour: give a text the model knows, e.g. /neurons 0 5 To be, or not")
        self.unit = unit
        with self.generation.exclusive() as (model, cancel), \
                self.session.working(f"reading {len(text):,} characters") as report:
            acts = activations(model, text, unit.which, progress=report, cancel=cancel.is_set)
        return self._show_unit(unit, text, acts[:, unit.layer, unit.unit], None, "")

    def _show_unit(self, unit: Unit, text: str, acts: np.ndarray, mask: np.ndarray | None, note: str) -> NeuronsShown:
        """h lies in [-1, 1] and is shown as it is; c is unbounded, so it is shown as c / max|c| over the text."""
        acts = acts.astype(np.float64)
        scale = max(float(np.abs(acts).max()), 1e-12) if unit.which == "c" else 1.0
        title = f"{unit}{note} · {acts.min():+.2f} to {acts.max():+.2f}"
        event = NeuronsShown(title, text, tuple(np.clip(acts / scale, -1.0, 1.0).tolist()),
                             None if mask is None else tuple(mask.tolist()))
        self.session.emit(event)
        return event

    def find_neurons(self, condition: str, text: str | None = None, top: int = 5) -> list[NeuronScore]:
        """Rank the units (h, and an LSTM's c) by |Pearson r| with ``condition``; colour an excerpt by the best.

        The text searched: ``text`` if given, else the model's validation text when its
        corpus is at hand (the last tenth, at most FIND_CHARS characters), else everything
        written in this session. :meth:`cancel` stops the reading within one step
        (:class:`~rnnplay.core.work.Cancelled`).
        """
        with self.generation.exclusive() as (model, cancel):
            source, text = ("the text given", self.generation.known(model, text)) if text else self._search_text(model)
            with self.session.working(f"finding where {condition} holds in {len(text):,} characters"):
                signal = condition_signal(text, condition, cancel.is_set)  # a user's regex may take long
            if signal.std() == 0:
                raise RnnplayError(f"{condition} never changes in {source}: give a text where it does, "
                                   f"/neurons find {condition} TEXT")
            which = ("h", "c")[: min(2, model.cell.state_size)]
            count = model.num_layers * model.hidden_size * len(which)
            with self.session.working(f"reading {len(text):,} characters to rank {count:,} units") as report:
                scores = rank_by_signal(model, text, signal, which, top, auto_streams(len(text)), report,
                                        cancel.is_set)  # running sums: a pasted megabyte keeps no activations
            found = UnitsFound(condition, tuple((Unit(s.layer, s.unit, s.which), s.correlation) for s in scores))
            self.unit = best = found.units[0][0]
            start, stop = excerpt(text, signal)
            lo = max(0, start - EXCERPT_CONTEXT)  # the excerpt's unit read after some of its left context
            acts = unit_activations(model, text[lo:stop], best, cancel=cancel.is_set)[start - lo :]
        self.session.info(f"units that track {condition} over {len(text):,} characters of {source}:")
        self.session.emit(found)
        binary = bool(np.isin(signal, (0.0, 1.0)).all())
        self._show_unit(best, text[start:stop], acts, signal[start:stop] > 0.5 if binary else None,
                        f", r={scores[0].correlation:+.2f}")
        return scores

    def _search_text(self, model: Model) -> tuple[str, str]:
        job = self.session.training
        if job is not None and job.run.model is self.session.model and job.run.trainer.val_ids is not None:
            ids = job.run.trainer.val_ids[:FIND_CHARS]  # the run's own validation ids: no pass over its corpus
            return f"{job.run.corpus.name}'s validation text", self.generation.known(model, model.vocab.decode(ids))
        corpus = self.corpus_text()
        if corpus is not None:
            name, text = corpus
            config = (self.session.meta.get("training") or {}).get("config") or {}
            start = int(len(text) * (1 - config.get("val_fraction", 0.1)))
            return f"{name}'s validation text", self.generation.known(model, text[start : start + FIND_CHARS])
        written = "\n".join(r.seed + r.text for r in self.session.turns)[-FIND_CHARS:]
        if not written:
            raise RnnplayError("the model's corpus is not at hand and nothing is written yet: "
                               "give a text, /neurons find CONDITION TEXT")
        return "this session's text", written

    def corpus_text(self) -> tuple[str, str] | None:
        """(name, text) of the model's training corpus when it is at hand: training now, or its file or
        cached download still there with the same checksum. Nothing is downloaded."""
        job = self.session.training
        if job is not None and job.run.model is self.session.model:
            return job.run.corpus.name, job.run.corpus.text
        info = self.session.meta.get("corpus") or {}
        name, sha = info.get("name", "the corpus"), info.get("sha256")
        if sha is not None and self._corpus_cache is not None and self._corpus_cache[0] == sha:
            return name, self._corpus_cache[1]
        card = find_card(name) if name and not name.endswith(".toml") else None
        places = [Path(os.path.expanduser(info.get("source") or "")), *([card.cache_path] if card and card.url else [])]
        for path in places:
            if not os.path.isfile(path):  # False too where a folder on the way may not be searched
                continue
            try:
                text = read_text_file(path)
            except RnnplayError:
                continue
            if sha is None or text_sha256(text) == sha:
                self._corpus_cache = (sha or "", text)
                return name, text
        return None
