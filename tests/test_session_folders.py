"""A folder where the app expects a checkpoint's path: refused in one line, never taken as FOLDER.npz beside it.

`/save FOLDER` used to write FOLDER.npz in the folder's parent (and `/save FOLDER force` replaced a file
there that the user never named); `/train … best=FOLDER` kept its best checkpoint there too, while
`rnnplay train --best FOLDER` refuses the folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_session import Recorder

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
        assert rec.messages("error")[-1] == (f"/save path {folder} is a folder: name a file in it, "
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
