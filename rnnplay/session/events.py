"""What a session tells its front ends: one frozen dataclass per kind of news.

A front end subscribes with ``Session.subscribe`` and renders each event its own
way; events come from whichever thread did the work.

A training job forwards the trainer's own events (:mod:`rnnplay.core.train_events`), unchanged
in type: :class:`StepEvent` for step 1, then at most one each 0.1 s, and the run's last step
when it ends, its ``loss`` the mean over the steps since the last one forwarded (the others
are not forwarded);
:class:`ValidationEvent`, :class:`SampleEvent`, :class:`SkippedEvent` and :class:`NoteEvent` each time; then the
session's own :class:`TrainingEnded` once the checkpoint is saved. While a validation reads, the session's own
:class:`ValidationProgress` says how far it has got, at most twice a second (:mod:`rnnplay.session.reading_watch`).
"""

from __future__ import annotations

from dataclasses import dataclass

from rnnplay.core.neurons import Unit
from rnnplay.core.train_events import NoteEvent, SampleEvent, SkippedEvent, StepEvent, ValidationEvent


@dataclass(frozen=True)
class HeatShown:
    """/heat: how likely the model found each character of a text (see :meth:`Session.heat`)."""

    turn: int  # the number /whatif takes (turn=N)
    seed: str  # read, not coloured
    text: str  # the coloured characters
    probs: tuple[float | None, ...]  # p(text[i] | seed + text[:i]); None where nothing came before
    alternatives: tuple[tuple[tuple[str, float], ...], ...]  # the top 5 at each position, most likely first


@dataclass(frozen=True)
class NeuronsShown:
    """/neurons: a text coloured by one unit's value after each character."""

    title: str  # "layer 0 unit 5 (h)"
    text: str
    values: tuple[float, ...]  # in [-1, 1]: the unit's value (c: divided by its largest size in the text)
    mask: tuple[bool, ...] | None  # where a found condition holds (shown underlined), or None


@dataclass(frozen=True)
class Surprise:
    """One character a text's score found least expected."""

    char: str
    before: str  # up to 12 characters that came before it
    prob: float  # the model's probability of it there
    expected: str  # the character the model found likeliest there
    expected_prob: float


@dataclass(frozen=True)
class ScoreShown:
    """/score: the least expected characters of a text (a one-line info message gives its bits per character)."""

    surprises: tuple[Surprise, ...]  # least expected first


@dataclass(frozen=True)
class UnitsFound:
    """/neurons find: the units that best track a condition (a one-line info message says over what text)."""

    condition: str
    units: tuple[tuple[Unit, float], ...]  # (unit, Pearson r), largest |r| first


@dataclass(frozen=True)
class Message:
    level: str  # "info", "note" (an aside, shown dim), "warning" or "error"
    text: str


@dataclass(frozen=True)
class TurnStarted:
    seed: str  # the seed as typed
    sampler: str  # "beam width=3"


@dataclass(frozen=True)
class Chunk:
    text: str


@dataclass(frozen=True)
class TurnEnded:
    reason: str  # "done", "stopped" or "error"
    chars: int


@dataclass(frozen=True)
class TrainingEnded:
    step: int
    reason: str  # "budget", "stopped", "diverged" (the loss was not finite; the weights kept) or "error"
    path: str | None


@dataclass(frozen=True)
class ValidationProgress:
    """A validation under way: ``done`` of its ``total`` characters scored; ``what`` ("the validation") comes after
    training step ``step``."""

    step: int
    what: str
    done: int
    total: int


@dataclass(frozen=True)
class Changed:
    what: str  # "model", "sampler", "settings" or "training" (a job started)


@dataclass(frozen=True)
class Cleared:
    pass


@dataclass(frozen=True)
class QuitRequested:
    pass


@dataclass(frozen=True)
class ClipboardCopy:
    """/copy: put ``text`` on the user's clipboard (the TUI: copy_to_clipboard; the REPL: OSC 52)."""

    text: str


@dataclass(frozen=True)
class Working:
    """A command that may take more than a second is at work: show a spinner or a bar, and 'Esc to stop'.

    Emitted when it starts (``done=False``), as it goes (``fraction`` 0..1 when known, else None),
    and once when it ends (``done=True``); ``what`` says what it is doing ("ranking 512 units").
    """

    what: str
    fraction: float | None = None
    done: bool = False


@dataclass(frozen=True)
class CompareShown:
    """/compare: one continuation of ``seed`` per sampler, as (sampler label, text) rows to lay out side by side."""

    seed: str
    rows: tuple[tuple[str, str], ...]


Event = (Message | TurnStarted | Chunk | TurnEnded | TrainingEnded | ValidationProgress
         | StepEvent | ValidationEvent | SampleEvent | SkippedEvent | NoteEvent | Changed | Cleared | QuitRequested
         | HeatShown | NeuronsShown | ClipboardCopy | Working | CompareShown | ScoreShown | UnitsFound)
