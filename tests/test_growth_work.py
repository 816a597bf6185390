"""/train of the loaded model on a text with characters it never saw shows the reading that places them.

Placing a new character's bias reads the first LIFT_CHARS characters of the text through the model
(rnnplay.core.finetune). On the bundled 2×512 model and a busy 2-core machine that reading, with the first
compilation of the cell's kernels, left the app's screen unchanged for two minutes after `/train notes.txt`
before the run's first line came. It is now work like a corpus's loading: a line says what is read, a bar its
share, and Esc stops it with nothing trained and the model as it was.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pilot_helpers import messages, type_line, until
from tiny_model import TEXT

from rnnplay.core.errors import RnnplayError
from rnnplay.core.finetune import LIFT_CHUNK, mean_log_normaliser
from rnnplay.core.train_config import TrainConfig
from rnnplay.models.bundled import load_model
from rnnplay.session.events import Event, Message, Working
from rnnplay.session.session import Session
from rnnplay.ui.tui import RnnplayApp

NEW = "§"  # a character the tiny model (tests/tiny_model.py) has never seen
RUN = "steps=1 batch=2 seq=8 val_every=0"


def text_with_a_new_character(tmp_path: Path) -> Path:
    """The tiny model's own text with one character it lacks."""
    path = tmp_path / "notes.txt"
    path.write_text((TEXT + NEW + "\n") * 4)
    return path


def adding(event: Event) -> bool:
    return isinstance(event, Working) and event.what.startswith("adding 1 new character to tiny.npz: reading ")


async def test_the_app_shows_the_reading_that_adds_a_new_character(tiny_path: Path, tmp_path: Path) -> None:
    session = Session()
    session.load(str(tiny_path))
    seen: list[Event] = []
    session.subscribe(seen.append)
    notes = text_with_a_new_character(tmp_path)
    app = RnnplayApp(session)
    async with app.run_test() as pilot:
        await type_line(pilot, f"/train {notes} {RUN} out={tmp_path / 'run.npz'}")
        await until(pilot, lambda: any(m.startswith("continuing tiny.npz") for m in messages(app, "info")))
        await until(pilot, lambda: session.runner.job is not None and not session.runner.job.alive)
    shown = [i for i, e in enumerate(seen) if adding(e)]
    started = next(i for i, e in enumerate(seen) if isinstance(e, Message) and e.text.startswith("continuing tiny"))
    assert shown and shown[0] < started, [e for e in seen if isinstance(e, Working)]
    assert seen[shown[-1]].done  # the line goes when the reading ends


def test_esc_during_the_reading_stops_it_with_nothing_trained(tiny_path: Path, tmp_path: Path) -> None:
    session = Session()
    session.load(str(tiny_path))
    session.subscribe(lambda e: session.cancel() if adding(e) and not e.done else None)  # Esc, as the line shows
    notes = text_with_a_new_character(tmp_path)
    before = session.model
    out = tmp_path / "run.npz"
    with pytest.raises(RnnplayError, match=r"^stopped adding 1 new character to tiny\.npz: .*; nothing was trained$"):
        session.runner.start(str(notes), TrainConfig(steps=1, batch_size=2, seq_length=8, val_every=0), out=str(out))
    assert session.model is before and not out.exists()


def test_the_reading_in_chunks_gives_the_one_reading_s_value(tiny_path: Path) -> None:
    """Read LIFT_CHUNK at a time with the state carried, Z̄ is what one reading of the whole gives."""
    model = load_model(tiny_path).model
    ids = model.vocab.encode((TEXT * 40)[: 3 * LIFT_CHUNK + 17])
    logits, _, _ = model.forward(ids[:, None], model.initial_state(1))
    y = logits[:, 0, :].astype(np.float64)
    whole = float(np.mean(np.log(np.exp(y).sum(axis=1))))
    shares: list[float] = []
    assert mean_log_normaliser(model, ids, model.vocab.size, shares.append) == pytest.approx(whole, rel=1e-6)
    assert shares[0] == 0.0 and shares[-1] == 1.0 and shares == sorted(shares) and len(shares) == 5  # start, 4 chunks

