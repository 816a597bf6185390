"""The BLAS thread policy (rnnplay/core/threads.py): overrides, the load reading, the switch.

Real subprocesses throughout: the thread count is read back with threadpoolctl in
the process that ran ``rnnplay``'s main, and the load is a real spinning process.
Bad values of ``--threads`` / ``RNNPLAY_THREADS`` are in tests/hostile/test_threads.py.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from child_env import child_env

from rnnplay.core import threads
from rnnplay.ui.cli import MULTIPLYING, build_parser

CORES = threads.usable_cores()
SPIN = "import os\nparent = os.getppid()\nwhile os.getppid() == parent:\n    for _ in range(100_000): pass"
SPINNER = [sys.executable, "-c", SPIN]  # keeps a core busy until stopped, or until its parent is gone
# `corpus list`, a quick command, multiplies no matrix and leaves BLAS alone: the count read is the one its
# --threads or RNNPLAY_THREADS gives BLAS once a product is asked for (threads.policy(), as train or sample start with)
READ_BACK = """
import sys, threadpoolctl
from rnnplay.core import threads
from rnnplay.ui.cli import main
code = main(sys.argv[1:])
threads.policy()
print("BLAS", min(lib["num_threads"] for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas"))
sys.exit(code)
"""


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RNNPLAY_", "OPENBLAS_", "OMP_"))}
    env.update(HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"), XDG_DATA_HOME=str(tmp_path / "data"))
    return {**env, **extra}


def blas_threads_after(args: list[str], env: dict[str, str]) -> int:
    """BLAS's thread count in a process that ran ``rnnplay ARGS`` through main() (a quick, harmless command)."""
    proc = subprocess.run([sys.executable, "-c", READ_BACK, *args], env=env, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout.strip().splitlines()[-1].removeprefix("BLAS "))


@pytest.fixture
def spinner() -> Iterator[subprocess.Popen]:
    """A process that keeps one core busy while the test runs."""
    proc = subprocess.Popen(SPINNER)
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("where", [
    ["--threads", "1", "corpus", "list"],
    ["corpus", "--threads", "1", "list"],
    ["corpus", "list", "--threads", "1"],
])  # fmt: skip
def test_the_flag_sets_blas_threads_wherever_it_stands(where: list[str], tmp_path: Path) -> None:
    assert blas_threads_after(where, env_for(tmp_path)) == 1


def test_the_environment_sets_blas_threads(tmp_path: Path) -> None:
    assert blas_threads_after(["corpus", "list"], env_for(tmp_path, RNNPLAY_THREADS="1")) == 1


@pytest.mark.skipif(CORES < 2, reason="needs two cores to tell two counts apart")
def test_the_flag_wins_over_the_environment(tmp_path: Path) -> None:
    assert blas_threads_after(["corpus", "list", "--threads", "2"], env_for(tmp_path, RNNPLAY_THREADS="1")) == 2
    assert blas_threads_after(["corpus", "list", "--threads", "1"], env_for(tmp_path, RNNPLAY_THREADS="2")) == 1


def test_auto_keeps_within_the_cores(tmp_path: Path) -> None:
    assert 1 <= blas_threads_after(["corpus", "list", "--threads", "auto"], env_for(tmp_path)) <= CORES


# In the child, as `rnnplay` starts (a sitecustomize): BLAS's thread count written to $BLAS_REPORT as the command's
# own function begins (after the dispatch, before any work of the command's: "start N", N the count or "none" when
# no BLAS is loaded yet) and at exit ("end N"); with $BLAS_STOP set, the command stops there without its work.
BLAS_AT_START = """\
import atexit, os
import threadpoolctl
import rnnplay.ui.cli as cli


def note(when):
    counts = [lib["num_threads"] for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas"]
    with open(os.environ["BLAS_REPORT"], "a") as report:
        report.write(f"{when} {min(counts) if counts else 'none'}\\n")


parse = cli.parse


def noted(parser, argv):
    args = parse(parser, argv)
    command = args.func

    def run(args):
        note("start")
        if os.environ.get("BLAS_STOP"):
            raise SystemExit(0)
        return command(args)

    args.func = run
    return args


cli.parse = noted
atexit.register(note, "end")
"""


def blas_report(tmp_path: Path, args: list[str], stop: bool) -> list[str]:
    """What BLAS_AT_START wrote in a real ``rnnplay --threads 1 ARGS`` (stopped at its command's start if ``stop``)."""
    site, report = tmp_path / "site", tmp_path / "blas.txt"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLAS_AT_START)
    env = child_env(site, base=env_for(tmp_path), BLAS_REPORT=str(report), BLAS_STOP="1" if stop else "")
    proc = subprocess.run([sys.executable, "-m", "rnnplay", "--threads", "1", *args], env=env, capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL, cwd=tmp_path)
    assert proc.returncode == 0 and report.exists(), proc.stderr
    return report.read_text().splitlines()


# a line of each command that multiplies matrices, as argparse takes it (the command stops before its work)
MULTIPLYING_LINES = {"sample": ["sample"], "score": ["score", "--text", "abc"], "train": ["train", "notes.txt"],
                     "repl": ["repl"], "tui": ["tui"], "sweep": ["sweep", "notes.txt", "--grid", "lr=0.1"],
                     "neurons": ["neurons", "--unit", "0:0", "--text", "abc"]}


@pytest.mark.skipif(CORES < 2, reason="one core: one BLAS thread is what BLAS starts with")
@pytest.mark.parametrize("command", MULTIPLYING)
def test_the_dispatch_starts_the_policy_for_a_command_that_multiplies(command: str, tmp_path: Path) -> None:
    """BLAS has the thread --threads gives it as the command begins: the dispatch started the policy (a training
    would start it at its first step anyway, a sample or a score never)."""
    assert blas_report(tmp_path, MULTIPLYING_LINES[command], stop=True)[0] == "start 1"


@pytest.mark.skipif(CORES < 2, reason="one core: one BLAS thread is what BLAS starts with")
@pytest.mark.parametrize("args", [["corpus", "list"], ["models"], ["--help"], ["--version"], ["corpus", "--help"]],
                         ids=" ".join)
def test_a_command_that_multiplies_nothing_leaves_blas_alone(args: list[str], tmp_path: Path) -> None:
    """Neither the dispatch nor the command starts the policy: BLAS keeps its count, or is never loaded."""
    report = blas_report(tmp_path, args, stop=False)
    assert report[-1].startswith("end ") and all(not line.endswith(" 1") for line in report), report


def test_every_subcommand_takes_threads() -> None:
    def parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
        yield parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    yield from parsers(sub)

    found = list(parsers(build_parser()))
    assert len(found) > 10  # the top level, every command and every action below one
    for parser in found:
        assert any("--threads" in action.option_strings for action in parser._actions), parser.prog


@pytest.mark.parametrize(("others", "cores", "current", "wanted"), [
    (0.0, 2, 2, 2),    # quiet: all the cores
    (0.7, 2, 2, 1),    # another process takes most of a core (its share beside our two threads): one fewer
    (1.0, 2, 1, 1),    # ... it still runs, now with a core to itself: stay
    (0.4, 2, 1, 1),    # ... it uses less, but not clearly less: stay, no flapping
    (0.1, 2, 1, 2),    # ... it stopped: back to two
    (0.4, 2, 2, 2),    # a little noise does not take a thread away
    (3.5, 2, 2, 1),    # a machine loaded far past its cores: one thread, never zero
    (1.7, 8, 8, 6),    # eight cores, two taken
    (0.0, 1, 1, 1),
])  # fmt: skip
def test_threads_for(others: float, cores: int, current: int, wanted: int) -> None:
    assert threads.threads_for(others, cores, current) == wanted


def test_the_load_reading_sees_a_spinning_process(spinner: subprocess.Popen) -> None:
    """Other processes' busy cores while one spins: at least most of a core (the machine may be busier still)."""
    load = threads.OtherLoad()
    time.sleep(1.0)
    others = load.read()
    assert spinner.poll() is None
    assert 0.5 < others <= CORES + 0.5


def test_without_proc_stat_the_load_average_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "machine_busy_seconds", lambda: None)
    monkeypatch.setattr(threads, "load_average", lambda: 1.5)
    load = threads.OtherLoad()
    time.sleep(0.5)  # this process sleeps, so nearly all of the 1.5 is other processes'
    assert 1.0 < load.read() <= 1.5


POLICY_UNDER_LOAD = f"""
import subprocess, sys, time, threadpoolctl
from rnnplay.core import threads
policy = threads.start(None)
spinner = subprocess.Popen({SPINNER!r})
deadline = time.monotonic() + 30
try:
    while policy.threads == policy.ceiling and time.monotonic() < deadline:
        time.sleep(0.1)
    blas = threadpoolctl.threadpool_info()[0]["num_threads"]
    print(policy.ceiling, policy.threads, blas, round(policy.others, 2))
finally:
    spinner.kill()
"""


@pytest.mark.skipif(CORES < 2, reason="one core: there is no thread to give up")
def test_auto_gives_a_core_up_to_a_spinning_process(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", POLICY_UNDER_LOAD], env=env_for(tmp_path), capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    ceiling, policy_threads, blas, others = proc.stdout.split()
    assert int(policy_threads) < int(ceiling), f"others read {others} cores busy"
    assert int(blas) == int(policy_threads)  # the policy's count is what OpenBLAS has


POLICY_FOLLOWS_READINGS = """
import sys, time, threadpoolctl
from rnnplay.core import threads
readings = [0.0]
threads.OtherLoad.read = lambda self: readings[0]  # a machine whose load we choose
policy = threads.start(None)
for others in map(float, sys.argv[1:]):
    readings[0] = others
    wanted = threads.threads_for(others, policy.cores, policy.threads)
    deadline = time.monotonic() + 30
    while policy.threads != wanted and time.monotonic() < deadline:
        time.sleep(0.05)
    print(others, policy.threads, threadpoolctl.threadpool_info()[0]["num_threads"])
"""


@pytest.mark.skipif(CORES < 2, reason="one core: there is no thread to give up")
def test_auto_follows_the_load_down_and_back_up(tmp_path: Path) -> None:
    """Readings chosen by the test (the real policy thread and threadpoolctl): one core taken, then free again."""
    readings = ["0.0", "1.0", "0.0", "1.0"]
    proc = subprocess.run([sys.executable, "-c", POLICY_FOLLOWS_READINGS, *readings], env=env_for(tmp_path),
                          capture_output=True, text=True, timeout=180)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    seen = [line.split() for line in proc.stdout.splitlines()]
    assert [int(policy) for _, policy, _ in seen] == [CORES, CORES - 1, CORES, CORES - 1]
    assert all(policy == blas for _, policy, blas in seen)  # what the policy says is what OpenBLAS has


POLICY_READS_WHILE_HELD = """
import sys, threading, time
from rnnplay.core import threads
readings = [0.0]
threads.OtherLoad.read = lambda self: readings[0]  # a machine whose load we choose
policy = threads.start(None)
def steps():  # a training's steps: BLAS held on one thread and released, far more often than INTERVAL
    while True:
        with threads.one_blas_thread():
            time.sleep(0.01)
threading.Thread(target=steps, daemon=True).start()
for others in (1.0, 0.0):
    readings[0] = others
    deadline = time.monotonic() + 30
    while policy.others != others and time.monotonic() < deadline:
        time.sleep(0.05)
    print(policy.others, policy.wanted)
"""


@pytest.mark.skipif(CORES < 2, reason="one core: there is no thread to give up")
def test_the_load_is_read_while_training_steps_hold_blas(tmp_path: Path) -> None:
    """The steps' requests kept the policy from reading the load at all: a validation between steps ran on a
    count read before the training began, a busy machine or not."""
    proc = subprocess.run([sys.executable, "-c", POLICY_READS_WHILE_HELD], env=env_for(tmp_path),
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    seen = [line.split() for line in proc.stdout.splitlines()]
    assert [(float(others), int(wanted)) for others, wanted in seen] == [(1.0, CORES - 1), (0.0, CORES)]


def test_training_in_this_process_marks_the_cores_busy() -> None:
    assert not threads.cores_busy()
    with threads.busy_cores(), threads.busy_cores():  # two claims (nested, or two threads): busy until both end
        assert threads.cores_busy()
    assert not threads.cores_busy()
