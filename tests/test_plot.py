"""Loss plots: a PNG that parses back chunk by chunk, an SVG that parses as XML, and `train --plot`."""

from __future__ import annotations

import signal
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import numpy as np
import pytest

from rnnplay.core.errors import RnnplayError
from rnnplay.ui.plot_file import HEIGHT, TRAIN, VAL, WIDTH, nice_ticks, smooth, write_loss_plot

STEPS = list(range(1, 301))
LOSSES = [1.5 + 2.5 * np.exp(-s / 60) for s in STEPS]
VAL_STEPS = [100, 200, 300]
VAL_LOSSES = [1.9, 1.7, 1.65]


def read_png(path: Path) -> tuple[dict[str, bytes], np.ndarray]:
    """Parse a PNG file: check the signature and every CRC, return (chunks, decoded RGB pixels)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks: dict[str, bytes] = {}
    order = []
    pos = 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body), f"bad CRC in {kind!r}"
        chunks[kind.decode()] = chunks.get(kind.decode(), b"") + body
        order.append(kind.decode())
        pos += 12 + length
    assert order[0] == "IHDR" and order[-1] == "IEND" and "IDAT" in order
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks["IHDR"])
    assert (depth, colour, interlace) == (8, 2, 0)
    raw = zlib.decompress(chunks["IDAT"])
    assert len(raw) == height * (1 + 3 * width)
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(height, 1 + 3 * width)
    assert (rows[:, 0] == 0).all()  # filter type 0 on every row
    return chunks, rows[:, 1:].reshape(height, width, 3)


def test_png_is_valid_and_shows_both_curves(tmp_path: Path) -> None:
    path = write_loss_plot(tmp_path / "loss.png", STEPS, LOSSES, VAL_STEPS, VAL_LOSSES, title="test run")
    _, rgb = read_png(path)
    assert rgb.shape == (HEIGHT, WIDTH, 3)
    colours = rgb.reshape(-1, 3)
    n_train = int((colours == TRAIN).all(axis=1).sum())
    n_val = int((colours == VAL).all(axis=1).sum())
    assert n_train > 500 and n_val > 100  # the curves' solid cores, 2 px wide over hundreds of px
    assert (rgb[0, 0] == 255).all()  # white background


def test_svg_parses_and_has_the_curves(tmp_path: Path) -> None:
    path = write_loss_plot(tmp_path / "loss.svg", STEPS, LOSSES, VAL_STEPS, VAL_LOSSES, title="a <b> & c")
    root = ET.parse(path).getroot()
    ns = "{http://www.w3.org/2000/svg}"
    lines = {p.get("class"): p.get("points") for p in root.iter(f"{ns}polyline") if p.get("class")}
    assert set(lines) == {"train", "validation"}
    val_points = [tuple(map(float, p.split(","))) for p in lines["validation"].split()]
    assert len(val_points) == 3
    assert all(0 <= x <= WIDTH and 0 <= y <= HEIGHT for x, y in val_points)
    assert val_points[0][1] < val_points[-1][1]  # higher loss is drawn higher up (smaller y)
    texts = [t.text for t in root.iter(f"{ns}text")]
    assert "a <b> & c" in texts and "nats/char" in texts and "step" in texts


def test_training_curve_alone_and_long_curves_are_thinned(tmp_path: Path) -> None:
    steps = np.arange(1, 50_001)
    path = write_loss_plot(tmp_path / "long.svg", steps, 2 + np.sin(steps / 500.0))
    root = ET.parse(path).getroot()
    points = [p.get("points") for p in root.iter("{http://www.w3.org/2000/svg}polyline") if p.get("class")]
    assert len(points) == 2 and all(len(p.split()) <= 1001 for p in points)  # raw and smoothed


def test_bad_extension_and_empty_history_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(RnnplayError, match=r"\.png or \.svg"):
        write_loss_plot(tmp_path / "loss.jpg", STEPS, LOSSES)
    with pytest.raises(RnnplayError, match="no loss to plot"):
        write_loss_plot(tmp_path / "loss.png", [], [])


def test_ticks_and_smoothing() -> None:
    assert nice_ticks(0, 3000) == [0, 1000, 2000, 3000]
    assert nice_ticks(1.23, 4.1, count=8) == [1.5, 2.0, 2.5, 3.0, 3.5, 4.0]
    np.testing.assert_allclose(smooth(np.array([1.0, 2.0, 3.0])), [1.0, 2.0, 3.0])
    flat = smooth(np.r_[np.zeros(100), np.ones(100)])
    assert flat[0] == 0 and flat[-1] == 1 and 0 < flat[100] < 1


def test_train_plot_writes_the_file(small_file: Path, tmp_path: Path) -> None:
    args = ["--layers", "1", "--hidden", "16", "--batch-size", "4", "--seq-length", "16", "--steps", "12",
            "--val-every", "5", "--out", str(tmp_path / "m.npz")]
    r = subprocess.run([sys.executable, "-m", "rnnplay", "train", str(small_file), *args, "--plot", "loss.png"],
                       cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "wrote the loss curves to loss.png" in r.stderr
    _, rgb = read_png(tmp_path / "loss.png")
    assert (rgb.reshape(-1, 3) == TRAIN).all(axis=1).any()
    bad = subprocess.run([sys.executable, "-m", "rnnplay", "train", str(small_file), *args, "--plot", "loss.pdf"],
                         cwd=tmp_path, capture_output=True, text=True)
    assert bad.returncode == 1 and bad.stderr.strip().count("\n") == 0 and ".png or .svg" in bad.stderr


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
    root = ET.parse(tmp_path / "loss.svg").getroot()
    assert any(p.get("class") == "train" for p in root.iter("{http://www.w3.org/2000/svg}polyline"))
