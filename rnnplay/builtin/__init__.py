"""rnnplay's own cells, samplers, corpus loaders and slash commands.

Each module here is a plugin like any other: it implements the hooks of
:mod:`rnnplay.plugins.hookspecs` and registers its objects through them; the host
loads every module of this package by name, before the installed plugins.

May import: ``rnnplay.corpora`` and ``rnnplay.models`` (the loaders read corpora, the
commands the model library), ``rnnplay.plugins``, ``rnnplay.core``, ``rnnplay.folders``.
Never ``rnnplay.session`` or ``rnnplay.ui``: a command reaches the session only through
the :class:`~rnnplay.plugins.session_api.SessionAPI` it is given.
"""
