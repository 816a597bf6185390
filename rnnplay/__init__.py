"""rnnplay: a terminal playground for character-level recurrent networks.

The packages are layers; each imports only the layers below it (docs/architecture.md; the
import-linter contracts in pyproject.toml, checked by tests/test_architecture.py):

    rnnplay.ui                         the faces: the command line, the Textual app, the REPL, CharRNN
    rnnplay.session                    what a person talks to, whatever the face
    rnnplay.builtin                    rnnplay's own cells, samplers, corpus loaders and commands: plugins
    rnnplay.corpora | rnnplay.models   training text from a corpus spec | models on disk
    rnnplay.plugins                    the hooks, the plugin contracts and the host that loads plugins
    rnnplay.core | rnnplay.folders     the numerics | where files go (imports nothing of rnnplay)

Only ``rnnplay.core.jit`` and the compiled LSTM kernels import numba; nothing imports torch.
This module gives ``rnnplay.CharRNN`` and ``rnnplay.RnnplayError`` lazily, so that ``import
rnnplay.core`` stays light; the layers below the faces do not import it (it reaches ``rnnplay.ui``).
"""

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
