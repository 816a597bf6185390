"""/transcript save and /copy: the conversation as it was written, seeds, continuations and settings per turn."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from file_limits import files_no_larger_than

from rnnplay.session.events import ClipboardCopy, Event, Message
from rnnplay.session.inspection import TurnRecord
from rnnplay.session.session import Session
from rnnplay.session.transcript import Conversation, markdown


@pytest.fixture
def session(tiny_path: Path) -> Session:
    s = Session()
    s.load(str(tiny_path))
    s.events = []
    s.subscribe(s.events.append)
    return s


def errors(session: Session) -> list[str]:
    return [e.text for e in session.events if isinstance(e, Message) and e.level == "error"]


def of(session: Session, kind: type) -> list[Event]:
    return [e for e in session.events if isinstance(e, kind)]


def play(session: Session) -> None:
    for line in ("/set length 12", "/set seed 5", "To be", "/sampler top-k k=3", "/set stop \\n", "/set seed random",
                 "/set length 8", "or not", "/heat whether 'tis"):
        session.submit(line)


def test_jsonl_has_one_turn_per_line_with_how_it_was_written(session: Session, tmp_path: Path) -> None:
    play(session)
    session.submit(f"/transcript save {tmp_path / 'chat.jsonl'}")
    assert not errors(session)
    turns = [json.loads(line) for line in (tmp_path / "chat.jsonl").read_text().splitlines()]
    first, second, heat = turns
    assert first == {"turn": 1, "kind": "continuation", "model": "tiny.npz", "seed": "To be",
                     "text": session.turns[0].text, "sampler": "temperature", "params": {"temperature": 0.7},
                     "length": 12, "rng_seed": 5, "stop": None, "ended": "done", "branch": None}
    assert (second["sampler"], second["params"], second["stop"], second["rng_seed"]) == (
        "top-k", {"k": 3, "temperature": 0.7}, "\n", None)
    assert second["seed"] == "or not" and second["text"] == session.turns[1].text
    assert heat == {"turn": 3, "kind": "text", "model": "tiny.npz", "seed": "", "text": "whether 'tis"}
    assert "saved 3 turns to" in [e.text for e in of(session, Message)][-1]


def test_a_seed_keeps_the_characters_the_model_never_saw_and_names_them(session: Session, tmp_path: Path) -> None:
    """'To 🙂 中文be' was saved as 'To  be': the characters the model skipped were gone from the transcript, unsaid."""
    session.submit("/set length 5")
    session.submit("To 🙂 中文be")
    assert session.turns[0].seed == "To  be"  # what the model read (/whatif and /heat go on from it)
    session.submit(f"/transcript save {tmp_path / 'chat.md'}")
    session.submit(f"/transcript save {tmp_path / 'chat.jsonl'}")
    text = (tmp_path / "chat.md").read_text()
    assert ("Seed:\n\n```text\nTo 🙂 中文be\n```\n\nThe model has never seen '🙂', '中', '文': it read the seed "
            "without them.\n\nContinuation:") in text
    (turn,) = [json.loads(line) for line in (tmp_path / "chat.jsonl").read_text(encoding="utf-8").splitlines()]
    assert (turn["seed"], turn["skipped"]) == ("To 🙂 中文be", "🙂中文")


def test_markdown_shows_each_turn_with_its_settings(session: Session, tmp_path: Path) -> None:
    play(session)
    session.submit(f"/transcript save {tmp_path / 'chat.md'}")
    text = (tmp_path / "chat.md").read_text()
    assert text.startswith("# rnnplay transcript\n\n3 turns, saved ")
    assert "## Turn 1\n\ntiny.npz · temperature=0.7 · length 12 · seed 5 · stop none · done" in text
    assert "top-k k=3 temperature=0.7 · length 8 · seed random · stop '\\n'" in text
    assert f"Seed:\n\n```text\nTo be\n```\n\nContinuation:\n\n```text\n{session.turns[0].text}\n```" in text
    assert "## Turn 3: a text read with /heat" in text


def test_a_fence_is_longer_than_any_backticks_in_the_text() -> None:
    turn = TurnRecord("", "code: ```x``` and ````y````", "text", "m.npz")
    assert "`````text\ncode: ```x``` and ````y````\n`````" in markdown(Conversation([turn]))


def test_an_existing_file_is_kept_unless_force_is_given(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "chat.md"
    path.write_text("my notes")
    session.submit("To be")
    session.submit(f"/transcript save {path}")
    assert "exists" in errors(session)[-1] and "force" in errors(session)[-1]
    assert path.read_text() == "my notes"
    session.submit(f"/transcript save {path} force")
    assert path.read_text().startswith("# rnnplay transcript")
    assert [p.name for p in tmp_path.iterdir()] == ["chat.md"]  # no temporary file left


def test_a_transcript_that_cannot_be_written_whole_leaves_the_earlier_one_as_it_was(
    session: Session, tmp_path: Path,
) -> None:
    path = tmp_path / "chat.md"
    session.submit("To be")
    session.submit(f"/transcript save {path}")
    before = path.read_text()
    session.submit("or not")
    with files_no_larger_than(len(before)):  # room for the earlier transcript, not for the longer one
        session.submit(f"/transcript save {path} force")
    assert errors(session) == [f"cannot write {path}: File too large; free some space or fix the folder"]
    assert path.read_text() == before and [p.name for p in tmp_path.iterdir()] == ["chat.md"]


@pytest.mark.parametrize(("args", "expected"), [
    ("save chat.txt", ".md (Markdown) or .jsonl"),
    ("save {tmp}/notes.txt/chat.md", "notes.txt is a file, not a folder; choose another path"),
    ("save {tmp}/" + "n" * 300 + ".md", "File name too long; choose another path"),
    ("save {tmp}", "is a folder"),
    ("load chat.md", "usage: /transcript save PATH [force]"),
    ("save chat.md now", "usage: /transcript save PATH [force]"),
    ("save my chat.md force", '(a path with spaces goes in quotes: /transcript save "my chat.md")'),  # was usage alone
    ("save {tmp}/talks/chat.txt", "e.g. /transcript save {tmp}/talks/chat.md"),  # was "save chat.md": another folder
    ("save ''", "usage: /transcript save PATH [force]"),  # was "'.' is a folder", of a path never typed
])
def test_bad_transcript_commands_get_one_line(session: Session, tmp_path: Path, args: str, expected: str) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    session.submit("To be")
    session.submit(f"/transcript {args.format(tmp=tmp_path)}")
    assert expected.format(tmp=tmp_path) in errors(session)[-1] and "\n" not in errors(session)[-1]


def test_a_transcript_into_a_new_folder_makes_the_folder_as_save_does(session: Session, tmp_path: Path) -> None:
    session.submit("To be")
    session.submit(f"/transcript save {tmp_path / 'new' / 'talks' / 'chat.md'}")
    assert not errors(session) and (tmp_path / "new" / "talks" / "chat.md").read_text().startswith("# rnnplay")


def test_nothing_to_save_or_copy_before_the_first_turn(session: Session, tmp_path: Path) -> None:
    session.submit(f"/transcript save {tmp_path / 'chat.md'}")
    session.submit("/copy")
    assert "nothing to save yet" in errors(session)[0] and "nothing to copy yet" in errors(session)[1]
    assert not (tmp_path / "chat.md").exists()


def test_copy_puts_the_last_continuation_on_the_clipboard(session: Session) -> None:
    session.submit("/set length 20")
    session.submit("To be")
    session.submit("/heat or not to be")  # a text read, not a continuation
    session.submit("/copy")
    assert of(session, ClipboardCopy) == [ClipboardCopy(session.turns[0].text)] and not errors(session)
