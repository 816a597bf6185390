"""Optimizers, gradient clipping and learning-rate schedules.

Every optimizer updates the parameter arrays in place, so the model's views of
them stay valid, and keeps its per-parameter state in arrays named
``<slot>/<parameter>`` so checkpoints can save and restore it exactly. A step is
computed aside first (:meth:`Optimizer.propose`) and copied in afterwards
(:meth:`Optimizer.apply`), so a step that fails or overflows changes nothing.

With g the gradient, θ a parameter, lr the learning rate, ε = 1e-8:

* SGD with momentum μ:  v = μ·v + g;  θ -= lr·v
* Adagrad (min-char-rnn):  G += g²;  θ -= lr·g / √(G + ε)
* RMSprop (char-rnn, decay ρ = 0.95):  E = ρ·E + (1-ρ)·g²;  θ -= lr·g / (√E + ε)
* Adam (β1 = 0.9, β2 = 0.999):  m = β1·m + (1-β1)·g;  v = β2·v + (1-β2)·g²;
  θ -= lr·m̂ / (√v̂ + ε), with m̂ = m/(1-β1ᵗ), v̂ = v/(1-β2ᵗ)

Any of them with decoupled weight decay λ (AdamW, Loshchilov & Hutter 2019): every weight
matrix (an array of two or more axes) also shrinks towards zero by its own share of the
rate, θ -= lr·λ·θ, computed from θ before the step and apart from the gradient, so the
decay is not divided by Adam's √v̂ as an L2 term in the loss would be. Biases and gains
(one axis) are not decayed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rnnplay.core import jit, pieces
from rnnplay.core.errors import RnnplayError

UPDATE_KERNELS = "rnnplay.core.update_kernels"  # Adam's step compiled, for float32 (rnnplay.core.jit)
Arrays = dict[str, np.ndarray]


@dataclass
class Update:
    """One optimizer step computed but not applied: the new parameters and slot arrays, and the new ``t``."""

    t: int
    params: Arrays
    slots: dict[str, Arrays]
    checked: bool | None = None  # finite(), when the pass that made the arrays has already found it out

    def finite(self) -> bool:
        """Whether every new value is a finite number (a step that overflows must not touch the weights)."""
        if self.checked is not None:
            return self.checked
        arrays = [*self.params.values(), *(a for slot in self.slots.values() for a in slot.values())]
        return all(np.isfinite(a).all() for a in arrays)


class Optimizer:
    name = ""
    slots: tuple[str, ...] = ()
    nonnegative: tuple[str, ...] = ()  # slots that hold sums of squares

    def __init__(self, params: Arrays, weight_decay: float = 0.0) -> None:
        self.state: dict[str, Arrays] = {s: {k: np.zeros_like(v) for k, v in params.items()} for s in self.slots}
        self.weight_decay = weight_decay
        self.t = 0

    def step(self, params: Arrays, grads: Arrays, lr: float) -> None:
        self.apply(params, self.propose(params, grads, lr))

    def propose(self, params: Arrays, grads: Arrays, lr: float) -> Update:
        """The step's new values, computed aside: nothing changes until :meth:`apply`, so a failure leaves no trace."""
        t = self.t + 1
        update = Update(t, {}, {slot: {} for slot in self.slots})
        for name, p in params.items():
            update.params[name], slots = self.update(name, p, grads[name], lr, t)
            if self.weight_decay and p.ndim >= 2:
                update.params[name] -= (lr * self.weight_decay) * p  # θ -= lr·λ·θ, λ decoupled from the gradient
            for slot, a in slots.items():
                update.slots[slot][name] = a
        return update

    def apply(self, params: Arrays, update: Update) -> None:
        """Take a proposed step: copied into the parameters (in place, so the model's views stay valid); the
        new slot arrays, which nothing else holds, simply replace the old ones."""
        for name, new in update.params.items():
            np.copyto(params[name], new)
        for slot, arrays in update.slots.items():
            self.state[slot].update(arrays)
        self.t = update.t

    def update(self, name: str, p: np.ndarray, g: np.ndarray, lr: float, t: int) -> tuple[np.ndarray, Arrays]:
        """(the new value of parameter ``name``, its new slot arrays) after step ``t``, without changing either."""
        raise NotImplementedError

    def state_arrays(self) -> Arrays:
        return {f"{slot}/{name}": a for slot, arrays in self.state.items() for name, a in arrays.items()}

    def load_state_arrays(self, arrays: Arrays, t: int) -> None:
        """Take back :meth:`state_arrays` and ``t``; every array must fit and be finite (and ≥ 0 where squares are)."""
        if isinstance(t, bool) or not isinstance(t, int) or t < 0:
            raise RnnplayError(f"the optimizer's step count {t!r} is not a whole number >= 0: start a fresh run")
        for key, a in arrays.items():
            slot, name = key.split("/", 1)
            target = self.state.get(slot, {}).get(name)
            if target is None or target.shape != a.shape or a.dtype.kind != "f":
                raise RnnplayError(f"optimizer state {key!r} does not fit this model: start a fresh run")
            if not np.isfinite(a).all() or (slot in self.nonnegative and (a < 0).any()):
                raise RnnplayError(f"optimizer state {key!r} holds impossible values (not finite, or negative "
                                   "squares): start a fresh run")
            target[...] = a
        self.t = t


class SGD(Optimizer):
    name = "sgd"
    slots = ("velocity",)

    def __init__(self, params: Arrays, weight_decay: float = 0.0, momentum: float = 0.9) -> None:
        super().__init__(params, weight_decay)
        self.momentum = momentum

    def update(self, name: str, p: np.ndarray, g: np.ndarray, lr: float, t: int) -> tuple[np.ndarray, Arrays]:
        v = self.momentum * self.state["velocity"][name] + g
        return p - lr * v, {"velocity": v}


class Adagrad(Optimizer):
    name = "adagrad"
    slots = ("sum_sq",)
    nonnegative = slots

    def update(self, name: str, p: np.ndarray, g: np.ndarray, lr: float, t: int) -> tuple[np.ndarray, Arrays]:
        G = self.state["sum_sq"][name] + g * g
        return p - lr * g / np.sqrt(G + 1e-8), {"sum_sq": G}


class RMSprop(Optimizer):
    name = "rmsprop"
    slots = ("mean_sq",)
    nonnegative = slots

    def __init__(self, params: Arrays, weight_decay: float = 0.0, decay: float = 0.95) -> None:
        super().__init__(params, weight_decay)
        self.decay = decay

    def update(self, name: str, p: np.ndarray, g: np.ndarray, lr: float, t: int) -> tuple[np.ndarray, Arrays]:
        E = self.decay * self.state["mean_sq"][name] + (1.0 - self.decay) * g * g
        return p - lr * g / (np.sqrt(E) + 1e-8), {"mean_sq": E}


class Adam(Optimizer):
    name = "adam"
    slots = ("m", "v")
    nonnegative = ("v",)

    def __init__(self, params: Arrays, weight_decay: float = 0.0, beta1: float = 0.9, beta2: float = 0.999) -> None:
        super().__init__(params, weight_decay)
        self.beta1, self.beta2 = beta1, beta2

    def propose(self, params: Arrays, grads: Arrays, lr: float) -> Update:
        """:meth:`Optimizer.propose`; for float32 weights in one compiled pass, its finiteness check included,
        on every core (:mod:`.update_kernels`, :mod:`.pieces`): the same numbers as :meth:`update`'s, bit for bit."""
        m, v = self.state["m"], self.state["v"]
        kernels = jit.load(UPDATE_KERNELS) if pieces.eligible(params.values(), grads.values(), m.values(),
                                                                v.values()) else None  # fmt: skip
        if kernels is None:
            return super().propose(params, grads, lr)
        t = self.t + 1
        new_p, new_m, new_v = ({name: np.empty_like(p) for name, p in params.items()} for _ in range(3))
        f32 = np.float32
        betas = np.array([self.beta1, 1.0 - self.beta1, self.beta2, 1.0 - self.beta2], dtype=f32)  # numpy's roundings
        rate, root = f32(lr / (1.0 - self.beta1**t)), f32(1.0 / math.sqrt(1.0 - self.beta2**t))
        decay = f32(lr * self.weight_decay)

        def one_piece(piece: pieces.Piece) -> bool:
            finite = True
            for name, p in params.items():
                arrays = (p, grads[name], m[name], v[name], new_p[name], new_m[name], new_v[name])
                finite &= kernels.adam(*map(piece.of, arrays), betas, rate, root,
                                       decay if p.ndim >= 2 else f32(0.0))
            return finite

        finite = all(pieces.run(one_piece, sum(p.size for p in params.values())))
        return Update(t, new_p, {"m": new_m, "v": new_v}, checked=finite)

    def update(self, name: str, p: np.ndarray, g: np.ndarray, lr: float, t: int) -> tuple[np.ndarray, Arrays]:
        m = self.beta1 * self.state["m"][name]
        m += (1.0 - self.beta1) * g
        v = self.beta2 * self.state["v"][name]
        v += (1.0 - self.beta2) * (g * g)
        # θ -= lr·m̂/(√v̂ + ε) with m̂ = m/(1-β1ᵗ), √v̂ = √v/√(1-β2ᵗ): ε is added to √v̂, as in
        # PyTorch, not to √v (that would make ε effectively 1/√(1-β2ᵗ) times larger early on).
        denom = np.sqrt(v)
        denom *= 1.0 / math.sqrt(1.0 - self.beta2**t)
        denom += 1e-8
        step = (lr / (1.0 - self.beta1**t)) * m
        step /= denom
        return np.subtract(p, step, out=step), {"m": m, "v": v}


OPTIMIZERS: dict[str, type[Optimizer]] = {o.name: o for o in (SGD, Adagrad, RMSprop, Adam)}


def make_optimizer(name: str, params: Arrays, weight_decay: float = 0.0) -> Optimizer:
    try:
        return OPTIMIZERS[name](params, weight_decay)
    except KeyError:
        raise RnnplayError(f"unknown optimizer {name!r}: choose one of {', '.join(OPTIMIZERS)}") from None


def global_norm(grads: Arrays) -> float:
    """‖g‖ over all parameters together: √(Σ_k Σ g_k²)."""
    return math.sqrt(sum(float(np.vdot(g, g)) for g in grads.values()))


def clip_by_global_norm(grads: Arrays, max_norm: float) -> float:
    """Scale all gradients by max_norm/‖g‖ when ‖g‖ > max_norm (0: no clipping). Returns ‖g‖ before clipping."""
    norm = global_norm(grads)
    if max_norm > 0 and norm > max_norm:
        scale = max_norm / (norm + 1e-6)
        for g in grads.values():
            g *= scale
    return norm


def clip_by_value(grads: Arrays, limit: float) -> float:
    """Clamp each gradient entry to [-limit, limit] (min-char-rnn's ±5; 0: no clipping). Returns ‖g‖ before."""
    norm = global_norm(grads)
    if limit > 0:
        for g in grads.values():
            np.clip(g, -limit, limit, out=g)
    return norm


SCHEDULES = ("cosine", "constant")


def check_schedule(schedule: str) -> None:
    """Refuse a schedule name that is not one of SCHEDULES, naming the choices."""
    if schedule not in SCHEDULES:
        raise RnnplayError(f"unknown learning-rate schedule {schedule!r}: choose one of {', '.join(SCHEDULES)}")


def scheduled_lr(lr: float, fraction: float, schedule: str, floor: float) -> float:
    """The rate after ``fraction`` (0..1) of the training budget.

    * constant: lr throughout.
    * cosine (nanoGPT's, without warm-up): from lr down to ``lr_min = floor·lr`` along half
      a cosine, ``lr_min + (lr - lr_min)·½(1 + cos(π·fraction))``. Big steps while the loss is
      high, small ones at the end so the weights settle into the valley instead of
      rattling across it: on tiny shakespeare this is worth several hundredths of a
      nat per character at the end of a fixed budget.
    """
    check_schedule(schedule)
    if schedule == "constant":
        return lr
    low = lr * floor
    return low + (lr - low) * 0.5 * (1.0 + math.cos(math.pi * min(max(fraction, 0.0), 1.0)))


def warmed_up_lr(lr: float, step: int, warmup: int) -> float:
    """Linear warm-up: lr · min(1, (step + 1) / warmup) for the step after ``step`` steps (warmup 0: lr).

    Adam's first steps divide by second-moment estimates made of a handful of
    gradients; small steps while they settle keep one large early gradient from
    throwing the weights far (Goyal et al. 2017, Liu et al. 2020).
    """
    if warmup <= 0:
        return lr
    return lr * min(1.0, (step + 1) / warmup)


def decayed_lr(lr: float, step: int, decay: float, every: int) -> float:
    """Step decay: lr · decay^⌊step / every⌋ (decay = 1 means a constant rate)."""
    if decay == 1.0 or every <= 0:
        return lr
    return lr * decay ** (step // every)
