"""Tests' switch to numpy's optimizer step and weight average: the compiled passes (core.update_kernels) off."""

from __future__ import annotations

import pytest

from rnnplay.core import jit
from rnnplay.core.optim import UPDATE_KERNELS


def numpy_updates(monkeypatch: pytest.MonkeyPatch) -> None:
    """The update passes' kernels unloadable until ``monkeypatch`` undoes it: every caller takes its numpy code."""
    load = jit.load
    monkeypatch.setattr(jit, "load", lambda module: None if module == UPDATE_KERNELS else load(module))
