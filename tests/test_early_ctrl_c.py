"""Ctrl-C in the first moments of a command, while its modules are still being imported.

The child runs with ``-X importtime``, which writes a line to stderr as each import ends; the signal is sent
once the line for ``rnnplay.ui`` shows, so it lands while ``rnnplay.ui.cli`` (numpy, rich and the rest) is
being imported. The command must end quietly with 130 and one line. ``rnnplay train`` started with SIGINT
ignored (as a script's ``rnnplay train ... &`` is) must hear it there too, not train on and exit 0, and so must
the other long-running commands (a long sample, a large file's score or ``corpus show``).
Both entry points run: ``python -m rnnplay``, and the console script as pip writes it from pyproject.toml.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
from child_env import CHECKOUT, child_env

TIMEOUT = 120  # a bound that catches a hang, not a speed claim


def entry(kind: str) -> list[str]:
    """The words that start the ``rnnplay`` command, each import's end written to stderr."""
    if kind == "module":
        return [sys.executable, "-X", "importtime", "-m", "rnnplay"]
    target = tomllib.loads((CHECKOUT / "pyproject.toml").read_text())["project"]["scripts"]["rnnplay"]
    module, name = target.split(":")
    script = f"import sys\nfrom {module} import {name}\nsys.exit({name}())"  # what pip's console script does
    return [sys.executable, "-X", "importtime", "-c", script]


def interrupted_while_importing(command: list[str], cwd: Path, preexec: Callable[[], object] | None = None
                                ) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run ``command``, send SIGINT once ``rnnplay.ui`` is imported; its result and its stderr without the
    import lines."""
    child = subprocess.Popen(command, cwd=cwd, env=child_env(RNNPLAY_JIT="0"), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, preexec_fn=preexec)
    assert child.stderr is not None
    early = []
    for line in child.stderr:
        early.append(line)
        if line.split("|")[-1].strip() == "rnnplay.ui":
            os.kill(child.pid, signal.SIGINT)
            break
    out, rest = child.communicate(timeout=TIMEOUT)
    lines = [line for line in (*early, *rest.splitlines(keepends=True)) if not line.startswith("import time:")]
    return subprocess.CompletedProcess(command, child.returncode, out, "".join(lines)), lines


@pytest.mark.parametrize("kind", ["module", "script"])
def test_ctrl_c_while_sample_imports_is_one_line(kind: str, tmp_path: Path) -> None:
    """It printed a KeyboardInterrupt traceback from an import, and the process died of SIGINT."""
    done, lines = interrupted_while_importing([*entry(kind), "sample", "--length", "50"], tmp_path)
    assert (done.returncode, lines) == (130, ["rnnplay: interrupted\n"]), done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize("kind", ["module", "script"])
def test_kill_int_to_a_background_train_is_heard_while_it_imports(kind: str, small_file: Path,
                                                                   tmp_path: Path) -> None:
    """Started with SIGINT ignored, as a non-interactive shell starts a background job: the signal was lost
    while the command imported, and the run trained to its end and exited 0."""
    command = [*entry(kind), "train", str(small_file), "--layers", "1", "--hidden", "8", "--batch-size", "4",
               "--seq-length", "8", "--steps", "20", "--out", "m.npz"]
    done, lines = interrupted_while_importing(command, tmp_path,
                                              preexec=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    assert (done.returncode, lines) == (130, ["rnnplay: interrupted\n"]), done.stderr
    assert not (tmp_path / "m.npz").exists()  # the run had not begun: nothing to save


@pytest.mark.parametrize("words", [["sample", "--length", "50"], ["score", "--file", "small.txt"],
                                   ["corpus", "show", "small.txt"]], ids=lambda words: words[0])
def test_kill_int_to_a_background_command_is_heard(words: list[str], small_file: Path) -> None:
    """Started with SIGINT ignored: only train and sweep put Ctrl-C back, so these ran to their end and exited 0
    (a ``corpus fetch`` ran its whole download: tests/test_download.py)."""
    done, lines = interrupted_while_importing([*entry("module"), *words], small_file.parent,
                                              preexec=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    assert (done.returncode, lines) == (130, ["rnnplay: interrupted\n"]), done.stderr
    assert done.stdout == ""
