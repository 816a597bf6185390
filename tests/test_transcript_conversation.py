"""/transcript save writes the whole conversation: /compare results and /whatif branches as what they are, and a
turn still being written (its text so far), without shifting the turn numbers /heat turn=N and /whatif turn=N use.
Before, a /compare was in neither file, a branch was a plain continuation with a seed nobody typed, and a turn
saved while it streamed was silently missing."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any

import pytest
from test_session import TIMEOUT, Recorder

from rnnplay.core.errors import RnnplayError
from rnnplay.session.events import Chunk, CompareShown, Event, HeatShown, TurnEnded
from rnnplay.session.session import Session


@pytest.fixture
def session(tiny_session: Session) -> Session:
    return tiny_session


def saved(session: Session, path: Path, force: bool = False) -> str:
    session.submit(f"/transcript save {path}{' force' * force}")
    return path.read_text(encoding="utf-8")


def lines(session: Session, path: Path, force: bool = False) -> list[dict[str, Any]]:
    return [json.loads(line) for line in saved(session, path, force).splitlines()]


def test_a_compare_is_saved_where_it_came_and_the_turns_keep_their_numbers(session: Session,
                                                                          tmp_path: Path) -> None:
    """/clear clears the screen, not the record: what came before it is saved, and the numbering goes on."""
    rec = Recorder(session)
    for line in ("/set length 12", "To be", "/compare or not", "/clear", "/heat whether 'tis", "/heat turn=2"):
        session.submit(line)
    assert not rec.messages("error")
    shown = rec.of(CompareShown)[0]
    random_seed = int(re.search(r"random seed (\d+)", " ".join(rec.messages("info")))[1])
    first, compare, heat = lines(session, tmp_path / "t.jsonl")
    assert (first["turn"], first["kind"], heat["turn"], heat["kind"]) == (1, "continuation", 2, "text")
    assert rec.of(HeatShown)[-1].turn == 2 and rec.of(HeatShown)[-1].text == heat["text"] == "whether 'tis"
    samplers = compare.pop("samplers")
    assert compare == {"compare": 1, "kind": "compare", "after_turn": 1, "model": "tiny.npz", "seed": "or not",
                       "rng_seed": random_seed, "length": 12, "stop": None, "ended": "done"}
    assert [s["sampler"] for s in samplers] == sorted(session.host.samplers)
    assert [s["text"] for s in samplers] == [text for _, text in shown.rows]
    assert next(s for s in samplers if s["sampler"] == "top-k")["params"] == {"k": 10, "temperature": 0.7}

    text = saved(session, tmp_path / "t.md")
    assert "2 turns and 1 comparison, saved" in text
    heads = re.findall(r"^#+ .*", text, re.M)
    assert heads[:3] == ["# rnnplay transcript", "## Turn 1",
                         f"## Comparison 1: the same seed through {len(samplers)} samplers"]
    assert heads[-1] == "## Turn 2: a text read with /heat"
    for label, row_text in shown.rows:
        assert f"### {label}\n\n```text\n{row_text}\n```" in text
    assert f"tiny.npz · length 12 · seed {random_seed} · stop none · done\n\nSeed:\n\n```text\nor not\n```" in text
    assert rec.messages("info")[-1].startswith("saved 2 turns and 1 comparison to ")


def test_a_whatif_branch_names_its_turn_position_and_characters(session: Session, tmp_path: Path) -> None:
    rec = Recorder(session)
    for line in ("/set length 12", "/set seed 3", "To be", "/heat or not to be"):
        session.submit(line)
    original = session.turns[0].text
    session.submit("/whatif 3 o turn=1")
    session.submit("/whatif 1 t turn=2")  # from the text read with /heat
    assert not rec.messages("error")
    first, heat, branch, second_branch = lines(session, tmp_path / "t.jsonl")
    assert first["branch"] is None and "branch" not in heat
    assert branch["kind"] == "continuation" and branch["turn"] == 3
    assert branch["branch"] == {"turn": 1, "position": 3, "char": "o", "original": original[3]}
    assert branch["seed"] == "To be" + original[:3] + "o" and branch["text"] == session.turns[2].text
    assert second_branch["branch"] == {"turn": 2, "position": 1, "char": "t", "original": "r"}

    text = saved(session, tmp_path / "t.md")
    assert (f"## Turn 3: a branch of turn 1\n\nWhat if turn 1 had 'o' instead of {original[3]!r} at position 3?\n\n"
            "tiny.npz · temperature=0.7 · length 12 · seed 3 · stop none · done") in text
    assert "## Turn 4: a branch of turn 2\n\nWhat if turn 2 had 't' instead of 'r' at position 1?" in text


class Held:
    """Holds the generating thread at its first chunk (a subscriber that waits) until released."""

    def __init__(self, session: Session) -> None:
        self.first = threading.Event()
        self.release = threading.Event()
        self.chunk = ""
        session.subscribe(self.hold)

    def hold(self, event: Event) -> None:
        if isinstance(event, Chunk) and not self.first.is_set():
            self.chunk = event.text
            self.first.set()
            assert self.release.wait(TIMEOUT), "the test never released the generation"


def test_a_turn_still_being_written_is_saved_with_its_text_so_far(session: Session, tmp_path: Path) -> None:
    rec = Recorder(session)
    session.submit("/set length 12")
    session.submit("To be")
    session.submit("/set length 100000")
    held = Held(session)
    worker = threading.Thread(target=session.submit, args=("or not",))
    worker.start()
    try:
        assert held.first.wait(TIMEOUT)
        done, writing = lines(session, tmp_path / "t.jsonl")
        text = saved(session, tmp_path / "t.md")
    finally:
        session.cancel()
        held.release.set()
        worker.join(TIMEOUT)
    assert done["ended"] == "done"
    assert (writing["turn"], writing["seed"], writing["text"]) == (2, "or not", held.chunk)
    assert (writing["ended"], writing["length"]) == ("writing", 100000)
    assert (f"## Turn 2\n\ntiny.npz · temperature=0.7 · length 100000 · seed random · stop none · "
            f"still being written when saved: {len(held.chunk):,} characters so far") in text
    assert rec.messages("info")[-1].endswith(f"(turn 2 is still being written: its first {len(held.chunk):,} "
                                             "characters)")

    rec.wait(lambda e: isinstance(e, TurnEnded) and e.reason == "stopped")
    after = lines(session, tmp_path / "t.jsonl", force=True)  # once ended, it is there once, as it ended
    assert [(t["turn"], t["ended"]) for t in after] == [(1, "done"), (2, "stopped")]
    assert after[1]["text"] == session.turns[1].text


def test_a_compare_alone_is_a_conversation_to_save(session: Session, tmp_path: Path) -> None:
    rec = Recorder(session)
    session.submit("/set length 8")
    session.submit("/compare To be")
    (compare,) = lines(session, tmp_path / "t.jsonl")
    assert (compare["kind"], compare["after_turn"], rec.messages("error")) == ("compare", 0, [])


def test_a_compare_keeps_the_seed_as_typed_and_names_the_characters_the_model_never_saw(
        session: Session, tmp_path: Path) -> None:
    """'/compare To 🙂 中文be' was saved with the seed 'To  be': the characters the model skipped were gone, unsaid,
    while a turn of the same seed kept them and named them."""
    rec = Recorder(session)
    session.submit("/set length 5")
    session.submit("/compare To 🙂 中文be")
    session.submit("/compare or not")
    assert not rec.messages("error")
    odd, plain = lines(session, tmp_path / "t.jsonl")
    assert (odd["seed"], odd["skipped"]) == ("To 🙂 中文be", "🙂中文")
    assert list(odd)[4:6] == ["seed", "skipped"] and plain["seed"] == "or not" and "skipped" not in plain
    text = saved(session, tmp_path / "t.md")
    assert ("Seed:\n\n```text\nTo 🙂 中文be\n```\n\nThe model has never seen '🙂', '中', '文': it read the seed "
            "without them.\n\n### ") in text


def test_a_sampler_that_fails_in_a_compare_keeps_its_name_and_settings(session: Session, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A failed row's label was 'top-k failed (the error above) k=10 temperature=0.7' (its sampler the whole
    phrase, its settings after it), and the transcript's sampler read 'top-k failed (the error above)'."""
    def fails(*args: Any, **params: Any) -> Any:
        raise RnnplayError("top-k cannot today")

    monkeypatch.setattr(session.host.get("samplers", "top-k"), "generate", fails)
    rec = Recorder(session)
    session.submit("/compare To be")
    assert rec.messages("error") == ["top-k cannot today"]
    labels = [label for label, _ in rec.of(CompareShown)[0].rows]
    assert "top-k k=10 temperature=0.7 failed (the error above)" in labels and "temperature=0.7" in labels
    (compare,) = lines(session, tmp_path / "t.jsonl")
    failed = [row for row in compare["samplers"] if row["failed"]]
    assert failed == [{"sampler": "top-k", "params": {"k": 10, "temperature": 0.7}, "text": "", "failed": True}]
