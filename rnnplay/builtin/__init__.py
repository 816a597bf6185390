"""rnnplay's own cells, samplers, corpus loaders and slash commands.

Each module here is a plugin like any other: it implements the hooks of
:mod:`rnnplay.plugins.hookspecs` and registers its objects through them.
"""
