"""/heat, /neurons and /whatif through the Session, without a front end: submit(line), then read the events."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from inspect_model import build_inspect_model
from tiny_model import build_tiny_model

from rnnplay.builtin.inspect_commands import parse_unit, unit_command
from rnnplay.core.errors import RnnplayError
from rnnplay.core.neurons import Unit, activations, auto_streams, condition_signal, rank_units
from rnnplay.core.score import score_text
from rnnplay.session.events import Event, HeatShown, Message, NeuronsShown, UnitsFound, Working
from rnnplay.session.session import Session


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_inspect_model(tmp_path_factory.mktemp("model"))


class Session_(Session):
    """A session that keeps its events (every call here runs in the test's thread)."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[Event] = []
        self.subscribe(self.events.append)

    def last(self, kind: type) -> Event:
        return [e for e in self.events if isinstance(e, kind)][-1]

    def messages(self, level: str) -> list[str]:
        return [e.text for e in self.events if isinstance(e, Message) and e.level == level]


@pytest.fixture
def session(model_path: Path) -> Session_:
    s = Session_()
    s.load(str(model_path))
    s.length, s.seed = 30, 3
    return s


def test_heat_gives_each_character_of_the_last_continuation_its_probability(session: Session_) -> None:
    session.submit("To be")
    session.submit("/heat")
    heat = session.last(HeatShown)
    assert (heat.turn, heat.seed) == (1, "To be") and heat.text == session.turns[0].text and len(heat.text) == 30
    expected = score_text(session.model, "To be" + heat.text)
    assert heat.probs == pytest.approx(expected.probs[4:].tolist())  # p(text[i]) after "To be" + text[:i]
    assert all(len(a) == 5 for a in heat.alternatives)
    assert [(w.what, w.done) for w in session.events if isinstance(w, Working)] == [("scoring 34 characters", False),
                                                                                  ("scoring 34 characters", True)]
    assert heat.alternatives[0] == tuple(expected.alternatives(4))
    ch, p = heat.alternatives[0][0]
    assert p >= heat.probs[0] - 1e-6 and ch in session.model.vocab.chars  # float32 vs float64 rounding


def test_heat_of_a_text_makes_it_a_turn_whose_first_character_has_no_probability(session: Session_) -> None:
    session.submit('/heat He said "stop" (now)')
    heat = session.last(HeatShown)
    assert heat.seed == "" and heat.text == 'He said "stop" (now)' and heat.probs[0] is None
    assert heat.alternatives[0] == () and all(p is not None for p in heat.probs[1:])
    assert [(t.seed, t.text, t.kind) for t in session.turns] == [("", 'He said "stop" (now)', "text")]
    session.submit("/heat turn=1")
    assert session.last(HeatShown).text == heat.text


def test_whatif_branches_with_the_alternative_and_keeps_the_original(session: Session_) -> None:
    session.submit("To be")
    original = session.turns[0]
    alternative = next(c for c, _ in session.inspection.heat().alternatives[5] if c != original.text[5])
    session.submit(f"/whatif 5 {shlex.quote(alternative)}")
    assert session.turns[0] == original
    branch = session.turns[1]
    assert branch.seed == "To be" + original.text[:5] + alternative and len(branch.text) == 30
    said = f"what if turn 1 had {alternative!r} instead of {original.text[5]!r} at position 5?"
    assert said in session.messages("info")
    session.submit("/whatif 0 \\n turn=1")  # a newline, typed as \n, at the first position of turn 1
    assert session.turns[2].seed == "To be\n"


@pytest.mark.parametrize(("line", "error"), [
    ("/whatif 99 e", "no position 99 in turn 1: its positions run from 0 to 29"),
    ("/whatif 3 ee", "give one character to put at position 3"),
    ("/whatif 3 Z", "the model has never seen 'Z'"),
    ("/whatif 3 e turn=7", "there is no turn 7: the turns so far are 1 to 1"),
    ("/whatif 3", "usage: /whatif POS CHAR [turn=N]"),
    ("/neurons 0 99", "no layer 0 unit 99 (h): this model has layers 0-0 of units 0-31"),
    ("/neurons -1 0", "no layer -1 unit 0 (h): this model has layers 0-0 of units 0-31"),  # was read as a text
    ("/neurons 0 -1", "no layer 0 unit -1 (h): this model has layers 0-0 of units 0-31"),
    ("/neurons find nowhere", "unknown condition 'nowhere'"),
    ("/neurons find inside-parens no brackets here", "inside-parens never changes in the text given"),
])
def test_mistakes_get_one_line(session: Session_, line: str, error: str) -> None:
    session.submit("To be")
    session.submit(line)
    assert session.messages("error")[-1].startswith(error)


def test_nothing_written_yet_says_what_to_do(session: Session_) -> None:
    session.submit("/heat")
    assert session.messages("error") == ["nothing written yet: type a seed and press Enter, "
                                         "or give a text (/heat TEXT)"]


def test_neurons_colours_the_last_turn_by_one_unit(session: Session_) -> None:
    session.submit("To be (or")
    session.submit("/neurons 0 3")
    shown = session.last(NeuronsShown)
    text = "To be (or" + session.turns[0].text
    assert shown.text == text and shown.title.startswith("layer 0 unit 3 (h)") and shown.mask is None
    assert shown.values == pytest.approx(activations(session.model, text)[:, 0, 3].tolist())
    assert session.last(Working) == Working(f"reading {len(text)} characters", done=True)
    session.submit('/neurons 0 4 state=c He said "no"')
    shown = session.last(NeuronsShown)
    c = activations(session.model, 'He said "no"', "c")[:, 0, 4]
    assert shown.values == pytest.approx((c / np.abs(c).max()).tolist(), abs=1e-6)  # c: divided by its largest size
    session.submit("/neurons")  # the unit last shown
    assert session.last(NeuronsShown).title.startswith("layer 0 unit 4 (c)")


def test_find_ranks_units_on_the_validation_text_and_colours_the_best(session: Session_) -> None:
    session.submit("/neurons find inside-parens")
    summary = session.messages("info")[-1]
    assert summary.startswith("units that track inside-parens over 945 characters of parens.txt's validation text:")
    found = session.last(UnitsFound)
    assert found.condition == "inside-parens" and len(found.units) == 5
    assert all(unit_command(u).startswith("/neurons 0 ") for u, _ in found.units)
    values = [abs(r) for _, r in found.units]
    assert values == sorted(values, reverse=True)
    shown = session.last(NeuronsShown)
    shown_r = float(re.search(r"r=([-+]?[0-9.]+)", shown.title).group(1))
    assert shown_r == pytest.approx(found.units[0][1], abs=0.006)  # the title's r is rounded to 2 places
    assert shown.mask is not None and any(shown.mask) and not all(shown.mask)
    marks = {ch: {m for c, m in zip(shown.text, shown.mask, strict=True) if c == ch} for ch in "()"}
    assert marks == {"(": {True}, ")": {False}}  # an opening parenthesis is already inside, a closing one outside
    assert session.inspection.unit == found.units[0][0]


def test_find_shows_its_work_and_stops_when_cancelled(session: Session_) -> None:
    session.submit("/neurons find inside-parens")
    working = [e for e in session.events if isinstance(e, Working)]
    assert working[:3] == [Working("finding where inside-parens holds in 945 characters"),
                           Working("finding where inside-parens holds in 945 characters", done=True),
                           Working("reading 945 characters to rank 64 units")]
    working = working[2:]
    assert working[-1].done and all(not w.done for w in working[:-1])
    assert all(w.fraction is None or 0 <= w.fraction <= 1 for w in working)
    shown = len([e for e in session.events if isinstance(e, NeuronsShown)])

    def press_esc(event: Event) -> None:
        if isinstance(event, Working) and not event.done:
            session.cancel()

    session.subscribe(press_esc)
    session.submit("/neurons find inside-parens")
    assert session.messages("info")[-1] == "stopped after reading 0 of 945 characters"
    assert not session.messages("error")
    assert len([e for e in session.events if isinstance(e, NeuronsShown)]) == shown
    assert session.last(Working).done and not session.generation.running


def test_find_without_the_corpus_reads_the_conversation(tmp_path: Path) -> None:
    s = Session_()
    s.load(str(build_tiny_model(tmp_path)))  # its corpus source is not a file
    s.length, s.seed = 200, 1
    s.submit("To be, or not")
    s.submit("/neurons find regex:t")
    assert s.messages("info")[-1].startswith(f"units that track regex:t over {len('To be, or not') + 200} "
                                             "characters of this session's text:")


def test_parse_unit() -> None:
    current = Unit(1, 7, "c")
    assert parse_unit("", current, 2) == (None, None)
    assert parse_unit("0 5", current, 2) == (Unit(0, 5), None)
    assert parse_unit('1 2 state=c He said "3 men"', current, 2) == (Unit(1, 2, "c"), 'He said "3 men"')
    assert parse_unit("state=h", current, 2) == (Unit(1, 7, "h"), None)
    assert parse_unit("5 To be", current, 1) == (Unit(0, 5), "To be")
    with pytest.raises(RnnplayError, match="this model has 2 layers: give LAYER and UNIT"):
        parse_unit("5 To be", current, 2)


@pytest.mark.parametrize("line", ["0 5 state=x To be", "state=C", "1 2 state= To be"])
def test_a_state_that_is_neither_h_nor_c_is_refused_not_read_as_the_text(line: str) -> None:
    """'/neurons 0 5 state=x …' used to colour the text 'state=x …' by unit 0 5's h, as if nothing were wrong."""
    with pytest.raises(RnnplayError, match=r"state= is h .* or c"):
        parse_unit(line, Unit(1, 7, "c"), 2)


def test_heat_of_only_unseen_characters_is_one_error_that_names_them(session: Session_) -> None:
    session.submit("/heat ☃☃☃")
    (error,) = session.messages("error")
    assert "at least two characters the model knows" in error and "'☃'" in error
    assert session.messages("warning") == [] and session.turns == []


def test_heat_of_a_turn_another_model_wrote_says_so(session: Session_, tmp_path: Path) -> None:
    """After /load, /heat said 'the text has characters the model has never seen', naming ones nobody typed."""
    from rnnplay.core.cells import LSTMCell
    from rnnplay.core.model import Model
    from rnnplay.core.vocab import Vocab
    from rnnplay.models.bundled import save_model

    session.submit("To be")
    writer = session.model_name
    save_model(tmp_path / "few.npz", Model(LSTMCell(), Vocab.from_text("To be"), 8, 1))
    session.submit(f"/load {tmp_path / 'few.npz'}")
    session.submit("/heat")
    (error,) = session.messages("error")
    assert error.startswith(f"turn 1 was written by {writer} and has ") and "the loaded model has never seen" in error
    assert error.endswith(f"/load {writer} to colour it, or give a text: /heat TEXT")


def test_find_in_a_long_pasted_text_keeps_no_activations(session: Session_) -> None:
    """/neurons find TEXT ranks by running sums: 200,000 characters through 32 units (h and c) would be 51 MB of
    activations in float32 and twice that once made float64; the ranking is what the exact correlations give."""
    import tracemalloc

    text = "a (b c) d " * 20_000
    tracemalloc.start()
    session.submit(f"/neurons find inside-parens {text}")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    found = session.last(UnitsFound)
    assert peak < 30 * 2**20, f"{peak / 2**20:.0f} MiB at once"
    model = session.model
    text = model.vocab.decode(model.vocab.encode(text, on_unknown="skip"))  # as the session read it
    signal = condition_signal(text, "inside-parens")
    streams = auto_streams(len(text))
    exact = sorted([*rank_units(activations(model, text, "h", streams), signal, 5, "h"),
                    *rank_units(activations(model, text, "c", streams), signal, 5, "c")],
                   key=lambda s: -abs(s.correlation))[:5]
    assert [u for u, _ in found.units] == [Unit(s.layer, s.unit, s.which) for s in exact]
    assert [r for _, r in found.units] == pytest.approx([s.correlation for s in exact], abs=1e-6)


def test_find_with_a_pattern_that_never_ends_stops_on_esc(model_path: Path) -> None:
    """Run in a child interpreter: matched in-process, the pattern would hold the GIL and hang this test too."""
    script = f"""
from rnnplay.session.events import Message, Working
from rnnplay.session.session import Session
s = Session()
said = []
s.subscribe(lambda e: said.append(e.text) if isinstance(e, Message) else None)
s.subscribe(lambda e: s.cancel() if isinstance(e, Working) and not e.done else None)
s.load({str(model_path)!r})
s.submit("/neurons find regex:(a+)+$ " + "a" * 40 + ".")
print(said[-1])
"""
    try:
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("Esc did not stop the match (a hang)")
    assert done.stdout.strip() == "stopped while matching the regular expression", done.stderr[-2000:]
