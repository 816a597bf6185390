"""A folder where the app expects a checkpoint's path: refused in one line, never taken as FOLDER.npz beside it.

`/save FOLDER` used to write FOLDER.npz in the folder's parent (and `/save FOLDER force` replaced a file
there that the user never named); `/train … best=FOLDER` kept its best checkpoint there too, while
`rnnplay train --best FOLDER` refuses the folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_session import Recorder

from rnnplay.core import checkpoint
from rnnplay.models.bundled import load_model
from rnnplay.session.session import Session


@pytest.fixture
def session(tiny_session: Session) -> Session:
    return tiny_session


def test_save_refuses_a_folder_and_keeps_the_file_beside_it(session: Session, tmp_path: Path) -> None:
    rec = Recorder(session)
    folder = tmp_path / "models"
    folder.mkdir()
    beside = tmp_path / "models.npz"
    session.submit(f"/save {beside}")  # a checkpoint of the user's, next to the folder
    before = beside.read_bytes()
    for line in (f"/save {folder}", f"/save {folder} force"):
        session.submit(line)
        assert rec.messages("error")[-1] == (f"the checkpoint path {folder} is a folder: name a file in it, "
                                             f"e.g. {folder / 'model.npz'}")
    assert beside.read_bytes() == before and list(folder.iterdir()) == []


@pytest.mark.parametrize("key", ["best", "out"])
def test_train_refuses_a_folder_as_best_or_out(session: Session, tmp_path: Path, small_file: Path,
                                               key: str) -> None:
    rec = Recorder(session)
    folder = tmp_path / "runs"
    folder.mkdir()
    session.submit(f"/train {small_file} steps=2 {key}={folder}")
    assert rec.messages("error") == [f"{key}= path {folder} is a folder: name a file in it, "
                                     f"e.g. {folder / 'model.npz'}"]
    assert session.training is None and not (tmp_path / "runs.npz").exists()


@pytest.mark.parametrize("key", ["best", "out"])
def test_train_names_its_checkpoints_as_save_does(session: Session, tmp_path: Path, small_file: Path,
                                                  key: str) -> None:
    """/train out=notes.txt wrote a checkpoint (a zip) named notes.txt, where /save notes.txt is refused: now both
    are refused in one line naming the .npz to give, before the corpus loads; a name with no suffix gets .npz."""
    rec = Recorder(session)
    session.submit(f"/train {tmp_path / 'not-yet.txt'} steps=2 {key}={tmp_path / 'notes.txt'}")
    assert rec.messages("error") == [f"notes.txt: a checkpoint is a .npz file, e.g. {key}={tmp_path / 'notes.npz'}"]
    assert session.training is None and not (tmp_path / "notes.txt").exists()
    session.submit(f"/train {small_file} steps=2 hidden=8 layers=1 batch=2 seq=8 val_every=1 {key}={tmp_path / 'run'}")
    assert session.training is not None
    session.training.thread.join(120)
    assert load_model(tmp_path / "run.npz").training is not None and not (tmp_path / "run").exists()
    if key == "out":
        assert any(f"checkpoint: {tmp_path / 'run.npz'};" in m for m in rec.messages("info")), rec.messages("info")


@pytest.mark.parametrize("links", [True, False], ids=["hard-links", "no-hard-links"])
def test_save_keeps_a_file_another_program_writes_meanwhile(session: Session, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch, links: bool) -> None:
    """Two apps saving one name at once: the check that the name is free passes in both, and the second rename
    used to replace the first one's model silently. Here the other program writes while this save runs."""
    rec = Recorder(session)
    target = tmp_path / "same.npz"
    real_savez = checkpoint.np.savez

    def savez_while_another_saves(f: object, **arrays: object) -> None:
        target.write_bytes(b"the other program's model")
        real_savez(f, **arrays)

    monkeypatch.setattr(checkpoint.np, "savez", savez_while_another_saves)
    if not links:
        monkeypatch.setattr(checkpoint.os, "link", lambda *a: (_ for _ in ()).throw(OSError(1, "not permitted")))
    session.submit(f"/save {target}")
    assert "another program created it meanwhile" in rec.messages("error")[-1]
    assert target.read_bytes() == b"the other program's model"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".same")] == []  # no temporary left
