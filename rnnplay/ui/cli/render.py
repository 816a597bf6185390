"""Small text helpers the CLI commands share."""

from __future__ import annotations

import math


def duration(seconds: float | None) -> str:
    """'1h02m', '3m05s', '42s', or '?'."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    s = round(seconds)
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


def loss_text(nats: float | None) -> str:
    """'1.523 nats/char (2.197 bits)'; 'n/a' when there is none (a run that made no step has no training loss)."""
    if nats is None or not math.isfinite(nats):
        return "n/a"
    return f"{nats:.4f} nats/char ({nats / math.log(2):.3f} bits)"


def bar_text(fraction: float, width: int = 20) -> str:
    """'[#######-------------]  35%'."""
    filled = round(max(0.0, min(1.0, fraction)) * width)
    return f"[{'#' * filled}{'-' * (width - filled)}] {fraction * 100:3.0f}%"
