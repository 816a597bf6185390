"""``rnnplay plugins new NAME``: write a ready-to-publish cell plugin package from the templates beside this file.

For ``NAME = "demo"`` (or ``"rnnplay-demo"``)::

    rnnplay-demo/
      pyproject.toml            the ``rnnplay`` entry point: demo = "rnnplay_demo"
      README.md
      src/rnnplay_demo/__init__.py   the register_cells hook
      src/rnnplay_demo/cell.py       a working cell, its maths in the docstring, to edit
      tests/test_cell.py        check_cell, registration, a few training steps

Templates are plain text with ``{{placeholder}}`` fields.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from rnnplay.core.errors import RnnplayError
from rnnplay.core.plugin_record import installed_version
from rnnplay.plugins.contracts import MAX_NAME

TEMPLATES = Path(__file__).parent
# template -> where it goes in the new package ({module} is filled in)
LAYOUT = {
    "pyproject.toml.tmpl": "pyproject.toml",
    "README.md.tmpl": "README.md",
    "__init__.py.tmpl": "src/{module}/__init__.py",
    "cell.py.tmpl": "src/{module}/cell.py",
    "test_cell.py.tmpl": "tests/test_cell.py",
}
NAME_RE = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")


@dataclass(frozen=True)
class PluginNames:
    cell: str  # "demo" (what --cell takes)
    dist: str  # "rnnplay-demo" (what pip installs)
    module: str  # "rnnplay_demo" (what Python imports)
    cls: str  # "DemoCell"

    @classmethod
    def from_name(cls, name: str) -> PluginNames:
        short = name.lower().removeprefix("rnnplay-").removeprefix("rnnplay_")
        if not NAME_RE.fullmatch(short) or len(short) > MAX_NAME:
            shown = repr(name if len(name) <= MAX_NAME else name[:MAX_NAME] + "…")
            raise RnnplayError(
                f"{shown} is not a usable plugin name: use at most {MAX_NAME} lowercase letters, "
                "digits and single '-' or '_', starting with a letter (for example `rnnplay plugins new mycell`)"
            )
        words = re.split(r"[-_]", short)
        return cls(short, f"rnnplay-{'-'.join(words)}", f"rnnplay_{'_'.join(words)}",
                   "".join(w.capitalize() for w in words) + "Cell")


def render(template: str, names: PluginNames) -> str:
    # the installed version, not rnnplay.__version__: the root package reaches every layer, the front ends included
    fields = {"cell": names.cell, "dist": names.dist, "module": names.module, "Class": names.cls,
              "rnnplay_version": installed_version("rnnplay")}
    return re.sub(r"\{\{(\w+)\}\}", lambda m: fields[m.group(1)], template)


def new_plugin(names: PluginNames, parent: Path) -> Path:
    """Write the package into ``parent / names.dist`` (which must not exist yet) and return that folder.

    ``parent`` must be an existing folder; if writing fails halfway, the half-made package is removed.
    """
    root = parent / names.dist
    if not os.path.isdir(parent):
        raise RnnplayError(f"{parent} is not a folder; give --dir an existing folder (or leave it out: here)")
    if os.path.lexists(root):
        raise RnnplayError(f"{root} already exists; choose another name or remove it first")
    try:
        root.mkdir()
    except OSError as err:
        raise RnnplayError(f"cannot create {root}: {err.strerror or err}; choose another folder with --dir") from None
    try:
        for template, target in LAYOUT.items():
            path = root / target.format(module=names.module)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(render((TEMPLATES / template).read_text(encoding="utf-8"), names), encoding="utf-8")
    except OSError as err:
        shutil.rmtree(root, ignore_errors=True)  # it is ours: created just above
        raise RnnplayError(f"cannot write {root}: {err.strerror or err}; nothing was left behind") from None
    return root
