"""What ``rnnplay train`` still imports from here; the helpers live in :mod:`rnnplay.ui.event_text` (duration,
loss_text) and the bar in :mod:`rnnplay.ui.cli.progress`. This module goes once cmd_train imports those."""

from __future__ import annotations

from rnnplay.ui.event_text import duration, loss_text

__all__ = ["bar_text", "duration", "loss_text"]


def bar_text(fraction: float, width: int = 20) -> str:
    """'[#######-------------]  35%'."""
    filled = round(max(0.0, min(1.0, fraction)) * width)
    return f"[{'#' * filled}{'-' * (width - filled)}] {fraction * 100:3.0f}%"
