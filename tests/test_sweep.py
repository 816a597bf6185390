"""``rnnplay sweep``: real sweeps on Ray in a subprocess, tiny models on a small corpus the test writes.

One sweep of five trials (one with an impossible batch size) serves the table, JSON, failure and best-checkpoint
tests; a second one, with a plugin cell that raises, is stopped with SIGINT; a third process finds a ``ray`` that
cannot be imported. The sweep whose claim is about a local Ray (a plugin its workers find, and Ctrl-C) starts one;
the others join one cluster the module shares.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from child_env import child_env
from file_limits import files_no_larger_than
from plugin_fixtures import pip_install_fixtures
from process_tree import cpu_ticks, processes_below
from ray_cluster import ray_cluster
from terminal_reader import TerminalReader
from waiting import wait_for

from rnnplay.core.errors import RnnplayError
from rnnplay.session.sweep_files import output_dir
from rnnplay.ui.cli import main

pytestmark = pytest.mark.long_file  # run first (tests/conftest.py)

TINY = ["--hidden", "8", "--layers", "1", "--seq", "16"]
LINE = "To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer.\n"
TEXT = "".join(LINE[i:] + LINE[:i] for i in range(0, 80, 3)) * 4  # 8,000 characters or so


def rnnplay(*args: str) -> list[str]:
    return [sys.executable, "-m", "rnnplay", *args]


def environment(**extra: str) -> dict[str, str]:
    """A sweep's environment: plain text 160 columns wide, the numpy maths (``RNNPLAY_JIT=0``: the sweeps' claims
    are not about the compiled kernels, whose numba import and load cost the sweep and each of its Ray workers a
    second of CPU or more)."""
    return {**os.environ, "NO_COLOR": "1", "COLUMNS": "160", "RNNPLAY_JIT": "0", **extra}


Joined = tuple[list[str], dict[str, str]]  # the flags that join a cluster, and the environment that may


@pytest.fixture(scope="module")
def cluster() -> Iterator[Joined]:
    """A cluster of one node of two CPUs for the sweeps that join it: the flags that join it (``--ray-address``)
    and the environment that may (:func:`environment` with its token)."""
    with ray_cluster(nodes=1, cpus=2) as (address, env):
        yield ["--ray-address", address], environment(**{k: v for k, v in env.items() if k.startswith("RAY_")})


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "small.txt"
    path.write_text(TEXT)
    return path


@pytest.fixture(scope="module")
def swept(corpus: Path, cluster: Joined,
          tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Five trials, two at once: batch sizes 2, 4, 8, 16 and 100,000 (more than the corpus has)."""
    out = tmp_path_factory.mktemp("sweep") / "out"
    joins, env = cluster
    proc = subprocess.run(rnnplay("sweep", str(corpus), "--grid", "batch=2,4,8,16,100000", *TINY, "--steps", "15",
                                  "--workers", "2", "--json", "--out", str(out), *joins),
                          capture_output=True, text=True, env=env, timeout=180)
    assert proc.returncode == 0, proc.stderr
    return proc, out


def table_rows(text: str) -> list[list[str]]:
    """The cells of a rich table's body rows (the lines between │ bars that are not the header)."""
    rows = [[c.strip() for c in line.strip().strip("│").split("│")] for line in text.splitlines()
            if line.startswith("│")]
    return [r for r in rows if r[0] != "#"]


def test_trials_finish_and_the_table_is_sorted_by_validation_loss(swept: tuple[Any, Path]) -> None:
    proc, _ = swept
    rows = table_rows(proc.stderr)  # with --json, the table goes to stderr
    assert [r[0] for r in rows] == ["1", "2", "3", "4", "5"]
    statuses = [r[3] for r in rows]
    assert statuses == ["finished"] * 4 + ["failed"]
    val_losses = [float(r[6]) for r in rows[:4]]
    assert val_losses == sorted(val_losses)
    assert {r[2] for r in rows} == {"batch=2", "batch=4", "batch=8", "batch=16", "batch=100000"}


def test_json_alone_on_stdout_sorted_and_as_results_json(swept: tuple[Any, Path]) -> None:
    proc, out = swept
    summary = json.loads(proc.stdout)
    assert summary == json.loads((out / "results.json").read_text())
    trials = summary["trials"]
    assert [t["rank"] for t in trials] == [1, 2, 3, 4, 5]
    finished = [t for t in trials if t["status"] == "finished"]
    assert len(finished) == 4 and all(t["step"] == 15 for t in finished)
    assert [t["val_loss"] for t in finished] == sorted(t["val_loss"] for t in finished)
    assert sorted(t["settings"]["batch"] for t in trials) == [2, 4, 8, 16, 100000]


def test_an_impossible_trial_fails_alone_with_its_reason(swept: tuple[Any, Path]) -> None:
    proc, _ = swept
    trials = json.loads(proc.stdout)["trials"]
    failed = [t for t in trials if t["status"] == "failed"]
    assert [t["settings"] for t in failed] == [{"batch": 100000}]
    assert "too short for batch size 100000" in failed[0]["error"] and "\n" not in failed[0]["error"]
    assert failed[0]["checkpoint"] is None
    assert any(line.startswith("trial 5 (batch=100000) failed: the training text is too short")
               for line in proc.stderr.splitlines())
    for t in trials:
        if t["status"] == "finished":
            assert Path(t["checkpoint"]).is_file() and Path(t["checkpoint"]).name == f"{t['name']}.npz"
    assert "Traceback" not in proc.stderr


def test_best_is_the_lowest_validation_loss_and_samples(swept: tuple[Any, Path]) -> None:
    _, out = swept
    summary = json.loads((out / "results.json").read_text())
    first = summary["trials"][0]
    lowest = min(t["val_loss"] for t in summary["trials"] if t["val_loss"] is not None)
    assert first["val_loss"] == lowest and summary["best_trial"] == first["trial"]
    assert (out / "best.npz").read_bytes() == Path(first["checkpoint"]).read_bytes()
    sample = subprocess.run(rnnplay("sample", str(out / "best.npz"), "--length", "40", "--rng-seed", "1"),
                            capture_output=True, text=True, env=environment(), timeout=60)
    assert sample.returncode == 0, sample.stderr
    assert len(sample.stdout.strip()) > 0


def test_a_raising_cell_fails_alone_and_ctrl_c_keeps_the_finished(corpus: Path, tmp_path: Path) -> None:
    """One at a time: a plugin cell that raises (trial 1), a trial that finishes (2), then SIGINT while the long
    fourth (or the failing third) runs."""
    site = pip_install_fixtures(["rnnplay-fault-cell"], tmp_path)
    out = tmp_path / "out"
    env = child_env(site, base=environment(), FAULT_CELL_RAISES_IN="backward")
    proc = subprocess.Popen(rnnplay("sweep", str(corpus), "--grid", "steps=20,1000000", "cell=flaky,lstm", *TINY,
                                    "--batch", "4", "--workers", "1", "--out", str(out)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    finished = out / "trial-02-steps=20-cell=lstm.npz"
    deadline = time.monotonic() + 120
    while not finished.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # the third trial fails, the fourth starts
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Ctrl-C: cancelled the running trials; kept the 1 that ended" in stderr
    trials = {t["trial"]: t for t in json.loads((out / "results.json").read_text())["trials"]}
    assert trials[1]["status"] == "failed" and trials[1]["checkpoint"] is None
    assert trials[1]["error"].startswith("the cell 'flaky' (from rnnplay-fault-cell) failed while training: "
                                         "RuntimeError: the flaky cell failed in backward")
    assert trials[2]["status"] == "finished" and Path(trials[2]["checkpoint"]) == finished and finished.is_file()
    assert trials[3]["status"] in ("failed", "cancelled") and trials[4]["status"] == "cancelled"
    assert sorted(p.name for p in out.glob("*.npz")) == ["best.npz", finished.name]
    assert table_rows(stdout)[0][2] == "steps=20 cell=lstm"  # the finished one heads the table
    assert "Traceback" not in stderr


def trial_workers() -> set[int]:
    """PIDs of the Ray workers running a trial on the module's cluster, whose nodes are this process's children (a
    test of the module runs its sweep alone there)."""
    return processes_below(os.getpid(), "ray::run_job")


def test_a_trial_whose_worker_is_killed_runs_again_and_finishes(corpus: Path, cluster: Joined,
                                                                tmp_path: Path) -> None:
    """SIGKILL to a trial's Ray worker mid-run: the trial failed ("its Ray worker failed: WorkerCrashedError ..."),
    with the steps it had made. Now Ray runs it again from its start, once, and it finishes; its line and its
    record say it was run twice (its time is the second run's). On the module's cluster, whose node lives on: a
    worker is what dies, as on a local Ray."""
    joins, env = cluster
    proc = subprocess.Popen(rnnplay("sweep", str(corpus), "--grid", "seed=1,2", *TINY, "--batch", "4", "--steps",
                                    "3000", "--workers", "2", "--json", "--out", str(tmp_path / "out"), *joins),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        running = wait_for(trial_workers, "a trial at work", 120)
        victim = min(running)
        started = cpu_ticks({victim})
        wait_for(lambda: cpu_ticks({victim}) > started + 50, "the trial's first steps", 120)  # training, not starting
        os.kill(victim, signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr
    trials = json.loads(stdout)["trials"]
    assert [(t["status"], t["step"]) for t in trials] == [("finished", 3000)] * 2, stderr
    # its line gave the second run's time alone ("finished ... in 1 s"), as if the killed run had never been
    assert sorted(t["runs"] for t in trials) == [1, 2], stderr
    again = [line for line in stderr.splitlines() if line.endswith("(its second run: the first one's worker died)")]
    assert len(again) == 1 and again[0].startswith(f"trial {max(trials, key=lambda t: t['runs'])['trial']} "), stderr


def test_ctrl_c_says_how_far_each_running_trial_had_got(corpus: Path, cluster: Joined, tmp_path: Path) -> None:
    """Ctrl-C while a trial runs: it was listed as cancelled with its last validation loss, and nothing said how far
    it had got. Now a line says its step and its best validation loss so far, and results.json keeps both. (Ctrl-C
    of a sweep on a local Ray: test_a_raising_cell_fails_alone_and_ctrl_c_keeps_the_finished.)"""
    out = tmp_path / "out"
    joins, env = cluster
    proc = subprocess.Popen(rnnplay("sweep", str(corpus), "--grid", "steps=20,1000000", *TINY, "--batch", "4",
                                    "--val-every", "50", "--workers", "1", "--out", str(out), *joins),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:  # results.json is written once the first trial has ended; then the second runs
        wait_for(lambda: (out / "results.json").exists() or proc.poll() is not None, "the first trial's end", 120)
        worker = wait_for(trial_workers, "the second trial at work", 120)
        started = cpu_ticks(worker)
        wait_for(lambda: cpu_ticks(worker) > started + 200, "its first validations", 120)  # hundreds of steps
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    said = [line for line in stderr.splitlines() if line.startswith("trial 2 (steps=1000000) cancelled at step ")]
    assert len(said) == 1 and ": best validation loss " in said[0], stderr
    trial = {t["trial"]: t for t in json.loads((out / "results.json").read_text())["trials"]}[2]
    assert trial["status"] == "cancelled" and trial["step"] >= 50 and trial["best_val_loss"] is not None
    assert f"cancelled at step {trial['step']}: best validation loss {trial['best_val_loss']:.4f}" in said[0]


BACKGROUND = """
"$@" 2>"$OUT.err" >"$OUT.table" &
sweep=$!
for _ in $(seq 1200); do [ -e "$FIRST" ] || ! kill -0 $sweep 2>/dev/null && break; sleep 0.1; done
sleep 1  # the second trial starts
kill -INT $sweep
for _ in $(seq 600); do kill -0 $sweep 2>/dev/null || break; sleep 0.1; done
kill -0 $sweep 2>/dev/null && { echo "SIGINT did not stop it"; kill -TERM $sweep; }
wait $sweep
echo "exit $?"
"""


def test_sigint_stops_a_sweep_started_in_the_background_of_a_script(corpus: Path, cluster: Joined,
                                                                    tmp_path: Path) -> None:
    """`rnnplay sweep ... &` in a script: the shell starts it with SIGINT ignored, and `kill -INT` did nothing (the
    second trial's million steps went on), where `rnnplay train` in the same place stops and saves. Now the sweep
    stops as at Ctrl-C: the running trial cancelled, the one that ended kept."""
    out = tmp_path / "out"
    first = out / "trial-01-steps=20.npz"
    joins, env = cluster
    script = subprocess.run(["bash", "-c", BACKGROUND, "script", *rnnplay(
        "sweep", str(corpus), "--grid", "steps=20,1000000", *TINY, "--batch", "4", "--workers", "1", "--out",
        str(out), *joins)], env={**env, "OUT": str(out), "FIRST": str(first)}, capture_output=True, text=True,
        timeout=300)
    stderr = Path(f"{out}.err").read_text()
    assert script.stdout.splitlines() == ["exit 130"], script.stdout + stderr
    assert "Ctrl-C: cancelled the running trials; kept the 1 that ended" in stderr
    trials = {t["trial"]: t for t in json.loads((out / "results.json").read_text())["trials"]}
    assert trials[1]["status"] == "finished" and Path(trials[1]["checkpoint"]) == first and first.is_file()
    assert trials[2]["status"] == "cancelled" and trials[2]["checkpoint"] is None
    assert (out / "best.npz").read_bytes() == first.read_bytes()
    assert "Traceback" not in stderr


def test_sighup_stops_a_sweep_as_train_is_stopped_and_keeps_the_finished(
        corpus: Path, cluster: Joined, tmp_path: Path) -> None:
    """The terminal a sweep runs in closes (its session's terminal goes away, then SIGHUP): it said "Ctrl-C:
    cancelled ..." as if Ctrl-C had been pressed, and exited 1 once its table met the closed terminal (130 where
    stdout was no terminal); now it names SIGHUP and exits 129, as `rnnplay train` does, and results.json keeps the
    trial that finished. The signal comes once the sweep has said that trial 1 ended (its checkpoint and best.npz
    written): the second trial is then queued or running, cancelled either way; no guessed second of sleep."""
    out = tmp_path / "out"
    first = out / "trial-01-steps=20.npz"
    master, slave = os.openpty()
    joins, env = cluster
    with (tmp_path / "stderr").open("w+") as stderr:  # the table goes to the terminal, the lines to a file
        proc = subprocess.Popen(rnnplay("sweep", str(corpus), "--grid", "steps=20,1000000", *TINY, "--batch", "4",
                                        "--workers", "1", "--out", str(out), *joins),
                                stdin=slave, stdout=slave, stderr=stderr, env=env, start_new_session=True)
    os.close(slave)
    reader = TerminalReader(master)  # the sweep never blocks on a full pty
    try:
        lines = (tmp_path / "stderr").read_text
        wait_for(lambda: "trial 1 (steps=20) finished: " in lines() or proc.poll() is not None, "trial 1's line", 120)
        assert proc.poll() is None, lines()
        reader.stop()
        os.close(master)  # the terminal goes away: writes to it fail from now on
        proc.send_signal(signal.SIGHUP)
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
    said = (tmp_path / "stderr").read_text()
    assert proc.returncode == 129 and "SIGHUP: cancelled the running trials; kept the 1 that ended" in said, said
    assert "Traceback" not in said
    trials = {t["trial"]: t for t in json.loads((out / "results.json").read_text())["trials"]}
    assert trials[1]["status"] == "finished" and Path(trials[1]["checkpoint"]) == first and first.is_file()
    assert trials[2]["status"] == "cancelled" and trials[2]["checkpoint"] is None
    assert (out / "best.npz").read_bytes() == first.read_bytes()


def test_without_ray_one_line(corpus: Path, tmp_path: Path) -> None:
    fake = tmp_path / "fake" / "ray"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('no ray here')\n")
    out = tmp_path / "out"
    proc = subprocess.run(rnnplay("sweep", str(corpus), "--grid", "hidden=8,16", "--steps", "5", "--out", str(out)),
                          capture_output=True, text=True, timeout=60,
                          env=child_env(fake.parent, base=environment()))
    assert proc.returncode == 1
    [line] = proc.stderr.splitlines()
    assert line.startswith("rnnplay: error: rnnplay sweep needs Ray") and line.endswith("pip install 'rnnplay[ray]'")
    assert not out.exists()


def test_a_folder_named_rnnplay_where_the_sweep_starts_does_not_stand_in_for_it_on_the_workers(
        corpus: Path, cluster: Joined, tmp_path: Path) -> None:
    """Ray put the driver's current folder first on each worker's path: from the folder holding a clone of the
    repository (./rnnplay), every trial failed ("its Ray worker failed: RayTaskError(RaySystemError): " and Ray's
    colour codes)."""
    (tmp_path / "rnnplay" / "plugins").mkdir(parents=True)
    (tmp_path / "rnnplay" / "__init__.py").write_text("")
    joins, env = cluster  # Ray adds the driver's folder to the path of the workers of any cluster it joins
    proc = subprocess.run([sys.executable, "-P", "-m", "rnnplay", "sweep", str(corpus), "--grid", "hidden=8,12",
                           "--steps", "3", "--workers", "2", "--json", "--out", "out", *joins], cwd=tmp_path,
                          capture_output=True, text=True, env=child_env(base=env), timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert [t["status"] for t in json.loads(proc.stdout)["trials"]] == ["finished", "finished"]


WORKER_CANNOT_READ = """
import sys
from rnnplay.distributed.cluster import ray_session
from rnnplay.distributed.trials import Outcome, TrialRunner
sys.path.insert(0, sys.argv[1])  # here only: not on the workers' path
import driver_only

def job(thing, report):
    return 1

with ray_session(sys.argv[2]) as ray:
    print(*[o.error for o in TrialRunner(ray, job, 1).run([(driver_only.Thing(),)]) if isinstance(o, Outcome)])
"""


def test_a_trial_whose_worker_cannot_read_its_arguments_says_why_in_plain_text(
        cluster: Joined, tmp_path: Path) -> None:
    """It said "its Ray worker failed: RayTaskError(RaySystemError): \\x1b[36mray::run_job()\\x1b[39m (pid=..."
    in the table and in results.json: Ray's colour codes, and not why."""
    (tmp_path / "only_here").mkdir()
    (tmp_path / "only_here" / "driver_only.py").write_text("class Thing:\n    pass\n")
    (_, address), env = cluster
    proc = subprocess.run([sys.executable, "-c", WORKER_CANNOT_READ, str(tmp_path / "only_here"), address],
                          cwd=tmp_path, capture_output=True, text=True, env=env, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("its Ray worker failed: ModuleNotFoundError: No module named 'driver_only'; Ray's "
                                  "logs are in "), proc.stdout


@pytest.mark.parametrize(("grid", "words"), [
    (["hiden=8,16"], "unknown setting 'hiden' (did you mean 'hidden'?)"),
    (["hidden"], "--grid 'hidden' is not KEY=V1,V2,..."),
    (["hidden=8,x"], "hidden must be an integer (got 'x')"),
    (["dropout=0.2,1.5"], "dropout must be a finite number in [0, 1) (got 1.5)"),
    (["lr=1e-3,1e-3"], "lists a value twice"),
    (["batch=2,4", "batch_size=8"], "gives batch_size twice (batch and batch_size)"),
    (["lr=1e-3,,2e-3"], "has an empty value"),
])
def test_grid_mistakes_are_one_line_before_anything_starts(grid: list[str], words: str, corpus: Path,
                                                          tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["sweep", str(corpus), "--grid", *grid, "--steps", "5", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert words in err and len(err.splitlines()) == 1, err
    assert not out.exists()


def test_an_out_folder_that_cannot_take_a_byte_is_refused_before_any_trial(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    with files_no_larger_than(0), pytest.raises(RnnplayError) as err, output_dir(str(out)):  # not a full disk
        pass
    assert str(err.value) == (f"cannot write to --out {out}: File too large; the file-size limit (ulimit -f) was "
                              "reached: raise it, or choose another folder")
    assert list(tmp_path.iterdir()) == []  # the folder it made is gone again


def test_two_sweeps_into_one_folder_at_once_are_refused(tmp_path: Path) -> None:
    """Two sweeps started together into one --out both passed its check for files, then replaced each other's
    checkpoints and best.npz, each exiting 0 and naming its own best."""
    out = tmp_path / "sweep"
    taken = pytest.raises(RnnplayError, match=r"another sweep \(PID \d+\) is writing .*results\.json")
    with output_dir(str(out)):
        with taken, output_dir(str(out)):
            pass
        assert (out / "results.json.lock").exists()
    assert not out.exists()  # the lock let go, and the empty folder removed


def test_a_budget_and_a_setting_given_once(corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", str(corpus), "--grid", "hidden=8,16"]) == 1
    assert "give each trial a budget: --time SECONDS, --steps N or --epochs N" in capsys.readouterr().err
    assert main(["sweep", str(corpus), "--grid", "hidden=8,16", "--hidden", "8", "--steps", "5"]) == 1
    assert "hidden is both a flag (--hidden 8) and a --grid key" in capsys.readouterr().err
    (tmp_path / "done").mkdir()
    (tmp_path / "done" / "results.json").write_text("{}")
    assert main(["sweep", str(corpus), "--grid", "hidden=8,16", "--steps", "5", "--out", str(tmp_path / "done")]) == 1
    assert "done already holds results.json, which this sweep would replace" in capsys.readouterr().err
    (tmp_path / "mine").mkdir()  # `--best best.npz` of a training, or a trial's checkpoint of another sweep: kept
    for name in ("best.npz", "trial-02-hidden=16.npz"):
        (tmp_path / "mine" / name).write_bytes(b"my model")
    assert main(["sweep", str(corpus), "--grid", "hidden=8,16", "--steps", "5", "--out", str(tmp_path / "mine")]) == 1
    assert "mine already holds best.npz (and 1 other file it writes), which" in capsys.readouterr().err
    assert {p.read_bytes() for p in (tmp_path / "mine").iterdir()} == {b"my model"}


def test_a_checkpoint_or_results_that_cannot_be_written_do_not_end_the_sweep(tmp_path: Path, monkeypatch) -> None:
    """A full disk at trial 2's checkpoint ended the whole sweep (rc 1, no table, trial 3 never run); trial 2's
    weights are now kept in the data folder's rescue copies, and results.json's failure is a note."""
    from rnnplay.corpora import Corpus
    from rnnplay.distributed.trials import FINISHED, Outcome
    from rnnplay.session.sweep import Sweep, plan

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    out = tmp_path / "sweep"
    out.mkdir()
    sweep = Sweep(plan(["seed=0,1"], {}, {"steps": 2}), Corpus("c", "abc" * 50, "test"), out)
    sweep._ended(Outcome(0, FINISHED, {"checkpoint": b"weights of trial 1", "val_loss": 2.0, "step": 2}))
    assert (out / "trial-01-seed=0.npz").read_bytes() == b"weights of trial 1" and sweep.results_written
    out.rename(tmp_path / "gone")
    out.write_text("a file where the sweep's folder was")  # nothing can be written there any more
    second = sweep._ended(Outcome(1, FINISHED, {"checkpoint": b"weights of trial 2", "val_loss": 1.0, "step": 2}))
    assert second.status == FINISHED and second.checkpoint.read_bytes() == b"weights of trial 2"
    assert second.checkpoint.parent == tmp_path / "data" / "rnnplay" / "rescued"
    assert not sweep.results_written and any("results.json" in note for note in sweep.notes)
    assert any(f"kept trial-02-seed=1 in {second.checkpoint} instead" in note for note in sweep.notes)


def test_a_sweep_on_a_folder_says_how_many_binary_files_it_skipped(cluster: Joined,
                                                                  tmp_path: Path) -> None:
    """As `train` and `corpus show` do; it said only "on d1 (9,303 chars)"."""
    folder = tmp_path / "d1"
    folder.mkdir()
    (folder / "a.txt").write_text(TEXT)
    (folder / "b.bin").write_bytes(b"\x00\x01binary" * 100)
    joins, env = cluster
    proc = subprocess.run(rnnplay("sweep", "dir:d1", "--grid", "hidden=8", "--layers", "1", "--seq", "16",
                                  "--steps", "2", "--workers", "1", "--out", "out", *joins),
                          cwd=tmp_path, capture_output=True, text=True, env=env, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"^sweep: 1 trial on d1 \([\d,]+ chars; 1 binary file skipped\), 1 at once", proc.stderr,
                     re.M), proc.stderr
