"""A plain prompt over the same Session: ``rnnplay repl [MODEL]``.

Each line runs in a worker thread, so the prompt stays live: the continuation
and the training's progress print above it (``patch_stdout``), Ctrl+C stops a
generation, Ctrl+D leaves. Completion looks at the whole text before the cursor
(prompt-toolkit's default word pattern would split '/' from the word, and a
plain WordCompleter would then match nothing for '/s').
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
from prompt_toolkit import PromptSession
from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.history import FileHistory
from prompt_toolkit.patch_stdout import patch_stdout

from .cli.cmd_neurons import coloured
from .cli.cmd_sample import heat_colour, legend
from .cli.render import duration
from .commands import command_table, complete_line
from .session import (
    Chunk,
    Cleared,
    Event,
    HeatShown,
    Message,
    NeuronsShown,
    Progress,
    QuitRequested,
    Session,
    TrainingSample,
    TurnEnded,
    TurnStarted,
    data_dir,
)

KEYS = "  Tab completes a /command · ↑ ↓ earlier lines · Ctrl+C stops a generation · Ctrl+D or /quit leaves"
PROGRESS_EVERY = 0.1  # print training progress each time another tenth of the budget is done
STYLES = {"error": "\x1b[1;31m", "warning": "\x1b[33m", "seed": "\x1b[1;36m", "dim": "\x1b[2m"}
RESET = "\x1b[0m"


def history_path() -> Path:
    """$RNNPLAY_HISTORY_FILE, else $XDG_DATA_HOME/rnnplay/history (~/.local/share/rnnplay/history)."""
    return Path(os.environ.get("RNNPLAY_HISTORY_FILE") or data_dir() / "history")


class SlashCompleter(Completer):
    """Completes '/sa' to '/sampler', then whatever the command's own completer offers."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterable[Completion]:
        word, candidates = complete_line(self.session, document.text_before_cursor)
        table = command_table(self.session.host) if " " not in document.text_before_cursor else {}
        for candidate in candidates:
            command = table.get(candidate[1:])
            yield Completion(candidate, start_position=-len(word), display_meta=command.help if command else None)


class Repl:
    def __init__(
        self,
        session: Session,
        *,
        input: Any = None,
        output: Any = None,
        history_file: Path | None = None,
        write: Callable[[str], None] | None = None,
        color: bool | None = None,
    ) -> None:
        self.session = session
        path = history_file or history_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        self.prompt = PromptSession(history=FileHistory(str(path)), completer=SlashCompleter(session),
                                    complete_while_typing=True, input=input, output=output)
        self._write = write
        self.color = sys.stdout.isatty() if color is None else color
        self.workers: list[threading.Thread] = []
        self.quitting = False
        self.next_progress = 0.0
        session.keys_help = KEYS
        session.subscribe(self.render)

    # -- output ----------------------------------------------------------------------------
    def write(self, text: str, style: str = "") -> None:
        if style and self.color:
            text = f"{STYLES[style]}{text}{RESET}"
        if self._write is not None:
            self._write(text)
        else:
            sys.stdout.write(text)  # the patched stdout while the prompt runs: it prints above the prompt
            sys.stdout.flush()

    def render(self, event: Event) -> None:
        """Print one session event (called from the thread that emitted it)."""
        if isinstance(event, Chunk):
            self.write(event.text)
        elif isinstance(event, TurnStarted):
            self.write(event.seed, "seed")
        elif isinstance(event, TurnEnded):
            stopped = event.reason == "stopped"
            self.write(" ⏹ stopped\n" if stopped else "\n", "dim" if stopped else "")
        elif isinstance(event, Message):
            prefix = "" if event.level == "info" else f"{event.level}: "
            self.write(f"{prefix}{event.text}\n", event.level if event.level != "info" else "")
        elif isinstance(event, Progress):
            self.progress(event)
        elif isinstance(event, TrainingSample):
            self.write(f"--- sample at step {event.step:,} ---\n{event.text}\n---\n", "dim")
        elif isinstance(event, HeatShown):
            self.heat(event)
        elif isinstance(event, NeuronsShown):
            self.write(f"{event.title}: red positive, blue negative\n", "dim")
            self.write((coloured(event.text, np.array(event.values)) if self.color else event.text) + "\n")
        elif isinstance(event, Cleared):
            self.write("\x1b[2J\x1b[H" if self.color else "")
        elif isinstance(event, QuitRequested):
            self.leave()

    def heat(self, e: HeatShown, worst: int = 3) -> None:
        """The text in heat colours, the legend, and the least expected characters with their alternatives."""
        self.write(e.seed, "seed")
        self.write("".join(f"\x1b[38;5;{heat_colour(p)}m{ch}\x1b[0m" if self.color and p is not None and ch != "\n"
                           else ch for ch, p in zip(e.text, e.probs, strict=True)) + "\n")
        if self.color:
            self.write(legend() + "\n")
        scored = [i for i, p in enumerate(e.probs) if p is not None]
        for i in sorted(scored, key=lambda i: e.probs[i])[:worst]:
            options = "  ".join(f"{ch!r} {p:.0%}" for ch, p in e.alternatives[i])
            self.write(f"  pos {i} {e.text[i]!r} {e.probs[i]:.0%} · expected {options}\n", "dim")
        self.write(f"  /whatif POS CHAR turn={e.turn} branches from a position\n", "dim")

    def progress(self, e: Progress) -> None:
        if e.step == 1:
            self.next_progress = 0.0
        if e.fraction is None or e.fraction < self.next_progress:
            return
        self.next_progress = (int(e.fraction / PROGRESS_EVERY) + 1) * PROGRESS_EVERY
        val = f" val {e.val_loss:.3f}" if e.val_loss is not None else ""
        self.write(f"training: step {e.step:,} ({e.fraction:.0%}) loss {e.loss:.3f}{val} · "
                   f"{e.chars_per_sec:,.0f} chars/s · ETA {duration(e.eta_seconds)}\n", "dim")

    # -- input -------------------------------------------------------------------------------
    def leave(self) -> None:
        """End the prompt loop (from any thread)."""
        self.quitting = True
        app = self.prompt.app
        if app.is_running and app.loop is not None:
            app.loop.call_soon_threadsafe(lambda: app.exit(exception=EOFError()) if app.is_running else None)

    def submit(self, line: str) -> threading.Thread:
        def work() -> None:
            try:
                self.session.submit(line)
            except Exception as err:  # a bug must not kill the prompt; show it instead
                self.session.error(f"unexpected {err.__class__.__name__}: {err} (please report this)")

        self.workers = [w for w in self.workers if w.is_alive()]
        worker = threading.Thread(target=work, name="rnnplay-submit", daemon=True)
        self.workers.append(worker)
        worker.start()
        return worker

    def run(self) -> int:
        if self._write is None:
            with patch_stdout(raw=True):
                return self.loop()
        return self.loop()

    def loop(self) -> int:
        self.session.greet()
        while not self.quitting:
            try:
                line = self.prompt.prompt("› ")
            except KeyboardInterrupt:
                if not self.session.cancel():
                    self.write("(Ctrl+D or /quit leaves)\n", "dim")
                continue
            except EOFError:
                break
            if line.strip():
                self.submit(line)
        self.session.close()
        for worker in self.workers:
            worker.join(timeout=5)
        return 0
