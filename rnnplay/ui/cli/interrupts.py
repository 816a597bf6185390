"""Ctrl-C (SIGINT), SIGTERM and SIGHUP while ``rnnplay train`` runs: a request to stop between two steps, never an
exception; nor is a terminal or pipe that goes away while the run prints its progress."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rnnplay.core.trainer import Trainer
from rnnplay.session.output_paths import let_go_of_all
from rnnplay.session.step_watch import StepWatch
from rnnplay.ui.leave_signals import LEAVE_SIGNALS, heard
from rnnplay.ui.leave_signals import exit_code as code_for

# what each is called on screen; SIGHUP (the terminal closed, an ssh session dropped) saves as SIGTERM does
STOP_SIGNALS = {signal.SIGINT: "Ctrl-C", **{sig: sig.name for sig in LEAVE_SIGNALS}}


class Interrupts:
    """Ctrl-C (SIGINT) or SIGTERM while a run trains: a request, never an exception.

    The first signal asks the trainer to stop after the step it is in (a step is never
    cut in half, so the checkpoint resumes exactly); one that comes while a checkpoint is
    being written waits for it. The handler only sets the trainer's flag and writes one
    line with ``os.write``, which is safe inside a signal handler. A step that does not return (a plugin's cell
    that hangs) cannot be waited for: a second signal once ``watch`` has said so, or a third one, ends the process
    at once (``os._exit``), its line naming the run's last checkpoint (``kept``: path and step).
    """

    def __init__(self, trainer: Trainer, out: Path) -> None:
        self.trainer, self.out = trainer, out
        self.presses = 0
        self.signum = signal.SIGINT  # the last signal that came
        self.saving: Path | None = None  # the file being written right now
        self._previous: dict[int, Any] = {}
        self.watch: StepWatch | None = None  # the run's steps, timed
        self.kept: tuple[Path, int] | None = None  # where and at which step the run was last saved

    @property
    def exit_code(self) -> int:
        """128 + the signal's number, as a shell reports a command a signal ended (130 for Ctrl-C)."""
        return code_for(self.signum)

    def __enter__(self) -> Interrupts:
        # a hangup ignored already stays ignored: `nohup rnnplay train ...` outlives its terminal
        self._previous = {sig: signal.signal(sig, self.handle) for sig in heard(STOP_SIGNALS)}
        return self

    def __exit__(self, *exc: object) -> None:
        # After a signal the run is saved and the command is ending: a late second one must not turn
        # its exit code into death by signal, so signals stay ignored until the process exits.
        for sig, previous in self._previous.items():
            signal.signal(sig, signal.SIG_IGN if self.presses else previous)

    def handle(self, signum: int, frame: object) -> None:
        self.presses += 1
        self.signum = signum
        self.trainer.stop()
        name = STOP_SIGNALS.get(signum, "signal")
        if self.saving is not None:
            note = f"{name}: still saving {self.saving}; waiting for the save to finish"
        elif self.presses == 1:
            note = f"{name}: stopping after this step, then saving {self.out}"
        elif self.watch is not None and (self.watch.stalled() or self.presses >= 3):
            self._say(f"{name}: {self.watch.left_behind(self.kept)}")
            let_go_of_all()
            os._exit(self.exit_code)
        else:
            then = " (a third one leaves without it)" if self.watch is not None else ""
            note = f"{name}: still finishing this step; then {self.out} is saved{then}"
        self._say(note)

    @staticmethod
    def _say(note: str) -> None:
        with contextlib.suppress(OSError, AttributeError, ValueError):  # stderr closed (2>&-): nobody to tell
            os.write(sys.stderr.fileno(), f"\n{note}\n".encode())

    @contextlib.contextmanager
    def writing(self, path: Path) -> Iterator[None]:
        self.saving = path
        try:
            yield
        finally:
            self.saving = None
