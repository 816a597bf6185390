"""The command line imports only the module of the command it runs, and says the same as when it imported all."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import rnnplay.ui.cli as cli
from rnnplay.ui.cli import COMMANDS, build_parser, subcommands

ROOT = Path(__file__).resolve().parents[1]


def test_the_table_names_every_command_module_in_the_order_of_the_help() -> None:
    modules = {m.name.removeprefix("cmd_") for m in pkgutil.iter_modules(cli.__path__) if m.name.startswith("cmd_")}
    assert set(COMMANDS) == modules
    whole = build_parser()
    shown = [(a.dest, a.help) for action in whole._subparsers._group_actions for a in action._choices_actions]
    assert shown == list(COMMANDS.items())  # each module's own line of help, as the table gives it


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_the_help_is_the_same_with_one_command_imported(command: str | None) -> None:
    whole, one = build_parser(), build_parser(command or "tui")
    assert one.format_help() == whole.format_help()
    if command is not None:
        assert subcommands(one)[command].format_help() == subcommands(whole)[command].format_help()


SHOW_IMPORTED = """\
import sys
from rnnplay.ui.cli import main
try:
    main(sys.argv[2:])
finally:
    with open(sys.argv[1], "w") as out:
        out.write(" ".join(name.rsplit(".cmd_", 1)[1] for name in sys.modules if ".cmd_" in name))
"""


def imported_commands(tmp_path: Path, *args: str) -> set[str]:
    """The ``cmd_*`` modules the command line ``rnnplay ARGS`` imports, run in a fresh interpreter."""
    shown = tmp_path / "imported"
    subprocess.run([sys.executable, "-c", SHOW_IMPORTED, shown, *args], cwd=ROOT, capture_output=True, timeout=120)
    return set(shown.read_text().split())


@pytest.mark.parametrize(("args", "wanted"), [
    (["sample", "--help"], {"sample"}),
    (["--threads", "1", "export", "--help"], {"export"}),
    (["--help"], {"tui"}),  # the default command's, as a line without one runs the app
    (["smaple"], {"tui"}),  # a mistyped command: the list of choices needs no module
])  # fmt: skip
def test_a_command_line_imports_only_its_commands_module(tmp_path: Path, args: list[str], wanted: set[str]) -> None:
    assert imported_commands(tmp_path, *args) == wanted
