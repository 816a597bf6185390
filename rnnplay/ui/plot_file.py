"""Loss curves as .svg or .png files, with no plotting library.

One layout serves both formats: a :class:`Frame` maps (step, loss) to pixels,
``nice_ticks`` picks round tick values, and the two writers draw the same
picture, the training loss (raw, faint; smoothed, solid) and the validation
loss (line with dots).

* SVG is plain text: ``<polyline points="x,y x,y …">`` and ``<text>`` elements.
* PNG is drawn into a NumPy RGB array and encoded by hand. A line is drawn
  as a distance field: a pixel at distance d from the nearest segment gets
  coverage ``clamp(w/2 + ½ - d, 0, 1)`` (w the line width), which gives
  anti-aliased edges, and is blended as ``rgb = rgb·(1-a) + colour·a``. Labels
  use a built-in 3×5 pixel font (upper case, digits, a few signs) drawn at 2×.
  A PNG file is the 8-byte signature and three chunks, each
  ``length (4 bytes) | type | data | CRC-32 of type+data``: IHDR (size,
  8-bit RGB), IDAT (zlib of every row prefixed with filter byte 0), IEND.

Smoothing is a centred moving average over ``max(1, n/50)`` steps (shrinking at
the ends), so it does not lag behind the raw curve as an exponential average would.
"""

from __future__ import annotations

import itertools
import math
import os
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

from rnnplay.core.errors import RnnplayError

WIDTH, HEIGHT = 800, 480
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 50, 50  # margins around the plot area
MAX_POINTS = 1000  # longer curves are thinned to this many points before drawing

TRAIN_RAW = (190, 208, 232)
TRAIN = (31, 119, 180)
VAL = (214, 39, 40)
AXIS = (60, 60, 60)
GRID = (228, 228, 228)
BACKGROUND = (255, 255, 255)


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


# -- shared layout ---------------------------------------------------------------------


def smooth(values: np.ndarray) -> np.ndarray:
    """Centred moving average over w = max(1, n/50) points (odd), the window shrinking at both ends.

    With c = cumsum([0, v…]), the mean of v[a:b] is (c[b] - c[a]) / (b - a): one pass, no loop.
    """
    n = len(values)
    half = max(1, n // 50) // 2
    c = np.concatenate([[0.0], np.cumsum(values, dtype=np.float64)])
    idx = np.arange(n)
    a, b = np.maximum(idx - half, 0), np.minimum(idx + half + 1, n)
    return (c[b] - c[a]) / (b - a)


def thin(xs: np.ndarray, ys: np.ndarray, limit: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """Every k-th point (and the last) so at most about ``limit`` remain."""
    if len(xs) <= limit:
        return xs, ys
    keep = np.unique(np.r_[np.arange(0, len(xs), math.ceil(len(xs) / limit)), len(xs) - 1])
    return xs[keep], ys[keep]


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round values (1, 2 or 5 × 10^k apart) covering [lo, hi], about ``count`` of them."""
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    return [round(first + i * step, 10) for i in range(int((hi - first) / step + 1e-9) + 1)]


def tick_label(value: float, step: float) -> str:
    """'1.5', '2000', '12k'."""
    if step >= 1 and abs(value) >= 10_000 and value % 1000 == 0:
        return f"{value / 1000:g}k"
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) if step < 1 else 0
    return f"{value:.{decimals}f}"


@dataclass
class Frame:
    """The mapping from data (step, loss) to pixels (x right, y down) and the ticks on both axes."""

    x_lo: float
    x_hi: float
    y_lo: float
    y_hi: float
    x_ticks: list[float]
    y_ticks: list[float]

    @classmethod
    def fit(cls, xs: np.ndarray, ys: np.ndarray) -> Frame:
        x_ticks = nice_ticks(0.0, float(xs.max()))
        y_min, y_max = float(ys.min()), float(ys.max())
        pad = max((y_max - y_min) * 0.05, 0.01)
        y_ticks = nice_ticks(y_min - pad, y_max + pad, count=8)
        return cls(0.0, max(float(xs.max()), x_ticks[-1]), y_min - pad, y_max + pad, x_ticks, y_ticks)

    def px(self, x: np.ndarray | float) -> np.ndarray:
        return LEFT + (np.asarray(x, dtype=np.float64) - self.x_lo) / (self.x_hi - self.x_lo) * (WIDTH - LEFT - RIGHT)

    def py(self, y: np.ndarray | float) -> np.ndarray:
        return TOP + (self.y_hi - np.asarray(y, dtype=np.float64)) / (self.y_hi - self.y_lo) * (HEIGHT - TOP - BOTTOM)

    def visible_y_ticks(self) -> list[float]:
        return [t for t in self.y_ticks if self.y_lo <= t <= self.y_hi]


@dataclass
class Curves:
    """Everything to draw, in data units: raw and smoothed training loss, validation loss."""

    steps: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    val_steps: np.ndarray
    val_losses: np.ndarray

    @classmethod
    def build(cls, steps: Sequence[int], losses: Sequence[float], val_steps: Sequence[int],
              val_losses: Sequence[float]) -> Curves:
        s, ls = np.asarray(steps, dtype=np.float64), np.asarray(losses, dtype=np.float64)
        vs, vl = np.asarray(val_steps, dtype=np.float64), np.asarray(val_losses, dtype=np.float64)
        if len(s) != len(ls) or len(vs) != len(vl):
            raise RnnplayError("steps and losses must have the same length")
        ok, vok = np.isfinite(ls), np.isfinite(vl)
        s, ls, vs, vl = s[ok], ls[ok], vs[vok], vl[vok]
        if not len(s) and not len(vs):
            raise RnnplayError("there is no loss to plot yet: train for at least one step")
        return cls(s, ls, smooth(ls) if len(ls) else ls, vs, vl)

    def frame(self) -> Frame:
        return Frame.fit(np.r_[self.steps, self.val_steps], np.r_[self.losses, self.val_losses])


def plot_format(path: str | os.PathLike[str]) -> str:
    """".png" or ".svg" from the file name; anything else is a one-line error (check it before training)."""
    suffix = Path(path).suffix.lower()
    if suffix not in (".svg", ".png"):
        raise RnnplayError(f"cannot write a plot to {Path(path).name}: name a .png or .svg file")
    return suffix


def write_loss_plot(
    path: str | os.PathLike[str],
    steps: Sequence[int],
    losses: Sequence[float],
    val_steps: Sequence[int] = (),
    val_losses: Sequence[float] = (),
    title: str = "Training loss",
) -> Path:
    """Write the loss curves to ``path``; its extension (.svg or .png) picks the format."""
    path = Path(path)
    suffix = plot_format(path)
    curves = Curves.build(steps, losses, val_steps, val_losses)
    data = svg_plot(curves, title).encode() if suffix == ".svg" else png_bytes(render_png(curves, title))
    try:
        path.write_bytes(data)
    except OSError as err:
        raise RnnplayError(f"cannot write {path}: {err.strerror}; pick another place") from None
    return path


def _legend(curves: Curves) -> list[tuple[str, tuple[int, int, int]]]:
    items = []
    if len(curves.steps):
        items.append(("training (smoothed)", TRAIN))
    if len(curves.val_steps):
        items.append(("validation", VAL))
    return items


# -- SVG ---------------------------------------------------------------------------------


def _points(xs: np.ndarray, ys: np.ndarray) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs.tolist(), ys.tolist(), strict=True))


def svg_plot(curves: Curves, title: str) -> str:
    """The picture as an SVG document."""
    f = curves.frame()
    x0, x1, y0, y1 = LEFT, WIDTH - RIGHT, TOP, HEIGHT - BOTTOM
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="{_hex(BACKGROUND)}"/>',
        f'<text x="{WIDTH / 2}" y="24" text-anchor="middle" font-size="16">{escape(title)}</text>',
    ]
    x_step = f.x_ticks[1] - f.x_ticks[0] if len(f.x_ticks) > 1 else 1.0
    for t in f.x_ticks:
        x = float(f.px(t))
        out.append(f'<line x1="{x:.1f}" y1="{y0}" x2="{x:.1f}" y2="{y1 + 5}" stroke="{_hex(GRID)}"/>')
        out.append(f'<text x="{x:.1f}" y="{y1 + 18}" text-anchor="middle">{tick_label(t, x_step)}</text>')
    y_ticks = f.visible_y_ticks()
    y_step = f.y_ticks[1] - f.y_ticks[0] if len(f.y_ticks) > 1 else 1.0
    for t in y_ticks:
        y = float(f.py(t))
        out.append(f'<line x1="{x0 - 5}" y1="{y:.1f}" x2="{x1}" y2="{y:.1f}" stroke="{_hex(GRID)}"/>')
        out.append(f'<text x="{x0 - 8}" y="{y + 4:.1f}" text-anchor="end">{tick_label(t, y_step)}</text>')
    out.append(f'<polyline points="{x0},{y0} {x0},{y1} {x1},{y1}" fill="none" stroke="{_hex(AXIS)}"/>')
    out.append(f'<text x="{(x0 + x1) / 2}" y="{HEIGHT - 12}" text-anchor="middle">step</text>')
    out.append(f'<text x="8" y="{y0 - 12}">nats/char</text>')
    if len(curves.steps):
        for values, colour, width in ((curves.losses, TRAIN_RAW, 1), (curves.smoothed, TRAIN, 2)):
            xs, ys = thin(curves.steps, values)
            out.append(f'<polyline class="train" points="{_points(f.px(xs), f.py(ys))}" fill="none" '
                       f'stroke="{_hex(colour)}" stroke-width="{width}" stroke-linejoin="round"/>')
    if len(curves.val_steps):
        vx, vy = f.px(curves.val_steps), f.py(curves.val_losses)
        out.append(f'<polyline class="validation" points="{_points(vx, vy)}" fill="none" '
                   f'stroke="{_hex(VAL)}" stroke-width="2"/>')
        out.extend(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{_hex(VAL)}"/>'
                   for x, y in zip(vx.tolist(), vy.tolist(), strict=True))
    for i, (label, colour) in enumerate(_legend(curves)):
        ly = y0 + 14 + 18 * i
        out.append(f'<line x1="{x1 - 170}" y1="{ly - 4}" x2="{x1 - 145}" y2="{ly - 4}" stroke="{_hex(colour)}" '
                   f'stroke-width="3"/>')
        out.append(f'<text x="{x1 - 138}" y="{ly}">{label}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


# -- PNG -----------------------------------------------------------------------------------

# 3×5 glyphs, rows top to bottom, '#' = ink. Text is drawn upper case.
_FONT_ROWS = {
    "0": "### #.# #.# #.# ###", "1": ".#. ##. .#. .#. ###", "2": "### ..# ### #.. ###",
    "3": "### ..# ### ..# ###", "4": "#.# #.# ### ..# ..#", "5": "### #.. ### ..# ###",
    "6": "### #.. ### #.# ###", "7": "### ..# .#. .#. .#.", "8": "### #.# ### #.# ###",
    "9": "### #.# ### ..# ###", ".": "... ... ... ... .#.", "-": "... ... ### ... ...",
    "/": "..# ..# .#. #.. #..", ":": "... .#. ... .#. ...", "(": ".#. #.. #.. #.. .#.",
    ")": ".#. ..# ..# ..# .#.", " ": "... ... ... ... ...", ",": "... ... ... .#. #..",
    "A": ".#. #.# ### #.# #.#", "B": "##. #.# ##. #.# ##.", "C": ".## #.. #.. #.. .##",
    "D": "##. #.# #.# #.# ##.", "E": "### #.. ##. #.. ###", "F": "### #.. ##. #.. #..",
    "G": ".## #.. #.# #.# .##", "H": "#.# #.# ### #.# #.#", "I": "### .#. .#. .#. ###",
    "J": "..# ..# ..# #.# .#.", "K": "#.# #.# ##. #.# #.#", "L": "#.. #.. #.. #.. ###",
    "M": "#.# ### ### #.# #.#", "N": "##. #.# #.# #.# #.#", "O": ".#. #.# #.# #.# .#.",
    "P": "##. #.# ##. #.. #..", "Q": ".#. #.# #.# ##. .##", "R": "##. #.# ##. #.# #.#",
    "S": ".## #.. .#. ..# ##.", "T": "### .#. .#. .#. .#.", "U": "#.# #.# #.# #.# ###",
    "V": "#.# #.# #.# #.# .#.", "W": "#.# #.# ### ### #.#", "X": "#.# #.# .#. #.# #.#",
    "Y": "#.# #.# .#. .#. .#.", "Z": "### ..# .#. #.. ###",
}
FONT = {ch: np.array([[c == "#" for c in row] for row in rows.split()]) for ch, rows in _FONT_ROWS.items()}
SCALE = 2  # each font pixel is SCALE×SCALE screen pixels


def text_width(text: str) -> int:
    return len(text) * 4 * SCALE - SCALE


def draw_text(img: np.ndarray, text: str, x: float, y: float, colour: tuple[int, int, int],
              anchor: str = "start") -> None:
    """Draw ``text`` with its top-left at (x, y) ("start"), or centred/right-aligned on x ("middle"/"end")."""
    x -= {"start": 0, "middle": text_width(text) / 2, "end": text_width(text)}[anchor]
    x, y = round(x), round(y)
    for ch in text.upper():
        glyph = np.kron(FONT.get(ch, FONT[" "]), np.ones((SCALE, SCALE), dtype=bool))
        h, w = glyph.shape
        ys, xs = slice(max(y, 0), min(y + h, img.shape[0])), slice(max(x, 0), min(x + w, img.shape[1]))
        if ys.start < ys.stop and xs.start < xs.stop:
            region = glyph[ys.start - y : ys.stop - y, xs.start - x : xs.stop - x]
            img[ys, xs][region] = colour
        x += 4 * SCALE


def _blend(img: np.ndarray, alpha: np.ndarray, colour: tuple[int, int, int]) -> None:
    """rgb ← rgb·(1-α) + colour·α, for a float coverage map α of the image's size."""
    a = alpha[..., None]
    img[:] = np.round(img * (1.0 - a) + np.asarray(colour, dtype=np.float64) * a).astype(np.uint8)


def polyline_coverage(shape: tuple[int, int], xs: np.ndarray, ys: np.ndarray, width: float) -> np.ndarray:
    """Coverage in [0, 1] of every pixel by a polyline of the given width.

    For each segment P→Q, within its bounding box, the nearest point to pixel
    centre X is P + t·(Q-P) with t = clamp((X-P)·(Q-P) / |Q-P|², 0, 1), and
    coverage = clamp(width/2 + ½ - |X - nearest|, 0, 1). Overlapping segments
    take the maximum, so joints are not drawn twice as dark.
    """
    cov = np.zeros(shape, dtype=np.float64)
    r = width / 2 + 1
    pts = np.c_[xs, ys]
    if len(pts) == 1:
        pts = np.r_[pts, pts]
    for (px, py), (qx, qy) in itertools.pairwise(pts.tolist()):
        xa, xb = max(int(min(px, qx) - r), 0), min(int(max(px, qx) + r) + 1, shape[1])
        ya, yb = max(int(min(py, qy) - r), 0), min(int(max(py, qy) + r) + 1, shape[0])
        if xa >= xb or ya >= yb:
            continue
        gy, gx = np.mgrid[ya:yb, xa:xb] + 0.5  # pixel centres
        dx, dy = qx - px, qy - py
        length2 = dx * dx + dy * dy
        t = np.clip(((gx - px) * dx + (gy - py) * dy) / length2, 0.0, 1.0) if length2 > 0 else 0.0
        dist = np.hypot(gx - (px + t * dx), gy - (py + t * dy))
        np.maximum(cov[ya:yb, xa:xb], np.clip(width / 2 + 0.5 - dist, 0.0, 1.0), out=cov[ya:yb, xa:xb])
    return cov


def render_png(curves: Curves, title: str) -> np.ndarray:
    """The picture as an (HEIGHT, WIDTH, 3) uint8 RGB array."""
    f = curves.frame()
    img = np.empty((HEIGHT, WIDTH, 3), dtype=np.uint8)
    img[:] = BACKGROUND
    shape = (HEIGHT, WIDTH)
    x0, x1, y0, y1 = LEFT, WIDTH - RIGHT, TOP, HEIGHT - BOTTOM
    x_step = f.x_ticks[1] - f.x_ticks[0] if len(f.x_ticks) > 1 else 1.0
    for t in f.x_ticks:
        x = int(f.px(t))
        img[y0:y1, x] = GRID
        img[y1 : y1 + 5, x] = AXIS
        draw_text(img, tick_label(t, x_step), x, y1 + 9, AXIS, "middle")
    y_step = f.y_ticks[1] - f.y_ticks[0] if len(f.y_ticks) > 1 else 1.0
    for t in f.visible_y_ticks():
        y = int(f.py(t))
        img[y, x0:x1] = GRID
        img[y, x0 - 5 : x0] = AXIS
        draw_text(img, tick_label(t, y_step), x0 - 9, y - 5, AXIS, "end")
    img[y0 : y1 + 1, x0] = AXIS
    img[y1, x0 : x1 + 1] = AXIS
    draw_text(img, title, WIDTH / 2, 16, AXIS, "middle")
    draw_text(img, "step", (x0 + x1) / 2, HEIGHT - 20, AXIS, "middle")
    draw_text(img, "nats/char", 8, y0 - 22, AXIS)
    if len(curves.steps):
        for values, colour, width in ((curves.losses, TRAIN_RAW, 1.0), (curves.smoothed, TRAIN, 2.0)):
            xs, ys = thin(curves.steps, values)
            _blend(img, polyline_coverage(shape, f.px(xs), f.py(ys), width), colour)
    if len(curves.val_steps):
        vx, vy = f.px(curves.val_steps), f.py(curves.val_losses)
        cov = polyline_coverage(shape, vx, vy, 2.0)
        for x, y in zip(vx.tolist(), vy.tolist(), strict=True):  # a dot is a one-point line 7 px wide
            np.maximum(cov, polyline_coverage(shape, np.array([x]), np.array([y]), 7.0), out=cov)
        _blend(img, cov, VAL)
    for i, (label, colour) in enumerate(_legend(curves)):
        ly = y0 + 10 + 18 * i
        img[ly : ly + 3, x1 - 200 : x1 - 175] = colour
        draw_text(img, label, x1 - 168, ly - 3, AXIS)
    return img


def png_bytes(rgb: np.ndarray) -> bytes:
    """Encode an (H, W, 3) uint8 array as a PNG file (8-bit truecolour, no interlace)."""
    height, width, _ = rgb.shape

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = np.concatenate([np.zeros((height, 1), dtype=np.uint8), rgb.reshape(height, width * 3)], axis=1)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # bit depth 8, colour type 2 (RGB)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows.tobytes(), 9))
            + chunk(b"IEND", b""))
