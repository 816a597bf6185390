"""/save of a model that is not training keeps how it was trained: its steps, settings and loss history.

/save writes the weights only when no training of the model runs, and it kept the corpus, the validation loss and
the command but not the run's record: the bundled model, or a checkpoint from `rnnplay train`, saved and opened
again had lost its card's `steps` row (`rnnplay export` keeps that record as ``trained``), and a model fine-tuned
from the copy recorded no step for it in its ancestry.
"""

from __future__ import annotations

from pathlib import Path

from rnnplay.models.bundled import load_model
from rnnplay.session.session import Session


def test_a_saved_copy_keeps_the_step_count_and_the_runs_settings(tiny_session: Session, tmp_path: Path) -> None:
    before = dict(tiny_session.card())["steps"]
    tiny_session.submit(f"/save {tmp_path / 'copy.npz'}")
    tiny_session.submit(f"/load {tmp_path / 'copy.npz'}")
    assert tiny_session.model_name == "copy.npz"
    assert dict(tiny_session.card())["steps"] == before == "30"
    trained = load_model(tmp_path / "copy.npz", training_state=False).meta["trained"]
    assert trained["step"] == 30 and trained["config"]["batch_size"] == 8 and trained["history"]["steps"]


def test_a_copy_of_a_copy_keeps_it_too(tiny_session: Session, tmp_path: Path) -> None:
    tiny_session.submit(f"/save {tmp_path / 'one.npz'}")
    tiny_session.submit(f"/load {tmp_path / 'one.npz'}")
    tiny_session.submit(f"/save {tmp_path / 'two.npz'}")
    tiny_session.submit(f"/load {tmp_path / 'two.npz'}")
    assert dict(tiny_session.card())["steps"] == "30"
