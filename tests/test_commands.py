"""The command contract and the parsing and completion helpers every command shares."""

from __future__ import annotations

from pathlib import Path

import pytest

from rnnplay.builtin.commands import COMMANDS
from rnnplay.core.errors import RnnplayError
from rnnplay.plugins.host import get_host
from rnnplay.plugins.slash import (
    Command,
    complete_line,
    complete_pairs,
    complete_path,
    find_command,
    parse_number,
    parse_pairs,
    split_args,
    split_command,
)
from rnnplay.session.session import Session

REQUIRED = {"help", "sampler", "set", "temp", "show", "new", "load", "save", "train", "stop", "cells", "samplers",
            "corpora", "plugins", "compare", "score", "clear", "quit", "models", "copy", "transcript"}


def test_every_builtin_meets_the_contract_and_is_registered_through_the_hook() -> None:
    host = get_host()
    assert set(host.commands) >= REQUIRED
    for command in COMMANDS:
        assert isinstance(command, Command)
        assert host.commands[command.name].obj is command and host.commands[command.name].plugin == "rnnplay"
        assert command.usage.startswith(f"/{command.name}") and "\n" not in command.help


def test_split_command() -> None:
    assert split_command("/Sampler  beam width=3 ") == ("sampler", "beam width=3")
    assert split_command("/?") == ("?", "")


def test_find_command_by_name_or_alias_and_suggests() -> None:
    assert find_command("bye").name == "quit" and find_command("?").name == "help"
    with pytest.raises(RnnplayError, match=r"unknown command /hlep \(did you mean '/help'"):
        find_command("hlep")


def test_parse_pairs() -> None:
    assert parse_pairs(["width=3", "end=\\n"], ["width", "alpha", "end"]) == {"width": "3", "end": "\\n"}
    with pytest.raises(RnnplayError, match=r"unknown option 'widht' \(did you mean 'width'\?\); options: width"):
        parse_pairs(["widht=3"], ["width"])
    with pytest.raises(RnnplayError, match="expected option=value, got 'width'"):
        parse_pairs(["width"], ["width"])


def test_parse_number_names_the_bound() -> None:
    assert parse_number("layers", "3", int, 1, 16) == 3
    with pytest.raises(RnnplayError, match=r"layers must be >= 1 \(got 0\)"):
        parse_number("layers", "0", int, 1, 16)
    with pytest.raises(RnnplayError, match=r"hidden must be <= 4096 \(got 5000\)"):
        parse_number("hidden", "5000", int, 1, 4096)
    with pytest.raises(RnnplayError, match="lr must be a number"):
        parse_number("lr", "fast", float)


def test_split_args_keeps_quoted_spaces_and_backslashes_and_refuses_open_quotes() -> None:
    assert split_args('"my model.npz"') == ["my model.npz"]
    assert split_args("stop \\n\\n") == ["stop", "\\n\\n"]  # unescape, not the splitting, reads them
    assert split_args("' ' \"'\"") == [" ", "'"]
    with pytest.raises(RnnplayError, match="close the quote"):
        split_args('"my model.npz')
    pasted = "First Citizen:\nBefore we proceed any further, hear me speak.\n" * 100 + "You're all resolved?"
    with pytest.raises(RnnplayError) as refused:  # a 6 KB paste with an apostrophe: its start, not all of it
        split_args("corpus.txt " + pasted)
    assert str(refused.value) == ("cannot read 'corpus.txt First Citizen:\\nBefore we proc'…: No closing quotation; "
                                  "close the quote (a quote itself: \"'\" or '\"')")


def test_complete_line_names_then_arguments() -> None:
    session = Session()
    assert complete_line(session, "/hel") == ("/hel", ["/help"])
    assert complete_line(session, "/sampler ") == ("", ["beam", "greedy", "temperature", "top-k", "top-p"])
    assert complete_line(session, "/sampler top-k t") == ("t", ["temperature="])
    assert complete_line(session, "/new cell=") == ("cell=", ["cell=lnlstm", "cell=lstm", "cell=rnn"])
    assert complete_line(session, "/help sa") == ("sa", ["sampler", "samplers", "save"])
    assert complete_line(session, "/set parameter te") == ("te", ["temperature"])
    assert complete_line(session, "/set temperature ") == ("", ["0.7"])
    assert complete_line(session, "/nosuch x") == ("x", [])
    assert complete_line(session, "plain text") == ("", [])


def test_complete_the_new_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data" / "rnnplay" / "models").mkdir(parents=True)
    (tmp_path / "data" / "rnnplay" / "models" / "notes.npz").write_bytes(b"")
    (tmp_path / "notes-copy.npz").write_bytes(b"")
    session = Session()
    assert complete_line(session, "/load no") == ("no", ["notes", "notes-copy.npz"])
    assert complete_line(session, "/load notes-copy.npz ") == ("", [])  # /load takes one argument, not a second name
    (tmp_path / "data" / "rnnplay" / "models" / "my notes.npz").write_bytes(b"")
    assert complete_line(session, "/load my no") == ("no", ["notes"])  # a name with a space goes on
    assert complete_line(session, "/transcript ") == ("", ["save"])
    assert complete_line(session, "/transcript save chat.md ") == ("", ["force"])
    assert complete_line(session, "/train notes.txt fr") == ("fr", ["from="])
    assert complete_line(session, "/train notes.txt from=") == ("from=", ["from=new"])


def test_complete_pairs() -> None:
    options = {"width": ["4"], "alpha": []}
    assert complete_pairs("", options) == ["width=", "alpha="]
    assert complete_pairs("width=", options) == ["width=4"]


def test_complete_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "model.npz").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("x")
    monkeypatch.chdir(tmp_path)
    assert complete_path("mo") == ["model.npz", "models/"]
    assert complete_path("", (".npz",)) == ["model.npz", "models/"]
    assert complete_path(f"{tmp_path}/no") == [f"{tmp_path}/notes.txt"]


def test_the_help_texts_name_every_escape_typed_text_reads() -> None:
    """docs/escapes.md lists \\r and unescape reads it; /help, `sample --help` and `score --help` named only
    \\n, \\t and \\\\."""
    from rnnplay.core.params import ESCAPES, unescape
    from rnnplay.ui.cli import build_parser, subcommands

    assert unescape("".join(f"\\{k}" for k in ESCAPES)) == "".join(ESCAPES.values())
    session = Session()
    shown: list[str] = []
    session.subscribe(lambda event: shown.append(str(getattr(event, "text", ""))))
    session.submit("/help")
    commands = subcommands(build_parser())
    for text in ("\n".join(shown), commands["sample"].format_help(), commands["score"].format_help()):
        assert all(f"\\{k}" in text for k in ESCAPES), text
