"""``rnnplay tui [MODEL]`` (also plain ``rnnplay``): the chat-style app."""

from __future__ import annotations

import argparse

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
    from rnnplay.ui.leave_signals import exit_code
    from rnnplay.ui.tui import RnnplayApp

    require_stdin("tui")
    session = Session.open(args.model)
    app = RnnplayApp(session)
    try:
        app.run()
    finally:
        session.close()  # whatever ended the app (a signal, a lost terminal), a training saves its checkpoint
    return exit_code(app.left_by)
