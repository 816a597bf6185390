"""Ctrl-C (SIGINT), SIGTERM and SIGHUP while ``rnnplay train`` runs: a request to stop between two steps, never an
exception (past a validation, which only reads the weights, the run saved as it is and left); nor is a terminal or
pipe that goes away while the run prints its progress."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from rnnplay.core.errors import printable
from rnnplay.core.trainer import Trainer
from rnnplay.session.output_paths import let_go_of_all
from rnnplay.session.past_validation import kept_past_validation
from rnnplay.session.resume import continue_hint
from rnnplay.session.step_watch import StepWatch
from rnnplay.session.training_runs import Saved
from rnnplay.ui.cli.held_signals import HeldSignals
from rnnplay.ui.leave_signals import LEAVE_SIGNALS, heard, leave_now
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

    A validation or a sample (``watch.reads_only()``: they read the weights, never write them) need not be waited
    for, however long it runs: a second Ctrl-C, or the first SIGTERM or SIGHUP (a deadline, or nobody left to
    press again), saves the run at its last finished step through ``save_now`` and ends the process at once. That
    save runs in the handler itself, on the main thread the validation holds: between two of its bytecodes, so
    with no array half written (:mod:`rnnplay.session.past_validation`).

    What a normal end draws for the run (``drawing``: the --plot of its losses) is drawn before any of these exits
    too, once: by :meth:`draw`, on the main thread's way out or in the handler that leaves.

    A step held in compiled code never lets that handler run: the signals are heard through
    :class:`~rnnplay.ui.cli.held_signals.HeldSignals`, which answers them on a thread of its own. There the first
    Ctrl-C asks the trainer to stop and says what a second one does; a second one, or the first SIGTERM or SIGHUP,
    saves the run at its last finished step (the held step's batch and draws put back) and ends the process.
    """

    def __init__(self, trainer: Trainer, out: Path) -> None:
        self.trainer, self.out = trainer, out
        self.presses = 0
        self.signum = signal.SIGINT  # the last signal that came
        self.saving: Path | None = None  # the file being written right now
        self._previous: dict[int, Any] = {}
        self.watch: StepWatch | None = None  # the run's steps, timed
        self.kept: tuple[Path, int] | None = None  # where and at which step the run was last saved
        self.save_now: Callable[[], Saved] | None = None  # saves the run to --out as it is (and sets ``kept``)
        self.done = False  # the run's last save is made (its line follows): only Ray's workers may still be closing
        self.drawing: Callable[[Callable[[str], None]], str | None] | None = None  # draws --plot, says its line
        self._held = HeldSignals(set(STOP_SIGNALS), self.held, self.held_by_plugin)

    @property
    def exit_code(self) -> int:
        """128 + the signal's number, as a shell reports a command a signal ended (130 for Ctrl-C)."""
        return code_for(self.signum)

    def __enter__(self) -> Interrupts:
        # a hangup ignored already stays ignored: `nohup rnnplay train ...` outlives its terminal
        self._previous = {sig: signal.signal(sig, self.handle) for sig in heard(STOP_SIGNALS)}
        self._held.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._held.__exit__()
        # After a signal the run is saved and the command is ending: a late second one must not turn
        # its exit code into death by signal, so signals stay ignored until the process exits.
        for sig, previous in self._previous.items():
            signal.signal(sig, signal.SIG_IGN if self.presses else previous)

    def follow(self, watch: StepWatch, save_now: Callable[[], Saved]) -> None:
        """From now on the run's steps are timed by ``watch``, and ``save_now`` saves it between two of them."""
        self.watch, self.save_now = watch, save_now

    def handle(self, signum: int, frame: object) -> None:
        """The signals' handler, on the main thread between two bytecodes."""
        if not self._held.ran():  # not for signals :meth:`held` answered already
            self._answer(signum)

    def held_by_plugin(self) -> bool:
        """Whether what the main thread is held in, outside the interpreter, is a plugin cell's step, validation or
        sample in this process: not rnnplay's own cells (they return), a save, the run's end or Ray's workers."""
        watch = self.watch
        return (watch is not None and watch.running() and not watch.built_in and not self.done
                and self.saving is None and self.trainer.gradients is None)

    def held(self, signum: int) -> None:
        """A signal the handler did not get to: the main thread is held in compiled code (a plugin's cell)."""
        watch = self.watch
        if watch is None or watch.reads_only():
            self._answer(signum)  # as the handler answers it: they only read the weights
            return
        self.presses += 1
        self.signum = signum
        self.trainer.stop()
        name = STOP_SIGNALS.get(signum, "signal")
        if self.presses > 1 or signum != signal.SIGINT:
            self._leave(name, watch, held=True)  # leaves the process
        else:
            self._say(f"{name}: stopping after this step, then saving {self.out}; {watch.doing()} is held in "
                      f"compiled code, so Ctrl-C again saves the run at step {self.trainer.step} now and leaves")

    def _answer(self, signum: int) -> None:
        self.presses += 1
        self.signum = signum
        self.trainer.stop()
        name = STOP_SIGNALS.get(signum, "signal")
        watch = self.watch
        if self.done:  # no line after the run's last one; a third signal leaves (Ray closing its workers, stuck)
            if self.presses >= 3:
                self._draw_then_say()
                let_go_of_all()
                leave_now(self.exit_code)
            return
        if self.saving is not None:
            note = f"{name}: still saving {self.saving}; waiting for the save to finish"
        elif watch is not None and watch.reads_only() and (self.presses > 1 or signum != signal.SIGINT):
            self._leave(name, watch)  # what runs only reads the weights: the run is saved as it is
        elif self.presses == 1 and watch is not None and watch.reads_only():
            note = (f"{name}: waiting for {watch.doing()} to end, then saving {self.out}; Ctrl-C again saves the "
                    f"run at step {self.trainer.step} now and leaves")
        elif self.presses == 1:
            note = f"{name}: stopping after this step, then saving {self.out}"
        elif watch is not None and (watch.stalled() or self.presses >= 3):
            self._leave(name, watch)
        else:
            then = " (a third one leaves without it)" if watch is not None else ""
            note = f"{name}: still finishing this step; then {self.out} is saved{then}"
        self._say(note)

    def _leave(self, name: str, watch: StepWatch, held: bool = False) -> None:
        """End the process now, without what ``watch`` times; past a validation or a sample, or a step ``held`` in
        compiled code, the run saved first at its last finished step. One line says where the run is kept."""
        kept = self.kept
        if self.save_now is not None:
            kept = kept_past_validation(watch, self.save_now, kept, lambda text: self._say(f"{name}: {text}"), held)
        if (held or watch.reads_only()) and kept is not None and kept[1] == self.trainer.step:  # as it is, kept
            line = (f"left {watch.doing()} behind, unfinished; interrupted at step {kept[1]}: saved {kept[0]}; "
                    f"{continue_hint(kept[0], self.trainer)}")
        else:
            line = watch.left_behind(kept)
        self._draw_then_say()
        self._say(f"{name}: {line}")
        let_go_of_all()
        leave_now(self.exit_code)

    def draw(self, say: Callable[[str], None]) -> str | None:
        """Run ``drawing`` (through ``say`` its line) unless it ran already; what went wrong, in one line."""
        drawing, self.drawing = self.drawing, None
        return drawing(say) if drawing is not None else None

    def _draw_then_say(self) -> None:
        if failed := self.draw(self._say):
            self._say(f"warning: {failed}")

    @staticmethod
    def _say(note: str) -> None:
        with contextlib.suppress(OSError, AttributeError, ValueError):  # stderr closed (2>&-): nobody to tell
            os.write(sys.stderr.fileno(), f"\n{printable(note)}\n".encode())

    @contextlib.contextmanager
    def writing(self, path: Path) -> Iterator[None]:
        self.saving = path
        try:
            yield
        finally:
            self.saving = None
