"""Where Ray runs: a local instance that starts and stops with the run, or a cluster joined by address.

``--ray-address ADDR`` (or the ``RAY_ADDRESS`` environment variable, Ray's own) joins a cluster
started with ``ray start --head``; without either, :func:`ray_session` starts a local Ray for the
run and stops it at the end. Ray's own log lines stay out of the terminal; what goes wrong is one
line (:class:`~rnnplay.core.errors.RnnplayError`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

from rnnplay.core.errors import RnnplayError

INSTALL_HINT = "pip install 'rnnplay[ray]'"


def require_ray(what: str = "this") -> ModuleType:
    """The ``ray`` module, or one line saying how to install it (``what`` names the feature that needs it)."""
    try:
        import ray
    except ImportError:
        raise RnnplayError(f"{what} needs Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


def cluster_address(address: str | None) -> str | None:
    """The cluster to join: ``address``, else ``RAY_ADDRESS``, else None (a local Ray for this run)."""
    return address or os.environ.get("RAY_ADDRESS") or None


@contextmanager
def ray_session(address: str | None = None, *, what: str = "this", num_cpus: int | None = None) -> Iterator[ModuleType]:
    """Ray, connected for the block: to the cluster at ``address`` (see :func:`cluster_address`) or a local
    instance of ``num_cpus`` CPUs (default: all) started for the block and stopped after it.

    Inside an already connected process (a sweep's trial, a test's cluster) it is used as it is and left running.
    """
    ray = require_ray(what)
    if ray.is_initialized():
        yield ray
        return
    target = cluster_address(address)
    try:
        ray.init(address=target, num_cpus=None if target else num_cpus, include_dashboard=False,
                 log_to_driver=False, configure_logging=True, logging_level=logging.ERROR)
    except (ConnectionError, RuntimeError, ValueError) as err:
        where = f"the Ray cluster at {target}" if target else "a local Ray instance"
        first = str(err).strip().splitlines()[0][:160] if str(err).strip() else type(err).__name__
        raise RnnplayError(f"cannot connect to {where} ({first}); start one with `ray start --head`, or leave out "
                           "--ray-address (and RAY_ADDRESS) to run Ray locally") from None
    try:
        yield ray
    finally:
        ray.shutdown()
