"""``rnnplay models``: the models in rnnplay's library and the bundled one, read from their metadata alone."""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict
from pathlib import Path

from rnnplay.core.errors import printable
from rnnplay.models.library import library_files, list_models, model_table, models_dir
from rnnplay.session.output_paths import why_unwritable

EXAMPLES = """\
examples:
  rnnplay models                     name, cell, size (layers×hidden), corpus, validation loss, date
  rnnplay models --json              the same with each file's path, for scripts

In the app and the REPL, /models lists them and /load NAME opens one; /train saves new ones here
under names that never replace a file (notes.npz, notes-2.npz, ...)."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "models", help="list your models: name, cell, size, corpus, validation loss, date",
        description=f"List the models in rnnplay's library ({models_dir()}) and the bundled one.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    entries = list_models()
    if args.json:
        print(json.dumps([{**asdict(e), "path": str(e.path)} for e in entries], indent=2))
        return 0
    print("\n".join(model_table(entries)))
    if not library_files():
        print(f"\n{printable(str(models_dir()))} {why_empty(models_dir())}")
    return 0


def why_empty(folder: Path) -> str:
    """Why the library lists nothing: no model yet, or a folder that is a file or cannot be read or written."""
    try:
        os.stat(folder)
    except PermissionError:  # a folder above it may not be searched
        return ("cannot be reached (permission denied on a folder above it): let your user into it, or set "
                "XDG_DATA_HOME to a folder you can write")
    except OSError:
        pass
    if os.path.exists(folder) and not os.path.isdir(folder):
        return "is a file, not a folder, so no model can be kept there: move that file away"
    parent = next((p for p in folder.parents if os.path.exists(p)), None)  # XDG_DATA_HOME or HOME a file, say
    if not os.path.exists(folder) and parent is not None and not os.path.isdir(parent):
        return f"cannot be made, for {parent} is a file, not a folder: move it away, or set XDG_DATA_HOME elsewhere"
    if os.path.isdir(folder) and not os.access(folder, os.R_OK | os.X_OK):
        return "cannot be read (permission denied): let your user read it to see its models"
    unwritable = why_unwritable(folder)
    if unwritable is not None:
        return (f"cannot be written ({unwritable[0]}), so /train in the app cannot save models there: "
                "set XDG_DATA_HOME to a folder you can write")
    return "holds no models yet: /train FILE in the app saves one there"
