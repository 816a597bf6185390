"""No measured figures in rnnplay's comments and docstrings: they go stale there. They belong in docs/ and benchmarks/.

A speed or a time measured on one machine one day (characters per second, µs per
call, "3× faster") reads as a fact of the code long after the code or the machine
has changed. docs/performance.md keeps such figures with how they were measured.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "rnnplay"

NUMBER = r"\d+(?:[.,]\d+)?"
RANGE = rf"(?:{NUMBER} ?[–-] ?)?{NUMBER}"  # 3, 1.5, 15,000 or 1–3
FIGURES = re.compile(
    "|".join([
        rf"(?:{RANGE} ?)?chars?/s\b",  # a speed in characters per second
        r"\bchars? (?:a|per) second\b",
        rf"(?:~ ?)?(?:{RANGE} ?)?µs\b|\bmicroseconds?\b",  # a time per call
        rf"{RANGE} ?ms\b|\bmilliseconds?\b",
        rf"~ ?{RANGE} ?s\b",  # "~0.4 s": a measured time
        rf"{NUMBER} ?×(?! ?\d)",  # "1.3×" (but not a shape, 3×5)
        rf"{NUMBER} ?x (?:faster|slower)\b",
        r"\b(?:\d+|two|three|four|five|six|seven|eight|nine|ten|several|many) times (?:faster|slower)\b",
        rf"{RANGE} ?% (?:faster|slower)\b",
    ]),
    re.IGNORECASE,
)  # fmt: skip


def comments_and_docstrings(source: str) -> Iterator[tuple[int, str]]:
    """(line number, text) of every comment and every docstring line of a module's source."""
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            yield token.start[0], token.string
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            docstring = ast.get_docstring(node, clean=False)
            for offset, line in enumerate((docstring or "").splitlines()):
                yield node.body[0].lineno + offset, line


def figures(source: str) -> list[tuple[int, str]]:
    """(line, the figure) for each measured figure in the comments and docstrings of ``source``."""
    found = []
    for line, text in comments_and_docstrings(source):
        found.extend((line, match.group(0)) for match in FIGURES.finditer(text))
    return sorted(found, key=lambda found: found[0])  # by line, in the order they come


def test_the_patterns_catch_figures_and_spare_shapes() -> None:
    source = '''"""A step: ~1 µs a call, 15,000 chars/s, 1.32x faster."""
x = 1  # 30 ms here; 2× the speed; ~0.4 s to load; five times slower; 15–30% faster; 1–3 µs
y = 2  # a 3×5 font, 2×256 LSTM, B = 16 streams, 4H columns, "%s", 0.5 s of budget
'''
    found = [figure for _, figure in figures(source)]
    assert found == ["~1 µs", "15,000 chars/s", "1.32x faster", "30 ms", "2×", "~0.4 s", "five times slower",
                     "15–30% faster", "1–3 µs"]  # fmt: skip


def test_no_measured_figures_in_comments_or_docstrings() -> None:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        name = path.relative_to(ROOT).as_posix()
        found.extend(f"{name}:{line}: {figure}" for line, figure in figures(path.read_text(encoding="utf-8")))
    assert not found, "measured figures in comments or docstrings (move them to docs/):\n" + "\n".join(found)
