"""`python -m rnnplay` is the `rnnplay` command."""

from rnnplay.ui.cli import run

run()
