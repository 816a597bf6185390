"""pip, run for ``rnnplay plugins install`` and ``uninstall``, and its failures told in one line.

pip runs in the interpreter that runs rnnplay (``sys.executable -m pip``), so a plugin always lands in the
environment that will load it, whichever ``pip`` is first on PATH, with ``-P``: without it, ``-m`` put the current
folder first on its path, where a folder named ``rnnplay`` (a clone of the repository) or ``pip`` stood in for the
installed package. Its progress goes straight to the terminal and its messages stay shown, except where rnnplay's
line says all of it; the line is read from pip's exit and the references its errors carry
(``error: subprocess-exited-with-error``), not from its prose, wherever pip gives one.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys

from rnnplay.core.errors import RnnplayError, printable
from rnnplay.plugins.discovery import bundled_plugin_folder, install_command, normalize
from rnnplay.ui.cli.plugin_sources import Build

# what pip says when the index has nothing that fits, and when it could not reach the index at all
NOT_ON_INDEX = re.compile(
    r"satisfies the requirement (?P<name>[A-Za-z0-9._-]+)[^\n]*\(from versions: (?P<versions>[^)]*)\)"
)
UNREACHABLE = re.compile(r"Retrying|NewConnectionError|Network is unreachable|Temporary failure in name resolution")
# the build backend could not be imported: pip ends in its own traceback (exit 2) of pyproject_hooks' exception
NO_BACKEND = re.compile(r"\bBackendUnavailable\b")
# a build step ran and failed: the references of pip's errors for a build's subprocess and its metadata
BUILD_FAILED = re.compile(r"^error: (subprocess-exited-with-error|metadata-generation-failed)$", re.MULTILINE)
REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def pip(*args: str, build: Build | None = None, asked: str | None = None) -> None:
    """Run pip in this interpreter; a failure becomes one line naming ``asked`` (as the user gave it; the last
    argument if None), in the words of ``build`` (what the folder installed says its build needs) where it is the
    build that failed."""
    if importlib.util.find_spec("pip") is None:
        raise RnnplayError(f"pip is not available in {sys.executable}; add it with `{sys.executable} -m ensurepip`")
    done = subprocess.run([sys.executable, "-P", "-m", "pip", *args], stderr=subprocess.PIPE, text=True, check=False)
    if done.returncode == 0:
        sys.stderr.write(done.stderr)  # pip's warnings, if any
        return
    line, shown = failure((*args[:-1], asked or args[-1]), done.returncode, done.stderr, build or Build())
    if shown:
        sys.stderr.write(done.stderr)
    raise RnnplayError(line)


def failure(args: tuple[str, ...], code: int, said: str, build: Build) -> tuple[str, bool]:
    """The one line for pip's failure, and whether pip's own messages are worth showing above it."""
    asked = args[-1]
    missing = NOT_ON_INDEX.search(said)
    if missing is not None and not UNREACHABLE.search(said):
        name = missing["name"]
        if normalize(name) == normalize(asked):
            return not_on_index(name, missing["versions"]), False
        if normalize(name) in {normalize(m[1]) for m in map(REQUIREMENT_NAME.match, build.requires) if m}:
            why = ("its pyproject.toml's [build-system] requires it" if build.declared else
                   "pip builds a folder without [build-system] with it")
            return (f"pip {args[0]} failed: building {asked} needs {name!r} ({why}), which the package index does "
                    "not have; check that name, or that pip can reach its index (pip's messages above)"), True
        return (f"pip {args[0]} failed: the package index has no {name}, which installing {asked} needs; see "
                "pip's messages above, and check that pip can reach its index"), True  # a dependency's
    if NO_BACKEND.search(said):  # pip's traceback says no more than this
        backend = f"build-backend {build.backend!r}" if build.backend else "the build-backend its pyproject.toml names"
        needs = ", ".join(build.requires) or "nothing"
        return (f"pip {args[0]} failed: {asked} cannot be built: its {backend} cannot be imported from what its "
                f"[build-system] requires ({printable(needs)[:200]}); check both in its pyproject.toml"), False
    if BUILD_FAILED.search(said):
        return (f"pip {args[0]} failed: building {asked} failed in the plugin's own build code (its setup.py or "
                "build backend: its error is in pip's messages above); nothing was installed: mend the build, or "
                "report it to the plugin's authors"), True
    hint = bundled_hint(missing["name"]) if missing is not None else ""
    return f"pip {args[0]} failed (exit {code}); see pip's messages above" + (f"; {hint}" if hint else ""), True


def bundled_hint(name: str) -> str:
    if bundled_plugin_folder(name) is None:
        return ""
    return f"it is an example plugin of rnnplay, not published yet: run {install_command(name)}"


def not_on_index(name: str, versions: str) -> str:
    """The one line for a name the package index does not have (or has no version of that fits)."""
    found = (f"the package index has no distribution named {name}" if versions.strip() == "none"
             else f"no version of {name} on the package index installs here (it has {printable(versions[:200])})")
    return f"{found}; " + (bundled_hint(name) or "check the name: plugins are usually called rnnplay-NAME")
