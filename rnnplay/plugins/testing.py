"""Helpers for testing cells, for rnnplay's own tests and for plugin authors.

``check_cell(cell)`` compares a cell's analytic backward pass (BPTT) with
central differences in float64::

    dL/dθ ≈ (8·(L(θ+ε) - L(θ-ε)) - (L(θ+2ε) - L(θ-2ε))) / 12ε        ε = 1e-3

(the five-point central difference: its error is O(ε⁴), so a large ε keeps
round-off small too, and relative errors sit near 1e-10)

for every entry of every parameter, of the carried-in state and (for vector
inputs) of the input, through a stack of ``num_layers`` copies of the cell. The
loss is a fixed random projection of every output h_t and of the final state,
so every path of the backward pass is exercised.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rnnplay.core.cells.base import Cell, State, check_dx


class GradientCheckError(AssertionError):
    """Raised by :func:`check_cell` when analytic and numerical gradients disagree."""


@dataclass
class GradCheckReport:
    max_rel_error: float
    errors: dict[str, float] = field(default_factory=dict)  # per parameter / input / state

    def __str__(self) -> str:
        worst = ", ".join(f"{k}: {v:.2e}" for k, v in sorted(self.errors.items(), key=lambda kv: -kv[1])[:5])
        return f"max relative error {self.max_rel_error:.2e} ({worst})"


def _rel_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """max |a - n| / max(|a|, |n|), with 0 where both are 0; inf where either is NaN or infinite (a NaN would
    otherwise compare as no error at all)."""
    if not (np.isfinite(analytic).all() and np.isfinite(numeric).all()):
        return float("inf")
    num = np.abs(analytic - numeric)
    den = np.maximum(np.abs(analytic), np.abs(numeric))
    rel = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    return float(rel.max()) if rel.size else 0.0


@dataclass
class _Problem:
    """A stack of ``cell`` with random parameters, inputs and states, and the loss that projects its outputs."""

    cell: Cell
    layers: list[dict[str, np.ndarray]]
    x: np.ndarray
    states: list[State]
    proj_h: np.ndarray  # (T, B, H): the loss's weights on every output h_t of the top layer
    proj_s: list[list[np.ndarray]]  # per layer, per state array: the loss's weights on the final state

    @classmethod
    def draw(cls, cell: Cell, rng: np.random.Generator, num_layers: int, carried_state: bool, vector_input: bool,
             shape: tuple[int, int, int, int]) -> _Problem:
        T, B, H, I = shape
        layers = [cell.init_params(I if i == 0 else H, H, rng, np.float64) for i in range(num_layers)]
        for params in layers:  # move away from the symmetric init so every path carries gradient
            for k in params:
                params[k] = params[k].astype(np.float64) + rng.normal(0, 0.1, params[k].shape)
        x = rng.normal(size=(T, B, I)) if vector_input else rng.integers(0, I, size=(T, B))
        states: list[State] = [
            tuple((rng.normal(0, 0.5, (B, H)) if carried_state else np.zeros((B, H))) for _ in range(cell.state_size))
            for _ in range(num_layers)
        ]
        proj_h = rng.normal(size=(T, B, H))
        proj_s = [[rng.normal(size=(B, H)) for _ in range(cell.state_size)] for _ in range(num_layers)]
        return cls(cell, layers, x, states, proj_h, proj_s)

    def loss(self, first: int = 0, below: tuple[np.ndarray, list] | None = None) -> tuple[float, list]:
        """The loss for the current values of every parameter, input and state, and the cache of each layer run.

        ``below``: what :meth:`below` gave for ``first`` (layer ``first``'s input, the final states of the layers
        under it), those layers unchanged since, so that only the layers from ``first`` up run again; the sum is
        taken in the same order, so the loss is the very float a run of every layer gives."""
        inp, finals = (self.x, []) if below is None else (below[0], list(below[1]))
        caches = []
        for i in range(first, len(self.layers)):
            inp, final, cache = self.cell.forward(self.layers[i], inp, self.states[i])
            caches.append(cache)
            finals.append(final)
        total = float(np.sum(inp * self.proj_h))
        total += sum(float(np.sum(s * p)) for final, proj in zip(finals, self.proj_s, strict=True)
                     for s, p in zip(final, proj, strict=True))
        return total, caches

    def analytic(self, vector_input: bool) -> dict[str, np.ndarray]:
        """Every gradient the backward pass gives, top layer first, keyed like :meth:`targets`."""
        _, caches = self.loss()
        dh = self.proj_h
        grads_of: dict[str, np.ndarray] = {}
        for i in range(len(self.layers) - 1, -1, -1):
            dx, grads, dstate0 = _returned(self.cell, self.cell.backward(self.layers[i], caches[i], dh,
                                                                         tuple(self.proj_s[i])))
            inp = self.x if i == 0 else dh  # the shape of layer i's input is that of the gradient above it
            if i > 0 or vector_input:
                try:
                    check_dx(dx, inp.shape, f"backward of layer {i}")  # the check training makes (Model.backward)
                except ValueError as err:
                    raise GradientCheckError(f"{self.cell.name}: {err}") from None
            grads_of.update({f"layers.{i}.{k}": g for k, g in grads.items()})
            grads_of.update({f"state.{i}.{j}": d for j, d in enumerate(dstate0)})
            if i == 0 and vector_input:
                grads_of["input"] = dx
            dh = dx
        return grads_of

    def targets(self, carried_state: bool, vector_input: bool) -> dict[str, np.ndarray]:
        """The arrays whose gradients are checked, by name (changed in place by :meth:`numeric`)."""
        found: dict[str, np.ndarray] = {}
        for i, params in enumerate(self.layers):
            found.update({f"layers.{i}.{k}": v for k, v in params.items()})
            if carried_state:
                found.update({f"state.{i}.{j}": s for j, s in enumerate(self.states[i])})
        if vector_input:
            found["input"] = self.x
        return found

    def below(self, first: int) -> tuple[np.ndarray, list]:
        """Layer ``first``'s input and the final states of the layers under it, for :meth:`loss`."""
        inp, finals = self.x, []
        for i in range(first):
            inp, final, _ = self.cell.forward(self.layers[i], inp, self.states[i])
            finals.append(final)
        return inp, finals

    def numeric(self, arr: np.ndarray, eps: float, first: int = 0) -> np.ndarray:
        """dL/d``arr`` by the five-point central difference, one entry at a time; ``arr`` is in layer ``first`` (or
        is the input, ``first`` 0), so the layers under it are run once, not for every entry."""
        below = self.below(first) if first else None
        numeric = np.zeros_like(arr)
        flat, nflat = arr.reshape(-1), numeric.reshape(-1)
        for k in range(flat.size):
            old = flat[k]
            value = {}
            for m in (-2, -1, 1, 2):
                flat[k] = old + m * eps
                value[m] = self.loss(first, below)[0]
            flat[k] = old
            nflat[k] = (8 * (value[1] - value[-1]) - (value[2] - value[-2])) / (12 * eps)
        return numeric

    def step_error(self) -> float:
        """How far step(), one character at a time, is from forward() on the first layer."""
        inp_seq, _, _ = self.cell.forward(self.layers[0], self.x, self.states[0])
        state, worst = self.states[0], 0.0
        for t in range(len(self.x)):
            h, state = self.cell.step(self.layers[0], self.x[t], state)
            worst = max(worst, _rel_error(h, inp_seq[t]))
        return worst


def _returned(cell: Cell, returned: object) -> tuple:
    """What ``backward`` returned, (dx, grads, dstate0), or a :class:`GradientCheckError` saying how it is not that."""
    if not (isinstance(returned, tuple | list) and len(returned) == 3):
        got = f"a {type(returned).__name__} of {len(returned)}" if isinstance(returned, tuple | list) else \
            "None" if returned is None else f"a {type(returned).__name__}"
        raise GradientCheckError(f"{cell.name}: backward must return (dx, grads, dstate0), three values; it "
                                 f"returned {got}")
    dstate0 = returned[2]
    if not (isinstance(dstate0, tuple | list) and len(dstate0) == cell.state_size):
        got = f"{len(dstate0)} arrays" if isinstance(dstate0, tuple | list) else f"a {type(dstate0).__name__}"
        raise GradientCheckError(f"{cell.name}: backward returned {got} for the initial state's gradient; "
                                 f"state_size is {cell.state_size}")
    return tuple(returned)


def check_cell(
    cell: Cell,
    *,
    num_layers: int = 1,
    carried_state: bool = True,
    vector_input: bool = False,
    input_size: int = 5,
    hidden_size: int = 4,
    seq_length: int = 4,
    batch_size: int = 3,
    seed: int = 0,
    eps: float = 1e-3,
    tol: float = 1e-6,
) -> GradCheckReport:
    """Gradient-check ``cell`` stacked ``num_layers`` deep; raise :class:`GradientCheckError` above ``tol``.

    ``carried_state``: start from a random state (else zeros) and check its gradient.
    ``vector_input``: feed float vectors to the first layer (else character ids).
    Also checks that :meth:`Cell.step` reproduces :meth:`Cell.forward` one step at a time.
    """
    shape = (seq_length, batch_size, hidden_size, input_size)
    problem = _Problem.draw(cell, np.random.default_rng(seed), num_layers, carried_state, vector_input, shape)
    analytic = problem.analytic(vector_input)
    errors: dict[str, float] = {}
    for name, arr in problem.targets(carried_state, vector_input).items():
        numeric = problem.numeric(arr, eps, first=0 if name == "input" else int(name.split(".")[1]))
        if name not in analytic:
            raise GradientCheckError(f"{cell.name}: backward returned no gradient for {name}")
        grad = np.asarray(analytic[name])
        if grad.shape != arr.shape:
            raise GradientCheckError(f"{cell.name}: backward returned a gradient of shape {grad.shape} for {name}, "
                                     f"whose shape is {arr.shape}")
        errors[name] = _rel_error(grad, numeric)
    errors["step"] = problem.step_error()  # step() must agree with forward(), one character at a time
    report = GradCheckReport(max(errors.values()), errors)
    if report.max_rel_error > tol:
        raise GradientCheckError(f"{cell.name} x{num_layers}: {report}")
    return report
