"""How long a plugin's import or hook may run before rnnplay names it on stderr (the host's watch).

A module of its own, light, so that `rnnplay plugins`, which lists third-party plugins from child processes and
loads no host itself, says a bad ``$RNNPLAY_SLOW_PLUGIN_SECONDS`` in one line before it starts them.
"""

from __future__ import annotations

from rnnplay.env_values import seconds_from_env

SLOW_PLUGIN_SECONDS = 3.0  # a plugin's import or hook running longer than this gets it named on stderr


def slow_plugin_seconds() -> float:
    """SLOW_PLUGIN_SECONDS, or ``$RNNPLAY_SLOW_PLUGIN_SECONDS``: how long a plugin's import or hook may run before
    it is named on stderr (a test sets it low rather than wait it out)."""
    return seconds_from_env("RNNPLAY_SLOW_PLUGIN_SECONDS", SLOW_PLUGIN_SECONDS)
