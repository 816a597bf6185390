"""``rnnplay tui [MODEL]`` (also plain ``rnnplay``): the chat-style app."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from rnnplay.ui.cli import model_command, require_stdin

if TYPE_CHECKING:  # annotations only: the command line imports the app when the command runs
    from rnnplay.session.session import Session
    from rnnplay.ui.tui import RnnplayApp

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
    from rnnplay.ui.tui.terminal import (
        keys_kept_while_starting,
        lenient_keys,
        paste_markers_off_on_error,
        require_terminal,
        stdout_on_the_terminal,
    )

    require_stdin("tui")
    require_terminal()
    with paste_markers_off_on_error():  # asked for while the model loads; off unless the app takes the terminal
        with keys_kept_while_starting() as typed:  # a seed typed as Textual and the model load runs once it starts
            from rnnplay.session.session import Session
            from rnnplay.session.stall_watch import stop_grace
            from rnnplay.ui.tui import RnnplayApp

            stop_grace()  # $RNNPLAY_STOP_GRACE_SECONDS checked before the model loads
            session = Session.open(args.model)
            session.generation.recovery.follow()  # the conversation kept in its recovery file as it goes
            app = RnnplayApp(session)
        app.typed_ahead = bytes(typed)
        lenient_keys()
        try:
            with stdout_on_the_terminal():  # Textual takes the window's size from stdout
                app.run()
        finally:
            kept = app.close_session()  # whatever ended the app (a signal, a lost terminal), a training saves
    return leaving_code(app, session, kept, stop_grace())


def leaving_code(app: RnnplayApp, session: Session, kept: bool, grace: float) -> int:
    """The app's exit code, its farewell said: 128 + a signal it left on; else 130 when a line (a plugin's sampler
    that never checks for a stop) or a training step is left behind, the process ended at once without it; else 1
    when a trained model was lost or the app crashed; else 0.

    A line held only by the compiled kernels' loading (a seed typed on a first run, left with Ctrl+Q twice while
    they compile) is no work of the user's left unfinished: the seed is kept in the recovery file, the compilation
    cannot be interrupted and the next start does it again, so the user's leaving ends 0, at once, without it."""
    from rnnplay.ui.leave_signals import exit_code, leave_now

    stuck = app.stuck_lines(grace)  # a plugin's sampler or command that never checks for a stop
    compiling = stuck and session.at_work.waits_for_kernels()
    if compiling:
        app.farewell.append(session.at_work.LEFT_WHILE_COMPILING)
    elif stuck:
        app.farewell.append(f"{session.at_work.does_not_stop()}; left without it")
    if not kept:
        app.farewell.append("the trained model was not saved anywhere, and is gone with the app")
    # an exception, or a panic (Textual's input thread died): no exit() set the code; Textual printed the traceback
    crashed = app.return_code != 0 or app._exception is not None
    if crashed:
        app.farewell.append("the app ended on an unexpected error (a bug in rnnplay: please report it)")
    app.saying.say(app.farewell)  # on the shell's screen again: where that checkpoint went ("saved PATH")
    behind = (stuck and not compiling) or session.runner.left_behind()  # a thread that cannot be ended in Python
    code = exit_code(app.left_by) or (130 if behind else int(not kept or crashed))
    if stuck or behind:  # the session is closed and a training saved (or left behind, its last checkpoint named)
        leave_now(code)  # the interpreter's exit would wait for what the thread holds
    return code
