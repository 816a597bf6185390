"""rnnplay: a terminal playground for character-level recurrent networks."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["CharRNN", "RnnplayError", "__version__"]


def __getattr__(name: str):  # lazy, so `import rnnplay.core` stays light
    if name == "CharRNN":
        from rnnplay.ui.charrnn import CharRNN

        return CharRNN
    if name == "RnnplayError":
        from rnnplay.core.errors import RnnplayError

        return RnnplayError
    raise AttributeError(name)
