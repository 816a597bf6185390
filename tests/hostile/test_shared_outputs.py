"""Two rnnplay processes on one output: each a real process, as a user starts them in two shells.

A training holds ``OUT.lock`` while it runs; a sweep holds its folder's ``results.json.lock`` and
``best.npz.lock``, and each trial checkpoint's lock while it writes it; ``/save`` and ``export`` hold the lock of
what they write while they write it. A symbolic link and its target are one output. Whoever finds the lock held
is refused in one line naming the PID (or, a sweep's trial, takes the next free name and says so); whoever finds
a file that came after it started keeps that file. Transcripts saved at once under one name: one is saved, the
others are told the name was taken meanwhile.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from child_env import python_path
from plugin_fixtures import hang_loaded
from waiting import wait_for

from rnnplay.models.bundled import load_model

from .harness import Sandbox, assert_one_line_error

pytestmark = pytest.mark.long_file  # run first (tests/conftest.py)

LINE = "To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer.\n"
CORPUS = "".join(LINE[i:] + LINE[:i] for i in range(0, 80, 7)) * 2
TINY = ["--cell", "rnn", "--layers", "1", "--hidden", "8", "--batch-size", "2", "--seq-length", "8"]


def start(sandbox: Sandbox, args: list[str], **kw: object) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "rnnplay", *args], text=True, **{
        "env": sandbox.env, "cwd": sandbox.work, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **kw})


def training(sandbox: Sandbox, out: str, *more: str) -> subprocess.Popen:
    """A training of --out ``out`` (and ``more`` flags) that runs until it gets SIGINT, once it has started (its
    locks taken)."""
    proc = start(sandbox, ["train", "small.txt", *TINY, "--steps", "1000000", "--checkpoint-every", "0",
                           "--out", out, *more], stdin=subprocess.DEVNULL)
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith("training:"):
            return proc
    pytest.fail(f"the training of {out} ended before it started: {proc.communicate()}")


def stopped(proc: subprocess.Popen) -> str:
    """SIGINT to a training: its stderr once it has saved and left."""
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    return err


@pytest.fixture
def work(sandbox: Sandbox) -> Sandbox:
    (sandbox.work / "small.txt").write_text(CORPUS)
    return sandbox


def test_a_sweep_keeps_off_a_trainings_files_in_its_folder(work: Sandbox, hang_site: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The sweep locked only results.json and checked for its files once, at its start: a training's --out
    best.npz ran (exit 0) and was then replaced by the sweep's best, and a training's --out trial-01-….npz by the
    trial's checkpoint, without a word. A second sweep into the folder was told "another training".
    The sweep's trial (rnnplay-hang's cell 'stuck', a plain RNN) waits in its second step until the test is done."""
    (work.work / "sw").mkdir()
    mark, release = work.root / "in-step", work.root / "release"
    held = {**work.env, "PYTHONPATH": python_path(hang_site), "RNNPLAY_LOAD_PLUGINS": "rnnplay-hang",
            "HANG_AFTER": "1", "HANG_MARK": str(mark), "HANG_RELEASE": str(release),
            "RNNPLAY_STEP_STALL_SECONDS": "1000"}
    sweep = start(work, ["sweep", "../small.txt", "--grid", "lr=0.004", *TINY, "--cell", "stuck", "--steps", "3",
                         "--workers", "1", "--out", "."], cwd=work.work / "sw", stdin=subprocess.DEVNULL, env=held)
    try:
        wait_for(lambda: mark.exists() or sweep.poll() is not None, "the sweep's trial to wait in its step", 300)
        assert sweep.poll() is None, sweep.communicate()  # the sweep has its folder, and its trial waits in a step
        trial = work.run(["train", "small.txt", *TINY, "--steps", "3", "--out", "sw/trial-01-lr=0.004.npz"])
        assert trial.code == 0, trial.stderr
        mine = (work.work / "sw" / "trial-01-lr=0.004.npz").read_bytes()
        best = work.run(["train", "small.txt", *TINY, "--steps", "3", "--out", "sw/best.npz"])
        assert_one_line_error(best, mentions=("another sweep", f"PID {sweep.pid}", "sw/best.npz"))
        again = work.run(["sweep", "small.txt", "--grid", "lr=0.004", *TINY, "--steps", "3", "--out", "sw"])
        assert_one_line_error(again, mentions=("another sweep", f"PID {sweep.pid}", "sw/results.json"))
        release.touch()  # the trial goes on
        _, err = sweep.communicate(timeout=300)
    finally:
        sweep.kill()
        sweep.wait()
    assert sweep.returncode == 0, err
    assert (work.work / "sw" / "trial-01-lr=0.004.npz").read_bytes() == mine  # the training's file, kept
    said = [ln for ln in err.splitlines() if ln.startswith("warning: ")]
    assert said == ["warning: another program made trial-01-lr=0.004.npz while the sweep ran (it is kept as it is), "
                    "so this trial's checkpoint is trial-01-lr=0.004-2.npz"], err
    kept = (work.work / "sw" / "trial-01-lr=0.004-2.npz").read_bytes()
    with hang_loaded(hang_site, monkeypatch):  # the cell 'stuck' known to this process
        assert (work.work / "sw" / "best.npz").read_bytes() == kept and load_model(work.work / "sw" / "best.npz")
    assert sorted(p.name for p in (work.work / "sw").iterdir()) == [
        "best.npz", "results.json", "trial-01-lr=0.004-2.npz", "trial-01-lr=0.004.npz"]


def test_save_and_export_refuse_a_running_trainings_output(work: Sandbox) -> None:
    """`/save y.npz` said "saved y.npz" while a training of --out y.npz ran, and `export` wrote z.npz while one of
    --out z.npz ran; each training then replaced that file at its end, exit 0. And a file another program put
    at --out after the training started (no lock of its own) was replaced by the training's first save."""
    model = work.run(["train", "small.txt", *TINY, "--steps", "3", "--out", "m.npz"])
    assert model.code == 0, model.stderr
    first, second = training(work, "y.npz"), training(work, "z.npz")
    try:
        save = work.run(["repl", "m.npz"], stdin="/save y.npz\n")
        assert save.code == 1 and "saved" not in save.stdout, save.stdout
        assert f"error: another training (PID {first.pid}) is writing y.npz: wait for it to end, or choose another " \
               "name" in save.stdout + save.stderr
        export = work.run(["export", "m.npz", "z.npz"])
        assert_one_line_error(export, mentions=(f"another training (PID {second.pid}) is writing z.npz",
                                                "choose another output file"))
        assert not (work.work / "y.npz").exists() and not (work.work / "z.npz").exists()
        shutil.copy(work.work / "m.npz", work.work / "z.npz")  # a program that takes no lock: cp
        err = stopped(second)
        assert "z.npz was created by another program while this run trained; that file is kept" in err, err
        assert (work.work / "z.npz").read_bytes() == (work.work / "m.npz").read_bytes()
        assert "saved y.npz; continue with --resume y.npz" in stopped(first)
    finally:
        for proc in (first, second):
            proc.kill()
            proc.wait()
    assert load_model(work.work / "y.npz").training["step"] > 3
    assert sorted(p.name for p in work.work.glob("*.lock")) == []


def test_a_second_training_refuses_a_running_trainings_plot(work: Sandbox) -> None:
    """Two trainings of other --out but one --plot ran at once, and the one that ended last replaced the other's
    loss curves without a word."""
    first = training(work, "a.npz", "--plot", "loss.svg")
    try:
        second = work.run(["train", "small.txt", *TINY, "--steps", "3", "--out", "b.npz", "--plot", "loss.svg"])
        assert_one_line_error(second, mentions=(f"another training (PID {first.pid}) is writing loss.svg",
                                                "choose another --plot"))
        assert "training:" not in second.stderr and not (work.work / "b.npz").exists()  # refused before it starts
        assert "wrote the loss curves to loss.svg" in stopped(first)
    finally:
        first.kill()
        first.wait()
    assert (work.work / "loss.svg").read_text().lstrip().startswith("<?xml")
    assert sorted(p.name for p in work.work.glob("*.lock")) == []


def test_a_link_and_its_target_are_one_output(work: Sandbox) -> None:
    """The lock was named after the link (link.npz.lock): trainings of --out m.npz and --out link.npz ran at once
    and wrote over each other. And `--resume m.npz --steps 5` beside the running training said its budget was
    spent before it said another run held m.npz."""
    model = work.run(["train", "small.txt", *TINY, "--steps", "3", "--out", "m.npz"])
    assert model.code == 0, model.stderr
    (work.work / "link.npz").symlink_to("m.npz")
    first = training(work, "link.npz")
    try:
        second = work.run(["train", "small.txt", *TINY, "--steps", "3", "--out", "m.npz"])
        assert_one_line_error(second, mentions=(f"another training (PID {first.pid}) is writing m.npz",))
        assert (work.work / "m.npz.lock").exists() and not (work.work / "link.npz.lock").exists()
        resumed = work.run(["train", "small.txt", "--resume", "m.npz", "--steps", "3"])
        assert_one_line_error(resumed, mentions=(f"another training (PID {first.pid}) is writing m.npz",))
        stopped(first)
    finally:
        first.kill()
        first.wait()
    assert (work.work / "link.npz").is_symlink()  # written through: the link stays, its target has the run
    assert load_model(work.work / "m.npz").training["step"] > 3


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
