"""The plugin layer: the hooks, the contracts plugins meet, and the host that loads them.

- ``hookspecs``: the hooks a plugin implements (pluggy project ``"rnnplay"``); ``hookimpl``
  and ``Register`` are also importable from here: ``from rnnplay.plugins import hookimpl``.
- ``contracts``: each hook's contract, read from its Protocol (Cell, Sampler, CorpusLoader,
  Command), plus the checks a Protocol cannot say (names are words, help is one line).
- ``host``: ``PluginHost`` loads the built-ins and the installed plugins and calls their
  hooks; ``get_host()`` is the process's one host.
- ``registries``: what was registered, the lookups in it, and the blame for a plugin's error.
- ``discovery``, ``problems``, ``interrupts``, ``last_words``: finding entry points; a failure said
  in one line; a user's Ctrl-C told from a plugin's KeyboardInterrupt; a plugin that ends the process
  as it loads (``os._exit``) named by a watcher process.
- ``commands``, ``session_api``: the slash-command contract, lookup and argument parsing,
  and what of the session a command may use.
- ``testing``: ``check_cell``, the gradient check a cell author runs in their tests.
- ``scaffold``: ``rnnplay plugins new``'s package templates.

May import: ``rnnplay.core``. Never ``rnnplay.builtin`` (loaded by name, like any plugin),
``rnnplay.corpora``, ``rnnplay.models``, the session or a face.
"""

from rnnplay.plugins.hookspecs import Register, hookimpl

__all__ = ["Register", "hookimpl"]
