"""Fixtures of the hostile-input table (see harness.py)."""

from .faulty_plugins import empty_index, faulty_site, flaky_model  # noqa: F401  (the plugin tables' packages, model, index)
from .harness import sandbox  # noqa: F401  (a fixture every table uses)
