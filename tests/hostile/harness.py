"""The hostile-input table's harness: run one bad input, check it failed well.

Every case is a row: a name, the argv of an ``rnnplay`` command (or a Python
callable for faults that need one), how it should end (exit code, and for
errors one line on stderr that mentions what went wrong), and a time bound.
:func:`run_rnnplay` runs the real command in a subprocess inside a sandbox
folder (its own HOME, XDG folders and cwd), so a case can also check that no
file was created or changed outside the place it was allowed to write.

Used by every ``tests/hostile/test_*.py``; ``docs/reliability.md`` lists the classes.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from child_env import python_path

LONGEST_ERROR = 500  # characters: a line a person reads, even when a path in it is thousands long


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def error_lines(self) -> list[str]:
        """Non-empty stderr lines that are not a progress bar's redraws."""
        return [ln for ln in self.stderr.replace("\r", "\n").splitlines() if ln.strip()]


@dataclass
class Sandbox:
    """A folder that plays a user's machine: HOME, XDG folders and cwd inside it."""

    root: Path
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def make(cls, root: Path) -> Sandbox:
        for sub in ("home", "work", "data", "cache", "config", "state"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RNNPLAY_", "XDG_"))}
        env.update({
            "HOME": str(root / "home"), "XDG_DATA_HOME": str(root / "data"), "XDG_CACHE_HOME": str(root / "cache"),
            "XDG_CONFIG_HOME": str(root / "config"), "XDG_STATE_HOME": str(root / "state"),
            "RNNPLAY_JIT": "0", "RNNPLAY_THREADS": "1", "PYTHONUNBUFFERED": "1", "COLUMNS": "100", "NO_COLOR": "1",
            "PYTHONPATH": python_path(),
        })
        return cls(root, env)

    @property
    def work(self) -> Path:
        return self.root / "work"

    def snapshot(self) -> dict[str, tuple[int, int]]:
        """(size, mtime_ns) of every file below the sandbox root."""
        out = {}
        for path in self.root.rglob("*"):
            if path.is_file() and not path.is_symlink():
                st = path.stat()
                out[str(path.relative_to(self.root))] = (st.st_size, st.st_mtime_ns)
        return out

    def run_in_process(self, args: list[str] | tuple[str, ...], capsys: pytest.CaptureFixture[str],
                       monkeypatch: pytest.MonkeyPatch, env: dict[str, str] | None = None) -> Outcome:
        """``rnnplay ARGS`` through ``rnnplay.ui.cli.main`` in this process, in the sandbox's environment and cwd.

        The same code path as :meth:`run` without a new interpreter: for rows where no signal, lock or
        process exit matters.
        """
        from rnnplay.ui import cli

        for name in [k for k in os.environ if k.startswith(("RNNPLAY_", "XDG_"))]:
            monkeypatch.delenv(name)
        for name, value in {**self.env, **(env or {})}.items():
            monkeypatch.setenv(name, value)
        monkeypatch.chdir(self.work)
        capsys.readouterr()
        start = time.perf_counter()
        try:
            code = cli.main(list(args))
        except SystemExit as exit:  # a usage mistake: argparse's line, then the exit the console script makes
            code = int(exit.code or 0)
        out = capsys.readouterr()
        return Outcome(code, out.out, out.err, time.perf_counter() - start)

    def run(self, args: list[str], *, timeout: float = 60, stdin: str | None = None,
            env: dict[str, str] | None = None, address_space: int | None = None,
            obey_permissions: bool = False, cwd: Path | None = None) -> Outcome:
        """``rnnplay ARGS`` in a new interpreter; ``address_space``: its limit in bytes, as ``ulimit -v`` sets;
        ``obey_permissions``: held to permission bits as a user is, even when the tests run as root
        (:func:`drop_root_rights`); ``cwd``: where it runs (default: the work folder)."""
        start = time.perf_counter()

        def before_exec() -> None:
            if address_space is not None:
                limit_address_space(address_space)
            if obey_permissions:
                drop_root_rights()

        try:
            proc = subprocess.run(
                [sys.executable, "-m", "rnnplay", *args], cwd=cwd or self.work, env={**self.env, **(env or {})},
                input=stdin, capture_output=True, text=True, timeout=timeout,
                stdin=None if stdin is not None else subprocess.DEVNULL,
                preexec_fn=before_exec if address_space is not None or obey_permissions else None,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"rnnplay {' '.join(args)} did not finish within {timeout} s (a hang)")
        return Outcome(proc.returncode, proc.stdout, proc.stderr, time.perf_counter() - start)


def limit_address_space(nbytes: int) -> None:
    """In a child before it runs rnnplay: what ``ulimit -v`` does."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (nbytes, nbytes))


PASS_PERMISSIONS = (1, 2)  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH: how root reads and writes past permission bits
PR_CAPBSET_DROP = 24


def drop_root_rights() -> None:
    """In a child before it runs rnnplay: if it is root, take away the capabilities that let root pass permission
    bits, from the bounding set, so the program it runs has none of them either; a user's process has none."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in PASS_PERMISSIONS:
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "cannot drop root's rights to pass permission bits")


def assert_one_line_error(out: Outcome, *, mentions: str | tuple[str, ...] = (), code: int = 1) -> None:
    """The command failed with ``code`` and said so in exactly one line, with no traceback."""
    assert "Traceback" not in out.stderr and "Traceback" not in out.stdout, out.stderr[-3000:]
    assert out.code == code, f"exit {out.code}, expected {code}; stderr: {out.stderr[-2000:]}"
    errors = [ln for ln in out.error_lines if ln.startswith("rnnplay: ")]
    assert len(errors) == 1, f"expected one 'rnnplay: ...' line, got: {out.error_lines}"
    assert out.error_lines[-1] == errors[0], f"the error is not the last line: {out.error_lines}"  # no second half
    assert len(errors[0]) <= LONGEST_ERROR, f"{len(errors[0])} characters: {errors[0][:LONGEST_ERROR]}…"
    for word in (mentions,) if isinstance(mentions, str) else mentions:
        assert word.lower() in errors[0].lower(), f"{word!r} not in {errors[0]!r}"


def assert_nothing_outside(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]],
                           allowed: tuple[str, ...] = ()) -> None:
    """No file below the sandbox was created or changed except under the ``allowed`` prefixes."""
    changed = {p for p in after if before.get(p) != after[p]} | (set(before) - set(after))
    unexpected = sorted(p for p in changed if not p.startswith(allowed)) if allowed else sorted(changed)
    assert not unexpected, f"files created, changed or removed: {unexpected}"


@pytest.fixture
def sandbox(tmp_path: Path) -> Sandbox:
    return Sandbox.make(tmp_path / "sandbox")
