"""The architecture holds: import-linter's layer contracts (pyproject.toml), and small modules and functions.

The contracts are checked by the real ``lint-imports``, on this checkout and on a copy with one
wrong import added, which must break them.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "rnnplay"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 50

# Modules and functions allowed over the limits, each with a comment saying why; none is, now. A file that
# shrinks below the limits must come off the list (test_every_exception_is_still_needed).
EXCEPTIONS: set[str] = set()  # "rnnplay/x.py" for a module, "rnnplay/x.py:function" for a function


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` run in ``root`` (its pyproject.toml; its rnnplay/ comes first on the path)."""
    command = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
               "sys.exit(lint_imports_command())", "--no-cache", "--no-logo"]
    return subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=300)


def test_the_import_contracts_are_kept() -> None:
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_a_wrong_import_in_core_breaks_the_layers(tmp_path: Path) -> None:
    shutil.copytree(PACKAGE, tmp_path / "rnnplay", ignore=shutil.ignore_patterns("__pycache__", "*.npz"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    vocab = tmp_path / "rnnplay" / "core" / "vocab.py"
    vocab.write_text(vocab.read_text() + "\nimport rnnplay.session.session  # wrong: core imports nothing above it\n")
    done = lint_imports(tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Layers: each imports only the layers below it BROKEN" in done.stdout
    assert "rnnplay.core.vocab -> rnnplay.session.session" in done.stdout


def python_files() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def oversized() -> list[tuple[str, int]]:
    """Every module over MAX_MODULE_LINES lines and function over MAX_FUNCTION_LINES (from ``def`` to its end)."""
    found = []
    for path in python_files():
        name = path.relative_to(ROOT).as_posix()
        source = path.read_text()
        if len(source.splitlines()) > MAX_MODULE_LINES:
            found.append((name, len(source.splitlines())))
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    found.append((f"{name}:{node.name}", lines))
    return found


def test_modules_and_functions_are_small() -> None:
    over = [f"{name} ({lines} lines)" for name, lines in oversized() if name not in EXCEPTIONS]
    assert not over, f"over {MAX_MODULE_LINES} lines a module or {MAX_FUNCTION_LINES} a function: {', '.join(over)}"


def test_every_exception_is_still_needed() -> None:
    small = EXCEPTIONS - {name for name, _ in oversized()}
    assert not small, f"small now, take them off EXCEPTIONS: {', '.join(sorted(small))}"


def test_every_module_is_in_the_architecture_doc() -> None:
    """docs/architecture.md names every module by its file name, so a new module cannot slip in undescribed."""
    doc = (ROOT / "docs" / "architecture.md").read_text()
    unnamed = [p.relative_to(ROOT).as_posix() for p in python_files()
               if p.name != "__init__.py" and not re.search(rf"(?<!\w){re.escape(p.name)}", doc)]  # not event_text.py
    assert not unnamed, f"add a row for each to docs/architecture.md: {', '.join(unnamed)}"
