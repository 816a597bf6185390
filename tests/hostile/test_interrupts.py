"""Ctrl-C and kill -9 at random moments of a real `rnnplay train`: nothing lost, resumes bit-exactly.

* Ctrl-C (SIGINT, sometimes twice within 80 ms) at 20 random moments of a run: each
  interrupted run exits 130 with a checkpoint whose step, optimizer step and data
  position agree, and, resumed, ends with exactly the weights of an uninterrupted run.
* kill -9 at 20 random moments of a chain of runs saving every step: every checkpoint
  left behind loads, the lock of a killed run is taken over, and once a run saves again
  no temporary file of a killed save is left.

The runs are tiny (a one-layer LSTM of 16 units with dropout, so the RNG state matters, on
a few kB) and go two at a time; the moments are random, the assertions never about time.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from rnnplay.core.data import StreamBatcher, split_ids
from rnnplay.models.bundled import load_model
from rnnplay.ui import cli

from .harness import Sandbox

pytestmark = pytest.mark.long_file  # run first (tests/conftest.py)

STEPS = 60
FLAGS = ["--cell", "lstm", "--layers", "1", "--hidden", "16", "--batch-size", "4", "--seq-length", "16",
         "--dropout", "0.1", "--val-every", "20", "--checkpoint-every", "10"]
MOMENTS = 20
TIMEOUT = 120  # seconds for one run: generous, only there to turn a hang into a failure


LINE = "To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer.\n"
CORPUS = "".join(LINE[i:] + LINE[:i] for i in range(0, 80, 3)) * 3


def write_corpus(sandbox: Sandbox) -> None:
    (sandbox.work / "small.txt").write_text(CORPUS)


# One BLAS thread everywhere: OpenBLAS rounds float32 products differently for each thread count, and the default
# (auto) follows the machine's load (rnnplay.core.threads); these tests are about where a step is cut, not BLAS.
THREADS = {"RNNPLAY_THREADS": "1"}


def start(sandbox: Sandbox, args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "rnnplay", "train", "small.txt", *args], cwd=sandbox.work,
                            env={**sandbox.env, **THREADS}, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for_training(proc: subprocess.Popen) -> list[str]:
    """Stderr up to the header line a run prints just before its first step."""
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if line.startswith(("training:", "resuming")):
            break
    return lines


def finish(proc: subprocess.Popen, head: list[str] = ()) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"rnnplay train did not end within {TIMEOUT} s")
    return proc.returncode, "".join(head) + err


def train(sandbox: Sandbox, args: list[str]) -> str:
    code, err = finish(start(sandbox, args))
    assert code == 0 and "Traceback" not in err, err
    return err


def weights(path: Path) -> dict[str, np.ndarray]:
    return load_model(path).model.params


def assert_consistent(path: Path) -> int:
    """The checkpoint loads, and its step agrees with its optimizer's step and its data position; returns the step."""
    t = load_model(path).training
    batches = StreamBatcher(split_ids(np.zeros(len(CORPUS), np.int32))[0], 4, 16).batches_per_epoch
    assert t["optimizer_t"] == t["step"] == t["data"]["epoch"] * batches + t["data"]["position"], t
    return t["step"]


def test_ctrl_c_at_random_moments_resumes_bit_exactly(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    write_corpus(sandbox)
    straight = start(sandbox, [*FLAGS, "--steps", str(STEPS), "--out", "straight.npz"])
    head = wait_for_training(straight)
    began = time.perf_counter()
    code, err = finish(straight, head)
    span = time.perf_counter() - began  # from the first step to the exit: the moments fall anywhere in it
    assert code == 0, err
    rng = random.Random(14)
    moments = [(i, rng.uniform(0.0, span), rng.random() < 0.4, rng.uniform(0.0, 0.08)) for i in range(MOMENTS)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        steps = list(pool.map(lambda m: interrupt(sandbox, *m), moments))
    # Resumed in this process (the same code as the command, without 20 more start-ups), on the numpy path
    # the subprocesses took (RNNPLAY_JIT=0) and their one BLAS thread.
    monkeypatch.setenv("RNNPLAY_JIT", "0")
    for name, value in THREADS.items():
        monkeypatch.setenv(name, value)
    expected = weights(sandbox.work / "straight.npz")
    for (i, delay, twice, _), step in zip(moments, steps, strict=True):
        out = str(sandbox.work / f"run{i}.npz")
        if step < STEPS:
            assert cli.main(["train", str(sandbox.work / "small.txt"), "--resume", out, "--out", out]) == 0
            assert "Traceback" not in capsys.readouterr().err
        for name, value in weights(Path(out)).items():
            assert np.array_equal(value, expected[name]), f"moment {i} ({delay:.2f} s, twice={twice}): {name}"


def interrupt(sandbox: Sandbox, i: int, delay: float, twice: bool, gap: float) -> int:
    """Ctrl-C (twice, ``gap`` apart, if ``twice``) ``delay`` seconds into run ``i``; the step its checkpoint holds."""
    out = f"run{i}.npz"
    proc = start(sandbox, [*FLAGS, "--steps", str(STEPS), "--out", out])
    head = wait_for_training(proc)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    if twice:
        time.sleep(gap)
        proc.send_signal(signal.SIGINT)
    code, err = finish(proc, head)
    assert "Traceback" not in err, err
    step = assert_consistent(sandbox.work / out)
    if code == 130 and f"saved {out} after {STEPS} steps" not in err:
        hint = f"continue with --resume {out}" if step < STEPS else f"its budget (--steps {STEPS}) is spent"
        assert f"interrupted at step {step}: saved {out}; {hint}" in err, err  # Ctrl-C in the last save: spent
    else:  # the run had finished: the signal came during its last save (0), the final losses after it (130), or
        assert code in (0, 130, -signal.SIGINT) and step == STEPS, err  # as the process was exiting
    return step


def test_kill_9_at_random_moments_leaves_loadable_checkpoints(sandbox: Sandbox) -> None:
    """Two chains of runs saving every step, each run killed at a random moment and resumed by the next."""
    write_corpus(sandbox)
    rng = random.Random(9)

    def chain(name: str, kills: int) -> None:
        out = sandbox.work / f"{name}.npz"
        args = [*FLAGS, "--checkpoint-every", "1", "--steps", "100000", "--out", out.name]
        for _ in range(kills):
            before = assert_consistent(out) if out.exists() else None
            proc = start(sandbox, ["--resume", out.name] if before is not None else args)  # --out: the same file
            head = wait_for_training(proc)
            time.sleep(rng.uniform(0.0, 0.6))
            proc.kill()
            code, err = finish(proc, head)
            assert code == -signal.SIGKILL, err
            if out.exists():
                after = assert_consistent(out)  # loads: a kill never leaves a damaged checkpoint
                if before is not None and after > before:  # this run saved: a killed run's .tmp is gone
                    assert len(temporaries(sandbox.work, name)) <= 1  # at most this run's own
        step = assert_consistent(out) if out.exists() else 0
        train(sandbox, [*(["--resume", out.name] if step else args), "--steps", str(step + 2)])
        assert temporaries(sandbox.work, name) == []
        assert not (sandbox.work / f"{name}.npz.lock").exists()

    with ThreadPoolExecutor(max_workers=2) as pool:
        for future in [pool.submit(chain, name, MOMENTS // 2) for name in ("a", "b")]:
            future.result()


def temporaries(folder: Path, name: str) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(f".{name}.npz.") and p.suffix == ".tmp")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP-the-terminal-closed"])
def test_sigterm_stops_and_saves_like_ctrl_c(signum: signal.Signals, sandbox: Sandbox) -> None:
    write_corpus(sandbox)
    proc = start(sandbox, [*FLAGS, "--steps", "100000", "--out", "m.npz"])
    head = wait_for_training(proc)
    proc.send_signal(signum)
    code, err = finish(proc, head)
    step = assert_consistent(sandbox.work / "m.npz")
    assert code == 128 + signum and "Traceback" not in err, err
    assert f"{signum.name}: stopping after this step, then saving m.npz" in err
    assert f"interrupted at step {step}: saved m.npz; continue with --resume m.npz" in err


def test_under_nohup_a_hangup_is_ignored_and_ctrl_c_still_saves(sandbox: Sandbox) -> None:
    """`nohup rnnplay train ...`: SIGHUP was ignored before rnnplay started, and stays ignored."""
    write_corpus(sandbox)
    proc = subprocess.Popen([sys.executable, "-m", "rnnplay", "train", "small.txt", *FLAGS, "--steps", "100000",
                             "--out", "m.npz"], cwd=sandbox.work, env={**sandbox.env, **THREADS},
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))  # what nohup does
    head = wait_for_training(proc)
    proc.send_signal(signal.SIGHUP)
    proc.send_signal(signal.SIGINT)  # the run must still be there to hear it
    code, err = finish(proc, head)
    assert code == 130 and "SIGHUP" not in err and "Traceback" not in err, err
    assert_consistent(sandbox.work / "m.npz")


def test_with_stderr_closed_a_run_trains_and_saves(sandbox: Sandbox) -> None:
    """`rnnplay train ... 2>&-`: nothing to print to, and the run still trains and saves."""
    write_corpus(sandbox)
    done = subprocess.run([sys.executable, "-m", "rnnplay", "train", "small.txt", *FLAGS, "--steps", "3",
                           "--out", "m.npz"], cwd=sandbox.work, env={**sandbox.env, **THREADS},
                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, timeout=TIMEOUT,
                          preexec_fn=lambda: os.close(2))  # stderr closed, as 2>&- leaves it
    assert done.returncode == 0
    assert assert_consistent(sandbox.work / "m.npz") == 3
