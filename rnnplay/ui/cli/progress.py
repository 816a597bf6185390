"""Progress on stderr, drawn by rich: slow corpus loads (downloads, big folders), a model reading a long text,
and a training run's status line.

On a terminal a rich :class:`~rich.progress.Progress` redraws in place, and lines
printed meanwhile go above it; when stderr is a file or a pipe nothing is redrawn
(even with FORCE_COLOR, which asks for colours, not cursor moves): a load prints
one line when it is done, a run its status line now and then.
"""

from __future__ import annotations

import atexit
import contextlib
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from rich.cells import cell_len
from rich.console import Console, RenderableType
from rich.progress import BarColumn, Progress, Task, TaskID, TaskProgressColumn, TextColumn
from rich.progress_bar import ProgressBar as RichBar
from rich.table import Column, Table
from rich.text import Text

from rnnplay.core.errors import printable
from rnnplay.core.model import Model
from rnnplay.core.trainer import StepEvent, Trainer
from rnnplay.core.work import LONG_TEXT
from rnnplay.core.work import Progress as FractionDone
from rnnplay.corpora import Corpus, load_corpus
from rnnplay.corpora.base import Progress as BytesDone
from rnnplay.corpora.base import no_progress
from rnnplay.env_values import seconds_from_env
from rnnplay.session.vocab_growth import placing_read, placing_text
from rnnplay.ui.console import ansi, make_console, redraws
from rnnplay.ui.event_text import EventText, duration

BAR_WIDTH = 30
STATUS_BAR = 20  # a run's status bar's cells, where the terminal has room for it beside the status text
STATUS_BAR_LEAST = 8  # ... and the fewest it shrinks to on a narrower one (then the text folds onto a second row)
LARGE_TEXT = 100_000  # characters from which a model's reading says up front how many and about how long
LARGE_FILE = 1 << 26  # bytes from which a pass over a file before the model reads it shows its progress
ESTIMATE_AFTER = 16_384  # characters read after the first chunk before the rate is taken for the estimate
ESTIMATE_WITHIN = 3.0  # seconds after the first chunk: the estimate comes by then, whatever was read
PRINT_EVERY = 100  # off a terminal, a run's status line is printed at step 1 and then each this many steps
STATUS_SECONDS = 30.0  # ... or when this long has passed since its last line; $RNNPLAY_STATUS_SECONDS changes it


def status_seconds() -> float:
    """The most seconds a run goes without a status line: STATUS_SECONDS, or ``$RNNPLAY_STATUS_SECONDS``."""
    return seconds_from_env("RNNPLAY_STATUS_SECONDS", STATUS_SECONDS)


def read_corpus(spec: str, encoding: str) -> Corpus:
    """The corpus of ``spec``, read under a progress bar; what its loader notes is said on stderr, a line each."""
    with ProgressBar() as bar:
        corpus = load_corpus(spec, encoding=encoding, progress=bar)
    for note in corpus.notes:
        print(f"rnnplay: note: {note}", file=sys.stderr)
    return corpus


def amount(n: float, unit: str) -> str:
    """'1.1 MB' for bytes, '12 files' for anything else."""
    if unit != "B":
        return f"{n:,.0f} {unit}"
    if n < 1000:
        return f"{n:.0f} B"
    for prefix in "kMG":
        n /= 1000
        if n < 1000 or prefix == "G":
            break
    return f"{n:.1f} {prefix}B"


class LiveBar:
    """One rich progress display on ``console``, started on demand; :meth:`close` ends it (and, at the latest,
    the interpreter's exit does, so a failure never leaves the terminal's cursor hidden)."""

    def __init__(self, console: Console, *columns: str | BarColumn | TextColumn | TaskProgressColumn) -> None:
        self.console, self.columns = console, columns
        self.progress: Progress | None = None
        self.task = TaskID(0)

    def update(self, description: str, completed: float, total: float | None, **fields: str) -> None:
        if self.progress is None:
            self.progress = Progress(*self.columns, console=self.console, refresh_per_second=10,
                                     redirect_stdout=False, redirect_stderr=False)
            self.task = self.progress.add_task(description, total=total, completed=completed, **fields)
            self.progress.start()
            atexit.register(self.close)
        self.progress.update(self.task, description=description, completed=completed, total=total, **fields)

    def print(self, renderable: RenderableType) -> None:
        """A line above the bar (or just a line, when none is shown)."""
        (self.progress.console if self.progress is not None else self.console).print(renderable)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
            atexit.unregister(self.close)


class BracketedBar(BarColumn):
    """rich's bar between brackets: ``[━━━━━━━╸━━━━]``."""

    def render(self, task: Task) -> Table:
        grid = Table.grid()
        grid.add_row("[", super().render(task), "]")
        return grid


class StatusBar(BarColumn):
    """A run's status bar, as wide as ``console`` leaves room for beside the percentage and the status text: the
    line ``[bar] 100% step 3 … | steps done`` fits one row where it can; else the bar is STATUS_BAR_LEAST wide and
    the text folds onto the next row (rich's table cut it: ``10… step 3 … | steps do…``). Measured at each redraw,
    so a resized terminal is followed.

        bar = clamp(width - cells(text) - len(" 100% "), STATUS_BAR_LEAST, STATUS_BAR)
    """

    def __init__(self, console: Console) -> None:
        super().__init__(bar_width=STATUS_BAR)
        self.console = console

    def render(self, task: Task) -> RichBar:
        room = self.console.width - cell_len(task.description) - len(" 100% ")
        self.bar_width = max(STATUS_BAR_LEAST, min(STATUS_BAR, room))
        return super().render(task)


class ProgressBar:
    """A :class:`rnnplay.corpora.Progress` callback: ``downloading x [━━━━━━━╸━━━━]  45% 0.5 MB / 1.1 MB``.

    Off a terminal the bar is a line when the load is done, and before that, once :func:`status_seconds` pass
    without one, a line of how far it has got (``encoding big.txt: 45% 1.1 GB / 2.5 GB so far``), so a log
    never goes silent for the minutes a large corpus's first load can take."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.console = make_console(stream if stream is not None else sys.stderr)
        self.bar = LiveBar(self.console, TextColumn("{task.description}"), BracketedBar(bar_width=BAR_WIDTH),
                           TaskProgressColumn(), TextColumn("{task.fields[amount]}"))
        self.every, self.last_line = status_seconds(), time.monotonic()

    def __call__(self, label: str, done: int, total: int | None, unit: str = "B") -> None:
        finished = total is not None and done >= total
        shown = f"{amount(done, unit)} / {amount(total, unit)}" if total else amount(done, unit)
        if not redraws(self.console):
            if finished:
                full = ansi(self.console, RichBar(total=1.0, completed=1.0, width=BAR_WIDTH), BAR_WIDTH)
                self._line(f"{label} [{full}] 100% {shown}")
            elif time.monotonic() - self.last_line >= self.every:
                self._line(f"{label}: {f'{done / total:.0%} ' if total else ''}{shown} so far")
            return
        self.bar.update(label, done, total or None, amount=shown)
        if finished:
            self.bar.close()

    def _line(self, line: str) -> None:
        self.console.file.write(f"{line}\n")
        self.console.file.flush()
        self.last_line = time.monotonic()

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.close()


@contextlib.contextmanager
def reading_bar(label: str, length: int, stream: TextIO | None = None) -> Iterator[FractionDone | None]:
    """A ``progress(fraction)`` that draws ``label [━━━╸━━]  56% 56,320 chars / 100,000 chars`` while a model reads
    a text of ``length`` characters (one step a character, so a long one takes a while); None when the text is
    short or stderr is no terminal (a pipe or a log gets no line)."""
    bar = ProgressBar(stream)
    if length < LONG_TEXT or not redraws(bar.console):
        yield None
        return
    with bar:
        yield lambda fraction: bar(label, round(fraction * length), length, "chars")


class TrainingProgress:
    """A training run's status on stderr: a bar and the shared status text (:class:`rnnplay.ui.event_text.EventText`)
    redrawn in place on a terminal, printed each PRINT_EVERY steps elsewhere; the other events' lines above it.

    Steps that turn slow (memory short, a busy machine, a huge model) never leave the user without a word: a
    watcher thread says how long the run has been at work since its last step once ``every`` seconds pass with
    neither a line nor a step (off a terminal a line of its own, on one the status line's end), and off a terminal
    a step's status line is printed too when ``every`` seconds have passed since the last one. While ``trainer``
    only reads its weights (a validation, a sample) that line names it: the step before it has ended but is not
    shown yet.
    """

    def __init__(self, stream: TextIO | None = None, every: float = STATUS_SECONDS,
                 trainer: Trainer | None = None) -> None:
        self.console = make_console(stream if stream is not None else sys.stderr)
        self.trainer = trainer
        self.text = EventText()
        self.bar = LiveBar(self.console, StatusBar(self.console), TaskProgressColumn(),
                           TextColumn("{task.description}", table_column=Column(overflow="fold")))  # never cut
        self.last_printed_step = self.last_step = 0
        self.every, self.lock, self.done = every, threading.Lock(), threading.Event()
        self.last_line = self.last_step_at = self.last_status = time.monotonic()
        self.shown: tuple[str, float | None] = ("", None)  # the status line's text and fraction, on a terminal
        self.last_event: StepEvent | None = None  # the step the status line shows
        threading.Thread(target=self._watch, name="rnnplay-status", daemon=True).start()

    def show(self, event: object) -> None:
        """Draw one trainer event: a step redraws the status line, the others print their lines above it."""
        line = self.text.text(event)
        if isinstance(event, StepEvent):
            with self.lock:
                self.last_step, self.last_step_at, self.last_event = event.step, time.monotonic(), event
                self.step(event, line or Text())
        elif line is not None:
            self.message(line)

    def step(self, e: StepEvent, line: Text) -> None:
        if redraws(self.console):
            self.shown = line.plain, e.fraction
            self.bar.update(line.plain, e.fraction or 0.0, 1.0 if e.fraction is not None else None)
        elif (e.step - self.last_printed_step >= PRINT_EVERY or e.step == 1
              or time.monotonic() - self.last_status >= self.every):
            self.last_printed_step, self.last_status = e.step, time.monotonic()
            self._print(line)

    def message(self, text: str | Text) -> None:
        """A line above the status line; a plain string may quote a file name, so its control characters are
        written as escapes (it neither splits the line nor reaches the terminal raw)."""
        with self.lock:
            self._print(printable(text) if isinstance(text, str) else text)

    def _print(self, line: str | Text) -> None:
        self.last_line = time.monotonic()
        self.bar.print(line)

    def _watch(self) -> None:
        """On a terminal, a validation's characters read so far, redrawn as it goes; and once ``every`` seconds pass
        with neither a line nor a step, how long the run has been at work since its last step (with that count)."""
        while not self.done.wait(min(1.0, self.every / 4)):
            with self.lock:
                now = time.monotonic()
                if self.done.is_set():
                    continue
                reading = self._reading()
                if reading is not None and redraws(self.console):
                    self.bar.update(f"{self._doing()}: {reading[0]}", reading[1], 1.0)
                if now - max(self.last_line, self.last_step_at) < self.every:
                    continue  # a step not printed (off a terminal) or redrawn in place ended within ``every``
                since = f"step {self.last_step:,}" if self.last_step else "the run started"
                scored = f", {reading[0]}" if reading is not None else ""
                waited = f"still {self._doing()}{scored}: {duration(now - self.last_step_at)} since {since}"
                if not redraws(self.console):
                    self._print(waited)
                elif reading is None:
                    self.last_line = now
                    text, fraction = self.shown
                    shown = f"{text} | {waited}" if text else waited
                    self.bar.update(shown, fraction or 0.0, 1.0 if fraction is not None else None)

    def _doing(self) -> str:
        """'training'; 'running the validation after step 3' (or the sample) while the trainer only reads."""
        if self.trainer is None or not self.trainer.reading.what:
            return "training"
        return f"running {self.trainer.reading.what} after step {self.trainer.step:,}"

    def _reading(self) -> tuple[str, float] | None:
        """('1,234,567 of 29,999,999 characters scored', the fraction) while a validation reads, once it has read a
        first chunk; else None."""
        return self.trainer.reading.scored() if self.trainer is not None else None

    def finish(self, how: str = "ended") -> None:
        """The status line stays as the last step drew it (a validation's count drawn over it goes), ``how`` the run
        ended ("steps done", "stopped") in its ETA's place: an ETA left on the screen would foretell an end that
        came; what is printed next starts on a line of its own."""
        with self.lock:
            self.done.set()
            if self.last_event is not None and redraws(self.console):
                fraction = self.last_event.fraction
                self.bar.update(self.text.ended(self.last_event, how).plain, fraction or 0.0,
                                1.0 if fraction is not None else None)
            self.bar.close()


@contextlib.contextmanager
def placing_bar(path: Path, model: Model, corpus: Corpus, val_fraction: float,
                stream: TextIO | None = None) -> Iterator[FractionDone | None]:
    """The reading that places the characters of ``corpus`` that ``model`` (from ``path``) lacks (``--init-from``):
    as it begins, one line that says it (``rnnplay: adding 1 new character to shakespeare.npz: reading 4,096
    characters of zen.txt``: of its training split, ``val_fraction`` left out), then on a terminal a bar of its share
    read (``reading zen.txt [━━╸━━]  45% 1,843 chars / 4,096 chars``); None, and nothing said, when the corpus has no
    new character. Said at the reading's first ``progress``, not before: the run's checks come first (a vocabulary
    past its limit is one line, the refusal)."""
    added = len(corpus.unknown(model.vocab))
    if not added:
        yield None
        return
    bar, chars, said = ProgressBar(stream), placing_read(corpus, val_fraction), False
    label = f"reading {printable(corpus.name)}"

    def progress(fraction: float) -> None:
        nonlocal said
        if not said:
            said = True
            bar.console.file.write(f"rnnplay: {placing_text(path.name, added, corpus, val_fraction)}\n")
            bar.console.file.flush()
        if redraws(bar.console):
            bar(label, round(fraction * chars), chars, "chars")

    with bar:
        yield progress


def file_pass(size: int) -> contextlib.AbstractContextManager[BytesDone]:
    """The progress of a pass over the ``size`` bytes of a file before a model reads it: a bar on a terminal and a
    line elsewhere for a large file; none for a small one."""
    return ProgressBar() if size >= LARGE_FILE else contextlib.nullcontext(no_progress)


class Estimate:
    """The ``progress(fraction)`` of a model reading ``chars`` characters: for a large text, one line on stderr
    that says ``doing`` ("scoring 3,000,000 characters of big.txt") and about how long it takes, at the rate from
    the end of the first chunk (the first one loads the compiled kernels) to ESTIMATE_AFTER characters or
    ESTIMATE_WITHIN seconds later; then the bar (``bar``, None where none is drawn)."""

    def __init__(self, doing: str, chars: int, bar: FractionDone | None) -> None:
        self.doing, self.chars, self.bar = doing, chars, bar
        self.said = chars < LARGE_TEXT
        self.first: tuple[float, float] | None = None  # (characters, time) at the first chunk's end

    def __call__(self, fraction: float) -> None:
        if not self.said:
            done, now = fraction * self.chars, time.perf_counter()
            self.first = self.first or (done, now)
            if done - self.first[0] < ESTIMATE_AFTER and now - self.first[1] < ESTIMATE_WITHIN and fraction < 1:
                return
            self.said = True
            rate = (done - self.first[0]) / max(now - self.first[1], 1e-9)
            left = f"about {duration((self.chars - done) / rate)} at {rate:,.0f} characters a second" if rate else ""
            print(f"rnnplay: {self.doing}{': ' if left else ''}{left}", file=sys.stderr)
        if self.bar is not None:
            self.bar(fraction)
