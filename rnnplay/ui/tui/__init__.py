"""The Textual front end: ``rnnplay`` / ``rnnplay tui [MODEL]``."""

from rnnplay.ui.tui.app import RnnplayApp

__all__ = ["RnnplayApp"]
