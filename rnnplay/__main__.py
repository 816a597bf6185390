"""The ``rnnplay`` command's entry point (the console script's, and ``python -m rnnplay``'s).

It imports nothing heavy before it can answer Ctrl-C: the command line's modules take a
while to import, and a Ctrl-C then ends the command quietly (exit 130, one line), as it
does once a command runs. Nothing exists yet that could be lost.

``rnnplay train`` leaves at once once the command is done, its atexit handlers run and its output flushed: the
interpreter's own teardown after them (numba's compiled code let go among the rest) came after the end of a
``--time`` budget that promises the whole command, and took long on a starved machine (docs/training.md).
"""

import atexit
import contextlib
import os
import signal
import sys

# the long-running commands that hear `kill -INT` even where the shell started them with SIGINT ignored
# (`rnnplay train ... &` in a script): they stop as Ctrl-C stops them (a training saves between steps, a sweep cancels
# its trials, a download removes its .part file, a long sample or score ends with 130)
HEAR_KILL_INT = ("train", "sweep", "corpus", "score", "sample")
# the commands that skip the interpreter's teardown once done (leave_at_once)
LEAVE_AT_ONCE = ("train",)
# the exit code of a command that ended by sys.exit (None: it has not, or ended otherwise: a traceback, Ctrl-C)
_ended: list[int] = []


def leave_at_once() -> None:
    """The last atexit handler (registered first): end the process with the command's exit code, its output flushed,
    without the teardown that follows; a process that ended otherwise, or that started Ray (whose own teardown must
    run), exits as Python would."""
    if not _ended or "ray" in sys.modules:
        return
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a reader gone: nothing is lost by not telling it
            stream.flush()
    os._exit(_ended[0])


def command_word(argv: list[str]) -> str | None:
    """The command ``argv`` names: its first word that is neither an option nor the value of ``--threads N``."""
    words = iter(argv)
    for word in words:
        if word == "--threads":
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def main() -> None:
    """Run the ``rnnplay`` command on ``sys.argv`` and exit with its code."""
    command = command_word(sys.argv[1:])
    if command in HEAR_KILL_INT and signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # before the imports, so none can miss it
    if command in LEAVE_AT_ONCE:
        atexit.register(leave_at_once)  # before any other, so it runs after all of them
    try:
        from rnnplay.ui.cli import run

        run()
    except SystemExit as done:
        if done.code is None or isinstance(done.code, int):
            _ended.append(done.code or 0)
        raise
    except KeyboardInterrupt:  # pressed while the command line's modules were imported: the command never began
        with contextlib.suppress(OSError, ValueError):  # stderr closed (2>&-): nobody to tell
            print("rnnplay: interrupted", file=sys.stderr)
        sys.exit(128 + signal.SIGINT)


if __name__ == "__main__":
    main()
