"""The Textual front end: ``rnnplay`` / ``rnnplay tui [MODEL]``.

May import: every layer below ``rnnplay.ui`` and the shared modules of ``rnnplay.ui`` (console,
event_text, history, plot_file). Never the command line or the REPL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rnnplay.ui.tui.app import RnnplayApp

__all__ = ["RnnplayApp"]


def __getattr__(name: str) -> Any:
    """``RnnplayApp`` imported when it is first asked for (Textual takes a while to import): ``rnnplay`` asks the
    terminal for its modes (``terminal.py``) before, as soon as keys may be typed."""
    if name == "RnnplayApp":
        from rnnplay.ui.tui.app import RnnplayApp
        return RnnplayApp
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
