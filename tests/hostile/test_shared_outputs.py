"""Two rnnplay processes on one output: each a real process, as a user starts them in two shells.

A training holds ``OUT.lock`` while it runs; a sweep holds its folder's ``results.json.lock`` and
``best.npz.lock``, and each trial checkpoint's lock while it writes it; ``/save`` and ``export`` hold the lock of
what they write while they write it. A symbolic link and its target are one output. Whoever finds the lock held
is refused in one line naming the PID (or, a sweep's trial, takes the next free name and says so); whoever finds
a file that came after it started keeps that file. Transcripts saved at once under one name: one is saved, the
others are told the name was taken meanwhile.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from .harness import Sandbox

LINE = "To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer.\n"
CORPUS = "".join(LINE[i:] + LINE[:i] for i in range(0, 80, 7)) * 2
TINY = ["--cell", "rnn", "--layers", "1", "--hidden", "8", "--batch-size", "2", "--seq-length", "8"]


def start(sandbox: Sandbox, args: list[str], **kw: object) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "rnnplay", *args], env=sandbox.env, text=True,
                            **{"cwd": sandbox.work, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **kw})


@pytest.fixture
def work(sandbox: Sandbox) -> Sandbox:
    (sandbox.work / "small.txt").write_text(CORPUS)
    return sandbox


def test_transcripts_saved_at_once_under_one_name_keep_one(work: Sandbox) -> None:
    """Three REPLs saving a transcript to one name at the same moment each said "saved": the check that the name is
    free passed in all of them, and the last rename won. Three rounds, each to a name of its own."""
    seeds = ["ALPHA", "BRAVO", "CHARLIE"]
    repls = [start(work, ["repl"], stdin=subprocess.PIPE, stderr=subprocess.STDOUT, bufsize=1) for _ in seeds]
    said: list[list[str]] = [[] for _ in seeds]  # what each REPL wrote, in order
    try:
        for proc, seed in zip(repls, seeds, strict=True):
            tell(proc, f"/set length 20\n{seed}\n")
        for round_ in range(3):
            synced(repls, 30 + round_, said)
            for proc in repls:  # all three at once
                assert proc.stdin is not None
                proc.stdin.write(f"/transcript save t{round_}.md\n")
            for proc in repls:
                assert proc.stdin is not None
                proc.stdin.flush()
        synced(repls, 40, said)
    finally:
        for proc in repls:
            proc.kill()
            proc.wait()
    outputs = ["".join(lines) for lines in said]
    for round_ in range(3):
        name = f"t{round_}.md"
        saved = [seed for seed, out in zip(seeds, outputs, strict=True) if f"saved 1 turn to {name}" in out]
        assert len(saved) == 1, (name, outputs)
        assert f"\n{saved[0]}\n" in (work.work / name).read_text()  # the one said saved is the one kept
        refused = [f"{name} exists: /transcript save {name} force replaces it",
                   f"not saving {name}: another program created it meanwhile; it is kept as it is"]
        for seed, out in zip(seeds, outputs, strict=True):
            if seed not in saved:
                assert any(r in out for r in refused), (name, out)
    assert [p.name for p in work.work.iterdir() if p.name.endswith(".tmp")] == []


def tell(proc: subprocess.Popen, text: str) -> None:
    assert proc.stdin is not None
    proc.stdin.write(text)
    proc.stdin.flush()


def synced(repls: list[subprocess.Popen], length: int, said: list[list[str]]) -> None:
    """Each REPL has done what it was told so far: it answers ``/set length N`` in its turn. What they wrote
    meanwhile goes to ``said``."""
    for proc in repls:
        tell(proc, f"/set length {length}\n")
    for proc, lines in zip(repls, said, strict=True):
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith(f"length = {length} chars"):
                break
        else:
            pytest.fail(f"the REPL ended early: {proc.communicate()}")
