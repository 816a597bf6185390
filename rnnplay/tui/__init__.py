"""The Textual front end: ``rnnplay`` / ``rnnplay tui [MODEL]``."""

from .app import RnnplayApp

__all__ = ["RnnplayApp"]
