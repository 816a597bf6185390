"""``rnnplay repl [MODEL]``: the same session at a plain prompt."""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING

from rnnplay.core.errors import RnnplayError
from rnnplay.ui.cli import model_command, require_stdin
from rnnplay.ui.event_text import EventText

if TYPE_CHECKING:
    from rnnplay.session.session import Session
    from rnnplay.ui.leave_signals import Farewell

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
    from rnnplay.session.stall_watch import stop_grace
    from rnnplay.ui.leave_signals import Farewell, Leaving, leave_now
    from rnnplay.ui.repl.app import Repl
    from rnnplay.ui.repl.typeahead import paste_end_seconds

    require_stdin("repl")
    require_terminal_output()
    paste_end_seconds()  # $RNNPLAY_PASTE_END_SECONDS checked before the model loads
    stop_grace()  # and $RNNPLAY_STOP_GRACE_SECONDS

    session = Session.open(args.model)
    if not sys.stdin.isatty():  # a script piped in: its stdout holds the script's output alone, the greeting on stderr
        stop = session.subscribe(lambda event: print(EventText().text(event), file=sys.stderr))
        session.greet()
        stop()
    repl = Repl(session)
    saying = Farewell(session.generation.recovery.said)
    leaving = Leaving(lambda signum: leave_if_stuck(session, saying, signum))  # from a leaving signal on
    repl.told = leaving.ask
    if not repl.piped:  # a conversation at a terminal kept in its recovery file as it goes (a crash loses none)
        session.generation.recovery.follow()
    code = repl.run()
    leaving.close()  # no signal came: no watchdog (one that came keeps watching until the exit)
    if not repl.piped or repl.behind:  # a script's stdout holds its turns, unless one was left unfinished
        kept = session.generation.keep_unsaved()  # a conversation not saved, to a recovery file
        saying.say([kept] if kept else [])  # the terminal may be gone
    if repl.behind or repl.compiling:  # a thread that never returns: the interpreter's exit would wait on it
        leave_now(code)
    return code


def leave_if_stuck(session: Session, saying: Farewell, signum: int) -> None:
    """The REPL's watchdog, from a SIGTERM or SIGHUP on: while its terminal takes no output (a stalled ssh), a turn's
    write and then the REPL's own wait there until the terminal reads. Should the process still be here once a
    turn told to stop has had its time, close the session (a training saves), give the REPL as long again to leave
    by itself, then keep the conversation in its recovery file and end the process (its farewell said where the
    terminal takes it: else the next session names the file)."""
    from rnnplay.session.stall_watch import stop_grace
    from rnnplay.ui.leave_signals import exit_code

    grace = stop_grace()
    time.sleep(2 * grace)
    session.close()
    time.sleep(grace)
    kept = session.generation.keep_unsaved()
    saying.say_then_exit([kept] if kept else [], exit_code(signum), grace)


def require_terminal_output() -> None:
    """Keys typed at a terminal, stdout a file or a pipe (`rnnplay repl > out.txt`): the prompt would be drawn into
    the file, redraw codes and all, and the screen stay blank. One line instead."""
    if sys.stdin.isatty() and not sys.stdout.isatty():
        raise RnnplayError("the REPL's stdout is not a terminal, and its prompt would be drawn there: run it with "
                           "stdout on the terminal, pipe a script into it (… | rnnplay repl > FILE), or use "
                           "`rnnplay sample … > FILE`")
