"""Looking inside a model: what each hidden unit does while it reads a text.

Everything returns NumPy arrays, for notebooks as much as for the CLI and the app::

    from rnnplay.models.bundled import load_model
    from rnnplay.core.neurons import activations, condition_signal, find_neurons

    model = load_model("my.npz").model
    acts = activations(model, text)                     # (len(text), layers, hidden)
    for s in find_neurons(model, text, "inside-quotes"):
        print(s.layer, s.unit, s.correlation)

**Activations.** The text runs through :meth:`Model.step` one character at a
time from the zero state, so any cell works, a plugin's included: only
``cell.step`` is used. ``acts[t, l, j]`` is unit j of layer l *after reading*
``text[t]``: ``state[0]`` (h, the output the next layer and the head read), or
``state[1]`` for ``which="c"`` (the LSTM's cell state c; any cell with a second
state array exposes that).

**Conditions.** ``condition_signal(text, name)[t]`` describes the same moment,
after reading ``text[t]`` (so an opening parenthesis is already inside):

* ``inside-quotes``: inside "…" or '…'. A ``"`` always opens or closes. A ``'``
  between two letters is an apostrophe (don't, o'er) and is ignored; otherwise
  it opens a quote when followed by a non-space and closes one when preceded by
  a non-space. A quote of one kind inside the other is text. An unclosed quote
  ends at a blank line, so one stray mark (a play's 'tis) cannot poison a whole file.
* ``inside-parens``: bracket depth > 0, counting ( and [ up and ) and ] down (never below 0).
* ``after-newline``: the first character of each line (and of the text).
* ``line-position``: the character's index within its line, divided by the
  largest such index in the text, so it runs from 0 to 1.
* ``regex:PATTERN``: 1 inside every match of PATTERN (Python ``re``), else 0.

**Ranking units.** For activation a_j (one column: unit j over T positions) and
signal s, Pearson's correlation is::

    r_j = Σ_t (a_tj - ā_j)(s_t - s̄) / (T · σ(a_j) · σ(s))

Standardising every column once, Z = (A - mean) / std (T, N) and z = (s - s̄)/σ(s),
gives all N correlations in one matrix product: ``r = Zᵀz / T``. Units that never
change (σ = 0, e.g. saturated) get r = 0. Units are ranked by |r|: a unit that is
strongly *negative* while the condition holds tracks it as well as a positive one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np

from rnnplay.core.errors import RnnplayError
from rnnplay.core.model import Model
from rnnplay.core.regex_search import match_spans
from rnnplay.core.score import Score, score_text
from rnnplay.core.work import Cancel, Cancelled, Progress

Which = Literal["h", "c"]
STREAM_CHARS = 5000  # auto_streams: a piece this long starts cold for about 1% of its length
MAX_STREAMS = 32


# -- activations ---------------------------------------------------------------------------




def activations(
    model: Model, text: str, which: Which = "h", streams: int = 1,
    progress: Progress | None = None, cancel: Cancel | None = None,
) -> np.ndarray:
    """Every layer's hidden units after each character: float array (len(text), num_layers, hidden_size).

    ``which="h"`` reads state[0], the hidden output; ``which="c"`` reads state[1],
    the LSTM's cell state (an error for cells with a single state array).

    ``streams=S`` cuts the text into S consecutive pieces read side by side as a
    batch (B = S), each from the zero state: at B = 1 a step is one vector-matrix
    product per weight and memory-bound, so S pieces cost little more than one and
    a long text is read about S times faster. The price is that each piece starts
    without the text before it. S = 1 (the default) is the exact single pass.

    ``progress(fraction)`` hears how far the reading has got; ``cancel()`` is asked
    before every step and stops the reading with :class:`Cancelled` when it says True.
    """
    return read_states(model, text, (which,), streams, progress, cancel)[which]


def read_states(
    model: Model, text: str, which: tuple[Which, ...] = ("h",), streams: int = 1,
    progress: Progress | None = None, cancel: Cancel | None = None,
) -> dict[str, np.ndarray]:
    """:func:`activations` for several states in one reading: {"h": …, "c": …} for ``which=("h", "c")``."""
    _check_which(model, which)
    grid, n = _pieces(model, text, streams)
    S, L = grid.shape
    out = {w: np.empty((S, L, model.num_layers, model.hidden_size), dtype=model.dtype) for w in which}
    for t, states in _steps(model, grid, n, progress, cancel):
        for layer, state in enumerate(states):
            for w in which:
                out[w][:, t, layer] = state[0 if w == "h" else 1]
    return {w: a.reshape(S * L, model.num_layers, model.hidden_size)[:n] for w, a in out.items()}


def unit_activations(model: Model, text: str, unit: Unit, progress: Progress | None = None,
                     cancel: Cancel | None = None) -> np.ndarray:
    """``activations(model, text, unit.which)[:, unit.layer, unit.unit]`` as float64, in one exact pass that keeps
    only that unit: len(text) numbers, where all the units of a long text would not fit in memory."""
    _check_which(model, (unit.which,))
    if not (0 <= unit.layer < model.num_layers and 0 <= unit.unit < model.hidden_size):
        raise RnnplayError(f"no {unit}: this model has layers 0-{model.num_layers - 1} of units "
                           f"0-{model.hidden_size - 1}")
    grid, n = _pieces(model, text, 1)
    out = np.empty(n, dtype=np.float64)
    k = 0 if unit.which == "h" else 1
    for t, states in _steps(model, grid, n, progress, cancel):
        out[t] = states[unit.layer][k][0, unit.unit]
    return out


def _check_which(model: Model, which: tuple[str, ...]) -> None:
    for w in which:
        if w not in ("h", "c"):
            raise RnnplayError(f"which must be 'h' or 'c' (got {w!r})")
        if w == "c" and model.cell.state_size < 2:
            raise RnnplayError(f"a {model.cell.name} cell has no cell state c: look at its hidden output h instead")


def _pieces(model: Model, text: str, streams: int) -> tuple[np.ndarray, int]:
    """The text's ids as S consecutive pieces side by side, ``grid[k, t] = ids[k·L + t]`` (S, L), and their number
    n; the last piece is padded at its end (a reader drops the padding)."""
    if streams < 1:
        raise RnnplayError(f"streams must be at least 1 (got {streams})")
    ids = model.vocab.encode(text, on_unknown="error")
    n = len(ids)
    S = max(1, min(streams, n))
    L = -(-n // S)
    grid = np.zeros(S * L, dtype=ids.dtype)
    grid[:n] = ids
    return grid.reshape(S, L), n


def _steps(model: Model, grid: np.ndarray, n: int, progress: Progress | None,
           cancel: Cancel | None) -> Iterator[tuple[int, list]]:
    """(t, every layer's state after reading column t of ``grid``), from the zero state; see :func:`activations`."""
    S, L = grid.shape
    states = model.initial_state(S)
    step = model.stepper()
    report_every = max(1, L // 100)
    for t in range(L):
        if cancel is not None and cancel():
            raise Cancelled(f"stopped after reading {t * S:,} of {n:,} characters")
        _, states = step(grid[:, t], states)
        yield t, states
        if progress is not None and (t + 1) % report_every == 0:
            progress((t + 1) / L)


def auto_streams(n: int) -> int:
    """A good ``streams`` for reading n characters: one per STREAM_CHARS, at most MAX_STREAMS, at least 1."""
    return min(MAX_STREAMS, max(1, n // STREAM_CHARS))


def char_probabilities(model: Model, text: str, top_k: int = 5) -> Score:
    """The probability the model gave each actual next character, and its top-k alternatives.

    This is :func:`rnnplay.core.score.score_text`: ``probs[t]`` is p(text[t+1]), the
    prediction made from ``activations(model, text)[t]``, so the two line up with a shift of one.
    """
    return score_text(model, text, top_k)


# -- conditions -------------------------------------------------------------------------------


def _inside_quotes(text: str) -> np.ndarray:
    out = np.zeros(len(text))
    open_mark: str | None = None
    for t, ch in enumerate(text):
        before = text[t - 1] if t > 0 else " "
        after = text[t + 1] if t + 1 < len(text) else " "
        if ch == "\n" and before == "\n":
            open_mark = None  # a blank line ends any unclosed quote
        elif ch == '"' or (ch == "'" and not (before.isalpha() and after.isalpha())):
            if open_mark == ch and (ch == '"' or not before.isspace()):
                open_mark = None
            elif open_mark is None and (ch == '"' or not after.isspace()):
                open_mark = ch
        out[t] = open_mark is not None
    return out


def _inside_parens(text: str) -> np.ndarray:
    out = np.zeros(len(text))
    depth = 0
    for t, ch in enumerate(text):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth = max(depth - 1, 0)
        out[t] = depth > 0
    return out


def _after_newline(text: str) -> np.ndarray:
    out = np.zeros(len(text))
    out[0:1] = 1.0
    out[[t + 1 for t, ch in enumerate(text[:-1]) if ch == "\n"]] = 1.0
    return out


def _line_position(text: str) -> np.ndarray:
    out = np.zeros(len(text))
    col = 0
    for t, ch in enumerate(text):
        out[t] = col
        col = 0 if ch == "\n" else col + 1
    top = out.max() if len(out) else 0.0
    return out / top if top > 0 else out


CONDITIONS: dict[str, Callable[[str], np.ndarray]] = {
    "inside-quotes": _inside_quotes,
    "inside-parens": _inside_parens,
    "after-newline": _after_newline,
    "line-position": _line_position,
}


def condition_signal(text: str, name: str, cancel: Cancel | None = None) -> np.ndarray:
    """A float array (len(text),) saying where the condition holds (0/1), or a value in [0, 1] for line-position.

    A ``regex:`` is matched where ``cancel()`` (or Ctrl-C) can stop it (:mod:`.regex_search`).
    """
    if name.startswith("regex:"):
        if name == "regex:":  # an empty pattern matches nowhere: its signal would never change
            raise RnnplayError("regex: needs a pattern after it, e.g. regex:[aeiou]")
        try:
            spans = match_spans(name[len("regex:") :], text, cancel)
        except re.error as err:
            raise RnnplayError(f"bad regular expression in {name!r}: {err}") from None
        out = np.zeros(len(text))
        for start, end in spans:
            out[start:end] = 1.0
        return out
    if name not in CONDITIONS:
        known = ", ".join([*CONDITIONS, "regex:PATTERN"])
        raise RnnplayError(f"unknown condition {name!r}: use one of {known}")
    return CONDITIONS[name](text)


# -- ranking --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Unit:
    """One hidden unit: layer and index count from 0; ``which`` is "h" (the output) or "c" (an LSTM's cell state)."""

    layer: int
    unit: int
    which: str = "h"

    def __str__(self) -> str:
        return f"layer {self.layer} unit {self.unit} ({self.which})"


@dataclass(frozen=True)
class NeuronScore:
    """One unit's score: how well its activation follows a condition (Pearson r, in [-1, 1])."""

    layer: int
    unit: int
    correlation: float
    which: str = "h"


def correlations(acts: np.ndarray, signal: np.ndarray) -> np.ndarray:
    """Pearson r of every unit with ``signal``: acts (T, ...) and signal (T,) give r of shape acts.shape[1:].

    r = Zᵀz / T with both sides standardised (see the module docstring); constant units get 0.
    """
    T = len(signal)
    if acts.shape[0] != T:
        raise RnnplayError(f"{acts.shape[0]} activations but {T} signal values: they must come from the same text")
    s = np.asarray(signal, dtype=np.float64)
    s_std = s.std()
    if s_std == 0:
        raise RnnplayError("the condition is the same everywhere in this text: give a text where it changes")
    A = acts.reshape(T, -1).astype(np.float64)
    a_std = A.std(axis=0)
    Z = (A - A.mean(axis=0)) / np.where(a_std > 0, a_std, 1.0)
    z = (s - s.mean()) / s_std
    r = Z.T @ z / T
    return np.clip(r, -1.0, 1.0).reshape(acts.shape[1:])


def rank_units(acts: np.ndarray, signal: np.ndarray, top: int = 5, which: str = "h") -> list[NeuronScore]:
    """The ``top`` units of acts (T, layers, hidden) whose activation correlates most (in |r|) with ``signal``."""
    return rank_correlations(correlations(acts, signal), top, which)


def rank_correlations(r: np.ndarray, top: int = 5, which: str = "h") -> list[NeuronScore]:
    """The ``top`` units of r (layers, hidden) by |r|."""
    order = np.argsort(-np.abs(r), axis=None, kind="stable")[: max(top, 0)]
    layers, units = np.unravel_index(order, r.shape)
    return [NeuronScore(int(i), int(j), float(r[i, j]), which) for i, j in zip(layers, units, strict=True)]


def find_neurons(
    model: Model, text: str, condition: str, top: int = 5, which: Which = "h", streams: int = 1,
    progress: Progress | None = None, cancel: Cancel | None = None,
) -> list[NeuronScore]:
    """Rank the model's units by how well they track ``condition`` (see :func:`condition_signal`) over ``text``.

    ``streams``, ``progress`` and ``cancel`` as in :func:`activations` (more streams are faster on long texts).
    """
    signal = condition_signal(text, condition, cancel)
    if signal.std() == 0:
        raise RnnplayError(f"the condition {condition!r} never changes in this text: give a text where it does")
    return rank_by_signal(model, text, signal, (which,), top, streams, progress, cancel)


def rank_by_signal(
    model: Model, text: str, signal: np.ndarray, which: tuple[Which, ...], top: int = 5, streams: int = 1,
    progress: Progress | None = None, cancel: Cancel | None = None,
) -> list[NeuronScore]:
    """The ``top`` units of the states ``which`` by |Pearson r| with ``signal`` (one number per character of
    ``text``, not constant), read in one pass that keeps running sums (:class:`Moments`), not the activations."""
    _check_which(model, which)
    grid, n = _pieces(model, text, streams)
    S, L = grid.shape
    z = np.zeros(S * L)
    z[:n] = (signal - signal.mean()) / signal.std()
    read = (np.arange(S * L) < n).astype(np.float64).reshape(S, L)  # 0 on the last piece's padding
    sums = {w: Moments() for w in which}
    for t, states in _steps(model, grid, n, progress, cancel):
        for w, moments in sums.items():
            moments.add(z.reshape(S, L)[:, t], read[:, t], [state[0 if w == "h" else 1] for state in states])
    ranked = [s for w, moments in sums.items() for s in rank_correlations(moments.correlations(n), top, w)]
    return sorted(ranked, key=lambda s: -abs(s.correlation))[:top]


class Moments:
    """Running sums that give every unit's Pearson r with a standardised signal z, without keeping the
    activations (a long text's would not fit in memory): with a' = a - (the unit's first value),

        Σ z·a',  Σ a',  Σ a'²   →   r = Σ z·a' / (T·σ(a')),   σ² = Σ a'²/T - (Σ a'/T)²

    (Σ z = 0, so the shift leaves Σ z·a unchanged; it keeps a unit that never changes exactly at σ = 0, r = 0,
    as :func:`correlations` has it.)"""

    def __init__(self) -> None:
        self.shift: np.ndarray | None = None
        self.za = self.a = self.aa = np.zeros(0)

    def add(self, z: np.ndarray, read: np.ndarray, acts: list[np.ndarray]) -> None:
        """One step: z (S,) and read (S,: 1 for a real position, 0 for padding), acts per layer (S, hidden)."""
        a = np.stack(acts).astype(np.float64)  # (layers, S, hidden)
        if self.shift is None:
            self.shift = a[:, 0, :].copy()
            self.za, self.a, self.aa = (np.zeros_like(self.shift) for _ in range(3))
        a -= self.shift[:, None, :]
        self.za += np.einsum("s,lsh->lh", z, a)
        self.a += np.einsum("s,lsh->lh", read, a)
        self.aa += np.einsum("s,lsh->lh", read, a * a)

    def correlations(self, n: int) -> np.ndarray:
        """r (layers, hidden) over the n positions read."""
        std = np.sqrt(np.maximum(self.aa / n - (self.a / n) ** 2, 0.0))
        r = np.where(std > 0, self.za / (n * np.where(std > 0, std, 1.0)), 0.0)
        return np.clip(r, -1.0, 1.0)
