"""The Textual front end: ``rnnplay`` / ``rnnplay tui [MODEL]``.

May import: every layer below ``rnnplay.ui`` and the shared modules of ``rnnplay.ui`` (console,
event_text, history, plot_file). Never the command line or the REPL.
"""

from rnnplay.ui.tui.app import RnnplayApp

__all__ = ["RnnplayApp"]
