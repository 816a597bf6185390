"""What plugin code the session runs now, so that a line about work that does not stop or return can name it.

A seed runs a sampler and the model's cell, a slash command its command; each is entered here for as
long as it runs (:meth:`AtWork.running`). When Esc or Ctrl+C has not stopped it after ``STOP_GRACE``,
the front end says :meth:`AtWork.does_not_stop`: "it does not stop: the sampler 'slow' from
rnnplay-slow never checks for a stop", a plugin's part named before a built-in's; rnnplay's own parts
(a long step of a built-in cell that a seed waits for) are said to be slow, as :mod:`step_watch` says them.
A plugin's command that has not returned after ``STALL_SECONDS`` shows a :class:`Working` line naming it,
as a quiet turn does.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

from rnnplay.core import jit
from rnnplay.plugins.registries import BUILTIN, Registries
from rnnplay.session import stall_watch
from rnnplay.session.events import Event, Working


class AtWork:
    """The (kind, name) parts of the work running now, in the order it started."""

    def __init__(self, host: Registries, emit: Callable[[Event], None]) -> None:
        self.host, self.emit = host, emit
        self._lock = threading.Lock()
        self._now: list[list[tuple[str, str]]] = []

    @contextlib.contextmanager
    def running(self, *parts: tuple[str, str]) -> Iterator[None]:
        """``parts`` at work for the block: ``("samplers", "top-k"), ("cells", "lstm")``."""
        entry = list(parts)
        with self._lock:
            self._now.append(entry)
        try:
            yield
        finally:
            with self._lock:
                self._now.remove(entry)

    @contextlib.contextmanager
    def command(self, name: str) -> Iterator[None]:
        """Command /``name`` at work for the block; a plugin's says so when it runs quiet for ``STALL_SECONDS``."""
        shown: list[Working] = []
        if not self._from_plugin("commands", name):  # a built-in command shows its own slow work
            with self.running(("commands", name)):
                yield
            return

        def quiet() -> None:
            shown.append(Working(f"{self.host.who('commands', name)} has not returned yet"))
            self.emit(shown[0])

        timer = threading.Timer(stall_watch.STALL_SECONDS, quiet)
        timer.daemon = True
        with self.running(("commands", name)):
            timer.start()
            try:
                yield
            finally:
                timer.cancel()
                timer.join()  # a line being shown right now is shown before it is ended
                if shown:
                    self.emit(Working(shown[0].what, done=True))

    def culprit(self) -> tuple[str, bool] | None:
        """The part at work to name, and whether a plugin's: the latest work's plugin part, else its first part;
        None when idle."""
        with self._lock:
            parts = [part for entry in reversed(self._now) for part in entry]
        plugins = [part for part in parts if self._from_plugin(*part)]
        chosen = plugins or parts
        return (self.host.who(*chosen[0]), bool(plugins)) if chosen else None

    def _from_plugin(self, kind: str, name: str) -> bool:
        entry = self.host.registries[kind].get(name)
        return entry is not None and entry.plugin != BUILTIN

    def does_not_stop(self) -> str:
        """'it does not stop: the sampler 'slow' from rnnplay-slow never checks for a stop'; rnnplay's own code,
        which always returns, 'it has not stopped yet: the cell 'lstm' of rnnplay is slow here … and may yet return'
        (a long training step a seed waits for), as the step's stall line says it."""
        culprit = self.culprit()
        if culprit is None:
            return stall_watch.DOES_NOT_STOP
        who, plugin = culprit
        if self.waits_for_kernels():  # what holds it is the kernels' first compilation, not the part at work
            return f"it has not stopped yet: {stall_watch.WAITS_FOR_KERNELS}"
        if not plugin:
            return f"it has not stopped yet: {who} {stall_watch.SLOW_NOT_STUCK}"
        return f"it does not stop: {who} never checks for a stop"

    # said by the app and the REPL when the user left a seed that only waited for the kernels (exit 0)
    LEFT_WHILE_COMPILING = ("left while rnnplay's kernels compiled (a first run compiles them); the next start "
                            "compiles them again")

    def waits_for_kernels(self) -> bool:
        """Whether the work at work is rnnplay's own, held by the compiled kernels' loading (on a first run their
        compilation, which nothing can interrupt): leaving without it loses nothing of the user's, as the numba
        cache is only written once a kernel is compiled, and the next start compiles them again."""
        culprit = self.culprit()
        return culprit is not None and not culprit[1] and jit.loading()
