"""The terminal faces' console: NO_COLOR and FORCE_COLOR honoured, and one event renderer for the CLI and the REPL."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from prompt_toolkit.history import InMemoryHistory
from prompt_toolkit.output import DummyOutput
from rich.text import Text

from rnnplay.core.trainer import SampleEvent, SkippedEvent, StepEvent, ValidationEvent
from rnnplay.session.session import Session
from rnnplay.ui.cli.progress import ProgressBar, TrainingProgress
from rnnplay.ui.console import ansi, colours, make_console
from rnnplay.ui.event_text import EventText, duration
from rnnplay.ui.repl.app import Repl

ESCAPE = re.compile(r"\x1b\[")
STEP = StepEvent(step=1, epoch=0.01, loss=3.25, lr=0.004, grad_norm=1.0, chars_per_sec=12_345.0, eta_seconds=65.0,
                 fraction=0.0)


class Stream(io.StringIO):
    """A text stream that says whether it is a terminal."""

    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.fixture
def plain_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")  # a terminal that takes colours (TERM=dumb takes none)


@pytest.mark.parametrize(
    ("env", "tty", "expected"),
    [
        ({}, True, True),
        ({}, False, False),
        ({"NO_COLOR": "1"}, True, False),  # no codes at all, not even bold
        ({"FORCE_COLOR": "1"}, False, True),  # a pipe or a file gets colours
        ({"NO_COLOR": "1", "FORCE_COLOR": "1"}, False, False),  # NO_COLOR wins
        ({"NO_COLOR": ""}, True, True),  # an empty value is unset
    ],
)
def test_the_console_follows_no_color_and_force_color(plain_env: None, monkeypatch: pytest.MonkeyPatch,
                                                      env: dict[str, str], tty: bool, expected: bool) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    console = make_console(Stream(tty))
    assert colours(console) is expected
    assert bool(ESCAPE.search(ansi(console, Text("seed", style="bold cyan")))) is expected


def test_a_flag_that_asks_for_colours_overrides_no_color(plain_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    assert ansi(make_console(Stream(False), color=True), Text("x", style="color(196)")) == "\x1b[38;5;196mx\x1b[0m"
    assert ansi(make_console(Stream(True), color=False), Text("x", style="red")) == "x"


def test_text_keeps_its_tabs_and_lines(plain_env: None) -> None:
    assert ansi(make_console(Stream(False)), Text("a\tb\nc" * 40)) == "a\tb\nc" * 40  # no wrapping, no expansion


def run(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE")}
    return subprocess.run([sys.executable, "-m", "rnnplay", *args], cwd=cwd, capture_output=True, text=True,
                          env={**environ, "RNNPLAY_JIT": "0", "TERM": "dumb", **env}, timeout=300)  # FORCE_COLOR wins


def test_sample_heat_is_plain_with_no_color_and_coloured_on_a_pipe_with_force_color(tiny_path: Path,
                                                                                   tmp_path: Path) -> None:
    base = ["sample", str(tiny_path), "--seed", "To", "--length", "20", "--rng-seed", "1", "--heat"]
    plain = run(*base, cwd=tmp_path, NO_COLOR="1")
    assert plain.returncode == 0 and not ESCAPE.search(plain.stdout + plain.stderr)
    assert "NO_COLOR is set, so no colours" in plain.stderr
    forced = run(*base, cwd=tmp_path, FORCE_COLOR="1")
    assert forced.returncode == 0 and ESCAPE.search(forced.stdout)
    assert ESCAPE.sub("", forced.stdout).replace("[0m", "") != ""
    assert re.sub(r"\x1b\[[0-9;]*m", "", forced.stdout) == plain.stdout  # the same text, coloured


def test_neurons_colours_a_pipe_when_asked_unless_no_color(tiny_path: Path, tmp_path: Path) -> None:
    base = ["neurons", str(tiny_path), "--unit", "0:0", "--text", "To be, or not"]
    coloured = run(*base, "--color=always", cwd=tmp_path)
    assert coloured.returncode == 0 and ESCAPE.search(coloured.stdout)  # the colours are the output
    plain = run(*base, cwd=tmp_path, NO_COLOR="1")
    assert plain.returncode == 0 and not ESCAPE.search(plain.stdout) and "To be, or not" in plain.stdout


def test_the_cli_and_the_repl_show_a_training_step_with_the_same_text(plain_env: None) -> None:
    cli = Stream(False)
    progress = TrainingProgress(cli)
    progress.show(ValidationEvent(step=1, val_loss=3.5))
    progress.show(STEP)
    progress.show(SampleEvent(step=1, text="To be"))
    repl_out = Stream(False)
    repl = Repl(Session(), output=DummyOutput(), stdout=repl_out, history=InMemoryHistory())
    repl.owner = threading.current_thread()  # as if this thread ran the REPL, with no prompt up: lines go straight out
    for event in (ValidationEvent(step=1, val_loss=3.5), STEP, SampleEvent(step=1, text="To be")):
        repl.render(event)
    line = EventText()
    line.text(ValidationEvent(step=1, val_loss=3.5))
    expected = str(line.text(STEP))
    assert expected == "step 1 epoch 0.01 loss 3.250 val 3.500 lr 0.004 | 12,345 chars/s | ETA 1m05s"
    assert cli.getvalue().splitlines()[0] == expected
    assert repl_out.getvalue().splitlines()[0] == f"training: {expected}"
    sample = "--- sample at step 1 ---\nTo be\n---\n"
    assert cli.getvalue().endswith(sample) and repl_out.getvalue().endswith(sample)


@pytest.mark.parametrize(("seconds", "shown"), [(None, "?"), (42.4, "42s"), (185, "3m05s"), (3720, "1h02m"),
                                               (2 * 86_400 + 4 * 3600, "2d04h"), (1e22, "over a year")])
def test_a_duration_reads_at_a_glance_however_long(seconds: float | None, shown: str) -> None:
    assert duration(seconds) == shown


def test_the_cli_prints_a_skipped_step_and_a_partial_validation_as_lines(plain_env: None) -> None:
    out = Stream(False)
    progress = TrainingProgress(out)
    progress.show(SkippedEvent(step=7, reason="the loss was not finite; step skipped"))
    progress.show(ValidationEvent(step=8, val_loss=2.0, note="read 10% of the text (the budget)"))
    progress.show(ValidationEvent(step=9, val_loss=2.0))  # nothing to say
    assert out.getvalue() == ("step 7: the loss was not finite; step skipped\n"
                              "step 8: validation read 10% of the text (the budget)\n")


def test_off_a_terminal_the_watcher_speaks_only_when_a_step_is_late(plain_env: None) -> None:
    """`rnnplay train … 2>&1 | cat`: steps whose status line is not due yet (the last line printed long ago) are
    not late; the watcher said "still training: 0s since step 165" of them. Once no step comes, it speaks."""
    out = Stream(False)
    progress = TrainingProgress(out, every=2.0)
    progress.show(STEP)  # step 1 is printed
    with progress.lock:
        progress.last_line -= 60  # the last line long ago, as between two lines PRINT_EVERY steps apart
    step = 1
    for _ in range(75):  # steps 20 ms apart for 1.5 s: the watcher looks three times meanwhile
        step += 1
        progress.show(StepEvent(step, 0.01, 3.0, 0.004, 1.0, 12_345.0, 65.0, 0.0))
        threading.Event().wait(0.02)
    assert "still training" not in out.getvalue()
    for _ in range(100):  # now no step comes: within `every` and the watcher's look after it, it says so
        if "still training" in out.getvalue():
            break
        threading.Event().wait(0.1)
    progress.finish()
    still = [line for line in out.getvalue().splitlines() if line.startswith("still training: ")]
    assert still and all(line.endswith(f"since step {step}") for line in still)


def test_a_load_off_a_terminal_prints_one_line_when_done(plain_env: None) -> None:
    out = Stream(False)
    with ProgressBar(out) as bar:
        for done in (0, 500_000, 1_100_000):
            bar("downloading x", done, 1_100_000)
    assert out.getvalue() == f"downloading x [{'━' * 30}] 100% 1.1 MB / 1.1 MB\n"


def test_a_load_on_a_terminal_draws_a_rich_bar_and_ends_its_line(plain_env: None) -> None:
    out = Stream(True)
    with ProgressBar(out) as bar:
        bar("reading", 5, 10, "files")
        bar("reading", 10, 10, "files")
    shown = out.getvalue()
    assert "reading [" in shown and "10 files / 10 files" in shown and "━" in shown
    assert "\n" in shown.split("10 files / 10 files")[-1]  # what comes next starts on a line of its own


def test_force_color_colours_a_piped_bar_but_does_not_redraw_it(plain_env: None,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    out = Stream(False)
    with ProgressBar(out) as bar:
        bar("downloading x", 1, 2)
        bar("downloading x", 2, 2)
    assert out.getvalue().count("\n") == 1 and "\r" not in out.getvalue() and "\x1b[?25l" not in out.getvalue()
