"""What ``rnnplay plugins install PATH`` is given, checked before pip sees it: a folder, a wheel or a source archive.

pip met each of these faults with pages of its own, some of them its traceback (a pyproject.toml that is not TOML,
a .tar.gz that is not gzip), and rnnplay added only "pip install failed (exit 2)". What can be checked in the file
itself is checked here and said in one line, and pip is not run: a folder's pyproject.toml must be a regular file
(a FIFO hung rnnplay and pip) that parses, its [build-system] table what PEP 518 asks; a wheel must be a whole zip
holding its .dist-info, named as a wheel is, for a Python and platform this interpreter runs; a source archive must be
what its name says it is, whole, its pyproject.toml checked as a folder's; and the requires-python of a folder or a
wheel must admit this interpreter.
"""

from __future__ import annotations

import os
import platform
import sys
import tarfile
import tomllib
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.parser import HeaderParser
from operator import methodcaller
from pathlib import Path

from rnnplay.core.errors import RnnplayError, printable
from rnnplay.plugins.discovery import normalize

ARCHIVES = (".whl", ".zip", ".tar.gz", ".tgz", ".tar.bz2")  # files pip installs: a wheel or a source archive
PROJECT_FILES = ("pyproject.toml", "setup.py")  # what pip builds a source folder or archive from
LARGEST_PYPROJECT = 1 << 20  # bytes
MAGIC = {".tar.gz": (b"\x1f\x8b", "gzip"), ".tgz": (b"\x1f\x8b", "gzip"), ".tar.bz2": (b"BZh", "bzip2")}


@dataclass(frozen=True)
class Build:
    """What a folder's or source archive's pyproject.toml says its build needs, for pip's failures to be told in
    those words."""

    requires: tuple[str, ...] = ()
    backend: str | None = None
    declared: bool = True  # False: no [build-system], so pip's own choice (PEP 517's fallback)


# what pip builds a folder or source archive without [build-system] with (pip 23.2 asks for wheel too)
FALLBACK = Build(("setuptools>=40.8.0", "wheel"), "setuptools.build_meta:__legacy__", declared=False)


def package_path(target: str) -> str:
    """The absolute path of a plugin folder, wheel or source archive, or a one-line error saying what it is not."""
    path = Path(target).expanduser().resolve()
    try:
        os.listdir(path) if os.path.isdir(path) else os.stat(path)
    except PermissionError as err:  # the folder, or one on the way to it, is not the user's to read
        raise RnnplayError(f"cannot read {target}: {err.strerror}; check its permissions and its folders'") from None
    except OSError:
        pass  # not there: said below
    if os.path.isdir(path) and not any(os.path.exists(path / name) for name in PROJECT_FILES):
        raise RnnplayError(f"{target} is not a Python package folder (no pyproject.toml or setup.py in it)")
    if os.path.isfile(path) and not path.name.lower().endswith(ARCHIVES):
        raise RnnplayError(f"{target} is a file, but not a wheel or source archive ({', '.join(ARCHIVES)})")
    if os.path.exists(path) and not os.path.isdir(path) and not os.path.isfile(path):  # reading a FIFO blocks
        raise RnnplayError(f"{target} is not a regular file (a pipe or a device): give a plugin's folder, a wheel or "
                           "a source archive")
    if not os.path.exists(path):
        raise RnnplayError(f"{target} does not exist: give a plugin's folder (with its pyproject.toml), a wheel or a "
                           "source archive, or a name on the package index")
    return str(path)


def project_name(folder: Path) -> str | None:
    """The normalised [project] name in ``folder``'s pyproject.toml, if it can be read."""
    try:
        name = tomllib.loads(pyproject_bytes(folder / "pyproject.toml", str(folder)).decode())["project"]["name"]
    except (RnnplayError, OSError, ValueError, KeyError, TypeError, RecursionError):  # Recursion: nested too deeply
        return None
    return normalize(name) if isinstance(name, str) else None


def check_source(path: Path, target: str) -> Build:
    """Refuse, in one line, a folder, wheel or archive that pip could not install; what its build needs."""
    name = path.name.lower()
    if path.is_dir():
        file = path / "pyproject.toml"
        raw = pyproject_bytes(file, target) if file.exists() else None
    elif name.endswith(".whl"):
        check_wheel(path, target)
        return Build()
    elif name.endswith(".zip"):
        names, raw = open_zip(path, target, "zip file", lambda member: top_file(member) == "pyproject.toml")
        require_project(map(top_file, names), target)
    else:
        tops, raw = check_tar(path, target, next(s for s in MAGIC if name.endswith(s)))
        require_project(tops, target)
    if raw is None:
        return FALLBACK
    return pyproject_build(raw, target, "mend it and install again" if path.is_dir() else
                           "the archive holds it as its authors built it: install the plugin's folder, or another "
                           "version of it")


def top_file(member: str) -> str | None:
    """The file name of a source archive's ``member`` at its top or in its one folder (where pip looks for the
    project's files), else None."""
    return member.rpartition("/")[2] if member.count("/") <= 1 else None


def require_project(top_files: Iterable[str | None], target: str) -> None:
    """One line when none of a source archive's ``top_files`` is a pyproject.toml or setup.py, which pip builds from:
    pip said only "does not appear to be a Python project", and rnnplay "pip install failed (exit 1)"."""
    if not set(top_files) & set(PROJECT_FILES):
        raise RnnplayError(f"{target} holds no Python project: no pyproject.toml or setup.py at its top or in its one "
                           "folder; give the plugin's source archive as its authors published it, its folder or a "
                           "wheel")


def pyproject_build(raw: bytes, target: str, mend: str) -> Build:
    """The [build-system] of the pyproject.toml ``raw`` (none: setup.py alone), checked as pip would."""
    if len(raw) > LARGEST_PYPROJECT:
        raise RnnplayError(f"{target}'s pyproject.toml is over {LARGEST_PYPROJECT:,} bytes, more than a package's "
                           f"settings take; {mend}")
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise RnnplayError(f"{target}'s pyproject.toml is not UTF-8 text (byte {err.start}); {mend}") from None
    except tomllib.TOMLDecodeError as err:
        raise RnnplayError(f"{target}'s pyproject.toml is not valid TOML: {printable(str(err))}; {mend}") from None
    except RecursionError:
        raise RnnplayError(f"{target}'s pyproject.toml is not valid TOML: nested too deeply; {mend}") from None
    project = data.get("project")
    if isinstance(project, dict):
        check_python(project.get("requires-python"), target, "its pyproject.toml's requires-python")
    system = data.get("build-system")
    if system is None:
        return FALLBACK
    requires = system.get("requires") if isinstance(system, dict) else None
    if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
        raise RnnplayError(f"{target}'s pyproject.toml: [build-system] needs requires, a list of strings such as "
                           f'requires = ["setuptools"] (PEP 518); {mend}')
    backend = system.get("build-backend")
    if backend is not None and not isinstance(backend, str):
        raise RnnplayError(f"{target}'s pyproject.toml: [build-system] build-backend must be a string such as "
                           f'"setuptools.build_meta"; {mend}')
    return Build(tuple(requires), backend)


def pyproject_bytes(file: Path, target: str) -> bytes:
    """A folder's pyproject.toml, if a regular file (a FIFO blocked the read, rnnplay's and pip's, for ever), up to
    one byte past the largest taken."""
    if not file.is_file():
        raise RnnplayError(f"{target}'s pyproject.toml is not a regular file (a pipe, a device or a folder): give the "
                           "folder of a plugin package")
    try:
        with open(file, "rb") as text:
            return text.read(LARGEST_PYPROJECT + 1)
    except OSError as err:
        raise RnnplayError(f"cannot read {target}'s pyproject.toml: {err.strerror}") from None


def check_python(spec: object, target: str, where: str) -> None:
    """Refuse a package whose Requires-Python ``spec`` leaves this interpreter out (pip said it only after building
    the package's metadata, and rnnplay only "pip install failed (exit 1)"); a spec pip cannot read, pip names."""
    if not isinstance(spec, str):
        return
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    try:
        fits = SpecifierSet(spec).contains(platform.python_version(), prereleases=True)
    except InvalidSpecifier:
        return
    if not fits:
        raise RnnplayError(f"{target} needs Python {printable(spec)[:100]} ({where}), and rnnplay runs on Python "
                           f"{platform.python_version()}; use a version of the plugin made for it, or rnnplay "
                           "installed with a Python the plugin supports")


def open_zip(path: Path, target: str, what: str, wanted: Callable[[str], bool]) -> tuple[list[str], bytes | None]:
    """The member names of the zip file at ``path`` and the first ``wanted`` member's bytes (at most one past the
    largest pyproject.toml taken), or one line: it is no zip file, or a cut-off one."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            found = next(filter(wanted, names), None)
            if found is None:
                return names, None
            with archive.open(found) as member:
                return names, member.read(LARGEST_PYPROJECT + 1)
    except (zipfile.BadZipFile, EOFError, ValueError, zlib.error):
        raise RnnplayError(f"{target} is not a whole {what}: it is no zip file, or one cut off or damaged (an "
                           "unfinished download?); download or build it again") from None
    except OSError as err:
        raise RnnplayError(f"cannot read {target}: {err.strerror}") from None


def check_wheel(path: Path, target: str) -> None:
    """A wheel: named NAME-VERSION[-BUILD]-PYTHON-ABI-PLATFORM.whl, a whole zip with its .dist-info, for this
    interpreter's Python and platform."""
    parts = path.name[: -len(".whl")].split("-")
    if len(parts) not in (5, 6):
        raise RnnplayError(f"{target} is not named as a wheel is (NAME-VERSION-PYTHON-ABI-PLATFORM.whl), and pip "
                           "reads a wheel's Python and platform from its name; give it the name it was built with")
    tags = {f"{py}-{abi}-{plat}" for py in parts[-3].split(".") for abi in parts[-2].split(".")
            for plat in parts[-1].split(".")}
    from packaging.tags import sys_tags  # here: every other command does without it

    if not tags & {str(tag) for tag in sys_tags()}:
        here = f"Python {sys.version_info.major}.{sys.version_info.minor} on {platform.system()} {platform.machine()}"
        raise RnnplayError(f"{target} is built for {'-'.join(parts[-3:])}, which this {here} cannot install; "
                           "use a wheel built for this Python and platform, or the plugin's source folder")
    names, metadata = open_zip(path, target, "wheel", lambda n: n.count("/") == 1 and n.endswith(".dist-info/METADATA"))
    if not {"METADATA", "WHEEL"} <= {tail for head, _, tail in map(methodcaller("partition", "/"), names)
                                     if head.endswith(".dist-info")}:
        raise RnnplayError(f"{target} is a zip file but not a wheel: it holds no .dist-info folder with METADATA and "
                           "WHEEL; build it again (`python -m build --wheel` in the plugin's folder)")
    requires = HeaderParser().parsestr((metadata or b"").decode("utf-8", "replace")).get("Requires-Python")
    check_python(requires, target, "its METADATA's Requires-Python")


def check_tar(path: Path, target: str, suffix: str) -> tuple[set[str], bytes | None]:
    """A .tar.gz, .tgz or .tar.bz2: compressed as its name says, and a whole tar archive within; which of
    :data:`PROJECT_FILES` it holds (:func:`top_file`), and its pyproject.toml's bytes, if it has one."""
    magic, kind = MAGIC[suffix]
    try:
        with open(path, "rb") as file:
            start = file.read(len(magic))
        if start != magic:
            raise RnnplayError(f"{target} is not a {kind} file, which a {suffix} is (an HTML page saved under that "
                               "name? a failed download?); download or build it again")
        with tarfile.open(path) as archive:
            found, tops = None, set()
            while (member := archive.next()) is not None:  # to its end: a cut-off archive fails only there
                if member.isfile() and (top := top_file(member.name)) in PROJECT_FILES:
                    tops.add(top)
                    found = found or (member if top == "pyproject.toml" else None)
            text = archive.extractfile(found) if found is not None else None
            return tops, text.read(LARGEST_PYPROJECT + 1) if text is not None else None
    except (tarfile.TarError, EOFError, zlib.error, OSError) as err:
        if isinstance(err, OSError) and err.errno is not None:  # reading the file, not what is in it
            raise RnnplayError(f"cannot read {target}: {err.strerror}") from None
        raise RnnplayError(f"{target} is not a whole {suffix} source archive: it is cut off or damaged (an "
                           "unfinished download?); download or build it again") from None
