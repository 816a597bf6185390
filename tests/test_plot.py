"""Loss plots drawn by matplotlib: a PNG of the right size showing both curves, SVG and PDF by extension,
`train --plot`, and the one-line error (before any training) when matplotlib is missing."""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from child_env import child_env
from file_limits import files_no_larger_than

from rnnplay.core.errors import RnnplayError
from rnnplay.ui.plot_file import HEIGHT, TRAIN, VAL, WIDTH, smooth, write_loss_plot

STEPS = list(range(1, 301))
LOSSES = [1.5 + 2.5 * np.exp(-s / 60) for s in STEPS]
VAL_STEPS = [100, 200, 300]
VAL_LOSSES = [1.9, 1.7, 1.65]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SVG = "{http://www.w3.org/2000/svg}"


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from the PNG's signature and IHDR chunk, the first one in every PNG."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def pixels_like(path: Path, colour: str) -> int:
    """How many pixels of the PNG (read back by matplotlib) are within 2/255 of ``colour`` ("#rrggbb")."""
    from matplotlib.image import imread

    rgb = imread(path)[..., :3]
    want = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)]) / 255
    return int((np.abs(rgb - want) <= 2 / 255).all(axis=-1).sum())


def test_png_is_valid_and_shows_both_curves(tmp_path: Path) -> None:
    path = write_loss_plot(tmp_path / "loss.png", STEPS, LOSSES, VAL_STEPS, VAL_LOSSES, title="test run")
    assert png_size(path) == (WIDTH, HEIGHT)
    from matplotlib.image import imread

    rgb = imread(path)
    assert rgb.shape[:2] == (HEIGHT, WIDTH)
    assert (rgb[0, 0, :3] == 1.0).all()  # white background
    assert pixels_like(path, TRAIN) > 500 and pixels_like(path, VAL) > 100  # lines 2 px wide, hundreds long


def test_svg_and_pdf_by_extension(tmp_path: Path) -> None:
    svg = write_loss_plot(tmp_path / "loss.svg", STEPS, LOSSES, VAL_STEPS, VAL_LOSSES, title="a <b> & c")
    root = ET.parse(svg).getroot()
    assert root.tag == f"{SVG}svg" and any(True for _ in root.iter(f"{SVG}path"))
    pdf = write_loss_plot(tmp_path / "LOSS.PDF", STEPS, LOSSES, VAL_STEPS, VAL_LOSSES)
    assert pdf.read_bytes().startswith(b"%PDF")


def test_one_curve_alone_and_long_curves(tmp_path: Path) -> None:
    steps = np.arange(1, 50_001)
    assert png_size(write_loss_plot(tmp_path / "long.png", steps, 2 + np.sin(steps / 500.0))) == (WIDTH, HEIGHT)
    path = write_loss_plot(tmp_path / "val.png", [], [], VAL_STEPS, VAL_LOSSES)
    assert pixels_like(path, VAL) > 100 and pixels_like(path, TRAIN) == 0


def test_bad_extension_empty_history_and_unwritable_place_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(RnnplayError, match=r"\.png or \.svg file, or a \.pdf"):
        write_loss_plot(tmp_path / "loss.jpg", STEPS, LOSSES)
    with pytest.raises(RnnplayError, match="no loss to plot"):
        write_loss_plot(tmp_path / "loss.png", [], [])
    with pytest.raises(RnnplayError, match="no loss to plot"):  # NaN losses are left out
        write_loss_plot(tmp_path / "loss.png", [1, 2], [float("nan"), float("inf")])
    (tmp_path / "folder.png").mkdir()
    with pytest.raises(RnnplayError, match=r"cannot write .*folder\.png") as err:
        write_loss_plot(tmp_path / "folder.png", STEPS, LOSSES)
    assert "\n" not in str(err.value)


def test_a_plot_that_cannot_be_written_whole_leaves_the_earlier_one_as_it_was(tmp_path: Path) -> None:
    earlier = write_loss_plot(tmp_path / "loss.png", STEPS, LOSSES)
    before = earlier.read_bytes()
    with files_no_larger_than(1000), pytest.raises(RnnplayError) as err:  # as a disk that fills up while it writes
        write_loss_plot(earlier, STEPS, LOSSES, VAL_STEPS, VAL_LOSSES)
    assert str(err.value) == f"cannot write {earlier}: File too large; pick another place"
    assert earlier.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["loss.png"]  # no .tmp left


def test_without_matplotlib_the_error_says_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now raises ImportError
    with pytest.raises(RnnplayError, match=r"pip install 'rnnplay\[plot\]'"):
        write_loss_plot(tmp_path / "loss.png", STEPS, LOSSES)
    assert not (tmp_path / "loss.png").exists()


def test_smoothing() -> None:
    np.testing.assert_allclose(smooth(np.array([1.0, 2.0, 3.0])), [1.0, 2.0, 3.0])
    flat = smooth(np.r_[np.zeros(100), np.ones(100)])
    assert flat[0] == 0 and flat[-1] == 1 and 0 < flat[100] < 1


def test_importing_rnnplay_does_not_load_matplotlib() -> None:
    code = "import sys, rnnplay.ui.cli, rnnplay.ui.cli.cmd_train; print('matplotlib' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "False", r.stderr


TRAIN_ARGS = ["--layers", "1", "--hidden", "16", "--batch-size", "4", "--seq-length", "16", "--steps", "12",
              "--val-every", "5", "--out", "m.npz"]


def test_train_plot_writes_the_file(small_file: Path, tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "rnnplay", "train", str(small_file), *TRAIN_ARGS, "--plot", "loss.png"],
                       cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "wrote the loss curves to loss.png" in r.stderr
    assert png_size(tmp_path / "loss.png") == (WIDTH, HEIGHT)
    assert pixels_like(tmp_path / "loss.png", TRAIN) > 0 and pixels_like(tmp_path / "loss.png", VAL) > 0
    bad = subprocess.run([sys.executable, "-m", "rnnplay", "train", str(small_file), *TRAIN_ARGS, "--plot", "a.jpg"],
                         cwd=tmp_path, capture_output=True, text=True)
    assert bad.returncode == 1 and bad.stderr.strip().count("\n") == 0 and ".png or .svg file, or a .pdf" in bad.stderr


def test_train_plot_without_matplotlib_fails_before_training(small_file: Path, tmp_path: Path) -> None:
    stub = tmp_path / "stub" / "matplotlib"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text("raise ImportError('matplotlib is blocked for this test')\n")
    run = tmp_path / "run"
    run.mkdir()
    env = child_env(stub.parent)
    r = subprocess.run([sys.executable, "-m", "rnnplay", "train", str(small_file), *TRAIN_ARGS, "--plot", "loss.png"],
                       cwd=run, capture_output=True, text=True, env=env)
    assert r.returncode == 1
    assert r.stderr.strip().count("\n") == 0, r.stderr
    assert "matplotlib" in r.stderr and "pip install 'rnnplay[plot]'" in r.stderr
    assert list(run.iterdir()) == []  # no checkpoint, no plot, no lock: nothing was trained
    plain = subprocess.run([sys.executable, "-m", "rnnplay", "train", str(small_file), *TRAIN_ARGS],
                           cwd=run, capture_output=True, text=True, env=env)
    assert plain.returncode == 0 and (run / "m.npz").exists(), plain.stderr  # training itself needs no matplotlib


def test_train_plot_is_written_when_interrupted(small_file: Path, tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "rnnplay", "train", str(small_file), "--layers", "1", "--hidden", "16", "--batch-size",
         "4", "--seq-length", "16", "--steps", "100000", "--checkpoint-every", "0", "--out", "m.npz",
         "--plot", "loss.svg"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stderr is not None
    for line in proc.stderr:  # wait until training has really started
        if "step 1 " in line:
            break
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "wrote the loss curves to loss.svg" in err, err
    assert ET.parse(tmp_path / "loss.svg").getroot().tag == f"{SVG}svg"


def test_matplotlib_says_nothing_of_a_config_folder_it_cannot_make(tmp_path: Path) -> None:
    """With the config and cache folders read-only (here: under a file), matplotlib printed two lines of its own
    before the training started (mkdir failed, a temporary cache folder made)."""
    (tmp_path / "afile").write_text("not a folder")
    (tmp_path / "tiny.txt").write_text("ab ba aab\n" * 300)
    env = {k: v for k, v in os.environ.items() if k not in ("MPLCONFIGDIR",)}
    env.update(XDG_CONFIG_HOME=str(tmp_path / "afile"), XDG_CACHE_HOME=str(tmp_path / "afile"), HOME=str(tmp_path))
    done = subprocess.run([sys.executable, "-m", "rnnplay", "train", "tiny.txt", "--steps", "2", "--hidden", "4",
                           "--layers", "1", "--batch-size", "2", "--seq-length", "8", "--out", "t.npz", "--plot",
                           "t.png"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "matplotlib" not in done.stderr.lower() and (tmp_path / "t.png").exists(), done.stderr


def test_train_help_names_every_kind_of_plot_file() -> None:
    """The help said `(.png or .svg)`, though a .pdf is written too (README)."""
    r = subprocess.run([sys.executable, "-m", "rnnplay", "train", "--help"], capture_output=True, text=True,
                       env={**os.environ, "COLUMNS": "200"})
    assert r.returncode == 0, r.stderr
    assert "write the loss curves to PATH (.png, .svg or .pdf)" in r.stdout
