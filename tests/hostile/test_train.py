"""Hostile table: `rnnplay train` under bad flags, bad output paths, bad resume files and faults.

Each row is one command and how it must end: the exit code, one `rnnplay: …` line
naming what is wrong (no traceback), nothing created or changed in the sandbox
outside the place the row allows, and a bounded run time. Rows run in process
through ``rnnplay.ui.cli.main`` (the same code the command runs, without a start-up
each); rows that need a second process, a lock held elsewhere or a limit set on the
process run it for real. Faults that need a script of their own (a folder that
vanishes mid-run, a file-size limit, two trainings at once) follow the table.
"""

from __future__ import annotations

import json
import math
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from rnnplay.core.train_config import ModelSpec, TrainConfig
from rnnplay.corpora import load_corpus
from rnnplay.models.bundled import load_model, save_model
from rnnplay.session.output_paths import OutputLock
from rnnplay.session.training_runs import TrainingRun, new_run

from .harness import Outcome, Sandbox, assert_nothing_outside, assert_one_line_error

LINE = "To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer.\n"
CORPUS = "".join(LINE[i:] + LINE[:i] for i in range(0, 80, 7)) * 2
TINY = ["--cell", "rnn", "--layers", "1", "--hidden", "8", "--batch-size", "2", "--seq-length", "8"]
TRAIN = ["train", "small.txt", *TINY, "--steps", "2"]  # flags given after these win (argparse: the last one)
RESUME = ["train", "small.txt", "--resume", "m.npz"]  # m.npz: a resumable checkpoint at step 3 of --steps 3
Make = Callable[[Path], None]


@dataclass
class Row:
    args: list[str]
    mentions: tuple[str, ...] = ()
    code: int = 1
    make: Make | None = None  # prepares the sandbox's work folder
    allowed: tuple[str, ...] = ()  # sandbox paths the command may create or change
    said: str = ""  # for rows that succeed: a phrase stderr must hold
    subprocess: bool = False
    timeout: float = 30


def folder(name: str) -> Make:
    return lambda work: (work / name).mkdir()


def text_file(name: str, text: str = "my notes\n") -> Make:
    return lambda work: (work / name).write_text(text)


def fifo(name: str) -> Make:
    return lambda work: os.mkfifo(work / name)


def edit_meta(change: Callable[[dict], None]) -> Make:
    """m.npz with its metadata changed by ``change`` (the arrays kept as they are)."""
    return lambda work: rewrite(work / "m.npz", meta=change)


def edit_array(key: str, change: Callable[[np.ndarray], np.ndarray]) -> Make:
    return lambda work: rewrite(work / "m.npz", arrays={key: change})


def rewrite(path: Path, meta: Callable[[dict], None] | None = None,
            arrays: dict[str, Callable[[np.ndarray], np.ndarray]] | None = None) -> None:
    with np.load(path, allow_pickle=False) as npz:
        content = {k: npz[k] for k in npz.files}
    data = json.loads(str(content["__meta__"]))
    if meta is not None:
        meta(data)
    content["__meta__"] = np.array(json.dumps(data))
    for key, change in (arrays or {}).items():
        content[key] = change(content[key])
    with path.open("wb") as f:
        np.savez(f, **content)


def training(**changes: object) -> Callable[[dict], None]:
    return lambda meta: meta["training"].update(changes)


def config(**changes: object) -> Callable[[dict], None]:
    return lambda meta: meta["training"]["config"].update(changes)


def weights_only(work: Path) -> None:
    save_model(work / "m.npz", load_model(work / "m.npz").model)


def stale_lock(work: Path) -> None:
    (work / "m.npz.lock").write_text("999999999\n")  # no such process


def bad(*args: str, mentions: str | tuple[str, ...], **kw: object) -> Row:
    return Row([*TRAIN, *args], (mentions,) if isinstance(mentions, str) else mentions, **kw)


def bad_resume(*args: str, mentions: str | tuple[str, ...], make: Make | None = None, **kw: object) -> Row:
    return Row([*RESUME, *args], (mentions,) if isinstance(mentions, str) else mentions, make=make, **kw)


def bad_values(flag: str, mentions: str, **values: str) -> list[object]:
    """A row for each bad value of ``flag``, named by its key: ``zero="0"`` is the row ``lr-zero`` for --lr."""
    return [pytest.param(bad(flag, value, mentions=mentions), id=f"{flag[2:]}-{key.replace('_', '-')}")
            for key, value in values.items()]


ROWS = [
    # budgets: finite, positive
    *bad_values("--steps", "steps", negative="-5", zero="0"),
    *bad_values("--time", "time", negative="-5", nan="nan", inf="inf"),
    *[pytest.param(bad("--time", value, mentions=("time", "10m", "1.5h"), code=2), id=f"time-{key}")
      for key, value in (("unknown-unit", "10x"), ("negative-minutes", "-1m"), ("nan-minutes", "nanm"),
                         ("seconds-past-a-float", "1e400s"))],
    *bad_values("--epochs", "epochs", negative="-1", nan="nan", zero="0"),
    # optimisation
    *bad_values("--lr", "learning rate", nan="nan", inf="inf", zero="0", negative="-0.1", negative_exponent="-1e-3"),
    *bad_values("--clip", "clip", negative="-1", nan="nan", inf="inf"),
    pytest.param(bad("--clip-mode", "value", "--clip", "-1", mentions="clip"), id="clip-value-negative"),
    *bad_values("--lr-decay", "lr decay", negative="-1", zero="0", growing="2", nan="nan"),
    pytest.param(bad("--lr-decay-every", "-1", mentions="lr decay every"), id="lr-decay-every-negative"),
    pytest.param(bad("--val-every", "-1", mentions="val every"), id="val-every-negative"),
    pytest.param(bad("--sample-every", "-1", mentions="sample every"), id="sample-every-negative"),
    pytest.param(bad("--sample-length", "100000000", mentions=("sample length", "[1, 10000]")),
                 id="sample-length-that-would-not-stop"),  # a sample is written between two steps, whole
    pytest.param(bad("--checkpoint-every", "-1", mentions="checkpoint every"), id="checkpoint-every-negative"),
    *bad_values("--batch-size", "batch size", zero="0", negative="-3"),
    pytest.param(bad("--seq-length", "0", mentions="sequence length"), id="seq-length-zero"),
    pytest.param(bad("--seed", "-1", mentions="seed"), id="seed-negative"),
    pytest.param(bad("--batch-size", "100000", mentions="too short"), id="batch-size-beyond-the-text"),
    pytest.param(bad("--seq-length", "100000", mentions="too short"), id="seq-length-beyond-the-text"),
    # the model: checked against the loader's limits before anything is allocated
    *bad_values("--dropout", "dropout", above_one="1.5", one="1", negative="-0.1", nan="nan"),
    *bad_values("--hidden", "hidden size", a_billion="1000000000", zero="0"),
    *bad_values("--layers", "layers", beyond_what_loads="65", zero="0"),
    pytest.param(bad("--hidden", "8192", "--layers", "64", mentions="parameters"), id="too-many-parameters"),
    pytest.param(bad("--cell", "lstn", mentions="did you mean 'lstm'"), id="cell-misspelt"),
    # output paths: checked before the first step, nothing left behind
    pytest.param(bad("--out", "", mentions="not a file name"), id="out-empty"),
    pytest.param(bad("--out", "a\0b.npz", mentions="not a file name"), id="out-with-nul"),
    pytest.param(bad("--out", "sub/", mentions="folder", make=folder("sub")), id="out-a-folder-with-slash"),
    pytest.param(bad("--out", "sub", mentions="folder", make=folder("sub")), id="out-an-existing-folder"),
    pytest.param(bad("--out", "nowhere/", mentions="folder"), id="out-a-missing-folder-with-slash"),
    pytest.param(bad("--out", "small.txt/m.npz", mentions="is a file"), id="out-inside-a-file"),
    pytest.param(bad("--out", "/proc/rnnplay/m.npz", mentions="cannot write"), id="out-where-nobody-writes"),
    pytest.param(bad("--out", "small.txt", mentions="is the corpus this run reads"), id="out-is-the-corpus"),
    pytest.param(bad("--out", "~no-such-user-here/m.npz", mentions="no such user"), id="out-home-of-no-user"),
    pytest.param(bad("--out", "n" * 300 + ".npz", mentions="cannot write"), id="out-name-too-long"),
    pytest.param(bad("--best", "/proc/rnnplay/best.npz", mentions="cannot write"), id="best-where-nobody-writes"),
    pytest.param(bad("--out", "notes.npz", mentions="will not overwrite", make=text_file("notes.npz")),
                 id="out-would-overwrite-notes"),
    pytest.param(bad("--out", "notes.md", mentions="a checkpoint is a .npz file", make=text_file("notes.md")),
                 id="out-another-suffix-notes-kept"),
    pytest.param(bad("--out", "pipe.npz", mentions="not a regular file", make=fifo("pipe.npz")), id="out-a-fifo"),
    pytest.param(bad("--best", "", mentions="not a file name"), id="best-empty"),
    pytest.param(bad("--best", "./small.txt", mentions="is the corpus this run reads"), id="best-is-the-corpus"),
    pytest.param(bad("--out", "m.npz", "--best", "./m.npz", mentions="a name of its own"), id="best-is-out"),
    pytest.param(bad("--best", "sub", mentions="folder", make=folder("sub")), id="best-a-folder"),
    pytest.param(bad("--best", "small.txt/b.npz", mentions="is a file"), id="best-inside-a-file"),
    pytest.param(bad("--best", "notes.npz", mentions="will not overwrite", make=text_file("notes.npz")),
                 id="best-would-overwrite-notes"),
    pytest.param(bad("--val-fraction", "0", "--best", "b.npz", mentions=("--best", "--val-fraction 0 holds no text")),
                 id="best-with-nothing-held-out-to-validate"),  # it trained, and never wrote b.npz nor said so
    pytest.param(bad_resume("--steps", "5", "--best", "b.npz", mentions=("--best", "--val-fraction 0 holds no text"),
                            make=edit_meta(config(val_fraction=0.0))), id="resume-best-with-nothing-held-out"),
    pytest.param(bad("--plot", "loss.txt", mentions=".png or .svg"), id="plot-not-an-image-name"),
    pytest.param(bad("--plot", "", mentions="not a file name"), id="plot-empty"),
    pytest.param(bad("--best", "x.png", "--plot", "x.png", mentions="a checkpoint is a .npz file"),
                 id="plot-is-best"),  # a checkpoint's name is a .npz now, a plot's a .png or .svg: never the same
    pytest.param(bad("--plot", "small.txt/loss.png", mentions="is a file"), id="plot-inside-a-file"),
    pytest.param(bad("--plot", "shots.png", mentions="folder", make=folder("shots.png")), id="plot-a-folder"),
    pytest.param(bad("--plot", "/proc/rnnplay/loss.svg", mentions="cannot write"), id="plot-where-nobody-writes"),
    pytest.param(bad("--plot", "notes.png", mentions="not a .png plot", make=text_file("notes.png")),
                 id="plot-would-overwrite-notes"),
    pytest.param(Row(["train", "text.svg", *TINY, "--steps", "2", "--plot", "text.svg"], ("not a .svg plot",),
                     make=text_file("text.svg", CORPUS)), id="plot-is-the-corpus"),
    pytest.param(bad_resume("--out", "o.npz", "--plot", "m.png", mentions="not a .png plot",
                            make=lambda work: (work / "m.png").write_bytes((work / "m.npz").read_bytes())),
                 id="plot-is-the-resumed-checkpoint"),
    pytest.param(bad("--out", "no\nwhere/", mentions=("no\\nwhere/", "folder")), id="out-with-a-newline-one-line"),
    # resume files: every part of the training state checked; the file itself never touched
    pytest.param(bad_resume(mentions="weights-only", make=weights_only), id="resume-weights-only"),
    pytest.param(bad_resume(mentions="batch size", make=edit_meta(config(batch_size="4"))),
                 id="resume-batch-size-a-string"),
    pytest.param(bad_resume(mentions="sequence length", make=edit_meta(config(seq_length=2.5))),
                 id="resume-seq-length-a-fraction"),
    pytest.param(bad_resume(mentions="learning rate", make=edit_meta(config(lr=math.nan))), id="resume-lr-nan"),
    pytest.param(bad_resume(mentions="steps", make=edit_meta(config(steps=-5))), id="resume-budget-negative"),
    pytest.param(bad_resume(mentions="clip mode", make=edit_meta(config(clip_mode="sideways"))),
                 id="resume-clip-mode-unknown"),
    pytest.param(bad_resume(mentions="unknown optimizer", make=edit_meta(config(optimizer="lbfgs"))),
                 id="resume-optimizer-unknown"),
    pytest.param(bad_resume(mentions="val fraction", make=edit_meta(config(val_fraction=1.5))),
                 id="resume-val-fraction-beyond-one"),
    pytest.param(bad_resume(mentions="incomplete", make=edit_meta(training(history="long ago"))),
                 id="resume-history-not-a-table"),
    pytest.param(bad_resume(mentions="weights-only", make=edit_meta(lambda m: m.update(training=[]))),
                 id="resume-training-not-a-table"),
    pytest.param(bad_resume(mentions="unreadable", make=edit_meta(config(warp_speed=9))),
                 id="resume-config-unknown-setting"),
    pytest.param(bad_resume(mentions="unreadable", make=edit_meta(training(config=[1, 2]))),
                 id="resume-config-not-a-table"),
    pytest.param(bad_resume(mentions="corpus", make=edit_meta(lambda m: m.update(corpus="x"))),
                 id="resume-corpus-a-string"),
    pytest.param(bad_resume(mentions="step", make=edit_meta(training(step=-1))), id="resume-step-negative"),
    pytest.param(bad_resume(mentions="optimizer step", make=edit_meta(training(optimizer_t=99))),
                 id="resume-optimizer-ahead-of-the-step"),
    pytest.param(bad_resume(mentions="seconds trained", make=edit_meta(training(seconds=-3.0))),
                 id="resume-seconds-negative"),
    pytest.param(bad_resume(mentions="seconds trained", make=edit_meta(training(seconds="an hour"))),
                 id="resume-seconds-a-string"),
    pytest.param(bad_resume(mentions="history", make=edit_meta(training(history={"steps": ["a"], "losses": [1.0],
                                                                                  "val_steps": [], "val_losses": []}))),
                 id="resume-history-garbage"),
    pytest.param(bad_resume(mentions="incomplete", make=edit_meta(training(rng={"bit_generator": "MT19937"}))),
                 id="resume-rng-of-another-kind"),
    pytest.param(bad_resume(mentions="position", make=edit_meta(training(data={"epoch": 0, "position": 10**9}))),
                 id="resume-data-position-beyond-the-text"),
    pytest.param(bad_resume(mentions="incomplete", make=edit_meta(lambda m: m["training"]["rng"]["state"].update(
        state=-1))), id="resume-rng-state-negative"),
    pytest.param(bad_resume(mentions="incomplete", make=edit_meta(lambda m: m["training"]["rng"]["state"].update(
        inc=10**60))), id="resume-rng-state-beyond-64-bits"),
    pytest.param(bad_resume(mentions="carried state", make=edit_array("state/0/0", lambda a: a * np.nan)),
                 id="resume-carried-state-nan"),
    pytest.param(bad_resume(mentions="optimizer state", make=edit_array("opt/v/head.b_y", lambda a: a - 1.0)),
                 id="resume-negative-squares"),
    pytest.param(bad_resume("--hidden", "64", "--layers", "3", "--cell", "lstm", "--batch-size", "8",
                            mentions=("fixed by the checkpoint", "hidden 64", "layers 3", "cell lstm", "batch_size 8")),
                 id="resume-with-another-shape"),
    pytest.param(bad_resume("--optimizer", "sgd", mentions="optimizer sgd"), id="resume-with-another-optimizer"),
    pytest.param(bad_resume("--seed", "5", mentions="seed 5"), id="resume-with-another-seed"),
    pytest.param(bad_resume("--steps", "2", mentions="budget"), id="resume-budget-already-spent"),
    pytest.param(bad_resume(mentions="budget"), id="resume-a-finished-run"),
    pytest.param(Row(["train", "other.txt", "--resume", "m.npz"], ("different text",),
                     make=text_file("other.txt", CORPUS.upper())), id="resume-on-another-text"),
    pytest.param(Row(["train", "small.txt", "--resume", "gone.npz"], ("no such file",)), id="resume-missing-file"),
    pytest.param(Row(["train", "small.txt", "--resume", "sub"], ("--resume", "folder"), make=folder("sub")),
                 id="resume-a-folder"),
    pytest.param(bad_resume("--lr", "nan", mentions="learning rate"), id="resume-with-lr-nan"),
    pytest.param(Row(["train", "small.txt", "--resume", "small.txt"], ("small.txt", "not a usable rnnplay checkpoint")),
                 id="resume-the-corpus"),
    pytest.param(Row(["train", "small.txt", *TINY, "--time", "1e-9", "--out", "m.npz"],
                     ("no training step fitted", "--time", "m.npz is as it was")), id="time-too-short-for-a-step"),
    pytest.param(Row(["train", "small.txt", *TINY, "--time", "1e-9", "--out", "new.npz"],
                     ("no training step fitted", "nothing saved")), id="time-too-short-for-a-step-new-out"),
    # faults while training
    pytest.param(bad("--optimizer", "sgd", "--lr", "1e300", "--steps", "20", mentions="diverged",
                     allowed=("work/model.npz",)), id="loss-goes-non-finite"),
    pytest.param(bad("--out", "m.npz", mentions=("another training", str(os.getpid())), subprocess=True),
                 id="out-locked-by-a-live-process"),
    pytest.param(bad("--best", "m.npz", mentions=("another training", str(os.getpid()), "choose another --best"),
                     subprocess=True), id="best-locked-by-a-live-process"),  # its run's checkpoint, not replaced
    # handled as they should be (exit 0)
    pytest.param(Row([*TRAIN, "--out", "m.npz"], code=0, make=stale_lock, allowed=("work/m.npz",),
                     said="saved m.npz"), id="stale-lock-taken-over"),
    pytest.param(Row([*TRAIN, "--out", "new/deeper/m.npz"], code=0, allowed=("work/new/",)),
                 id="missing-out-folders-created"),
    pytest.param(Row([*TRAIN, "--clip", "0", "--out", "m.npz"], code=0, allowed=("work/m.npz",)),
                 id="clip-zero-is-no-clipping"),
    pytest.param(Row([*RESUME, "--steps", "5", "--lr", "0.01"], code=0, allowed=("work/m.npz",),
                     said="changed for this run: steps 3 -> 5, lr 0.004 -> 0.01"), id="resume-changes-are-named"),
    pytest.param(Row([*TRAIN, "--save-dtype", "float16", "--out", "m.npz"], code=0, allowed=("work/m.npz",),
                     said="not exactly where"), id="save-dtype-float16-says-resume-is-not-exact"),
]


@pytest.fixture(scope="module")
def resumable(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint of a tiny run on CORPUS at step 3 of --steps 3, as `rnnplay train` saves it."""
    path = tmp_path_factory.mktemp("resumable") / "small.txt"
    path.write_text(CORPUS)
    run = new_run(load_corpus(str(path)), ModelSpec("rnn", 1, 8), TrainConfig(batch_size=2, seq_length=8, steps=3))
    list(run.trainer.run())
    return run.save(path.with_name("m.npz"))


@pytest.mark.parametrize("row", ROWS)
def test_hostile_train(row: Row, sandbox: Sandbox, resumable: Path, capsys: pytest.CaptureFixture[str],
                       monkeypatch: pytest.MonkeyPatch) -> None:
    (sandbox.work / "small.txt").write_text(CORPUS)
    (sandbox.work / "m.npz").write_bytes(resumable.read_bytes())
    if row.make is not None:
        row.make(sandbox.work)
    before = sandbox.snapshot()
    if row.subprocess:
        with OutputLock(sandbox.work / "m.npz"):  # held by this process, alive
            out = sandbox.run(row.args, timeout=row.timeout)
    else:
        out = sandbox.run_in_process(row.args, capsys, monkeypatch)
    if row.code == 0:
        assert out.code == 0 and "Traceback" not in out.stderr, out.stderr[-2000:]
        assert row.said in out.stderr, out.stderr
    else:
        assert_one_line_error(out, mentions=row.mentions, code=row.code)
    assert out.seconds < row.timeout
    assert_nothing_outside(before, sandbox.snapshot(), allowed=row.allowed or ("\0",))
    assert not list(sandbox.work.rglob("*.lock")), "a lock file was left behind"
    for written in sandbox.work.rglob("model.npz"):  # what a failing run saved holds finite weights
        assert all(np.isfinite(v).all() for v in load_model(written).model.params.values())


# -- faults that need a script of their own ------------------------------------------------------------------------
def start_train(sandbox: Sandbox, args: list[str], **kw: object) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "rnnplay", "train", "small.txt", *TINY, *args], cwd=sandbox.work,
                            env=sandbox.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def wait_for_line(proc: subprocess.Popen, starts: tuple[str, ...]) -> list[str]:
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if line.startswith(starts):
            return lines
    pytest.fail(f"the run ended before printing {starts}: {''.join(lines)}")


def test_a_second_training_on_the_same_out_refuses(sandbox: Sandbox) -> None:
    (sandbox.work / "small.txt").write_text(CORPUS)
    first = start_train(sandbox, ["--steps", "1000000", "--checkpoint-every", "0", "--out", "m.npz"])
    try:
        wait_for_line(first, ("training:",))
        second = sandbox.run(["train", "small.txt", *TINY, "--steps", "5", "--out", "m.npz"], timeout=60)
        assert_one_line_error(second, mentions=("another training", f"PID {first.pid}"))
        first.send_signal(signal.SIGINT)
        _, err = first.communicate(timeout=60)
        assert first.returncode == 130 and "continue with --resume m.npz" in err, err
    finally:
        first.kill()
        first.wait()
    assert load_model(sandbox.work / "m.npz").training["step"] > 0
    assert not (sandbox.work / "m.npz.lock").exists()


def test_a_save_that_fails_mid_run_goes_to_a_rescue_copy(sandbox: Sandbox) -> None:
    """The --out folder is replaced by a file mid-run: the run goes on, its checkpoints go to the data folder."""
    (sandbox.work / "small.txt").write_text(CORPUS)
    out = sandbox.work / "runs" / "m.npz"
    proc = start_train(sandbox, ["--steps", "1000000", "--checkpoint-every", "50", "--out", "runs/m.npz"])
    try:
        wait_for_line(proc, ("training:",))
        while not out.exists():
            time.sleep(0.05)
        # right after the first checkpoint (the next is 50 steps away): the folder moves, a file takes its place
        out.parent.rename(sandbox.work / "runs-moved")
        out.parent.write_text("not a folder any more\n")
        wait_for_line(proc, ("warning: cannot write",))
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    rescued = list((sandbox.root / "data" / "rnnplay" / "rescued").glob("m-*.npz"))
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert len(rescued) == 1, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("interrupted at step") and f"continue with --resume {rescued[0]}" in last, last
    assert load_model(rescued[0]).training["step"] > 0


def test_a_file_size_limit_keeps_the_last_good_checkpoint(sandbox: Sandbox) -> None:
    """Under `ulimit -f`, neither --out nor the rescue copy can be written: one line, and the old file stays."""
    (sandbox.work / "small.txt").write_text(CORPUS)
    old = sandbox.work / "m.npz"
    old.write_bytes(b"")  # an empty file may be replaced
    limit = 2000  # bytes: smaller than any checkpoint

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    proc = start_train(sandbox, ["--steps", "3", "--out", "m.npz"], preexec_fn=small_files)
    _, err = proc.communicate(timeout=60)
    out = Outcome(proc.returncode, "", err, 0.0)
    assert_one_line_error(out, mentions=("cannot write m.npz", "the rescue copy failed too", "nothing was saved"))
    assert old.read_bytes() == b""
    assert sorted(p.name for p in sandbox.work.iterdir()) == ["m.npz", "small.txt"]  # no .tmp, no lock


def test_a_step_too_big_for_memory_is_one_line(sandbox: Sandbox) -> None:
    """With the address space capped at 2 GB, a (512 x 2000) step of a 2048-unit LSTM cannot allocate its arrays, even
    with its chunks one by one (a 256-unit one can, and now trains). What it maps, 3 GB, is weighed against what the
    limit leaves before the model is built: the step used to run out of room, and in about one run in ten under load
    it was OpenBLAS that found no room and ended the process."""
    words = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "and", "then", "some", "more"]
    (sandbox.work / "small.txt").write_text(" ".join(words[i * 7 % len(words)] for i in range(250_000)))
    cap = 2 << 30

    def capped() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    before = sandbox.snapshot()
    proc = subprocess.run([sys.executable, "-m", "rnnplay", "train", "small.txt", "--cell", "lstm", "--layers", "1",
                           "--hidden", "2048", "--batch-size", "512", "--seq-length", "2000", "--steps", "2"],
                          cwd=sandbox.work, env={**sandbox.env, "OPENBLAS_NUM_THREADS": "1", "RNNPLAY_THREADS": "1"},
                          capture_output=True, text=True, timeout=120, preexec_fn=capped)
    out = Outcome(proc.returncode, proc.stdout, proc.stderr, 0.0)
    assert_one_line_error(out, mentions=("out of memory", "512 streams x 2,000 characters", "smaller --batch-size",
                                         "ulimit -v", "nothing was saved"))
    assert "training:" not in out.stderr  # refused before the model and its arrays were made
    assert_nothing_outside(before, sandbox.snapshot())


def test_a_resumed_step_too_big_for_memory_advises_what_a_resume_can_change(
        sandbox: Sandbox, resumable: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """--resume keeps the checkpoint's batch and sequence length, so the advice is a new run from its weights.
    The step's MemoryError is raised on purpose: the test is of what is said, the 2 GB cap above of the real thing."""
    (sandbox.work / "small.txt").write_text(CORPUS)
    (sandbox.work / "m.npz").write_bytes(resumable.read_bytes())

    def no_memory(self: object) -> None:
        raise MemoryError

    monkeypatch.setattr("rnnplay.core.trainer.Trainer.train_step", no_memory)
    out = sandbox.run_in_process([*RESUME, "--steps", "5"], capsys, monkeypatch)
    assert_one_line_error(out, mentions=("out of memory", "a resumed run keeps its batch", "--init-from m.npz",
                                         "no step was made"))
    assert (sandbox.work / "m.npz").read_bytes() == resumable.read_bytes()


def test_a_validation_too_big_for_memory_says_so_and_keeps_the_run(
        sandbox: Sandbox, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The final validation runs out of memory after the last step: the line names the validation (not a step,
    whose --batch-size would not help) and its flag, and the run up to that step is saved. The MemoryError is raised
    on purpose, as under `ulimit -v 700000` a 2-layer model of 128 units validating 250,000 characters does."""
    (sandbox.work / "small.txt").write_text(CORPUS)

    def no_memory(self: object, ids: object, *args: object, **kwargs: object) -> float:
        raise MemoryError

    monkeypatch.setattr("rnnplay.core.model.Model.evaluate", no_memory)
    out = sandbox.run_in_process([*TRAIN, "--out", "m.npz"], capsys, monkeypatch)
    assert_one_line_error(out, mentions=("out of memory in the validation after step 2", "--val-max-chars",
                                         "the run up to step 2 is saved in m.npz"))
    assert "--batch-size" not in out.stderr
    assert load_model(sandbox.work / "m.npz").training["step"] == 2


def test_ctrl_c_during_the_final_save_exits_130_with_the_run_saved(
        sandbox: Sandbox, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C while the run's last save is written (its budget spent) waits for the save, then ends the command
    as interrupted (130), saying where the run is, never as a run that finished well (0)."""
    (sandbox.work / "small.txt").write_text(CORPUS)
    save = TrainingRun.save_or_rescue

    def pressed(self: TrainingRun, path: str, **kwargs: object) -> object:
        os.kill(os.getpid(), signal.SIGINT)  # the run's own handler hears it, here on the main thread
        return save(self, path, **kwargs)

    monkeypatch.setattr(TrainingRun, "save_or_rescue", pressed)
    out = sandbox.run_in_process([*TRAIN, "--checkpoint-every", "0", "--out", "m.npz"], capsys, monkeypatch)
    assert out.code == 130, out.stderr
    assert ("interrupted at step 2: saved m.npz; its budget (--steps 2) is spent: to train on, --resume m.npz with a "
            "larger --steps or --epochs") in out.stderr  # not "continue with --resume m.npz", which is refused
    assert "final:" not in out.stdout
    assert load_model(sandbox.work / "m.npz").training["step"] == 2


def test_a_pipe_closed_under_the_progress_does_not_lose_the_run(sandbox: Sandbox) -> None:
    """`rnnplay train … 2>&1 | head`: once the reader has gone, the run goes on silently and is saved."""
    (sandbox.work / "small.txt").write_text(CORPUS)
    proc = start_train(sandbox, ["--steps", "400", "--checkpoint-every", "0", "--out", "m.npz"])
    proc.stderr.read(40)
    proc.stderr.close()
    proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert load_model(sandbox.work / "m.npz").training["step"] == 400
    assert not (sandbox.work / "m.npz.lock").exists()


@pytest.fixture
def sealed(sandbox: Sandbox, resumable: Path) -> Iterator[Callable[[str], Path]]:
    """``sealed("+i")``: work/m.npz, a checkpoint, given that attribute; cleared again after the test (an
    immutable file cannot be removed, not even by root). Skips where chattr cannot set it (not root, tmpfs)."""
    target = sandbox.work / "m.npz"
    target.write_bytes(resumable.read_bytes())

    def seal(flag: str) -> Path:
        done = subprocess.run(["chattr", flag, str(target)], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            pytest.skip(f"chattr {flag} is not possible here: {done.stderr.strip()}")
        return target

    try:
        yield seal
    finally:
        subprocess.run(["chattr", "-i", "-a", str(target)], capture_output=True, check=False)


@pytest.mark.parametrize("flag", ["+i", "+a"])
@pytest.mark.parametrize("args", [
    [*TRAIN, "--out", "m.npz"],
    [*TRAIN, "--out", "o.npz", "--best", "m.npz"],
    ["train", "small.txt", "--resume", "m.npz", "--steps", "5"],
    ["export", "o.npz", "m.npz"],
], ids=["out", "best", "resume-in-place", "export"])
def test_an_output_marked_immutable_is_refused_before_the_first_step(
        args: list[str], flag: str, sandbox: Sandbox, sealed: Callable[[str], Path]) -> None:
    (sandbox.work / "small.txt").write_text(CORPUS)
    shutil.copyfile(sandbox.work / "m.npz", sandbox.work / "o.npz")
    before = sealed(flag).read_bytes()
    out = sandbox.run(args, timeout=120)
    assert_one_line_error(out, mentions=("m.npz", "immutable or append-only", "chattr -i -a m.npz"))
    assert "training:" not in out.stderr and (sandbox.work / "m.npz").read_bytes() == before
