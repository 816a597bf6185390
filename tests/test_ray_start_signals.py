"""A local Ray stopped while it starts (``rnnplay train --workers 2``): Ctrl-C or SIGTERM at points of its start, late
ones too, end the run with its code and leave none of Ray's processes; Ray's processes that end by themselves are
reaped. Real Ray, real processes; the runs that train on Ray are in tests/test_distributed.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from process_tree import in_session
from waiting import wait_for

pytestmark = pytest.mark.long_file  # run first (tests/conftest.py)

TIMEOUT = 120  # seconds any one Ray run may take before the test gives up (a bound, not a speed claim)


def signal_a_starting_run(signum: int, tmp_path: Path, small_file: Path, *, late: bool, delay: float) -> None:
    """`rnnplay train --workers 2` in a session of its own (its processes told from other runs'), sent ``signum``
    ``delay`` seconds after it says it starts a local Ray, or (``late``) after Ray's first worker process
    (``ray::IDLE``) runs: late in ``ray.init``, as the driver's core worker registers. Then the run's exit code is
    128 + ``signum`` with its one line (Ray's start cut short, or the run saved if the start was over), and once it
    has exited no process it started is left. The numpy maths (``RNNPLAY_JIT=0``): the claim is about Ray's start,
    and numba's import and kernels cost the run and each of its workers a second of CPU or more."""
    run = subprocess.Popen([sys.executable, "-m", "rnnplay", "train", str(small_file), "--workers", "2", "--hidden",
                            "8", "--layers", "1", "--batch-size", "4", "--seq-length", "16", "--steps", "100000",
                            "--out", "m.npz"], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           text=True, start_new_session=True, env={**os.environ, "RNNPLAY_JIT": "0"})
    try:
        said_before = said_starting(run)
        assert said_before.wait(TIMEOUT), f"no 'starting 2 workers on local Ray' within {TIMEOUT} s"
        deadline = time.monotonic() + TIMEOUT
        while late and not any(c.startswith("ray::IDLE") for c in in_session(run.pid).values()) and (
                run.poll() is None and time.monotonic() < deadline):
            time.sleep(0.02)
        time.sleep(delay)  # somewhere in Ray's start (or, on a fast machine, just after it)
        run.send_signal(signum)
        _, err = run.communicate(timeout=TIMEOUT)
        said = "rnnplay: interrupted" if signum == signal.SIGINT else "rnnplay: stopped by SIGTERM"
        last = (err.strip().splitlines() or [""])[-1]
        assert run.returncode == 128 + signum and (last == said or last.startswith("interrupted at step")), err
        assert "Traceback" not in err
        deadline = time.monotonic() + 15  # a bound on the wait, not a speed claim: they stayed a minute
        while (left := in_session(run.pid)) and time.monotonic() < deadline:
            time.sleep(0.2)
        names = sorted(" ".join(command.split()) for command in left.values())
        assert not left, f"left running after rnnplay exited ({run.returncode}): {names}\n{err}"
    finally:
        run.kill()
        for pid in in_session(run.pid):  # the processes of a failed run, not to linger into other tests
            os.kill(pid, signal.SIGKILL)


def said_starting(run: subprocess.Popen) -> threading.Event:
    """Set once ``run`` says it starts a local Ray; its stderr is read up to that line only, on a thread of its own,
    so that a run that never says it (it trained on instead: 100,000 steps) fails the test rather than holding it."""
    said = threading.Event()

    def read() -> None:
        for line in run.stderr:
            if line.startswith("starting 2 workers on local Ray"):
                said.set()
                return

    threading.Thread(target=read, daemon=True).start()
    return said


A_FORK_SIGNALLED = """
import os, signal, sys, types
from rnnplay.core.ctrl_c import Terminated
from rnnplay.core.errors import RnnplayError
from rnnplay.distributed.cluster import connect
from rnnplay.distributed.stderr_filter import ray_lines_filtered

SIGNUM, FAILS = {signum}, {fails}
signal.signal(signal.SIGINT, signal.default_int_handler)  # as `rnnplay train` does when it starts with SIGINT ignored

def terminated(signum, frame):  # as `rnnplay train` answers SIGTERM while Ray starts
    raise Terminated(signum)

signal.signal(signal.SIGTERM, terminated)
theirs = os.pipe()  # the wakeup descriptor of `rnnplay train`'s held signals, in place before Ray starts
os.set_blocking(theirs[0], False)
os.set_blocking(theirs[1], False)
signal.set_wakeup_fd(theirs[1])

def hook():  # the signal handled while Python runs its fork hooks, as Ray's start forks its processes
    os.kill(os.getpid(), SIGNUM)
    sum(range(1000))

def init(**settings):
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(signum))  # as ray.init does first
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    if FAILS:  # as Ray's start then ended, its threads held by the lock the fork hook had not released
        raise Exception("The current node timed out during startup.")

os.register_at_fork(after_in_parent=hook)
ray = types.SimpleNamespace(init=init, job_config=types.SimpleNamespace(JobConfig=lambda **settings: None))
try:
    with ray_lines_filtered():  # as ray_session connects
        connect(ray, None, 1)
except Terminated as stopped:
    print("terminated", stopped.signum, end=" ")
except KeyboardInterrupt:
    print("interrupted", end=" ")
except RnnplayError:
    print("failed", end=" ")
else:
    print("went on", end=" ")
print("kept" if signal.getsignal(signal.SIGTERM) is terminated else "lost", "handler,",
      list(os.read(theirs[0], 16)) if signal.set_wakeup_fd(-1) == theirs[1] else "descriptor lost")
"""


@pytest.mark.parametrize(("signum", "fails", "said"), [(signal.SIGINT, False, "interrupted"),
                                                       (signal.SIGTERM, False, "terminated 15"),
                                                       (signal.SIGTERM, True, "terminated 15")])
def test_a_signal_at_a_fork_in_rays_start_is_not_lost(signum: int, fails: bool, said: str) -> None:
    """Ctrl-C or SIGTERM in a local Ray's start, now and then under load: Python printed "Exception ignored in:
    <function _releaseLock>" (the KeyboardInterrupt, or the SystemExit of the SIGTERM handler Ray's start sets, raised
    in its fork hooks and dropped) and the run trained on: in CI, a SIGTERM 1.5 s into the start was lost so. Here a
    fork in a stand-in for ``ray.init`` meets the signal in its hooks: ``connect`` raises it as the run's handlers
    do, the run's SIGTERM handler and wakeup descriptor are its own again (the signal given to it), and what Python
    prints of the dropped exception goes where the rest of Ray's start goes, not to stderr. A start that then fails
    (``fails``: in one try of 24 under load, Ray's node timed out 45 s later) ends as the signal ends it, not as
    "local Ray could not start"."""
    r = subprocess.run([sys.executable, "-c", A_FORK_SIGNALLED.format(signum=int(signum), fails=fails)],
                       capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == f"{said} kept handler, [{int(signum)}]" and r.stderr == "", r.stdout + r.stderr


@pytest.mark.parametrize(("signum", "delay"), [(signal.SIGINT, 0.5), (signal.SIGTERM, 1.5), (signal.SIGINT, 3.0),
                                               (signal.SIGTERM, 4.5), (signal.SIGINT, 6.0)])
def test_a_local_ray_stopped_while_it_starts_leaves_none_of_its_processes(signum: int, delay: float,
                                                                          small_file: Path, tmp_path: Path) -> None:
    """Ctrl-C or SIGTERM at points of a local Ray's start: once `rnnplay train` has exited, no process it started is
    left. Ray's raylet had started `ray::DashboardAgent` and `ray::RuntimeEnvAgent`, which its shutdown did not
    end: they stayed a minute."""
    signal_a_starting_run(signum, tmp_path, small_file, late=False, delay=delay)


@pytest.mark.parametrize(("signum", "delay"), [(signal.SIGINT, 0.0), (signal.SIGTERM, 0.1), (signal.SIGINT, 0.2),
                                               (signal.SIGTERM, 0.3), (signal.SIGINT, 0.4)])
def test_a_signal_late_in_a_local_rays_start_ends_the_run_with_its_code(signum: int, delay: float,
                                                                         small_file: Path, tmp_path: Path) -> None:
    """Ctrl-C or SIGTERM just after Ray's first worker process started: the run said "rnnplay: interrupted", then
    died of SIGSEGV (SIGABRT after SIGTERM) in most tries, as the interpreter exited beside Ray's core worker, made
    but never registered, whose thread ray.shutdown had not stopped. Now it leaves with 130 (143)."""
    signal_a_starting_run(signum, tmp_path, small_file, late=True, delay=delay)


ENDS_AS_A_RAY_WORKER = ("import ctypes; ctypes.CDLL(None).prctl(15, b'ray::IDLE', 0, 0, 0)")  # PR_SET_NAME, then exit


def ray_zombies_of(pid: int) -> list[int]:
    """The children of ``pid`` that have ended, named as Ray's processes are (a zombie's command line is gone)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] == "Z" and (entry / "comm").read_text().startswith("ray::"):
                found.append(int(entry.name))
        except (OSError, IndexError, ValueError):
            continue
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a child subreaper is Linux's")
def test_ray_processes_that_ended_by_themselves_are_reaped_with_the_local_ray() -> None:
    """A `ray::IDLE` worker is handed to this process (the subreaper) when its raylet goes, and may end by itself
    before Ray's processes are looked for: zombies were left out of that look, so it stayed a zombie, a child of
    this process, for the rest of its life (`ray::RuntimeEnv` and `ray::IDLE` after a local Ray interrupted). Here
    a real orphan of that name, whose parent (a shell) is gone, ends inside the block. A child that rnnplay's own
    code started in a session of its own (as its regular-expression child) and has not waited for yet is left to it:
    its exit status stays there to be read."""
    from rnnplay.distributed.local_processes import ray_processes_ended

    with ray_processes_ended():
        own = subprocess.Popen([sys.executable, "-c", "raise SystemExit(7)"], start_new_session=True)
        subprocess.run(["sh", "-c", f'"{sys.executable}" -c "{ENDS_AS_A_RAY_WORKER}" &'], check=True)
        wait_for(lambda: ray_zombies_of(os.getpid()), "the orphan, handed to this process, to end")
        wait_for(lambda: Path(f"/proc/{own.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z", "its end")
    assert ray_zombies_of(os.getpid()) == []
    assert own.wait() == 7  # not reaped by the block (a stolen status reads as 0)
