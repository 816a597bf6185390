"""Plugin code running inside rnnplay: a Ctrl-C the user pressed told from one the plugin raised, and its prints.

A plugin that raises KeyboardInterrupt by itself fails like any other plugin; a Ctrl-C the user
presses while plugin code runs must still interrupt, and so must a SIGTERM or SIGHUP. What a plugin
prints while it loads goes to stderr, so that it never mixes with rnnplay's own output on stdout.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext, redirect_stdout
from types import FrameType
from typing import Any

from rnnplay.core.ctrl_c import Terminated


class _StderrForPlugins:
    """stderr as the ``sys.stdout`` plugins see while they load: a plugin closing it must not close rnnplay's."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def close(self) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def plugin_prints_to_stderr() -> AbstractContextManager[object]:
    """While plugins load, what they print goes to stderr: it must not mix with rnnplay's own output on stdout."""
    if sys.stderr is None:  # stderr closed: leave stdout be
        return nullcontext()
    return redirect_stdout(_StderrForPlugins(sys.stderr))  # type: ignore[arg-type]


class UserInterrupts:
    """Tells a Ctrl-C the user pressed from a KeyboardInterrupt that plugin code raised by itself.

    While entered (in the main thread, where signals arrive), SIGINT goes through a handler that
    notes the press, then does what the previous handler did; on leaving, the previous handler is
    put back unless another was set meanwhile. A note left in place by someone else's restore
    still forwards every press to the handler it wrapped.
    """

    def __init__(self) -> None:
        self.pressed = False
        self._previous: Callable[[int, FrameType | None], Any] = signal.default_int_handler
        self._installed = False
        self._depth = 0  # entered again from inside (a nested use): one note, put back by the outermost exit

    def __enter__(self) -> UserInterrupts:
        self._depth += 1
        if self._depth > 1:
            return self
        self.pressed = False
        if threading.current_thread() is threading.main_thread():
            previous = signal.getsignal(signal.SIGINT)
            if callable(previous):  # with SIG_IGN or SIG_DFL a Ctrl-C never becomes a KeyboardInterrupt
                self._previous = previous
                signal.signal(signal.SIGINT, self._note)
                self._installed = True
        return self

    def _note(self, signum: int, frame: FrameType | None) -> None:
        self.pressed = True
        self._previous(signum, frame)

    def __exit__(self, *exc: object) -> None:
        self._depth -= 1
        if self._depth > 0:
            return
        main = threading.current_thread() is threading.main_thread()  # a generator may be closed elsewhere
        if self._installed and main and signal.getsignal(signal.SIGINT) == self._note:
            signal.signal(signal.SIGINT, self._previous)
        self._installed = False

    def reraise_if_pressed(self, err: BaseException) -> None:
        """Raise ``err`` again when it is the user's Ctrl-C, or the SIGTERM or SIGHUP of a command that ends on
        them (:class:`~rnnplay.core.ctrl_c.Terminated`): either must still end the command, not be the plugin's
        failure."""
        if isinstance(err, Terminated) or (isinstance(err, KeyboardInterrupt) and self.pressed):
            raise err
