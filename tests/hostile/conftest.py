"""Fixtures of the hostile-input table (see harness.py)."""

from .faulty_plugins import faulty_site, flaky_model  # noqa: F401  (the plugin tables' packages and model)
from .harness import sandbox  # noqa: F401  (a fixture every table uses)
