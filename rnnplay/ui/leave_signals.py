"""SIGTERM, and SIGHUP when the terminal closes, in the app and the REPL: leave as /quit does; and Ctrl-C once a
command is done (:func:`exit_on_ctrl_c`).

Without a handler either signal ends the process at once, and a training that runs in the
background is lost with its lock file left behind. With one, the front end leaves the way
Ctrl+D does: the session closes (a training stops after its step and saves its checkpoint),
then the program exits with 128 + the signal's number, as ``rnnplay train`` does.
"""

from __future__ import annotations

import contextlib
import os
import queue
import select
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from rnnplay.core.ctrl_c import Terminated
from rnnplay.core.errors import printable

if TYPE_CHECKING:  # the app's event loop, in an annotation: the command line does not import asyncio for it
    import asyncio

LEAVE_SIGNALS: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


def heard(signals: Iterable[int] = LEAVE_SIGNALS) -> list[int]:
    """Which of ``signals`` to handle: SIGHUP only when it is not ignored already (under ``nohup`` a closed
    terminal must not end the session, nor a training)."""
    hangup = getattr(signal, "SIGHUP", None)
    return [sig for sig in signals if sig != hangup or signal.getsignal(sig) is not signal.SIG_IGN]


def exit_code(signum: int | None) -> int:
    """128 + the signal's number, as a shell reports a command a signal ended; 0 without one."""
    return 0 if signum is None else 128 + signum


class LeaveSignal(SystemExit):
    """Raised where a blocking read cannot be woken otherwise (the REPL reading a pipe).

    A SystemExit, so that no ``except Exception`` on the way swallows it."""

    def __init__(self, signum: int) -> None:
        super().__init__(exit_code(signum))
        self.signum = signum


def raise_terminated(signum: int) -> None:
    """For :func:`on_leave_signals`: the signal as a :class:`Terminated` in the main thread."""
    raise Terminated(signum)


def ignore_leave_signals() -> None:
    """From now on SIGTERM and SIGHUP are ignored (main thread only): the process is leaving after one of them or a
    closed terminal, and a second one (a hangup and a ``kill`` a moment apart) must not end it by the default
    action while it saves a training and exits."""
    if threading.current_thread() is threading.main_thread():
        for sig in LEAVE_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)


def exit_on_ctrl_c() -> None:
    """From now on Ctrl-C ends the process at once (130): for a command that is done, its files saved.

    Python's shutdown (joining threads, atexit handlers) otherwise meets a Ctrl-C pressed
    just then as a KeyboardInterrupt it can only print: "Exception ignored in: <module
    'threading'>" and a traceback. A SIGINT ignored already (a late second press after
    a run's save, a background job) stays ignored.
    """
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return
    signal.signal(signal.SIGINT, lambda signum, frame: flush_and_exit(signum))


def flush_and_exit(signum: int) -> None:
    """End the process at once with 128 + ``signum``, what is written to stdout and stderr out first."""
    leave_now(exit_code(signum))


def leave_now(code: int) -> None:
    """End the process at once with ``code``, what is written to stdout and stderr out first: for a front end
    that leaves a plugin's thread behind (a thread cannot be ended in Python, and the interpreter's exit
    would wait for it, or for what it holds)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


class Farewell:
    """The lines for the shell's screen as the app or the REPL leaves ("saved PATH", "… kept in FILE"), each said
    once on stderr, by whichever thread gets there first: the front end once the terminal is given back, or the
    app's watchdog when giving it back hangs (:meth:`say_then_exit`). ``said`` is called once every line got there:
    the recovery file is let go (``RecoveryFile.said``); a terminal gone, or one that took nothing more, leaves it
    to the next session to name."""

    def __init__(self, said: Callable[[], None]) -> None:
        self._said = said
        self._lock = threading.Lock()
        self._done: set[str] = set()
        self._lost = False
        self._stderr = stderr_file()  # where the lines must go to be said (not os.devnull put there meanwhile)

    def say(self, lines: Iterable[str]) -> None:
        with self._lock:
            new = [line for line in list(lines) if line not in self._done]
            self._done.update(new)
            # a write that failed meanwhile (the terminal gone) points stderr at os.devnull (ui/cli/streams.py),
            # where the lines would go through and reach nobody
            self._lost = self._lost or stderr_file() != self._stderr
            try:  # the process's own stderr: while the app runs, sys.stderr is Textual's, which shows nothing
                for line in new:
                    print(f"rnnplay: {printable(line)}", file=sys.__stderr__, flush=True)
            except (OSError, ValueError, AttributeError):  # the terminal gone, or no stderr at all
                self._lost = True
            if not self._lost:
                self._said()

    def say_then_exit(self, lines: Iterable[str], code: int, within: float) -> None:
        """For a watchdog: :meth:`say` ``lines`` (a terminal that takes nothing more blocks the write: waited for at
        most ``within`` seconds), then end the process at once with ``code``."""
        sayer = threading.Thread(target=self.say, args=(lines,), daemon=True)
        sayer.start()
        sayer.join(within)
        os._exit(code)


def stderr_file() -> tuple[int, int, int] | None:
    """The file the process's own stderr is open on now (device, inode, special device), or None without one."""
    try:
        status = os.fstat(sys.__stderr__.fileno())  # type: ignore[union-attr]
    except (OSError, ValueError, AttributeError):
        return None
    return status.st_dev, status.st_ino, status.st_rdev


@contextlib.contextmanager
def on_leave_signals(leave: Callable[[int], None]) -> Iterator[None]:
    """While the block runs, the first SIGTERM or SIGHUP calls ``leave(signum)`` in the main thread; later ones
    are ignored, so that a second signal cannot cut the save short. The handlers before are back afterwards,
    unless one of the signals came, in this block or one inside it: then the process is on its way out, and a
    second one (a closed terminal's hangup and a ``kill`` a moment apart) stays ignored, so that it cannot end
    the process by the default action between the block's end and the exit.
    Only the main thread can set handlers: elsewhere (a test driving a front end from a thread) this does
    nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, _frame: object) -> None:
        ignore_leave_signals()
        leave(signum)

    previous = {sig: signal.signal(sig, handle) for sig in heard()}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            if signal.getsignal(sig) is handle:  # not when a signal came, here or in a block inside: then ignored
                signal.signal(sig, handler)


class Leaving:
    """The app's SIGTERM and SIGHUP (and a terminal gone): ``leave(signum)`` called once, on a thread of its own,
    whatever the app's loop is doing (the REPL's watchdog is started the same way: ``rnnplay.ui.cli.cmd_repl``).

    The loop cannot be relied on to hear a signal: while the terminal takes no output (a stalled ssh, a pty whose
    other end nobody reads), Textual's writer thread blocks in its write, its queue fills, and the loop blocks on
    that queue until the terminal reads or hangs up. Nor can its self-pipe: a paste typed key by key without
    bracketed paste (a hundred thousand keys from the terminal driver's thread) fills it, and the signal's byte
    is dropped. The Python handler runs in the main thread all the same (a blocked lock or write is interrupted
    for it), and it only puts the signal on a queue (``SimpleQueue.put`` may be called from a signal handler);
    the thread started here, waiting on that queue, calls ``leave`` with the first signal put there.
    """

    def __init__(self, leave: Callable[[int], None]) -> None:
        self._signals: queue.SimpleQueue[int | None] = queue.SimpleQueue()
        threading.Thread(target=self._wait, args=(leave,), name="rnnplay-leaving", daemon=True).start()

    def _wait(self, leave: Callable[[int], None]) -> None:
        signum = self._signals.get()
        if signum is not None:
            leave(signum)

    def ask(self, signum: int) -> None:
        """Leave on ``signum``: from any thread or a signal handler; only the first ask counts."""
        self._signals.put(signum)

    def close(self) -> None:
        """The app has left without a signal: the thread ends, and an ask from now on does nothing."""
        self._signals.put(None)

    def hear(self, loop: asyncio.AbstractEventLoop) -> None:
        """SIGTERM and SIGHUP asked for from now on, while ``loop`` (the app's) runs. Its handler for them only
        sets the wakeup fd, which wakes the main thread when the signal reached another one. Only the main thread
        can set handlers: elsewhere (a test driving the app from a thread) this does nothing."""
        for sig in heard():
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self.ask, sig)
                signal.signal(sig, lambda signum, _frame: self.ask(signum))


def hung_up(fd: int) -> bool:
    """Whether the terminal on ``fd`` has gone away (its other end closed): reads give end-of-file from now on.

    A closed window sends SIGHUP only to the processes of the terminal's own session, and not even
    them under ``nohup``; a front end that is not told must notice for itself, or it reads the
    end-of-file again and again."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return any(events & (select.POLLHUP | select.POLLERR | select.POLLNVAL) for _, events in poller.poll(0))
