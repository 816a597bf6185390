"""``rnnplay tui [MODEL]`` (also plain ``rnnplay``): the chat-style app."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

from rnnplay.core.errors import RnnplayError, printable
from rnnplay.ui.cli import model_command, require_stdin

ORDER = 1
EXAMPLES = """\
examples:
  rnnplay                        the app, on the bundled model when it is installed
  rnnplay tui my.npz             the app on your own checkpoint

Inside: type a few characters and press Enter; /help lists the commands, F1 the keys."""


def register(sub: argparse._SubParsersAction) -> None:
    p = model_command(sub, "tui", "the chat-style app (the default command)",
                      "Type a seed, watch the model continue it; slash commands do the rest.", EXAMPLES)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rnnplay.session.session import Session
    from rnnplay.session.stall_watch import DOES_NOT_STOP, STOP_GRACE
    from rnnplay.ui.leave_signals import exit_code
    from rnnplay.ui.tui import RnnplayApp

    require_stdin("tui")
    require_terminal()
    session = Session.open(args.model)
    app = RnnplayApp(session)
    try:
        app.run()
    finally:
        kept = app.close_session()  # whatever ended the app (a signal, a lost terminal), a training saves
    stuck = app.stuck_lines(STOP_GRACE)  # a plugin's sampler or command that never checks for a stop
    if stuck:
        app.farewell.append(f"{DOES_NOT_STOP}; left without it")
    if not kept:
        app.farewell.append("the trained model was not saved anywhere, and is gone with the app")
    for line in app.farewell:  # on the shell's screen again: where that checkpoint went ("saved PATH")
        with contextlib.suppress(OSError, ValueError):  # the terminal may be gone
            print(f"rnnplay: {printable(line)}", file=sys.stderr, flush=True)
    code = exit_code(app.left_by) or int(not kept)
    if stuck:  # the session is closed and a training saved: nothing is lost by not waiting for it
        os._exit(code)
    return code


def require_terminal() -> None:
    """The app reads keys from stdin and draws on stderr (Textual's way): either one not a terminal (a file or
    /dev/null as input, stderr sent to a file) would have it type the file's lines as keys, or draw where
    nobody sees, and wait for keys that never come. One line instead."""
    for name in ("stdin", "stderr"):
        stream = getattr(sys, f"__{name}__")
        try:
            tty = stream is not None and stream.isatty()
        except (AttributeError, ValueError, OSError):
            tty = False
        if not tty:
            raise RnnplayError(f"standard {'input' if name == 'stdin' else 'error'} is not a terminal, and the app "
                               "reads keys and draws there: run `rnnplay` in a terminal, or pipe lines into "
                               "`rnnplay repl`")
