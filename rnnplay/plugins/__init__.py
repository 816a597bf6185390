"""The plugin layer: hook specifications, the host that loads plugins, their contracts.

- ``hookspecs``: the hooks a plugin implements (pluggy project ``"rnnplay"``).
- ``host``: ``PluginHost`` loads the built-ins and entry points, checks each plugin
  against its contract, keeps the registries and reports failures in one line.
- ``commands``: the slash-command contract, registry lookup and argument parsing
  (the built-in commands live in ``rnnplay.builtin`` like any plugin's).
- ``testing``: ``check_cell``, the gradient check a cell author runs in their tests.
- ``scaffold``: ``rnnplay plugins new``'s package templates.

May import: ``rnnplay.core``. Never the session or a front end.
"""
