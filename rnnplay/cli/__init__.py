"""The ``rnnplay`` command line.

Each subcommand lives in its own ``rnnplay/cli/cmd_*.py`` module exposing
``register(subparsers)``; they are discovered here, so adding one touches no
other file. Every user mistake ends as one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from .. import __version__
from ..errors import RnnplayError

DESCRIPTION = """\
A terminal playground for character-level recurrent networks, trained from scratch in NumPy.

Run with no command to open the chat-style app on the bundled Shakespeare model."""

EPILOG = """\
examples:
  rnnplay                                        open the app on the bundled model
  rnnplay train input.txt --cell lstm --steps 2000 --out my.npz
  rnnplay sample my.npz --seed "ROMEO:" --length 300
  rnnplay COMMAND --help                         help for one command, with examples"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnnplay", description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"rnnplay {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = [
        importlib.import_module(f"{__name__}.{m.name}")
        for m in pkgutil.iter_modules(__path__)
        if m.name.startswith("cmd_")
    ]
    for module in sorted(modules, key=lambda m: getattr(m, "ORDER", 50)):
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["tui", *(argv or [])])
    try:
        return int(args.func(args) or 0)
    except RnnplayError as err:
        print(f"rnnplay: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("rnnplay: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def run() -> None:
    sys.exit(main())
