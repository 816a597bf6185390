"""The ``rnnplay`` command's entry point (the console script's, and ``python -m rnnplay``'s).

It imports nothing heavy before it can answer Ctrl-C: the command line's modules take a
while to import, and a Ctrl-C then ends the command quietly (exit 130, one line), as it
does once a command runs. Nothing exists yet that could be lost.
"""

import contextlib
import signal
import sys

# the commands that hear `kill -INT` even where the shell started them with SIGINT ignored (`rnnplay train ... &`
# in a script): they stop between steps and save, or cancel their trials, as Ctrl-C does
HEAR_KILL_INT = ("train", "sweep")


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
    if command_word(sys.argv[1:]) in HEAR_KILL_INT and signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # before the imports, so none can miss it
    try:
        from rnnplay.ui.cli import run

        run()
    except KeyboardInterrupt:  # pressed while the command line's modules were imported: the command never began
        with contextlib.suppress(OSError, ValueError):  # stderr closed (2>&-): nobody to tell
            print("rnnplay: interrupted", file=sys.stderr)
        sys.exit(128 + signal.SIGINT)


if __name__ == "__main__":
    main()
