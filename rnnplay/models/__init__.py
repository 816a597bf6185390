"""Models on disk: the bundled Shakespeare model and the user's model library.

- ``bundled``: load and save a model by path, the plugin registry resolving its cell.
- ``library``: find a model by name, list models from their metadata alone.

May import: ``rnnplay.core``, ``rnnplay.plugins``, ``rnnplay.folders``. Never
``rnnplay.corpora``, ``rnnplay.builtin``, the session or a face.
"""
