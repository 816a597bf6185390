"""`rnnplay train` as a user runs it: a real subprocess, real files."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from child_env import child_env
from file_limits import small_disk

from rnnplay.core.train_config import ModelSpec, TrainConfig
from rnnplay.corpora import Corpus
from rnnplay.models.bundled import load_model
from rnnplay.session.training_runs import new_run
from rnnplay.ui.cli.interrupts import Interrupts

pytestmark = pytest.mark.long_file  # run first (tests/conftest.py)


def numpy_path() -> dict[str, str]:
    """This test's environment on the numpy path: these tests are about the command, not numba's kernels (their own
    tests), and a child that imports numba takes twice the CPU of a tiny run's."""
    return {**os.environ, "RNNPLAY_JIT": "0"}


def rnnplay(*args: str, cwd: Path, env: dict[str, str] | None = None, **kw) -> subprocess.CompletedProcess:
    """``rnnplay ARGS`` in ``cwd``, on the numpy path unless ``env`` says otherwise."""
    return subprocess.run([sys.executable, "-m", "rnnplay", *args], cwd=cwd, capture_output=True, text=True,
                          env=numpy_path() if env is None else env, **kw)


SMALL = ["--layers", "1", "--hidden", "32", "--batch-size", "8", "--seq-length", "20"]


def test_train_prints_final_losses_last_and_writes_a_model(small_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.npz"
    r = rnnplay("train", str(small_file), *SMALL, "--steps", "25", "--out", str(out), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    last = r.stdout.strip().splitlines()[-1]
    assert last.startswith("final: train loss ") and "validation loss" in last and "nats/char" in last
    ckpt = load_model(out)
    assert ckpt.training["step"] == 25 and ckpt.meta["command"].startswith("rnnplay train")


def test_resume_continues_the_step_count(small_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.npz"
    rnnplay("train", str(small_file), *SMALL, "--steps", "10", "--out", str(out), cwd=tmp_path)
    r = rnnplay("train", str(small_file), "--resume", str(out), "--steps", "15", "--out", str(out), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert load_model(out).training["step"] == 15
    assert re.search(rf"^saved {re.escape(str(out))} at step 15, after 5 more steps in \S+$", r.stderr, re.M), r.stderr


def test_one_step_is_said_as_one_step(small_file: Path, tmp_path: Path) -> None:
    r = rnnplay("train", str(small_file), *SMALL, "--steps", "1", "--out", "one.npz", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert re.search(r"^saved one\.npz after 1 step in \S+$", r.stderr, re.M), r.stderr


def test_resume_writes_back_to_its_checkpoint_and_names_what_changed(small_file: Path, tmp_path: Path) -> None:
    rnnplay("train", str(small_file), *SMALL, "--steps", "10", "--out", "m.npz", cwd=tmp_path)
    r = rnnplay("train", str(small_file), "--resume", "m.npz", "--steps", "15", "--lr", "0.01", "--hidden", "32",
                cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "changed for this run: steps 10 -> 15, lr 0.004 -> 0.01" in r.stderr
    assert load_model(tmp_path / "m.npz").training["step"] == 15 and not (tmp_path / "model.npz").exists()
    r = rnnplay("train", str(small_file), "--resume", "m.npz", "--steps", "20", "--hidden", "64", cwd=tmp_path)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "hidden 64 (saved: 32)" in r.stderr


def test_a_resume_on_another_or_an_edited_text_is_refused_with_the_way_on(small_file: Path, tmp_path: Path) -> None:
    corpus = tmp_path / "notes.txt"
    corpus.write_text(small_file.read_text())
    rnnplay("train", "notes.txt", *SMALL, "--steps", "10", "--out", "m.npz", cwd=tmp_path)
    saved = (tmp_path / "m.npz").read_bytes()
    with corpus.open("a") as f:
        f.write("one more line\n")  # edited since: the same name, another text
    edited = rnnplay("train", "notes.txt", "--resume", "m.npz", "--steps", "15", cwd=tmp_path)
    assert edited.returncode == 1 and edited.stderr.count("\n") == 1, edited.stderr
    assert "notes.txt has changed since m.npz was trained on it" in edited.stderr
    assert edited.stderr.rstrip().endswith("with --init-from m.npz")
    (tmp_path / "other.txt").write_text(small_file.read_text()[::-1])
    other = rnnplay("train", "other.txt", "--resume", "m.npz", "--steps", "15", cwd=tmp_path)
    assert other.returncode == 1 and "m.npz was trained on a different text (notes.txt)" in other.stderr
    assert (tmp_path / "m.npz").read_bytes() == saved
    way_on = rnnplay("train", "notes.txt", "--init-from", "m.npz", "--steps", "5", "--out", "m2.npz", cwd=tmp_path)
    assert way_on.returncode == 0, way_on.stderr


def test_ctrl_c_saves_a_resumable_checkpoint(small_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.npz"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rnnplay",
            "train",
            str(small_file),
            *SMALL,
            "--steps",
            "100000",
            "--out",
            str(out),
            "--checkpoint-every",
            "0",
        ],
        cwd=tmp_path,
        env=numpy_path(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    for line in proc.stderr:  # wait until a training step has been made (the header line says "step 0")
        if re.search(r"\bstep [1-9]", line):
            break
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "continue with --resume" in err and "Traceback" not in err
    step = load_model(out).training["step"]
    assert 0 < step < 100000


def test_user_mistakes_are_one_line(tmp_path: Path) -> None:
    binary = tmp_path / "blob.bin"
    binary.write_bytes(bytes(range(256)) * 4)
    for args, words in [
        (["train", str(tmp_path / "nope.txt"), "--steps", "1"], "no such file"),
        (["train", str(binary), "--steps", "1"], "binary"),
        (["train", str(tmp_path / "nope.txt"), "--cell", "lstn"], "no such file"),
        (["train", str(binary), "--out", "m.npz", "--best", "./m.npz"], "a name of its own"),
    ]:
        r = rnnplay(*args, cwd=tmp_path)
        assert r.returncode == 1
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and words in lines[0] and "Traceback" not in r.stderr


def test_unknown_cell_is_suggested(small_file: Path, tmp_path: Path) -> None:
    r = rnnplay(
        "train", str(small_file), "--cell", "lstn", "--steps", "1", "--out", str(tmp_path / "x.npz"), cwd=tmp_path
    )
    assert r.returncode == 1 and "did you mean 'lstm'" in r.stderr


def test_same_seed_same_model_from_the_cli(small_file: Path, tmp_path: Path) -> None:
    for name in ("a", "b"):
        rnnplay(
            "train",
            str(small_file),
            *SMALL,
            "--steps",
            "5",
            "--dropout",
            "0",
            "--out",
            f"{name}.npz",
            cwd=tmp_path,
            # one BLAS thread for both: OpenBLAS rounds float32 products differently for each thread count, and
            # the default (auto) follows the machine's load (rnnplay.core.threads)
            env={**os.environ, "PYTHONHASHSEED": (name == "a" and "1") or "2", "RNNPLAY_THREADS": "1"},
        )
    a, b = load_model(tmp_path / "a.npz").model, load_model(tmp_path / "b.npz").model
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)


@pytest.mark.parametrize("flag", ["--out", "--best"])
def test_a_checkpoint_named_with_another_suffix_is_refused_before_the_corpus_loads(tmp_path: Path, flag: str) -> None:
    """`train --out x.txt` wrote a checkpoint (a zip file) named x.txt, where `/save x.txt` is refused; now it is
    refused too, in one line naming the .npz to give, before anything loads (the corpus is not even there)."""
    r = rnnplay("train", str(tmp_path / "nope.txt"), "--steps", "1", flag, "x.txt", cwd=tmp_path)
    assert (r.returncode, r.stderr) == (1, f"rnnplay: error: x.txt: a checkpoint is a .npz file, e.g. {flag} x.npz\n")
    assert list(tmp_path.iterdir()) == []


def test_a_name_without_a_suffix_gets_npz_which_resume_init_from_and_sample_find(small_file: Path,
                                                                                  tmp_path: Path) -> None:
    """`train --out m` wrote a file named m where `/save m` writes m.npz: now it is m.npz too, said where it saved,
    and `--resume m`, `--init-from m` and `rnnplay sample m` read it."""
    r = rnnplay("train", str(small_file), *SMALL, "--steps", "5", "--out", "m", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert re.search(r"^saved m\.npz after 5 steps in \S+$", r.stderr, re.M), r.stderr
    assert not (tmp_path / "m").exists() and load_model(tmp_path / "m.npz").training["step"] == 5
    r = rnnplay("train", str(small_file), "--resume", "m", "--steps", "8", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert re.search(r"^saved m\.npz at step 8, after 3 more steps in \S+$", r.stderr, re.M), r.stderr
    r = rnnplay("train", str(small_file), "--init-from", "m", "--steps", "2", "--out", "tuned", cwd=tmp_path)
    assert r.returncode == 0 and (tmp_path / "tuned.npz").is_file(), r.stderr
    r = rnnplay("sample", "m", "--length", "10", "--rng-seed", "1", cwd=tmp_path)
    assert r.returncode == 0 and len(r.stdout) >= 10, r.stderr
    r = rnnplay("export", "m", "small.txt", cwd=tmp_path)  # export names its copy by the same rule
    assert r.stderr == "rnnplay: error: small.txt: a checkpoint is a .npz file, e.g. rnnplay export m small.npz\n"
    assert rnnplay("export", "m", "small", cwd=tmp_path).returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["m.npz", "tuned.npz", "small.npz", small_file.name])


def test_best_keeps_the_lowest_validation_checkpoint(small_file: Path, tmp_path: Path) -> None:
    """A run whose validation loss goes up at the end: --best holds the earlier, better weights."""
    args = ["--steps", "45", "--val-every", "5", "--lr", "3e-2", "--lr-schedule", "constant", "--ema", "0",
            "--dropout", "0", "--best", "best.npz"]  # no averaging, no dropout: with either, the last is the best
    r = rnnplay("train", str(small_file), *SMALL, *args, "--out", "m.npz", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    final, best = load_model(tmp_path / "m.npz"), load_model(tmp_path / "best.npz")
    lowest, at = lowest_validation(final.training["history"])
    assert at < 45, "this run was chosen because its last validation is not its best"
    assert best.training["step"] == at and best.meta["history"]["val_loss"] == lowest
    assert best.model.evaluate(best.model.vocab.encode(small_file.read_text())) != final.model.evaluate(
        final.model.vocab.encode(small_file.read_text()))
    assert f"kept best.npz: the lowest validation loss, {lowest:.4f}" in r.stderr
    # Resuming with --best keeps comparing against the run's best so far.
    r = rnnplay("train", str(small_file), "--resume", "m.npz", "--steps", "50", "--best", "best.npz",
                "--out", "m.npz", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    _, at = lowest_validation(load_model(tmp_path / "m.npz").training["history"])
    assert load_model(tmp_path / "best.npz").training["step"] == at


def lowest_validation(history: dict) -> tuple[float, int]:
    """(the lowest validation loss, the step it was measured at)."""
    return min(zip(history["val_losses"], history["val_steps"], strict=True))


def test_ctrl_c_only_asks_to_stop_and_a_second_one_while_saving_waits(small_text: str, capfd) -> None:
    """Real SIGINTs to this process inside cmd_train's handler: a flag and a line each, never an exception."""
    trainer = new_run(Corpus("small", small_text, "test"), ModelSpec("rnn", 1, 8), TrainConfig(2, 8)).trainer
    previous = signal.getsignal(signal.SIGINT)
    try:
        with Interrupts(trainer, Path("m.npz")) as interrupts:
            os.kill(os.getpid(), signal.SIGINT)
            assert trainer.stopping
            with interrupts.writing(Path("m.npz")):
                os.kill(os.getpid(), signal.SIGINT)
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN  # the command is ending: no late death by signal
    finally:
        signal.signal(signal.SIGINT, previous)
    err = capfd.readouterr().err
    assert "Ctrl-C: stopping after this step, then saving m.npz" in err
    assert "Ctrl-C: still saving m.npz; waiting for the save to finish" in err
    assert interrupts.exit_code == 130


def test_ctrl_c_after_the_last_save_says_nothing(small_text: str, capfd) -> None:
    """Under Ray a second Ctrl-C, while the workers closed, said "still finishing this step; then m.npz is saved"
    after the run's own line "interrupted at step N: saved m.npz"."""
    trainer = new_run(Corpus("small", small_text, "test"), ModelSpec("rnn", 1, 8), TrainConfig(2, 8)).trainer
    previous = signal.getsignal(signal.SIGINT)
    try:
        with Interrupts(trainer, Path("m.npz")) as interrupts:
            os.kill(os.getpid(), signal.SIGINT)
            interrupts.done = True  # as TrainingLoop.finish sets it once the run is saved
            os.kill(os.getpid(), signal.SIGINT)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert capfd.readouterr().err.strip() == "Ctrl-C: stopping after this step, then saving m.npz"
    assert interrupts.exit_code == 130


@pytest.mark.parametrize("workers", ["1", "2"])  # 2: Ray's worker processes are in the foreground group too
def test_ctrl_c_in_a_real_terminal_stops_between_steps(small_file: Path, tmp_path: Path, workers: str) -> None:
    """Ctrl-C typed at a pseudo-terminal (the whole foreground group gets SIGINT) while the progress line redraws."""
    pexpect = pytest.importorskip("pexpect")
    child = pexpect.spawn(sys.executable, ["-m", "rnnplay", "train", str(small_file), *SMALL, "--steps", "1000000",
                                           "--workers", workers, "--out", "m.npz"], cwd=str(tmp_path),
                          encoding="utf-8", timeout=120, env={**os.environ, "RNNPLAY_JIT": "0", "COLUMNS": "120"})
    child.expect(r"step \d+ epoch")  # the progress line, redrawn in place
    child.sendcontrol("c")
    child.expect("Ctrl-C: stopping after this step, then saving m.npz")
    child.expect(r"interrupted at step (\d+): saved m.npz; continue with --resume m.npz")
    step = int(child.match.group(1))
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130 and "Traceback" not in child.before
    assert load_model(tmp_path / "m.npz").training["step"] == step


def with_files_of_at_most(limit: int, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``rnnplay ARGS`` where no file may grow past ``limit`` bytes (ulimit -f): a disk that fills up at that size."""
    import resource

    return rnnplay(*args, cwd=cwd, timeout=300,
                   preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)))


def test_a_plot_that_cannot_be_written_names_where_the_run_is_saved(tmp_path: Path) -> None:
    """The plot's error was the only line, even when the run had gone to a rescue copy; now the run's own comes
    first. Files of at most 25 kB: the checkpoint fits, the plot does not."""
    (tmp_path / "tiny.txt").write_text("ab ba aab\n" * 300)
    done = with_files_of_at_most(25_000, "train", "tiny.txt", "--steps", "3", "--hidden", "4", "--layers", "1",
                                 "--batch-size", "2", "--seq-length", "8", "--out", "t.npz", "--plot", "t.png",
                                 cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.splitlines()[-1] == ("rnnplay: error: cannot write t.png: File too large; pick another place; "
                                            "the run itself ended well, and its checkpoint is t.npz")
    assert load_model(tmp_path / "t.npz").training["step"] == 3
    exported = with_files_of_at_most(2_000, "export", "t.npz", "e.npz", cwd=tmp_path)  # it said no more than why
    assert exported.stderr == ("rnnplay: error: cannot write e.npz: File too large; free some space, or give another "
                               "output file\n")


def fill(disk: Path) -> None:
    """Take every byte left on ``disk`` with a file of zeros."""
    with (disk / "filler").open("wb", buffering=0) as f:
        while True:
            try:
                f.write(bytes(4096))
            except OSError:
                return


def test_a_disk_with_room_for_one_checkpoint_and_not_two_is_refused_when_a_save_replaces_one(
        small_file: Path, tmp_path: Path) -> None:
    """A save writes its new file beside the old one, then renames it: on a 2 MB disk and a 1.06 MB checkpoint the
    check counted one file, the first save went through and every later one went to the rescue folder (exit 1).
    A real tmpfs that takes this model's checkpoint once but not twice."""
    with small_disk(tmp_path / "disk", "256k") as disk:
        args = ["train", str(small_file), *SMALL, "--steps", "12", "--out", str(disk / "m.npz")]
        again = rnnplay(*args, "--checkpoint-every", "5", cwd=tmp_path)
        assert again.returncode == 1 and again.stderr.count("\n") == 1, again.stderr
        assert "a save writes the new file beside the one it replaces" in again.stderr
        assert "are free in" in again.stderr and not (disk / "m.npz").exists()  # refused before the first step
        once = rnnplay(*args, "--checkpoint-every", "0", cwd=tmp_path)  # saved once, at the end: it fits
        assert once.returncode == 0, once.stderr
        best = rnnplay(*args, "--checkpoint-every", "0", "--out", str(tmp_path / "m.npz"), "--best",
                       str(disk / "b.npz"), "--val-every", "2", cwd=tmp_path)  # each better validation replaces it
        assert best.returncode == 1 and "--best" in best.stderr and "beside the one" in best.stderr, best.stderr


def test_a_save_that_fails_later_says_the_file_at_out_is_stale(small_file: Path, tmp_path: Path) -> None:
    """A disk filled by another program after the run's first checkpoint: the warning and the last line said where
    the run went, not that --out still held an earlier step."""
    with small_disk(tmp_path / "disk", "600k") as disk:
        out = disk / "m.npz"
        proc = subprocess.Popen([sys.executable, "-m", "rnnplay", "train", str(small_file), *SMALL, "--steps",
                                 "1000000", "--checkpoint-every", "1", "--out", str(out)],
                                cwd=tmp_path, env=numpy_path(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        while not out.exists():
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        fill(disk)
        for line in proc.stderr:  # type: ignore[union-attr]
            if line.startswith(f"warning: cannot write {out}"):  # not a note on memory before the first step
                break
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        step = load_model(out).training["step"]
        assert f"({out} is stale: it holds step {step})" in line, line
        assert proc.returncode == 130 and f"({out} is stale: it holds step {step}); the run went to " in err, err


def test_a_resume_whose_time_budget_is_spent_is_refused_and_its_file_left_as_it_was(small_file: Path,
                                                                                     tmp_path: Path) -> None:
    """`--resume m.npz --time 1` of a run that trained 2 s said "saved m.npz after N steps in 0s", rewrote the file
    without a step and exited 0, where a spent --steps is one line and exit 1. (The first run's budget leaves room for
    a step on a loaded machine: a --time that holds none is refused, and 2 s held none beside other work.)"""
    kernels = dict(os.environ)  # as a user runs it: on the numpy path the resume at --time 8 finds no step fits instead
    first = rnnplay("train", str(small_file), *SMALL, "--time", "8", "--out", "m.npz", cwd=tmp_path, env=kernels)
    assert first.returncode == 0, first.stderr
    saved, info = (tmp_path / "m.npz").read_bytes(), (tmp_path / "m.npz").stat()
    step, seconds = load_model(tmp_path / "m.npz").training["step"], load_model(tmp_path / "m.npz").training["seconds"]
    slow = tmp_path / "slow-start"  # a start-up of a second and more, whatever the machine
    slow.mkdir()
    (slow / "sitecustomize.py").write_text("import time\ntime.sleep(1.0)\n")
    late = child_env(slow, base=kernels)
    # less than it trained; as much as it trained, less its final validation; half a second more than it trained,
    # which the resume's own start-up spends (the budget counts the command's seconds): that said "no training step
    # fitted in the --time budget" and named a budget to give, as if the run had made no step at all
    for budget, env in (("1", kernels), ("8", kernels), (f"{seconds + 0.5:.1f}", late)):
        r = rnnplay("train", str(small_file), "--resume", "m.npz", "--time", budget, cwd=tmp_path, env=env)
        refused = env is kernels  # before the run: one line; else after the run's first lines
        assert r.returncode == 1 and (r.stderr.count("\n") == 1 or not refused), r.stderr
        said = r.stderr.splitlines()[-1]
        assert said.startswith(f"rnnplay: error: m.npz has trained for {seconds:.1f} s (to step {step}), so its "
                               f"budget (--time {budget}") and "give a larger --time" in said, r.stderr
    assert (tmp_path / "m.npz").read_bytes() == saved and (tmp_path / "m.npz").stat().st_mtime_ns == info.st_mtime_ns


def test_train_on_a_folder_says_how_many_binary_files_it_skipped(small_file: Path, tmp_path: Path) -> None:
    """As `corpus show` does (docs/corpora.md); it said only "on d1: 9,303 chars"."""
    folder = tmp_path / "d1"
    folder.mkdir()
    (folder / "a.txt").write_text(small_file.read_text())
    (folder / "b.bin").write_bytes(b"\x00\x01binary" * 100)
    r = rnnplay("train", "dir:d1", *SMALL, "--steps", "1", "--out", "m.npz", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert re.search(r"^training: .* on d1 \(1 binary file skipped\): [\d,]+ chars, ", r.stderr, re.M), r.stderr


# the child holds its first periodic save (TrainingLoop.checkpoint's) open until the test says "go" and its --time
# budget is spent: a Ctrl-C lands in that save, and the budget runs out while it is written (a budget that
# holds a start-up on a loaded machine)
HOLD_CHECKPOINT = """\
import os, sys, time
from pathlib import Path

marks = Path(os.environ["HOLD_MARKS"])


def saving_trainer():
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_name == "checkpoint" and "run_" in getattr(frame.f_locals.get("self"), "__dict__", {}):
            return frame.f_locals["self"].run_.trainer
        frame = frame.f_back
    return None


def hold(event, args):
    if event != "open" or not str(args[0]).endswith(".tmp") or (marks / "saving").exists():
        return
    trainer = saving_trainer()
    if trainer is None:
        return
    (marks / "saving").touch()
    while not (marks / "go").exists() or trainer._spent() < trainer.config.seconds:
        time.sleep(0.01)


sys.addaudithook(hold)
"""


def test_ctrl_c_in_a_save_as_the_time_runs_out_names_the_spent_budget(small_file: Path, tmp_path: Path) -> None:
    """Ctrl-C during a checkpoint's save, as a --time budget runs out: the run ends as stopped, and its line said
    "continue with --resume m.npz", which is refused (the time saved is the budget's). The line now says the file
    is saved and the budget spent, and the larger --time it names resumes it."""
    marks, site = tmp_path / "marks", tmp_path / "hold"
    marks.mkdir()
    site.mkdir()
    (site / "sitecustomize.py").write_text(HOLD_CHECKPOINT)
    proc = subprocess.Popen([sys.executable, "-m", "rnnplay", "train", str(small_file), *SMALL, "--time", "20",
                             "--checkpoint-every", "1", "--out", "m.npz"], cwd=tmp_path, stderr=subprocess.PIPE,
                            text=True, env=child_env(site, base=numpy_path(), HOLD_MARKS=str(marks)))
    try:
        while not (marks / "saving").exists():
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        for line in proc.stderr:  # type: ignore[union-attr]
            if "still saving" in line:  # the handler ran in the save
                break
        (marks / "go").touch()
        err = proc.communicate(timeout=120)[1]
    finally:
        proc.kill()
    step = load_model(tmp_path / "m.npz").training["step"]
    assert proc.returncode == 130 and err.splitlines()[-1] == (
        f"interrupted at step {step}: saved m.npz; its budget (--time 20) is spent: to train on, --resume m.npz with a "
        "larger --time"), err
    same = rnnplay("train", str(small_file), "--resume", "m.npz", "--time", "20", cwd=tmp_path)
    assert same.returncode == 1 and "give a larger --time" in same.stderr, same.stderr
    larger = rnnplay("train", str(small_file), "--resume", "m.npz", "--time", "600", "--steps", str(step + 2),
                     cwd=tmp_path)  # a larger --time, and a step budget that ends the run first
    assert larger.returncode == 0 and load_model(tmp_path / "m.npz").training["step"] > step, larger.stderr
