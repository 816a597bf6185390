"""The PYTHONPATH of a child process that runs the rnnplay under test.

The checkout this process imported ``rnnplay`` from comes first, then the folders a test adds (plugins
pip-installed with ``--target``, stubs that hide a package), then what PYTHONPATH held. Without that, a
child run from a git worktree whose PYTHONPATH a test replaced imported the checkout the venv's editable
install points to, and tested that code instead of the worktree's.
"""

from __future__ import annotations

import os
from pathlib import Path

import rnnplay

CHECKOUT = Path(rnnplay.__file__).resolve().parents[1]  # the folder that holds the rnnplay/ under test


def python_path(*extra: Path | str, inherited: str | None = None) -> str:
    """PYTHONPATH for a child: this checkout, then ``extra``, then ``inherited`` (default: this process's)."""
    inherited = os.environ.get("PYTHONPATH") if inherited is None else inherited
    parts = [str(CHECKOUT), *map(str, extra), *(inherited or "").split(os.pathsep)]
    return os.pathsep.join(dict.fromkeys(p for p in parts if p))  # each once, in that order


def child_env(*extra: Path | str, base: dict[str, str] | None = None, **variables: str) -> dict[str, str]:
    """``base`` (default: this process's environment) with ``variables`` set and PYTHONPATH from
    :func:`python_path` (``extra`` after this checkout, before ``base``'s own PYTHONPATH)."""
    env = {**(os.environ if base is None else base), **variables}
    return {**env, "PYTHONPATH": python_path(*extra, inherited=env.get("PYTHONPATH", ""))}
