"""A first training step that waits for the kernels' first compilation says so, not that the cell is slow.

On a first run the first /train of an LSTM compiles its kernels: on a busy machine step 1 of a 1×32 LSTM took 70 s,
and at 30 s the app said "the cell 'lstm' of rnnplay is slow here (a large model, a busy machine, memory short)",
sending the user to look for a cause that was not there. A seed that waits for the kernels already says it waits
for them; the step's stall line now says so too. Here the kernels' loading is held (``held_kernels``, as the first
compilation holds it) and the stall time made short; the line must name the kernels, and the step returns after.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest
from waiting import wait_for

from rnnplay.session.events import Event, Message
from rnnplay.session.session import Session

TIMEOUT = 60  # a bound that catches a hang, not a speed claim


def test_a_step_held_by_the_kernels_compilation_names_them(held_kernels: threading.Event, tiny_path: Path,
                                                           small_file: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RNNPLAY_STEP_STALL_SECONDS", "0.5")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    session = Session()
    session.load(str(tiny_path))
    events: list[Event] = []
    session.subscribe(events.append)

    def warned(pattern: str) -> str | None:
        return next((e.text for e in list(events) if isinstance(e, Message) and e.level == "warning"
                     and re.search(pattern, e.text)), None)

    try:
        session.submit(f"/train {small_file} from=new cell=lstm hidden=8 layers=1 batch=2 seq=8 steps=2 "
                       f"out={tmp_path / 'run.npz'}")
        line = wait_for(lambda: warned("^training step 1 has not returned"), "the stall line", TIMEOUT)
        assert "it waits for rnnplay's compiled kernels, which a first run compiles" in line, line
        assert "slow here" not in line
        held_kernels.set()
        wait_for(lambda: warned("^training step 1 returned after all"), "the step's return", TIMEOUT)
    finally:
        held_kernels.set()
        session.close()
