"""The ``rnnplay`` command line.

Each subcommand lives in its own ``rnnplay/ui/cli/cmd_NAME.py`` module exposing
``register(subparsers)``, named with its line of help in :data:`COMMANDS`; only the
module of the command a line names is imported. Every user mistake ends as one line on stderr, never a traceback.

May import: every layer below ``rnnplay.ui``, and ``rnnplay.ui``'s faces (``cmd_tui`` and
``cmd_repl`` start them) and shared modules. Nothing else in ``rnnplay.ui`` imports it.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import importlib
import os
import re
import signal
import sys
from typing import NoReturn

from rnnplay import __version__
from rnnplay.__main__ import command_word
from rnnplay.core import threads
from rnnplay.core.ctrl_c import Terminated
from rnnplay.core.errors import RnnplayError, out_of_memory, printable, shortened
from rnnplay.ui.cli.streams import ReaderGone, guarded_streams, open_closed_descriptors
from rnnplay.ui.leave_signals import (
    exit_code,
    exit_on_ctrl_c,
    flush_and_exit,
    leave_now,
    on_leave_signals,
    raise_terminated,
)

MODEL_HELP = "a checkpoint, or a model's name from `rnnplay models` (default: the bundled model)"


def model_command(sub: argparse._SubParsersAction, name: str, help: str, description: str,
                  epilog: str) -> argparse.ArgumentParser:
    """A subcommand that works on one model: its parser, with the optional MODEL argument every such command takes."""
    p = sub.add_parser(name, help=help, description=description, epilog=epilog,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", nargs="?", help=MODEL_HELP)
    return p


def require_stdin(command: str) -> None:
    """The interactive faces read keys: with standard input closed (``<&-``), one line instead of a traceback."""
    if sys.stdin is None:
        raise RnnplayError(f"standard input is closed, and `rnnplay {command}` reads what you type there: "
                           "run it in a terminal, or pipe lines into `rnnplay repl`")

DESCRIPTION = """\
A terminal playground for character-level recurrent networks, trained from scratch in NumPy.

Run with no command to open the chat-style app on the bundled Shakespeare model."""

EPILOG = """\
examples:
  rnnplay                                        open the app on the bundled model
  rnnplay my.npz                                 open the app on your own checkpoint (= rnnplay tui my.npz)
  rnnplay train input.txt --cell lstm --steps 2000 --out my.npz
  rnnplay sample my.npz --seed "ROMEO:" --length 300
  rnnplay sweep input.txt --grid hidden=128,256 lr=2e-3,4e-3 --time 300
  rnnplay COMMAND --help                         help for one command, with examples"""


class OneLineParser(argparse.ArgumentParser):
    """argparse, with a usage mistake as one line (argparse prints the whole usage block first)."""

    def error(self, message: str) -> NoReturn:
        message += command_hint(message)
        self.exit(2, f"rnnplay: error: {shortened(printable(message))}; see `{self.prog} --help`\n")


def command_hint(message: str) -> str:
    """What a first word that is no command most likely meant: the command spelt most like it (``sampel``), or for
    a file's name (``rnnplay notes.txt``), training on it."""
    found = re.match(r"argument COMMAND: invalid choice: '(.*)' \(choose from (.*)\)$", message)
    if found is None:
        return ""
    word, names = found[1], re.findall(r"'([^']*)'", found[2])
    if guess := difflib.get_close_matches(word, names, n=1):
        return f" (did you mean '{guess[0]}'?)"
    return f" ({word} is a file: `rnnplay train {word}` trains on it)" if os.path.isfile(word) else ""


# Every subcommand in `rnnplay --help`'s order, with its line there. Its parser and its code are in cmd_NAME.py,
# imported only when the command line names it: all of them at every start would import training, Ray's glue, the
# downloads and rich for a `sample`. tests/test_cli_commands.py holds this table to the modules' own parsers.
COMMANDS = {
    "tui": "the chat-style app (the default command)",
    "repl": "the same session at a plain prompt",
    "train": "train a model on a corpus",
    "sweep": "train one model per combination of settings, on Ray",
    "sample": "generate text from a model, streamed as it is written",
    "score": "the loss of a text under a model (nats and bits per character)",
    "corpus": "list, inspect and download training corpora",
    "plugins": "list, install, uninstall or create plugins",
    "neurons": "find hidden units that track a condition, or colour a text by one unit",
    "models": "list your models: name, cell, size, corpus, validation loss, date",
    "export": "write a weights-only copy of a model (smaller; not resumable)",
}
# The commands that run a model's matrix products: BLAS's threads are set (rnnplay.core.threads) before they begin.
# The others (corpus, plugins, models, export) multiply nothing and do not import numpy's BLAS for it.
MULTIPLYING = ("tui", "repl", "train", "sweep", "sample", "score", "neurons")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser, every command in it registered by its module; or only ``only`` (one of
    :data:`COMMANDS`), every other command its line of help, enough for ``rnnplay --help`` and argparse's choices."""
    parser = OneLineParser(
        prog="rnnplay", description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"rnnplay {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, line in COMMANDS.items():
        if only in (None, name):
            importlib.import_module(f"{__name__}.cmd_{name}").register(sub)
        else:
            sub.add_parser(name, help=line)
    add_threads_option(parser)
    return parser


def add_threads_option(parser: argparse.ArgumentParser) -> None:
    """``--threads N`` on ``parser`` and on every subcommand below it, so it goes anywhere on the line.

    Its text is checked by :func:`rnnplay.core.threads.choose` (one line for a bad
    value); SUPPRESS keeps a subcommand's missing flag from hiding the top level's.
    """
    parser.add_argument(
        "--threads", metavar="N", default=argparse.SUPPRESS,
        help=f"BLAS threads, and a training step's worker threads: a number, or 'auto' (the default: the cores "
             f"other processes leave free, and four workers a core); overrides {threads.ENV}",
    )  # fmt: skip
    for subparser in dict.fromkeys(subcommands(parser).values()):  # aliases share one parser
        add_threads_option(subparser)


def add_encoding_option(parser: argparse.ArgumentParser | argparse._ArgumentGroup, of: str) -> None:
    """``--encoding NAME`` for the text ``of`` names, checked as it is parsed: an unknown codec, or one that is no
    text encoding (rot13, idna), is one line before any file is opened, even where no file is read."""
    parser.add_argument("--encoding", default="utf-8", type=known_encoding,
                        help=f"text encoding of {of} (default %(default)s)")


def known_encoding(name: str) -> str:
    """``name`` as given, if :func:`text_codec` knows it as a text encoding; else argparse's one-line error."""
    from rnnplay.corpora.text import text_codec  # the corpora's text machinery: for the commands that read text

    try:
        text_codec(name)
    except RnnplayError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return name


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """``parser``'s subcommands by name, aliases included (argparse has no public way to list them)."""
    return {name: subparser for action in parser._actions if isinstance(action, argparse._SubParsersAction)
            for name, subparser in action.choices.items()}  # fmt: skip


def opens_a_checkpoint(parser: argparse.ArgumentParser, argv: list[str]) -> bool:
    """``rnnplay notes.npz``: a first word that is no command but a checkpoint's name (``.npz``) means the app on
    it, as ``rnnplay tui notes.npz`` does. Any other first word stays a command, so ``rnnplay notes.txt`` is told
    the commands (``train`` among them) rather than that a text is no checkpoint."""
    if not argv or argv[0].startswith("-"):
        return False
    return argv[0] not in subcommands(parser) and argv[0].lower().endswith(".npz")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # stdout that cannot be written, stderr closed or full: see streams.py; SIGTERM and SIGHUP end a command as
    # Ctrl-C does, unless it leaves its own way (train, sweep, the app and the REPL set handlers of their own)
    with guarded_streams(), on_leave_signals(raise_terminated):
        try:
            return dispatch(argv)
        except ReaderGone:  # `rnnplay sample | head`: the reader has what it wanted
            return 0
        except RnnplayError as err:
            from rnnplay.core.params import worded  # params imports dataclasses: `--help` needs neither

            print(f"rnnplay: error: {shortened(printable(worded(err, 'use --sampler {}')))}", file=sys.stderr)
            return 1
        except KeyboardInterrupt as stop:
            return interrupted(stop)
        except MemoryError as err:  # what no command turned into its own line (a plugin's, raised while generating)
            print(f"rnnplay: error: {out_of_memory(err)}", file=sys.stderr)
            return 1
        except BrokenPipeError:
            return 0


def dispatch(argv: list[str]) -> int:
    """Parse ``argv`` and run its command; what it printed is flushed before it returns, so that a stdout that
    cannot take it fails here, in one line, rather than at exit."""
    named = command_word(argv)
    parser = build_parser(named if named in COMMANDS else "tui")  # the app: no command, or a checkpoint's name
    try:
        args = parse(parser, ["tui", *argv] if opens_a_checkpoint(parser, argv) else argv)
        if args.command is None:
            args = parse(parser, ["tui", *argv])
    except SystemExit:  # --help, --version, or a usage error: argparse printed it
        sys.stdout.flush()
        raise
    threads.choose(getattr(args, "threads", None))  # a bad --threads is one line, for every command
    if args.command in MULTIPLYING:
        threads.policy()  # BLAS's threads, for training, generation, scoring alike
    code = int(args.func(args) or 0)
    sys.stdout.flush()
    return code


def parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """``parser.parse_args(argv)``, but words no flag takes are refused by the subcommand they were given to, so
    the line names that command's help and the flags closest to each unknown one (``--seed-text``: ``--seed``)."""
    args, extras = parser.parse_known_args(argv)
    if extras:
        command = subcommands(parser).get(args.command, parser)
        flags = [flag for action in command._actions for flag in action.option_strings]
        guesses = [guess for word in extras if word.startswith("-") for guess in closest_flags(word, flags)]
        hint = f" (did you mean {' or '.join(dict.fromkeys(guesses))}?)" if guesses else ""
        command.error(f"unrecognized arguments: {' '.join(extras)}{hint}")
    return args


def closest_flags(word: str, flags: list[str]) -> list[str]:
    """The flags a mistyped ``word`` most likely meant: the longest flag it starts with (``--seed`` for
    ``--seed-text``), then the one spelt most like it (``--hidden`` for ``--hiden``)."""
    name = word.split("=")[0]
    prefix = max((f for f in flags if f.startswith("--") and name.startswith(f + "-")), key=len, default=None)
    return [f for f in (prefix, *difflib.get_close_matches(name, flags, n=1)) if f is not None]


def interrupted(stop: KeyboardInterrupt | None = None, detail: str = "") -> int:
    """Say that Ctrl-C (or the signal of a :class:`Terminated`) ended the command, and ``detail`` (what it had done
    by then), on a stderr that may be gone, and give its exit code."""
    signum = stop.signum if isinstance(stop, Terminated) else signal.SIGINT
    with contextlib.suppress(OSError, ValueError):
        said = "interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"
        print(f"rnnplay: {said}{' ' if detail else ''}{detail}", file=sys.stderr)
    return exit_code(signum)


def run() -> None:
    open_closed_descriptors()
    try:
        code = main()
    except KeyboardInterrupt as stop:  # after main's own handler, as its streams are put back (a second Ctrl-C
        code = interrupted(stop)  # while a run saved): what the command had is done and kept
    try:
        exit_on_ctrl_c()
    except KeyboardInterrupt:  # pressed in the instant between the command's end and the handler's change
        flush_and_exit(signal.SIGINT)
    if ray_start_unfinished():  # the command is done and its files saved; the interpreter's exit could crash
        leave_now(code)
    sys.exit(code)


def ray_start_unfinished() -> bool:
    """Whether this process cut a Ray start short (:func:`rnnplay.distributed.cluster.start_unfinished`): Ray's
    core worker may still run, and the interpreter's exit beside it crashed. Only a process that imported the
    cluster module can have started Ray, so other commands do not import it for this question."""
    cluster = sys.modules.get("rnnplay.distributed.cluster")
    return cluster is not None and cluster.start_unfinished()
