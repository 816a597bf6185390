"""A validation that takes long but moves: its count of characters on the status line, and no stall line; in the app
and the REPL too, its count shown as it goes.

`rnnplay train big.txt --val-max-chars 30000000` showed "100% step 2 … ETA 0s" for the whole of its final
validation, then after 30 s "the validation after step 2 has not returned for 30 s: the cell 'lstm' of rnnplay is
slow here …", though it read its characters all along. The validation's chunks are made slow here for real:
rnnplay-hang's cell 'stuck' (tests/fixtures, pip-installed) with ``HANG_DOES=slow`` sleeps in each forward after
the first (the training step's), far less long than the stall time, so the validation as a whole outlasts it.

During /train the app's training panel and the REPL's lines stayed at the last step until the validation ended
(minutes on a large ``val_max_chars``), as if the run had stopped; they show the session's ValidationProgress now.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from child_env import child_env
from on_a_terminal import ended, run_line, spawn, started_repl
from pilot_helpers import type_line, until
from plugin_fixtures import hang_loaded
from pty_screen import environment as pty_environment
from textual.widgets import ProgressBar, Static

from rnnplay.session.events import ValidationProgress
from rnnplay.session.session import Session
from rnnplay.ui.repl.training_lines import TrainingLines
from rnnplay.ui.tui import RnnplayApp

pytestmark = pytest.mark.long_file  # run first (tests/conftest.py)

TIMEOUT = 120  # a bound that catches a hang, not a speed claim
STALL = "2"  # seconds without a sign of life before the stall line; the validation's chunks take 0.12 s each
FLAGS = ["--cell", "stuck", "--hidden", "8", "--layers", "1", "--steps", "1", "--val-fraction", "0.5"]
TRAIN = "cell=stuck hidden=8 layers=1 steps=1 val_fraction=0.5"  # FLAGS as /train takes them
COUNT = re.compile(r"the validation after step 1: ([\d,]+) of 199,999 characters scored")
SLOW = {"HANG_AFTER": "1", "HANG_DOES": "slow", "HANG_SLOW": "0.12", "RNNPLAY_STEP_STALL_SECONDS": "1000"}


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """400,000 characters: 200,000 validated, in 25 chunks of 8,192 (3 s of sleep in all, over STALL)."""
    path = tmp_path / "big.txt"
    path.write_text("".join(f"line {i % 1000:03}: to be, or not to be, that is the question.\n"
                            for i in range(400_000 // 50))[:400_000])
    return path


def environment(hang_site: Path, tmp_path: Path) -> dict[str, str]:
    return child_env(hang_site, RNNPLAY_LOAD_PLUGINS="rnnplay-hang", HANG_AFTER="1", HANG_DOES="slow", HANG_SLOW="0.12",
                     RNNPLAY_STEP_STALL_SECONDS=STALL, RNNPLAY_STATUS_SECONDS="1", XDG_DATA_HOME=str(tmp_path / "d"),
                     RNNPLAY_CACHE_DIR=str(tmp_path / "cache"), RNNPLAY_JIT="0")


def test_a_long_validation_says_how_far_it_got_and_is_never_called_stalled(hang_site: Path, tmp_path: Path,
                                                                          corpus: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "rnnplay", "train", str(corpus), *FLAGS, "--out",
                           str(tmp_path / "v.npz")], env=environment(hang_site, tmp_path), capture_output=True,
                          text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    assert "the validation after step 1 has not returned" not in done.stderr
    counts = re.findall(r"^still running the validation after step 1, ([\d,]+) of 199,999 characters scored: ",
                        done.stderr, re.M)
    assert counts, done.stderr
    assert (tmp_path / "v.npz").exists()


def test_on_a_terminal_the_status_line_counts_the_validations_characters(hang_site: Path, tmp_path: Path,
                                                                         corpus: Path) -> None:
    env = {**environment(hang_site, tmp_path), "TERM": "xterm-256color"}
    shown = io.BytesIO()  # all the terminal got: read() leaves in child.before only what it read itself
    with spawn(["train", str(corpus), *FLAGS, "--out", str(tmp_path / "v.npz")], env) as child:
        child.logfile_read = shown
        child.expect(rb"running the validation after step 1: [\d,]+ of 199,999 characters scored")
        child.expect_exact(b"saved ")
        child.read()
        assert child.wait() == 0
    assert b"the validation after step 1 has not returned" not in shown.getvalue(), shown.getvalue()


@pytest.fixture
def slow(hang_site: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """This process loads rnnplay-hang afresh, its forwards after the training step's slow."""
    for name, value in SLOW.items():
        monkeypatch.setenv(name, value)
    with hang_loaded(hang_site, monkeypatch) as module:
        yield module


async def test_the_app_shows_the_validations_count_and_share_as_it_reads(slow: ModuleType, corpus: Path,
                                                                          tmp_path: Path) -> None:
    """The training panel's status said "step 1 · … chars/s · ETA 0s" with a full bar for the whole validation."""
    session = Session()
    app = RnnplayApp(session)
    seen: list[tuple[int, float]] = []  # (characters scored, the bar's share) each time the status showed a count

    def counting() -> bool:
        found = COUNT.fullmatch(str(app.query_one("#train-status", Static).render()))
        if found is not None:
            count = int(found.group(1).replace(",", ""))
            if not seen or seen[-1][0] != count:
                seen.append((count, app.query_one("#train-bar", ProgressBar).progress))
        return len(seen) >= 2

    try:
        async with app.run_test() as pilot:
            await type_line(pilot, f"/train {corpus} {TRAIN} out={tmp_path / 'v.npz'}")
            await until(pilot, counting)  # two counts, one after the other, while it reads
            await until(pilot, lambda: "done at step 1" in str(app.query_one("#train-status", Static).render()))
    finally:
        slow.RELEASE.set()
        job = session.training
        if job is not None and job.thread is not None:
            job.thread.join(TIMEOUT)
    assert seen[0][0] < seen[1][0] < 199_999, seen
    for count, share in seen:
        assert share == pytest.approx(count / 199_999), seen
    assert (tmp_path / "v.npz").exists()


def test_the_repl_prints_the_validations_count_each_tenth_of_it(hang_site: Path, corpus: Path,
                                                                tmp_path: Path) -> None:
    """The REPL printed "training: step 1 …" and then nothing until the validation had ended; now a line at the
    validation's first count and one each tenth of its characters after, never more."""
    env = child_env(hang_site, base=pty_environment(tmp_path), RNNPLAY_LOAD_PLUGINS="rnnplay-hang", **SLOW)
    received = io.BytesIO()
    with started_repl([], env, cwd=tmp_path) as child:
        child.logfile_read = received
        run_line(child, f"/train {corpus} from=new {TRAIN} out=v.npz", b"/stop ends it")
        for _ in range(2):  # two counts while it reads
            child.expect(rb"training: the validation after step 1: [\d,]+ of 199,999 characters scored")
        child.expect_exact(b"training done at step 1")
        child.sendeof()
        assert ended(child) == 0
    said = received.getvalue().decode()
    counts = [int(n.replace(",", "")) for n in re.findall(r"training: the validation after step 1: ([\d,]+) of", said)]
    tenths = [count * 10 // 199_999 for count in counts]
    assert len(tenths) == len(set(tenths)) and tenths == sorted(tenths), counts  # at most one a tenth, in order
    assert (tmp_path / "v.npz").exists()


def test_the_repl_counts_each_validation_from_its_own_start() -> None:
    """Each validation's lines start at its first count, whatever the one before it printed; within one, a line a
    tenth."""
    lines = TrainingLines()
    shown = [lines.due(ValidationProgress(step, "the validation", done, 100))
             for step, done in ((3, 5), (3, 8), (3, 12), (3, 95), (6, 5), (6, 9), (6, 10))]
    assert shown == [True, False, True, True, True, False, True]
