"""Fixtures of the hostile-input table (see harness.py)."""

from .harness import sandbox  # noqa: F401  (a fixture every table uses)
