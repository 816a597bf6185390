"""Progress bars on stderr, drawn by rich: a slow corpus load (a download, a big folder), a pass over a large file,
and a model reading a long text (with, up front, about how long it takes); a corpus read under a bar.

On a terminal a rich :class:`~rich.progress.Progress` redraws in place, and lines
printed meanwhile go above it; when stderr is a file or a pipe nothing is redrawn
(even with FORCE_COLOR, which asks for colours, not cursor moves): a load prints
one line when it is done. Apart from :mod:`rnnplay.ui.cli.progress` (a training run's status line, which imports
the trainer and the corpora) so that ``rnnplay sample`` and ``rnnplay score`` import neither.
"""

from __future__ import annotations

import atexit
import contextlib
import sys
import time
from collections.abc import Iterator
from typing import TextIO

from rich.console import Console, RenderableType
from rich.progress import BarColumn, Progress, Task, TaskID, TaskProgressColumn, TextColumn
from rich.progress_bar import ProgressBar as RichBar
from rich.table import Table

from rnnplay.core.work import LONG_TEXT
from rnnplay.core.work import Progress as FractionDone
from rnnplay.corpora.base import Corpus, no_progress
from rnnplay.corpora.base import Progress as BytesDone
from rnnplay.env_values import seconds_from_env
from rnnplay.ui.console import ansi, make_console, redraws
from rnnplay.ui.event_text import duration

BAR_WIDTH = 30
LARGE_TEXT = 100_000  # characters from which a model's reading says up front how many and about how long
LARGE_FILE = 1 << 26  # bytes from which a pass over a file before the model reads it shows its progress
ESTIMATE_AFTER = 16_384  # characters read after the first chunk before the rate is taken for the estimate
ESTIMATE_WITHIN = 3.0  # seconds after the first chunk: the estimate comes by then, whatever was read
STATUS_SECONDS = 30.0  # ... or when this long has passed since its last line; $RNNPLAY_STATUS_SECONDS changes it


def status_seconds() -> float:
    """The most seconds a run goes without a status line: STATUS_SECONDS, or ``$RNNPLAY_STATUS_SECONDS``."""
    return seconds_from_env("RNNPLAY_STATUS_SECONDS", STATUS_SECONDS)


def read_corpus(spec: str, encoding: str) -> Corpus:
    """The corpus of ``spec``, read under a progress bar; what its loader notes is said on stderr, a line each."""
    from rnnplay.corpora import load_corpus  # the cards, downloads and id files: for the commands that load a corpus

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
