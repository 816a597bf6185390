"""Lines about a model /new made name it as such: "continuing the untrained model", not "continuing untrained".

/new gives the model no file, and the session's name for it is 'untrained'; the lines that name the loaded model by
its file's name read "continuing untrained (1×8 lstm, …) on tw.py" and, when the training saved nothing,
"untrained is loaded, as before".
"""

from __future__ import annotations

from pathlib import Path

from waiting import wait_for

from rnnplay.session.events import Event, Message
from rnnplay.session.session import Session

TIMEOUT = 60  # a bound that catches a hang, not a speed claim


def test_a_new_models_training_names_it_the_untrained_model(tiny_session: Session, small_file: Path,
                                                             tmp_path: Path) -> None:
    events: list[Event] = []
    tiny_session.subscribe(events.append)
    tiny_session.submit("/new cell=lstm layers=1 hidden=8")
    tiny_session.submit(f"/train {small_file} steps=100000 batch=2 seq=8 out={tmp_path / 'run.npz'}")
    said = [e.text for e in events if isinstance(e, Message) and e.level == "info"]
    assert any(line.startswith("continuing the untrained model (1×8 lstm)") for line in said), said
    assert not any("continuing untrained" in line for line in said)
    tiny_session.close()
    wait_for(lambda: any("is loaded, as before" in e.text or "saved" in e.text for e in list(events)
                         if isinstance(e, Message) and e.text.startswith(("no step", "training stopped"))),
             "the training's end", TIMEOUT)
    ends = [e.text for e in events if isinstance(e, Message) and e.text.startswith("no step")]
    assert all(line.endswith("the untrained model is loaded, as before") for line in ends), ends
