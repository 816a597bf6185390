"""``rnnplay repl [MODEL]``: the same session at a plain prompt."""

from __future__ import annotations

import argparse
import sys

from rnnplay.core.errors import RnnplayError
from rnnplay.ui.cli import model_command, require_stdin
from rnnplay.ui.event_text import EventText

ORDER = 2
EXAMPLES = '''\
examples:
  rnnplay repl                   a prompt on the bundled model when it is installed
  rnnplay repl my.npz

A line starting with """ opens a multi-line seed; a line ending with """ closes it. Tab completes /commands.
The input history, shared with `rnnplay tui`, is kept in ~/.local/share/rnnplay/history ($RNNPLAY_HISTORY_FILE);
RNNPLAY_NOHISTORY=1 keeps none.'''


def register(sub: argparse._SubParsersAction) -> None:
    p = model_command(sub, "repl", "the same session at a plain prompt",
                      "Type a seed at the prompt; /help lists the commands.", EXAMPLES)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rnnplay.session.session import Session
    from rnnplay.ui.leave_signals import Farewell, leave_now
    from rnnplay.ui.repl.app import Repl
    from rnnplay.ui.repl.typeahead import paste_end_seconds

    require_stdin("repl")
    require_terminal_output()
    paste_end_seconds()  # $RNNPLAY_PASTE_END_SECONDS checked before the model loads

    session = Session.open(args.model)
    if not sys.stdin.isatty():  # a script piped in: its stdout holds the script's output alone, the greeting on stderr
        stop = session.subscribe(lambda event: print(EventText().text(event), file=sys.stderr))
        session.greet()
        stop()
    repl = Repl(session)
    if not repl.piped:  # a conversation at a terminal kept in its recovery file as it goes (a crash loses none)
        session.generation.recovery.follow()
    code = repl.run()
    if not repl.piped or repl.behind:  # a script's stdout holds its turns, unless one was left unfinished
        kept = session.generation.keep_unsaved()  # a conversation not saved, to a recovery file
        Farewell(session.generation.recovery.said).say([kept] if kept else [])  # the terminal may be gone
    if repl.behind:  # a plugin's thread that never returns: the interpreter's exit would wait on it
        leave_now(code)
    return code


def require_terminal_output() -> None:
    """Keys typed at a terminal, stdout a file or a pipe (`rnnplay repl > out.txt`): the prompt would be drawn into
    the file, redraw codes and all, and the screen stay blank. One line instead."""
    if sys.stdin.isatty() and not sys.stdout.isatty():
        raise RnnplayError("the REPL's stdout is not a terminal, and its prompt would be drawn there: run it with "
                           "stdout on the terminal, pipe a script into it (… | rnnplay repl > FILE), or use "
                           "`rnnplay sample … > FILE`")
