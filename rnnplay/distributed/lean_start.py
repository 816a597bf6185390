"""A local Ray started without the two helpers rnnplay never reads: the autoscaler's monitor and the log monitor.

``ray.init`` starts both for a local Ray and has no setting to leave them out (``ray start`` has ``--no-monitor``;
the log monitor is a start parameter alone). rnnplay's local Ray is one node that never scales, and its driver
takes no worker output (``log_to_driver=False``): the monitor reports to an autoscaler there is none of, and the
log monitor copies out worker output nobody reads. Each is a Python process of its own that imports Ray while the
raylet's agents start on the same cores, so a start under load waited for them too (docs/scaling.md has the
figures). For the ``ray.init`` of a local Ray, Ray's start parameters (``RayParams``) leave both out; a Ray whose
parameters name neither field is started as it is.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

LEFT_OUT = {"no_monitor": True, "include_log_monitor": False}  # RayParams' fields, as `ray start` names them


@contextmanager
def idle_helpers_left_out(ray: ModuleType) -> Iterator[None]:
    """For the block (a local Ray's ``ray.init``): every ``RayParams`` made leaves out the autoscaler's monitor and
    the log monitor. Ray's parameters are as they were after it, however it ends."""
    params = getattr(getattr(getattr(ray, "_private", None), "parameter", None), "RayParams", None)
    original = getattr(params, "__init__", None)
    try:
        fields = inspect.signature(original).parameters if original is not None else {}
    except (TypeError, ValueError):  # not a Python function: a Ray this does not know
        fields = {}
    if params is None or not all(name in fields for name in LEFT_OUT):
        yield
        return

    @functools.wraps(original)
    def lean(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        for name, value in LEFT_OUT.items():
            setattr(self, name, value)

    params.__init__ = lean
    try:
        yield
    finally:
        params.__init__ = original
