"""Progress on stderr, drawn by rich: a training run's status line, and the reading that places an ``--init-from``
model's new characters (the bars themselves, and a corpus read under one, are in :mod:`rnnplay.ui.cli.bars`, which
``sample``, ``score`` and ``corpus`` import without the trainer).

On a terminal a rich :class:`~rich.progress.Progress` redraws in place, and lines
printed meanwhile go above it; when stderr is a file or a pipe nothing is redrawn
(even with FORCE_COLOR, which asks for colours, not cursor moves): a load prints
one line when it is done, a run its status line now and then.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from rich.cells import cell_len
from rich.console import Console
from rich.progress import BarColumn, Task, TaskProgressColumn, TextColumn
from rich.progress_bar import ProgressBar as RichBar
from rich.table import Column
from rich.text import Text

from rnnplay.core.errors import printable
from rnnplay.core.model import Model
from rnnplay.core.trainer import StepEvent, Trainer
from rnnplay.core.work import Progress as FractionDone
from rnnplay.corpora.base import Corpus
from rnnplay.session.vocab_growth import placing_read, placing_text
from rnnplay.ui.cli.bars import STATUS_SECONDS, LiveBar, ProgressBar
from rnnplay.ui.console import make_console, redraws
from rnnplay.ui.event_text import EventText, duration

STATUS_BAR = 20  # a run's status bar's cells, where the terminal has room for it beside the status text
STATUS_BAR_LEAST = 8  # ... and the fewest it shrinks to on a narrower one (then the text folds onto a second row)
PRINT_EVERY = 100  # off a terminal, a run's status line is printed at step 1 and then each this many steps


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
