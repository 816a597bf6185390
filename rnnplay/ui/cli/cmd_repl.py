"""``rnnplay repl [MODEL]``: the same session at a plain prompt."""

from __future__ import annotations

import argparse

from rnnplay.ui.cli import model_command, require_stdin

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
    from rnnplay.ui.repl.app import Repl

    require_stdin("repl")
    return Repl(Session.open(args.model)).run()
