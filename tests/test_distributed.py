"""Data-parallel training on Ray (``--workers N``, ``--ray-address``): real Ray, real processes, the real corpus.

The app's /train starts a local Ray in its training thread; the others run ``rnnplay train`` as a user does (a local
Ray started and stopped by the run, a two-node cluster started with ``ray start`` and stopped by the test, a worker
killed with SIGKILL). Each compares its weights with the same run in this process
(``--workers 1``, no Ray).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from child_env import child_env
from process_tree import cpu_ticks, in_session, processes_below
from ray_cluster import ray_cluster
from waiting import wait_for

from rnnplay.core import parallel_step
from rnnplay.core.cells import LSTMCell
from rnnplay.core.errors import RnnplayError
from rnnplay.core.model import Model
from rnnplay.core.train_config import ModelSpec, TrainConfig
from rnnplay.core.vocab import Vocab
from rnnplay.corpora import load_corpus
from rnnplay.distributed.data_parallel import LOST_NODE_WAIT, last_line, worker_cpus
from rnnplay.models.bundled import load_model
from rnnplay.session.events import Changed, Message, TrainingEnded
from rnnplay.session.session import Session
from rnnplay.session.training_runs import TrainingRun, new_run

pytestmark = pytest.mark.long_file  # run first (tests/conftest.py)

CORPUS = Path("/work/shared/corpora/tinyshakespeare.txt")
needs_corpus = pytest.mark.skipif(not CORPUS.is_file(), reason=f"the benchmark corpus {CORPUS} is not on this machine")
TIMEOUT = 120  # seconds any one Ray run may take before the test gives up (a bound, not a speed claim)

SPEC = ModelSpec("lstm", 2, 32, 0.2)
B = 2 * parallel_step.chunk_size(Model(LSTMCell(), Vocab.from_text("ab"), 32, 2))  # two workers' shards of one chunk
# each: the in-process run's chunks, bit for bit
SETTINGS = {"batch_size": B, "seq_length": 20, "lr_schedule": "constant", "val_every": 0}
FLAGS = ["--layers", "2", "--hidden", "32", "--dropout", "0.2", "--batch-size", str(B), "--seq-length", "20",
         "--lr-schedule", "constant", "--val-every", "0"]


@pytest.fixture
def numpy_maths(monkeypatch: pytest.MonkeyPatch) -> None:
    """The numpy maths (``RNNPLAY_JIT=0``) for this process, so also in the runs and local Rays it starts and the
    in-process runs their weights are held to: their claims are about Ray, not the compiled kernels, whose numba
    import and load cost every process that trains a second of CPU or more (a cluster's: tests/ray_cluster.py)."""
    monkeypatch.setenv("RNNPLAY_JIT", "0")


def in_process(steps: int, **settings: object) -> TrainingRun:
    """The run the flags above describe, trained ``steps`` steps in this process: what Ray's runs must equal."""
    run = new_run(load_corpus(str(CORPUS)), SPEC, TrainConfig(**{**SETTINGS, **settings, "steps": steps}))
    for _ in run.trainer.run():
        pass
    return run


@pytest.fixture(scope="module")
def reference_weights() -> dict[int, dict[str, np.ndarray]]:
    """The weights of :func:`in_process`'s run (the numpy maths) after 20, 60 and 70 steps, by step: one run of 70
    steps, its weights taken as it passes each (the schedule is constant: a run of 20 steps ends where it passes 20,
    bit for bit), for the tests whose Ray runs must equal them."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RNNPLAY_JIT", "0")
        run = new_run(load_corpus(str(CORPUS)), SPEC, TrainConfig(**{**SETTINGS, "steps": 70}))
        taken = {}
        for _ in run.trainer.run():
            if run.trainer.step in (20, 60) and run.trainer.step not in taken:
                taken[run.trainer.step] = {name: value.copy() for name, value in run.model.params.items()}
    return {**taken, 70: run.model.params}


def assert_same_weights(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    """Equal to 1e-5 relative to each parameter's largest value (float summation order aside)."""
    assert a.keys() == b.keys()
    for name in a:
        scale = float(np.max(np.abs(b[name]))) or 1.0
        assert float(np.max(np.abs(a[name] - b[name]))) <= 1e-5 * scale, name


def rnnplay(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rnnplay", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=TIMEOUT)


# -- the same weights on any number of workers ------------------------------------------------------------------
@needs_corpus
@pytest.mark.usefixtures("numpy_maths")
def test_the_apps_train_on_two_workers_gives_the_weights_of_one_process(tmp_path: Path, monkeypatch) -> None:
    """/train ... workers=2: Ray started by the training thread (not the main one) and stopped with the job; 64
    streams, so each worker adds its shard's chunks and the driver the two sums (in process: all chunks in a row)."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # the app's folders, not the user's
    session = Session()
    events: list[object] = []
    ended = threading.Event()
    session.subscribe(lambda e: (events.append(e), isinstance(e, TrainingEnded) and ended.set()))
    noise = {"dropout_kind": "locked", "weight_drop": 0.2, "embedding_dropout": 0.1}  # the other runs: step dropout
    keys = "layers=2 hidden=32 dropout=0.2 batch=64 seq=20 lr_schedule=constant val_every=0 steps=20 " + " ".join(
        f"{k}={v}" for k, v in noise.items())
    session.submit(f"/train {CORPUS} {keys} workers=2 out={tmp_path / 'm.npz'}")
    assert ended.wait(TIMEOUT), events[-3:]
    texts = [e.text for e in events if isinstance(e, Message)]
    assert any(t.startswith("each step on 2 workers on local Ray") for t in texts), texts
    assert not [e for e in events if isinstance(e, Message) and e.level == "error"]
    job = session.training
    assert job is not None and job.run.trainer.step == 20 and job.run.trainer.gradients is None
    assert_same_weights(job.run.model.params, in_process(20, batch_size=64, **noise).model.params)
    assert_same_weights(load_model(tmp_path / "m.npz").model.params, job.run.model.params)
    assert not pytest.importorskip("ray").is_initialized()  # the job's local Ray went with it
    session.close()


@pytest.mark.usefixtures("numpy_maths")
def test_a_stop_while_the_apps_local_ray_starts_saves_nothing(tmp_path: Path, monkeypatch) -> None:
    """/train ... workers=2 then /stop before Ray was up wrote a 0-step model into the library (named after the
    corpus, the loaded model's weights); the CLI said "nothing was saved", and now so does the app, in one line."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    (tmp_path / "x.txt").write_text("to be or not to be, that is the question. " * 200)
    session = Session()
    events: list[object] = []
    ended = threading.Event()
    session.subscribe(lambda e: (events.append(e), isinstance(e, TrainingEnded) and ended.set()))
    session.subscribe(lambda e: e == Changed("training") and session.training.run.trainer.stop())  # as Ray starts
    session.submit(f"/train {tmp_path / 'x.txt'} layers=1 hidden=8 batch=8 seq=16 steps=50 workers=2")
    assert ended.wait(TIMEOUT), events[-3:]
    texts = [e.text for e in events if isinstance(e, Message)]
    assert any(t.startswith("each step on 2 workers on local Ray") for t in texts), texts
    assert texts[-1] == "no step of the training went through, so nothing was saved; no model is loaded"
    assert not any(t.startswith("training stopped") for t in texts) and not list(tmp_path.rglob("*.npz"))
    session.close()


# -- one-line refusals ----------------------------------------------------------------------------------------------
def test_a_batch_that_does_not_split_is_one_line_before_anything_starts(tmp_path: Path) -> None:
    r = rnnplay("train", "no-such-corpus.txt", "--batch-size", "30", "--workers", "4", cwd=tmp_path)
    assert r.returncode == 1 and r.stderr.count("\n") == 1
    assert "a batch of 30 streams does not split evenly over 4 workers" in r.stderr and "(28 or 32)" in r.stderr


def test_without_ray_workers_say_how_to_install_it(tmp_path: Path) -> None:
    """A ``ray`` that fails to import, first on the path: the CLI and the app's /train say the pip line, once."""
    fake = tmp_path / "fake" / "ray"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('No module named ray')\n")
    env = child_env(fake.parent)
    r = rnnplay("train", "corpus.txt", "--workers", "2", cwd=tmp_path, env=env)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "pip install 'rnnplay[ray]'" in r.stderr
    app = ("from rnnplay.session.session import Session\n"
           "s = Session(); s.subscribe(lambda e: print(getattr(e, 'level', ''), getattr(e, 'text', '')))\n"
           "s.submit('/train corpus.txt steps=5 workers=2')\n")
    r = subprocess.run([sys.executable, "-c", app], cwd=tmp_path, capture_output=True, text=True, env=env,
                       timeout=TIMEOUT)
    errors = [line for line in r.stdout.splitlines() if line.startswith("error ")]
    assert len(errors) == 1 and "pip install 'rnnplay[ray]'" in errors[0] and "Traceback" not in r.stderr


def under_limit(kib: int, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``rnnplay ARGS`` under ``ulimit -v KIB``."""
    return subprocess.run(["bash", "-c", f'ulimit -v {kib} && exec "$@"', "-", sys.executable, "-m", "rnnplay",
                           *args], cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT)


def test_a_local_ray_fits_its_object_store_under_ulimit_v_or_says_it_cannot_start(tmp_path: Path) -> None:
    """Ray's object store is 30% of the memory, which the raylet and each worker map: under ``ulimit -v 3000000``
    the raylet could not, and the run printed a traceback ("The current node timed out during startup") after
    40 s. Now the store is a quarter of the limit; a limit too small for a worker besides it is one line before
    Ray starts (the workers died at their start, and the run waited for them)."""
    (tmp_path / "corpus.txt").write_text("the quick brown fox jumps over the lazy dog. " * 200)
    args = ("train", "corpus.txt", "--hidden", "8", "--layers", "1", "--batch-size", "4", "--seq-length", "16",
            "--steps", "3", "--workers", "2", "--out", "m.npz")
    r = under_limit(3_000_000, *args, cwd=tmp_path)
    assert r.returncode == 0 and "each step on 2 workers on local Ray" in r.stderr, r.stderr[-2000:]
    r = under_limit(1_600_000, *args, "--out", "small.npz", cwd=tmp_path)
    assert r.returncode == 1 and r.stderr.splitlines()[-1].startswith(
        "rnnplay: error: local Ray cannot start under the address-space limit of 1,562 MiB (ulimit -v): "), r.stderr
    assert "raise the limit to " in r.stderr and "Traceback" not in r.stderr and not (tmp_path / "small.npz").exists()


@pytest.mark.parametrize("command", [("train", "--workers", "2"), ("sweep", "--grid", "lr=2e-3,4e-3", "--steps", "3")])
def test_a_limit_too_small_for_a_local_ray_is_said_before_the_corpus_loads(command: tuple[str, ...],
                                                                           tmp_path: Path) -> None:
    """The limit was checked as Ray started, after the corpus had loaded (for a large corpus, minutes of
    encoding): a corpus that is not there was said instead. Now the limit is said first, for train and sweep."""
    r = under_limit(1_600_000, command[0], "no-such-corpus.txt", *command[1:], cwd=tmp_path)
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith("rnnplay: error: local Ray cannot start under the address-space limit of 1,562 MiB")


class FakeCluster:
    """What worker_cpus reads of Ray: its nodes and their CPUs."""

    def __init__(self, *cpus: float) -> None:
        self.cpus = cpus

    def nodes(self) -> list[dict]:
        return [{"Alive": True, "Resources": {"CPU": c}} for c in self.cpus] + [{"Alive": False, "Resources": {}}]


def test_workers_share_the_clusters_cpus_or_say_they_do_not_fit() -> None:
    assert worker_cpus(FakeCluster(4, 4), 2) == 4
    assert worker_cpus(FakeCluster(4, 2), 3) == 2  # two on the first node, one on the second
    assert worker_cpus(FakeCluster(1, 1), 2) == 1
    with pytest.raises(RnnplayError, match=r"3 workers do not fit on the Ray cluster \(2 CPUs on 2 nodes\): use at "
                                           r"most 2 workers"):
        worker_cpus(FakeCluster(1, 1), 3)


def test_a_worker_that_cannot_start_is_said_by_its_own_error() -> None:
    """Ray's ActorDiedError carries the remote traceback as text; its last line is the worker's own error."""
    died = RuntimeError("The actor died because of an error raised in its creation task, ray::ShardWorker.__init__()"
                        "\nTraceback (most recent call last):\n  File ...\n"
                        "rnnplay.core.errors.RnnplayError: unknown cell 'gru'; available: lnlstm, lstm, rnn\n")
    assert last_line(died) == "unknown cell 'gru'; available: lnlstm, lstm, rnn"


# -- a real two-node cluster --------------------------------------------------------------------------------------
@pytest.fixture(scope="class")
def two_nodes() -> Iterator[tuple[str, dict[str, str]]]:
    """The cluster the tests of the class share: runs that end, or that it turns away, then one that kills its second
    node (the last to use it: the cluster of its own it had cost a second start of two nodes)."""
    with ray_cluster() as cluster:
        yield cluster


def raylet_of_second_node(address: str) -> int:
    """The PID of the raylet that ``ray start --address ADDRESS`` (the fixture's second node) started."""
    for entry in Path("/proc").iterdir():
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) if entry.name.isdigit() else 0
            if b"raylet/raylet" in (entry / "cmdline").read_bytes().split(b"\0")[0] and \
                    address.encode() in (Path("/proc") / str(parent) / "cmdline").read_bytes():
                return int(entry.name)
        except (OSError, IndexError, ValueError):
            continue
    raise AssertionError(f"no raylet of a node joined to {address}")


LATE_STARTS = """
import asyncio, os, sys
from rnnplay.distributed import trials
from rnnplay.distributed.cluster import ray_session

class LateStarts(trials.Board):
    '''Takes the message a trial's worker sends as it starts only after the driver asked how many runs it had: an
    order Ray allows, since it orders an actor's calls per caller only.'''

    def __init__(self):
        super().__init__()
        self.asked, self.counted = asyncio.Event(), {}

    async def start(self, index):
        await self.asked.wait()
        self.counted[index] = self.counted.get(index, 0) + 1

    async def runs_of(self, index):
        self.asked.set()
        return self.counted.get(index, 1)

def job(marker, report):
    if not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)  # its worker dies: Ray runs the trial again from its start
    return "done"

trials.Board = LateStarts
with ray_session(sys.argv[1]) as ray:
    print(*[(o.status, o.value, o.runs) for o in trials.TrialRunner(ray, job, 1).run([(sys.argv[2],)])
            if isinstance(o, trials.Outcome)])
"""


@pytest.mark.usefixtures("numpy_maths")
class TestOnOneClusterOfTwoNodes:
    """Runs that join the cluster, or that it turns away, leave it as they found it; the last test kills its second
    node: one cluster for them all, stopped after the last (a class, so that it does not outlive them beside the
    local Rays of the tests after)."""

    @needs_corpus
    def test_training_on_a_two_node_cluster_joined_by_address(self, two_nodes, reference_weights,
                                                              tmp_path: Path) -> None:
        address, env = two_nodes
        r = rnnplay("train", str(CORPUS), *FLAGS, "--steps", "20", "--workers", "2", "--ray-address", address,
                    "--val-every", "10", "--val-max-chars", "20000", "--best", "best.npz", "--out", "m.npz",
                    cwd=tmp_path, env=env)
        assert r.returncode == 0, r.stderr
        assert f"each step on 2 workers on the Ray cluster at {address}, 1 CPU each" in r.stderr  # one on each node
        ckpt = load_model(tmp_path / "m.npz")
        assert ckpt.training["step"] == 20 and load_model(tmp_path / "best.npz").training["step"] in (10, 20)
        reference = reference_weights[20]
        assert_same_weights(ckpt.model.params, reference)
        r = rnnplay("train", str(CORPUS), *FLAGS, "--steps", "20", "--ray-address", address, "--out", "one.npz",
                    cwd=tmp_path, env=env)  # N = 1 on Ray: one worker with all 32 streams
        assert r.returncode == 0 and "each step on 1 worker on the Ray cluster" in r.stderr, r.stderr
        assert_same_weights(load_model(tmp_path / "one.npz").model.params, reference)


    def test_a_folder_named_rnnplay_where_the_run_starts_does_not_stand_in_for_it_on_the_workers(
            self, two_nodes, tmp_path: Path) -> None:
        """Ray put the driver's current folder first on each worker's path (on a local Ray as on a cluster joined by
        address): from the folder holding a clone of the repository (./rnnplay), every worker imported that folder
        for rnnplay and the run failed with "a Ray worker could not start: ModuleNotFoundError: No module named
        'rnnplay.plugins.host'"."""
        address, env = two_nodes
        (tmp_path / "rnnplay" / "plugins").mkdir(parents=True)
        (tmp_path / "rnnplay" / "__init__.py").write_text("")
        (tmp_path / "corpus.txt").write_text("the quick brown fox jumps over the lazy dog. " * 200)
        r = subprocess.run([sys.executable, "-P", "-m", "rnnplay", "train", "corpus.txt", "--hidden", "8", "--layers",
                            "1", "--batch-size", "4", "--seq-length", "16", "--steps", "3", "--workers", "2", "--out",
                            "m.npz", "--ray-address", address], cwd=tmp_path, capture_output=True, text=True,
                           env=child_env(base=env), timeout=TIMEOUT)
        assert r.returncode == 0 and "each step on 2 workers on the Ray cluster at" in r.stderr, r.stderr
        assert load_model(tmp_path / "m.npz").training["step"] == 3

    @needs_corpus
    def test_sigterm_mid_run_on_workers_saves_as_without_ray(self, two_nodes, tmp_path: Path) -> None:
        """ray.init, which starts a local Ray or joins a cluster, put its own SIGTERM handler (sys.exit) in place of
        the run's, so SIGTERM mid-run ended in "a bug in rnnplay" under Ray's stack lines. Now the run stops after its
        step and saves, exit 143, as without Ray."""
        address, env = two_nodes
        run = subprocess.Popen([sys.executable, "-m", "rnnplay", "train", str(CORPUS), *FLAGS, "--steps", "100000",
                                "--workers", "2", "--ray-address", address, "--checkpoint-every", "1", "--out",
                                "m.npz"], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
        try:
            wait_for(lambda: (tmp_path / "m.npz").exists(), "the first step's checkpoint", TIMEOUT)
            run.send_signal(signal.SIGTERM)
            _, err = run.communicate(timeout=TIMEOUT)
        finally:
            run.kill()
        said = ("SIGTERM: stopping after this step, then saving m.npz", "SIGTERM: still saving m.npz")  # each step
        assert run.returncode == 143 and any(line in err for line in said), err
        assert "continue with --resume m.npz" in err.splitlines()[-1] and "bug" not in err and "PC: @" not in err, err
        assert load_model(tmp_path / "m.npz").training["step"] > 0

    def test_a_token_the_cluster_refuses_is_named_in_one_line(self, two_nodes, tmp_path: Path) -> None:
        """A wrong token, one sent without RAY_AUTH_MODE=token, none at all: Ray says "cannot connect" after 20 s of
        retries; the line names RAY_AUTH_TOKEN and RAY_AUTH_MODE instead of blaming a cluster that is there."""
        address, env = two_nodes
        args = ("train", str(CORPUS), "--hidden", "8", "--steps", "1", "--ray-address", address)
        env = {**env, "RAY_NUM_REDIS_GET_RETRIES": "2"}  # Ray's retries of a refused connection, a second each
        plain = {k: v for k, v in env.items() if k not in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN")}
        cases = {"does not match the cluster's": {**env, "RAY_AUTH_TOKEN": "0" * 64},
                 "RAY_AUTH_MODE is not 'token'": {**plain, "HOME": str(tmp_path)},
                 "none is given: RAY_AUTH_TOKEN is not set": {**plain, "RAY_AUTH_MODE": "token", "HOME": str(tmp_path)}}
        for said, case in cases.items():
            r = rnnplay(*args, cwd=tmp_path, env=case)
            line = r.stderr.splitlines()[-1]
            assert r.returncode == 1 and line.startswith("rnnplay: error: ") and said in line, r.stderr
            assert "RAY_AUTH_TOKEN" in line and "RAY_AUTH_MODE=token" in line and "Traceback" not in r.stderr
            assert not (tmp_path / "model.npz").exists()


    def test_a_trial_run_again_is_counted_whatever_order_its_messages_arrive_in(self, two_nodes,
                                                                                tmp_path: Path) -> None:
        """A trial's runs were counted by the board: its worker's start went there unanswered, and the driver asked
        for the count after the result; Ray orders an actor's calls per caller only, so the question could come first
        ("runs": 1 for a trial run twice). Here a board takes each start only after that question: still 2."""
        address, env = two_nodes
        r = subprocess.run([sys.executable, "-c", LATE_STARTS, address, str(tmp_path / "died-once")], cwd=tmp_path,
                           capture_output=True, text=True, env=env, timeout=TIMEOUT)
        assert r.returncode == 0, r.stderr
        assert r.stdout == "('finished', 'done', 2)\n", r.stderr

    def test_ctrl_c_or_sigterm_while_ray_connects_ends_the_run_at_once(self, two_nodes, tmp_path: Path) -> None:
        """Ray retries a refused connection for 20 s; the run's Ctrl-C handler only asked it to stop after a step, so
        Ctrl-C went unheard until Ray gave up, and SIGTERM met Ray's own handler (exit 15, no line). Now each ends the
        command there, with nothing to save."""
        address, env = two_nodes
        for sig, said in ((signal.SIGINT, "rnnplay: interrupted"), (signal.SIGTERM, "rnnplay: stopped by SIGTERM"),
                          (signal.SIGHUP, "rnnplay: stopped by SIGHUP")):
            run = subprocess.Popen([sys.executable, "-m", "rnnplay", "train", str(CORPUS), "--hidden", "8", "--steps",
                                    "1", "--ray-address", address, "--out", "m.npz"], cwd=tmp_path, text=True,
                                   env={**env, "RAY_AUTH_TOKEN": "0" * 64}, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE)
            try:
                for line in run.stderr:
                    if line.startswith("starting 1 worker on the Ray cluster"):
                        break
                run.send_signal(sig)
                out, rest = run.communicate(timeout=TIMEOUT)
            finally:
                run.kill()
            assert run.returncode == 128 + sig and rest.splitlines() == [said] and out == "", rest
            assert not (tmp_path / "m.npz").exists()


    @needs_corpus
    def test_a_killed_worker_is_restarted_and_the_run_ends_as_an_uninterrupted_one(self, two_nodes, reference_weights,
                                                                                  tmp_path: Path) -> None:
        """SIGKILL to one worker after the first step: Ray restarts it and retries the step, which holds no worker
        state, so the weights are an uninterrupted run's; the checkpoint then resumes in this process (N = 1). The
        node lives on, and the cluster is as it was for the test after."""
        address, env = two_nodes
        run = subprocess.Popen([sys.executable, "-m", "rnnplay", "train", str(CORPUS), *FLAGS, "--steps", "60",
                                "--workers", "2", "--ray-address", address, "--checkpoint-every", "1", "--out",
                                "m.npz"], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
        stderr: list[str] = []  # read by this thread alone (communicate() would close the pipe under it)
        reader = threading.Thread(target=lambda: stderr.extend(run.stderr), daemon=True)
        reader.start()
        try:
            wait_for(lambda: (tmp_path / "m.npz").exists(), "the first step's checkpoint", TIMEOUT)
            first = wait_for(lambda: len(found := shard_workers(os.getpid())) == 2 and found, "the workers", TIMEOUT)
            os.kill(min(first), signal.SIGKILL)
            restarted = wait_for(lambda: shard_workers(os.getpid()) - first, "a restarted worker", TIMEOUT)
            run.wait(timeout=TIMEOUT)
        finally:
            run.kill()
        reader.join(TIMEOUT)
        assert run.returncode == 0, "".join(stderr)
        assert restarted  # a new process took the killed worker's place
        assert load_model(tmp_path / "m.npz").training["step"] == 60
        assert_same_weights(load_model(tmp_path / "m.npz").model.params, reference_weights[60])
        r = rnnplay("train", str(CORPUS), "--resume", "m.npz", "--steps", "70", cwd=tmp_path, env=env)
        assert r.returncode == 0, r.stderr
        assert_same_weights(load_model(tmp_path / "m.npz").model.params, reference_weights[70])

    @needs_corpus
    def test_a_node_lost_mid_run_keeps_the_run_and_says_how_to_resume_it(self, two_nodes, tmp_path: Path) -> None:
        """SIGKILL to the second node's raylet: its worker dies with it and the head has no CPU to start it again. The
        run saves its last complete step and says so in one line; Ray's dump of the dead raylet's log (44 lines,
        printed by the driver on stdout) is not shown. The line said the cluster "has no room to start that worker
        again" when Ray's retries of the step ran out, which, with the head's health checks at Ray's defaults, they
        do before the head has declared the node dead: Ray had not tried to start the worker elsewhere. Now it says
        that Ray gave the step up first (docs/scaling.md)."""
        code, out, rest = lose_second_node(*two_nodes, tmp_path)
        assert_node_lost_line(code, out, rest, tmp_path)
        assert "has no room" not in rest.splitlines()[-1]


def lose_second_node(address: str, env: dict[str, str], tmp_path: Path, wait: float = LOST_NODE_WAIT
                     ) -> tuple[int, str, str]:
    """A run of ``--workers 2`` on the two-node cluster at ``address``, its second node's raylet killed with SIGKILL
    once steps have been made on both nodes; its exit code, stdout and stderr after that. The bound: the wait the run
    gives Ray to start the lost worker elsewhere (``wait``), then TIMEOUT for the rest."""
    run = subprocess.Popen([sys.executable, "-m", "rnnplay", "train", str(CORPUS), *FLAGS, "--steps", "100000",
                            "--workers", "2", "--ray-address", address, "--checkpoint-every", "0", "--out",
                            "m.npz"], cwd=tmp_path, env={**env, "RNNPLAY_LOST_NODE_WAIT_SECONDS": f"{wait:g}"},
                           text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for line in run.stderr:
            if line.startswith("step "):  # the progress line: steps have been made on both nodes
                break
        os.kill(raylet_of_second_node(address), signal.SIGKILL)
        out, rest = run.communicate(timeout=wait + TIMEOUT)
    finally:
        run.kill()
    return run.returncode, out, rest


def assert_node_lost_line(code: int, out: str, rest: str, tmp_path: Path) -> None:
    """Exit 1, nothing on stdout, and one last line: the node lost, the step saved, --resume to continue."""
    last = rest.splitlines()[-1]
    assert code == 1 and out == "", out[:500]
    assert last.startswith("rnnplay: error: the Ray cluster lost the node "), rest[-1000:]  # one node, by its IP
    assert last.endswith("continue with --resume m.npz (and --workers the cluster has room for)"), last
    assert "(raylet)" not in rest
    step = load_model(tmp_path / "m.npz").training["step"]
    assert step > 0 and f"the run up to step {step} is saved in m.npz" in last


@needs_corpus
@pytest.mark.usefixtures("numpy_maths")
def test_a_node_the_head_declares_dead_before_the_step_gives_up_ends_the_run_all_the_same(tmp_path: Path) -> None:
    """The run waited for ever (a CI run: TimeoutExpired) when the head declared the killed node dead before the
    step's retries had run out: Ray then started the lost worker again, the retry waited for that start, and the
    head had no CPU for it. Which comes first is a race of two of Ray's settings: the head's health checks
    (health_check_period_ms, health_check_failure_threshold) and the run's backoff between retries of a step whose
    worker does not answer (task_actor_unavailable_retry_delay_base_ms, ..._max_delay_ms, Ray's own settings of the
    process that submits the step). Here the head declares the node dead after two missed checks half a second
    apart, and the run's first retry waits 120 s: the head always comes first, on any host, however busy, and the
    run waits its wait for Ray ($RNNPLAY_LOST_NODE_WAIT_SECONDS: 10 s here, not the 60 of LOST_NODE_WAIT), then
    ends in its line, the run saved; no "training goes on" for the step."""
    fast = {"RAY_health_check_period_ms": "500", "RAY_health_check_failure_threshold": "2"}
    slow = {"RAY_task_actor_unavailable_retry_delay_base_ms": "120000",
            "RAY_task_actor_unavailable_retry_max_delay_ms": "120000"}
    with ray_cluster(**fast) as (address, env):
        code, out, rest = lose_second_node(address, {**env, **slow}, tmp_path, wait=10)
    assert_node_lost_line(code, out, rest, tmp_path)
    assert "did not start that worker again elsewhere within 10 s" in rest.splitlines()[-1]
    assert "returned after all" not in rest and "training goes on" not in rest, rest


# -- a worker killed mid-run (Ctrl-C with workers: tests/test_cli_train.py) ----------------------------------------
def shard_workers(driver: int) -> set[int]:
    """PIDs of the ``ray::ShardWorker`` processes below ``driver``: a run's, whose local Ray's raylet starts them, or
    this process's, whose cluster's nodes are its children."""
    return processes_below(driver, "ray::ShardWorker")


@needs_corpus
def test_a_local_rays_raylet_killed_mid_run_leaves_rnnplays_line_alone(tmp_path: Path) -> None:
    """SIGKILL to a local Ray's raylet mid-run: Ray's core in the driver printed lines of its own on stderr before the
    run's line (six "task_manager.cc:1545: Failed to push error to driver for task ...", one per retry of each
    worker's step), and a line that named Ray's logs said /tmp/ray whatever RAY_TMPDIR said. Now the run's line is
    alone on stderr and names the logs under RAY_TMPDIR, where the driver's log file still holds Ray's lines."""
    temp = tempfile.mkdtemp(prefix="rnp-", dir="/tmp")  # short: Ray's socket paths must fit in 107 bytes
    run = subprocess.Popen([sys.executable, "-m", "rnnplay", "train", str(CORPUS), *FLAGS, "--steps", "100000",
                            "--workers", "2", "--checkpoint-every", "0", "--out", "m.npz"], cwd=tmp_path,
                           env={**os.environ, "RAY_TMPDIR": temp}, text=True, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, start_new_session=True)
    try:
        for line in run.stderr:
            if line.startswith("each step on 2 workers"):
                break
        # the first step under way on the workers (compiling their kernels): the driver has put the weights into
        # Ray's store and waits for the answers. Killed while it used the store, Ray's core ends it without a word
        # (so the kernels stay on here: with the numpy maths the workers' steps were too short to kill it in one).
        workers = shard_workers(run.pid)
        idle = cpu_ticks(workers)
        wait_for(lambda: cpu_ticks(workers) > idle + 20, "the workers' first step", TIMEOUT)
        for raylet in processes_below(run.pid, "raylet/raylet"):
            os.kill(raylet, signal.SIGKILL)
        out, rest = run.communicate(timeout=TIMEOUT)
        logged = "".join(p.read_text() for p in Path(temp).glob("ray/session_*/logs/python-core-driver-*.log"))
    finally:
        run.kill()
        for pid in in_session(run.pid):
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(temp, ignore_errors=True)
    lines = rest.splitlines()
    assert run.returncode == 1 and out == "" and lines[-1].startswith("rnnplay: error: the Ray cluster lost "), rest
    assert f"(Ray's logs are in {temp}/ray/session_" in lines[-1], lines[-1]
    assert "task_manager.cc" not in rest and not [line for line in lines if line.startswith("[")], rest
    assert "task_manager.cc:" in logged  # Ray's lines kept where Ray keeps them


STAND_IN = """
import faulthandler, io, sys
from rnnplay.distributed.cluster import stderr_aside

class StandIn(io.StringIO):  # what Textual puts in sys.stderr while the app runs: no file descriptor
    def fileno(self):
        return -1

sys.stderr = stand_in = StandIn()
with stderr_aside():
    faulthandler.enable()  # what ray.init calls on sys.stderr
assert sys.stderr is stand_in
print("ok")
"""


def test_ray_can_connect_inside_the_app_whose_stderr_has_no_descriptor() -> None:
    """In the app, /train workers=2 failed with "file.fileno() is not a valid file descriptor" (Ray's faulthandler)."""
    r = subprocess.run([sys.executable, "-c", STAND_IN], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
