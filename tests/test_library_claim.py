"""Two sessions training on one text at once, each in a process of its own, the model library shared.

With no ``out=``, ``/train`` names the checkpoint itself: the corpus's stem in the library, or the next
free number. A second session that chose the same name a moment before the first locked it was refused
("another training (PID …) is writing …/notes.npz"), though rnnplay, not the user, had picked the name;
and one whose name got a checkpoint saved there meanwhile wrote over it. Each must take the next free
name instead. The moment between the choice and the lock is held open in the second session (its
``library_path`` waits for a file the test makes), so the race is met every time.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from child_env import child_env
from waiting import wait_for

from rnnplay.models.bundled import load_model

TIMEOUT = 60  # a bound that catches a hang, not a speed claim

SESSION = r"""
import json, sys, threading, time
from pathlib import Path
from rnnplay.session import checkpoint_names
from rnnplay.session.events import Message, TrainingEnded
from rnnplay.session.session import Session

corpus, gate, stop, budget = sys.argv[1], sys.argv[2], Path(sys.argv[3]), sys.argv[4]
choose, held = checkpoint_names.library_path, [gate != "-"]

def choose_then_wait(name):
    path = choose(name)
    if held[0]:  # the first choice only: the test lets it go on
        held[0] = False
        Path(gate + ".chosen").write_text(path.name)
        while not Path(gate).exists():
            time.sleep(0.02)
    return path

checkpoint_names.library_path = choose_then_wait
session, said, ended = Session(), [], threading.Event()

def hear(event):
    if isinstance(event, Message) and event.level == "error":
        said.append(event.text)
    if isinstance(event, TrainingEnded):
        said.append("saved " + Path(event.path).name if event.path else "unsaved")
        ended.set()

session.subscribe(hear)
session.submit(f"/train {corpus} from=new hidden=8 batch=2 seq=8 {budget}")
if not said:
    while not stop.exists() and not ended.is_set():
        time.sleep(0.02)
    if not ended.is_set():
        session.submit("/stop")
    ended.wait(60)
session.close()
print(json.dumps(said))
"""


def start(tmp_path: Path, corpus: Path, gate: str, stop: str, budget: str) -> subprocess.Popen[str]:
    env = child_env(XDG_DATA_HOME=str(tmp_path / "data"), RNNPLAY_NOHISTORY="1")
    return subprocess.Popen([sys.executable, "-c", SESSION, str(corpus), gate, stop, budget], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def said(proc: subprocess.Popen[str]) -> list[str]:
    out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, err
    return json.loads(out)


def library(tmp_path: Path) -> Path:
    return tmp_path / "data" / "rnnplay" / "models"


def test_a_session_whose_library_name_another_locked_meanwhile_takes_the_next(tmp_path: Path,
                                                                             small_file: Path) -> None:
    corpus, gate = Path(shutil.copy(small_file, tmp_path / "notes.txt")), tmp_path / "gate"
    second = start(tmp_path, corpus, str(gate), "-", "steps=3")
    try:
        assert wait_for(lambda: Path(f"{gate}.chosen").exists() and Path(f"{gate}.chosen").read_text(),
                        "the second session to choose its name", TIMEOUT) == "notes.npz"
        first = start(tmp_path, corpus, "-", str(tmp_path / "stop"), "steps=1000000")
        try:
            wait_for(lambda: (library(tmp_path) / "notes.npz.lock").exists(), "the first session's lock", TIMEOUT)
            gate.touch()  # the second session goes on to lock the name it chose
            assert said(second) == ["saved notes-2.npz"]
        finally:
            (tmp_path / "stop").touch()
            assert said(first) == ["saved notes.npz"]
    finally:
        second.kill()
    assert sorted(p.name for p in library(tmp_path).iterdir()) == ["notes-2.npz", "notes.npz"]
    assert load_model(library(tmp_path) / "notes-2.npz").meta["training"]["step"] == 3


def test_a_session_whose_library_name_got_a_checkpoint_meanwhile_never_writes_over_it(
        tmp_path: Path, small_file: Path, tiny_path: Path) -> None:
    corpus, gate = Path(shutil.copy(small_file, tmp_path / "notes.txt")), tmp_path / "gate"
    proc = start(tmp_path, corpus, str(gate), "-", "steps=3")
    try:
        wait_for(lambda: Path(f"{gate}.chosen").exists(), "the session to choose its name", TIMEOUT)
        library(tmp_path).mkdir(parents=True, exist_ok=True)
        theirs = Path(shutil.copy(tiny_path, library(tmp_path) / "notes.npz"))  # another session saved there
        before = theirs.read_bytes()
        gate.touch()
        assert said(proc) == ["saved notes-2.npz"]
    finally:
        proc.kill()
    assert theirs.read_bytes() == before
    assert sorted(p.name for p in library(tmp_path).iterdir()) == ["notes-2.npz", "notes.npz"]
