"""`python -m rnnplay` is the `rnnplay` command."""

from .cli import run

run()
