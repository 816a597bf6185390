"""A user's regular expression is matched in a child process that Esc (cancel) or Ctrl-C stops."""

from __future__ import annotations

import re
import threading

import pytest

from rnnplay.core.regex_search import match_spans
from rnnplay.core.work import Cancelled

CATASTROPHIC = "(a+)+$"  # about 2^40 ways to fail on forty a's and a '!': longer than anyone waits
NEVER_ENDS = "a" * 40 + "!"


@pytest.mark.parametrize(("pattern", "text"), [
    (r"\(.*?\)", "a (b) c (d e) f"),
    (r"^\w+:", "ROMEO:\nJULIET:\nnone here\n"),
    ("é+", "café crème, née\u0301"),
    (".", "\ud800x\U0001f600"),  # a lone surrogate and a character past U+FFFF keep their positions
    ("z", "no match"),
])
def test_the_spans_are_those_of_re(pattern: str, text: str) -> None:
    assert match_spans(pattern, text) == [m.span() for m in re.finditer(pattern, text)]


def test_a_bad_pattern_is_re_error_before_any_child() -> None:
    with pytest.raises(re.error):
        match_spans("(unclosed", "text")


def test_cancel_stops_a_pattern_that_would_never_end() -> None:
    asked: list[int] = []
    outcome: list[BaseException] = []

    def match() -> None:
        try:
            match_spans(CATASTROPHIC, NEVER_ENDS, cancel=lambda: asked.append(1) or len(asked) > 3)
        except Cancelled as err:
            outcome.append(err)

    worker = threading.Thread(target=match, daemon=True)
    worker.start()
    worker.join(120)  # a bound against a hang, not a speed: matched in this process it would not end
    assert not worker.is_alive(), "the match was not stopped"
    assert [str(e) for e in outcome] == ["stopped while matching the regular expression"] and len(asked) == 4
