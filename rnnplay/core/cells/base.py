"""The contract every recurrent cell meets, built-in or from a plugin.

Shapes: T time steps, B streams (batch), I input size, H hidden size.

* ``x`` is either ids, shape (T, B) of integers (the first layer, which sees
  characters), or vectors, shape (T, B, I) (the layers above). A cell handles
  both with :func:`rnnplay.core.ops.project_inputs`.
* ``state`` is a tuple of ``state_size`` arrays of shape (B, H); ``state[0]`` is
  the hidden output h that the next layer and the softmax head read.
* ``cache`` is whatever ``forward`` needs to keep for ``backward``.

Optionally a cell also has ``prepare_step(params, input_ids) -> step(x, state)``:
a step function for a whole stream of generation steps, with whatever can be
computed once (pre-scaled weights, reused buffers) computed in advance. Without
it, generation calls ``step`` with the parameters every time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np

from rnnplay.core.errors import printable

State = tuple[np.ndarray, ...]
Params = dict[str, np.ndarray]
StepFn = Callable[[np.ndarray, State], tuple[np.ndarray, State]]  # (x, state) -> (h, state)


@runtime_checkable
class Cell(Protocol):
    """One recurrent layer type. Stateless: parameters are passed in on every call."""

    name: str
    state_size: int

    def init_params(
        self, input_size: int, hidden_size: int, rng: np.random.Generator, dtype: Any = np.float32
    ) -> Params:
        """New parameters for one layer, keyed by stable names (they are saved in checkpoints)."""
        ...

    def forward(self, params: Params, x: np.ndarray, state: State) -> tuple[np.ndarray, State, Any]:
        """Run a whole sequence: returns (h_seq (T,B,H), final state, cache)."""
        ...

    def backward(
        self, params: Params, cache: Any, dh_seq: np.ndarray, dstate: State | None
    ) -> tuple[np.ndarray | None, Params, State]:
        """Backpropagation through time.

        dh_seq: dLoss/dh_t for every t, (T,B,H); dstate: dLoss/d(final state) or None.
        Returns (dx or None for ids, grads keyed like params, dLoss/d(initial state)).
        """
        ...

    def step(self, params: Params, x: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        """One time step for generation: x is (B,) ids or (B, I) vectors; returns (h, state)."""
        ...


PARAM_NAME_CHARS = 180  # a checkpoint holds param/layers.N.NAME.npy, a member name of at most 200 characters


def checked_params(cell: Cell, params: object) -> Params:
    """What ``cell.init_params`` returned, if a checkpoint can hold it: a dict of names (1 to PARAM_NAME_CHARS
    characters, no '/', which would be a folder in the .npz) to numpy arrays. Anything else is a ValueError,
    which the caller blames on the cell's plugin, before a run that could never be loaded again has trained."""
    if not isinstance(params, dict):
        raise ValueError(f"init_params returned a {type(params).__name__}, not a dict of arrays")
    for name, value in params.items():
        if not isinstance(name, str) or not 1 <= len(name) <= PARAM_NAME_CHARS or "/" in name:
            raise ValueError(f"init_params named a parameter {printable(repr(name))[:60]}, which a checkpoint "
                             f"cannot hold: 1 to {PARAM_NAME_CHARS} characters, no '/'")
        if not isinstance(value, np.ndarray):
            raise ValueError(f"init_params returned {printable(name)} as a {type(value).__name__}, not a numpy array")
    return params


def check_grads(params: Params, grads: object) -> None:
    """A ValueError unless ``grads`` (what a cell's ``backward`` returned) has one array of each parameter's shape:
    one that numpy would broadcast into the update would train a model silently wrong."""
    if not isinstance(grads, dict):
        raise ValueError(f"backward returned {type(grads).__name__} for the gradients, not a dict of arrays")
    for name, value in params.items():
        grad = grads.get(name)
        if grad is None:
            raise ValueError(f"backward returned no gradient for {printable(name)}")
        if getattr(grad, "shape", None) != value.shape:
            raise ValueError(f"backward returned a gradient of shape {getattr(grad, 'shape', type(grad).__name__)} "
                             f"for {printable(name)}, whose shape is {value.shape}")


def check_dx(dx: object, shape: tuple[int, ...], who: str = "backward") -> None:
    """A ValueError unless ``dx`` (what a cell's ``backward`` returned as the gradient of its input, the layer below's
    output) has that input's ``shape``: numpy's own error, a broadcast between two shapes, named neither. ``who``:
    the backward the line names ('backward of layer 1' in a gradient check)."""
    if getattr(dx, "shape", None) != shape:
        raise ValueError(f"{who} returned dx of shape {getattr(dx, 'shape', type(dx).__name__)}, where its input "
                         f"x was {shape}")


def zero_state(cell: Cell, batch_size: int, hidden_size: int, dtype: Any = np.float32) -> State:
    """The all-zero state a stream starts from."""
    return tuple(np.zeros((batch_size, hidden_size), dtype=dtype) for _ in range(cell.state_size))


def state_grads(dstate: State | None, n: int, shape: tuple[int, int], dtype: Any) -> list[np.ndarray]:
    """dL/d(final state) as ``n`` fresh arrays a backward pass may add into: copies of ``dstate``, or zeros."""
    if dstate is None:
        return [np.zeros(shape, dtype=dtype) for _ in range(n)]
    return [d.copy() for d in dstate]


def uniform_init(
    rng: np.random.Generator, shape: tuple[int, ...], fan_in: int, dtype: Any
) -> np.ndarray:
    """U(-1/√fan_in, 1/√fan_in), PyTorch's default for recurrent layers."""
    bound = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-bound, bound, size=shape).astype(dtype)
