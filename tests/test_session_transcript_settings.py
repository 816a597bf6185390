"""A turn's record (what /transcript save writes) holds the settings it was written with, not those of the
moment it ended: a /set, /sampler or /load while a continuation streams used to be recorded as if the whole
turn had been written with them (a 13,518-character turn saved as "length 200", a turn of one model saved
under the name of the model loaded while it streamed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_session import TIMEOUT, Recorder, streaming

from rnnplay.session.events import ClipboardCopy, TurnEnded
from rnnplay.session.session import Session


@pytest.fixture
def session(tiny_session: Session) -> Session:
    return tiny_session


def test_settings_changed_while_a_turn_streams_are_not_recorded_as_its_own(session: Session, tmp_path: Path,
                                                                           tiny_path: Path) -> None:
    rec = Recorder(session)
    session.submit("/set seed 7")
    worker = streaming(session, rec)
    session.submit("/set length 200")
    session.submit("/set seed 8")
    copy = tmp_path / "other.npz"
    session.submit(f"/save {copy}")
    session.submit(f"/load {copy}")  # the model of the next turn
    worker.join(TIMEOUT)
    rec.wait(lambda e: isinstance(e, TurnEnded))
    session.submit(f"/transcript save {tmp_path / 't.jsonl'}")
    turn = json.loads((tmp_path / "t.jsonl").read_text().splitlines()[0])
    assert (turn["model"], turn["length"], turn["rng_seed"]) == (tiny_path.name, 100000, 7)


def test_copy_while_a_turn_streams_does_not_copy_the_turn_before(session: Session) -> None:
    rec = Recorder(session)
    session.submit("/set length 5")
    session.submit("To be")
    worker = streaming(session, rec, "or not")
    session.submit("/copy")
    running = session.generation.running
    session.cancel()
    worker.join(TIMEOUT)
    if running:  # the tiny model may write 100,000 characters before /copy comes
        assert rec.messages("error") == ["a continuation is still being written: /copy when it ends, "
                                         "or Esc stops it first"]
    session.submit("/copy")
    assert rec.of(ClipboardCopy)[-1].text == session.turns[-1].text and session.turns[-1].seed == "or not"
