"""/whatif and /neurons before any turn say what each can do, not what /heat can.

With nothing written yet, `/whatif 3 e` said "type a seed and press Enter, or give a text (/heat TEXT)": /whatif
takes no text, and `/neurons 0 5` was pointed at /heat too, though it takes a text of its own.
"""

from __future__ import annotations

import pytest

from rnnplay.session.events import Event, Message
from rnnplay.session.session import Session


@pytest.mark.parametrize(("line", "said"), [
    ("/heat", "nothing written yet: type a seed and press Enter, or give a text (/heat TEXT)"),
    ("/whatif 3 e", "nothing written yet: type a seed and press Enter, then /whatif POS CHAR branches from it"),
    ("/neurons 0 5", "nothing written yet: type a seed and press Enter, or give a text (/neurons LAYER UNIT TEXT)"),
])
def test_each_command_says_what_it_can_do_without_a_turn(tiny_session: Session, line: str, said: str) -> None:
    events: list[Event] = []
    tiny_session.subscribe(events.append)
    tiny_session.submit(line)
    assert [e.text for e in events if isinstance(e, Message) and e.level == "error"] == [said]
