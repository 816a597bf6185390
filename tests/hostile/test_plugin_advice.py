"""Hostile table: what a user is told about a plugin that misbehaves, and that it is the same in every front end.

Real pip-installed packages of tests/fixtures/ (those of test_plugin_faults.py), under real rnnplay commands in a
sandbox: each line names the
plugin and says what to do (`rnnplay plugins uninstall NAME`, how to install a missing one), never quotes
another plugin's output, and a SIGTERM while a plugin loads ends the command instead of being the plugin's failure.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from child_env import python_path
from plugin_fixtures import FIXTURES, pip_install_fixtures
from waiting import wait_for

from rnnplay.plugins.host import reset_host
from rnnplay.session.events import Message, TrainingEnded
from rnnplay.session.session import Session

from .faulty_plugins import CORPUS, MODEL, TINY, on_path, run_here
from .harness import Sandbox, assert_nothing_outside, assert_one_line_error

FROM_THE_START = "the model's cell 'flaky' (from rnnplay-fault-cell) gives non-finite values from the start"
WHAT_TO_DO = "report it to the authors of {0}, or `rnnplay plugins uninstall {0}`"
REPL_HISTORY = ("data/rnnplay/history",)


ROWS = [
    # a plugin's prints while it generates go to stderr, never into the text (they came between its characters)
    pytest.param(["sample", MODEL, "--sampler", "noisy", "--seed", "To", "--length", "9"],
                 "rnnplay-fault-cell,rnnplay-noisy", "", {"code": 0, "stderr": ("<NOISE>" * 9,)},
                 id="sampler-printing-while-generating-stays-off-stdout"),
    # and in a REPL reading a script from a pipe (they came between its characters on stdout too)
    pytest.param(["repl", MODEL], "rnnplay-fault-cell,rnnplay-noisy", "/sampler noisy\n/set length 9\nTo\n",
                 {"code": 0, "stderr": ("<NOISE>" * 9,)}, id="sampler-printing-in-a-piped-repl-stays-off-stdout"),
    # an unknown command says which plugins failed to load, as unknown cells and samplers do
    pytest.param(["repl", MODEL], "rnnplay-fault-cell,rnnplay-exit-import", "/upper\n",
                 {"code": 1, "stdout": ("unknown command /upper", "plugins that failed to load: rnnplay-exit-import")},
                 id="unknown-command-names-the-plugins-that-failed-to-load"),
    # a plugin command's error says what to do, in the words a sampler's or a cell's error uses
    pytest.param(["repl", MODEL], "rnnplay-fault-cell,rnnplay-wild", "/halt\n",
                 {"code": 1, "stdout": ("/halt (from rnnplay-wild) failed: SystemExit: 5; "
                                        + WHAT_TO_DO.format("rnnplay-wild"),)},
                 id="plugin-command-error-says-what-to-do"),
    # a model whose plugin is not installed: advice that works for a plugin that is not published too, pinned to
    # the version the checkpoint records (it named no version: the model did not say which it was saved with)
    pytest.param(["sample", MODEL, "--seed", "To"], None, "",
                 {"code": 1, "stderr": ("from the plugin rnnplay-fault-cell 0.0.1, which is not installed",
                                        "`rnnplay plugins install 'rnnplay-fault-cell==0.0.1'` if it is published, "
                                        "or `rnnplay plugins install PATH` from its source folder",)},
                 id="model-whose-plugin-is-not-installed"),
    pytest.param(["models"], None, "",
                 {"code": 0, "stdout": ("flaky (needs rnnplay-fault-cell)  1×8",
                                        "a model marked (needs PLUGIN) has a cell that no loaded plugin provides: "
                                        "install the plugin that provides it (`rnnplay plugins install "
                                        "'rnnplay-fault-cell==0.0.1'` if it is published")},
                 id="models-marks-a-model-whose-plugin-is-not-installed"),
    # `rnnplay models` imports no plugin: one calling os._exit on import, one slow to import (named on stderr
    # after 3 s when imported) and the model's own all installed and let load (it ended with exit 3)
    pytest.param(["models"], "rnnplay-exit-import,rnnplay-slow-import,rnnplay-fault-cell", "",
                 {"code": 0, "stdout": ("flaky        flaky   1×8", "shakespeare  lnlstm"), "quiet": True,
                  "env": {"EXIT_IMPORT_HARD": "1", "SLOW_IMPORT_SECONDS": "30"}},
                 id="models-imports-no-plugin"),
    pytest.param(["models"], "", "",
                 {"code": 0, "stdout": ("flaky (needs rnnplay-fault-cell)", "`rnnplay plugins` says why it is not "
                                                                            "loaded")},
                 id="models-marks-a-model-whose-plugin-is-left-out"),
    # a plugin cell's state too large for any batch: the cell and its plugin named, not the batch size blamed
    pytest.param(["train", "corpus.txt", "--cell", "bigstate", "--steps", "2", "--out", "m.npz"], "rnnplay-noisy", "",
                 {"code": 1, "stderr": ("the run of the cell 'bigstate' (from rnnplay-noisy, which gives it "
                                        "state_size 1,000,000)", "no batch size mends it",
                                        WHAT_TO_DO.format("rnnplay-noisy"))},
                 id="plugin-cell-state-size-too-large"),
    # a cell of NaN: rnnplay train blames the cell and says what to do (the session says the same: below)
    pytest.param(["train", "corpus.txt", "--cell", "flaky", *TINY[:-1], "20", "--out", "m.npz"], "rnnplay-fault-cell",
                 "", {"code": 1, "stderr": (FROM_THE_START, WHAT_TO_DO.format("rnnplay-fault-cell")),
                      "env": {"FAULT_CELL_RETURNS": "nan"}, "allowed": ("work/m.npz",)},
                 id="cell-of-nan-in-train-says-what-to-do"),
]


@pytest.mark.parametrize(("args", "load", "stdin", "expect"), ROWS)
def test_advice(args: list[str], load: str | None, stdin: str, expect: dict, sandbox: Sandbox, faulty_site: Path,
                flaky_model: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(flaky_model, sandbox.work / MODEL)
    (sandbox.work / "corpus.txt").write_text(CORPUS)
    if args == ["models"]:
        (sandbox.root / "data" / "rnnplay" / "models").mkdir(parents=True)
        shutil.copy(flaky_model, sandbox.root / "data" / "rnnplay" / "models" / MODEL)
    # load None: the plugins are not installed at all (not on the path)
    env = {"RNNPLAY_LOAD_PLUGINS": load, "PYTHONPATH": on_path(faulty_site)} if load is not None else {}
    before = sandbox.snapshot()
    env = {**env, **expect.get("env", {})}
    if stdin or args[0] == "train" or "EXIT_IMPORT_HARD" in env:  # the REPL reads stdin; train leaves by os._exit;
        out = sandbox.run(args, timeout=90, stdin=stdin or None, env=env)  # and a plugin imported would end it
    else:  # sample, models: the same entry point and plugin discovery in this process
        out = run_here(sandbox, args, faulty_site if load is not None else None, env, capsys, monkeypatch)
    if expect["code"] and not stdin:
        assert_one_line_error(out, code=expect["code"])
    assert "Traceback" not in out.stdout + out.stderr and out.code == expect["code"], (out.code, out.stderr[-2000:])
    for words in expect.get("stdout", ()):
        assert words in out.stdout, out.stdout
    for words in expect.get("stderr", ()):
        assert words in out.stderr, out.stderr
    assert "<NOISE>" not in out.stdout
    assert out.stderr == "" or not expect.get("quiet"), out.stderr
    if expect.get("quiet"):
        assert "(needs" not in out.stdout and "plugin cell" not in out.stdout, out.stdout
    assert_nothing_outside(before, sandbox.snapshot(), allowed=expect.get("allowed", ()) + REPL_HISTORY)


def test_the_session_says_what_rnnplay_train_says_of_a_cell_of_nan(faulty_site: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The app and the REPL (both show the session's messages) said "the loss was not finite, so the weights were
    kept as they were and a lower lr= may help at step 3", where `rnnplay train` blamed the plugin's cell."""
    monkeypatch.syspath_prepend(str(faulty_site))
    monkeypatch.setenv("RNNPLAY_LOAD_PLUGINS", "rnnplay-fault-cell")
    monkeypatch.setenv("FAULT_CELL_RETURNS", "nan")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    (tmp_path / "corpus.txt").write_text(CORPUS)
    reset_host()
    session = Session()
    events: list[object] = []
    session.subscribe(events.append)
    try:
        session.submit(f"/train {tmp_path / 'corpus.txt'} cell=flaky hidden=8 layers=1 batch=2 seq=8 steps=20 "
                       f"out={tmp_path / 'm.npz'}")
        wait_for(lambda: any(isinstance(e, TrainingEnded) for e in events), "the training's end")
    finally:
        session.close()
        reset_host()
    said = [e.text for e in events if isinstance(e, Message) and e.level == "warning"]
    assert len(said) == 1, [e for e in events if isinstance(e, Message)]
    assert said[0].startswith("training diverged: 3 steps in a row at step 3 had a non-finite loss or update"), said
    assert f"{FROM_THE_START}, which a lower lr= does not mend; {WHAT_TO_DO.format('rnnplay-fault-cell')}" in said[0]


@pytest.mark.parametrize("args", [["plugins"], ["sample", "shakespeare", "--seed", "a", "--length", "5"]],
                         ids=["plugins", "sample"])
def test_sigterm_while_a_plugin_imports_ends_the_command(args: list[str], sandbox: Sandbox, faulty_site: Path) -> None:
    """It was the plugin's failure ("it raised KeyboardInterrupt while importing (no Ctrl-C was pressed)"), and
    `sample` went on to print its text."""
    env = {**sandbox.env, "PYTHONPATH": on_path(faulty_site), "RNNPLAY_LOAD_PLUGINS": "rnnplay-slow-import",
           "SLOW_IMPORT_SECONDS": "30", "RNNPLAY_SLOW_PLUGIN_SECONDS": "0.1"}  # named after 0.1 s, not 3
    proc = subprocess.Popen([sys.executable, "-m", "rnnplay", *args], cwd=sandbox.work, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        said = proc.stderr.readline()  # waits until the host names the slow plugin (at worst, its 30 s import)
        assert said.startswith("rnnplay: warning: still importing plugin rnnplay-slow-import"), said
        proc.send_signal(signal.SIGTERM)
        out, rest = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert (proc.returncode, out, rest) == (128 + signal.SIGTERM, "", "rnnplay: stopped by SIGTERM\n")


ENDED = ("rnnplay: error: the process ended while {}, with no error to show (the plugin called os._exit, or a "
         "signal ended it); {}; `RNNPLAY_LOAD_PLUGINS={}` skips it")
IMPORTING = "importing plugin rnnplay-exit-import (entry point fault)"


@pytest.mark.parametrize(("args", "stdin", "env", "code", "said"), [
    pytest.param(["sample", "shakespeare", "--seed", "a", "--length", "5"], None, {"EXIT_IMPORT_CODE": "0"}, 0,
                 (IMPORTING, "rnnplay-exit-import"), id="sample-os-exit-0"),
    pytest.param(["sample", "shakespeare", "--seed", "a", "--length", "5"], None, {}, 3,
                 (IMPORTING, "rnnplay-exit-import"), id="sample-os-exit-3"),
    pytest.param(["repl"], "hello\n", {"EXIT_IMPORT_HARD": "kill"}, -signal.SIGKILL,
                 (IMPORTING, "rnnplay-exit-import"), id="repl-sigkill"),
    pytest.param(["score", "shakespeare", "--text", "To be"], None,
                 {"RNNPLAY_LOAD_PLUGINS": "rnnplay-exit-hook,rnnplay-fault-cell"}, 9,
                 ("running plugin rnnplay-exit-hook's register_samplers hook", "rnnplay-exit-hook"),
                 id="score-hook-os-exit-9"),
])
def test_a_plugin_ending_the_process_as_it_loads_is_named(args: list[str], stdin: str | None, env: dict[str, str],
                                                          code: int, said: tuple[str, str], sandbox: Sandbox,
                                                          faulty_site: Path, tmp_path: Path) -> None:
    """A real pip-installed plugin calling os._exit (or killing itself) in its import or a hook: the command ended
    without a word (exit 0 for os._exit(0)), which package did it, and what to do, left to guess. The exit status
    stays the plugin's: nothing of the process is left to change it. (`rnnplay plugins` lists such a plugin as
    failed and goes on: tests/test_plugin_endings.py.)"""
    hook_site = pip_install_fixtures(["rnnplay-exit-hook"], tmp_path)
    env = {"PYTHONPATH": python_path(faulty_site, hook_site), "EXIT_IMPORT_HARD": "1",
           "RNNPLAY_LOAD_PLUGINS": "rnnplay-exit-import,rnnplay-fault-cell", **env}
    before = sandbox.snapshot()
    out = sandbox.run(args, timeout=90, stdin=stdin, env=env)
    what, plugin = said
    line = ENDED.format(what, WHAT_TO_DO.format(plugin), "rnnplay-fault-cell")
    assert (out.code, out.stdout, out.error_lines) == (code, "", [line])
    assert_nothing_outside(before, sandbox.snapshot())


def test_install_whose_plugin_ends_the_process_names_it_and_its_uninstall(sandbox: Sandbox, tmp_path: Path) -> None:
    """`rnnplay plugins install` of a package whose hook calls os._exit: it said "uninstall the new one" without
    naming it, and quoted what another plugin printed in its hook as the reason ("\\x1b[2J\\x1b[HPRINT IN HOOK")."""
    target = pip_install_fixtures(["rnnplay-noisy"], tmp_path)  # the plugin already there, printing in its hook
    shutil.copytree(FIXTURES / "rnnplay-exit-hook", sandbox.work / "rnnplay-exit-hook")
    env = {"PYTHONPATH": on_path(target), "PIP_TARGET": str(target), "PIP_NO_INDEX": "1", "PIP_NO_BUILD_ISOLATION": "0",
           "PIP_CONFIG_FILE": os.devnull, "PIP_NO_INPUT": "1"}
    out = sandbox.run(["plugins", "install", "./rnnplay-exit-hook"], timeout=120, env=env)
    assert_one_line_error(out, mentions=(), code=1)
    error = out.error_lines[-1]
    assert ("no longer runs with rnnplay-exit-hook installed (exit 9: the process ended while running plugin "
            "rnnplay-exit-hook's register_samplers hook, with no error to show (the plugin called os._exit, or a "
            "signal ended it)): `rnnplay plugins uninstall rnnplay-exit-hook` removes it") in error, error
    assert "`rnnplay plugins uninstall rnnplay-exit-hook` removes it" in error, error
    assert "PRINT IN HOOK" not in error and "x1b" not in error, error
    again = sandbox.run(["plugins", "uninstall", "rnnplay-exit-hook"], timeout=120, env=env)
    assert again.code == 0 and "uninstalled rnnplay-exit-hook" in again.stdout, again.stderr
