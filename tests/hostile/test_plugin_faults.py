"""Hostile table: plugins that fail, installed for real, under real rnnplay commands.

The faulty packages of tests/fixtures/ are pip-installed once into a folder that
every row puts on PYTHONPATH; ``RNNPLAY_LOAD_PLUGINS`` picks which of them a row
loads (the slow one would cost every row its sleep). A plugin that fails while
loading is skipped and the command works; a plugin that fails while it is used
ends the command with one line naming its package. The `rnnplay plugins` rows
run in process (loading plugins is the whole of that command, and bad input to
install/uninstall/new is refused before pip or a file is touched), and so do
the table's rows for commands that end as they are expected to
(:func:`needs_a_process`); the others are subprocesses in a sandbox, two of
them against a package index on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from plugin_fixtures import FIXTURES

from rnnplay.plugins.host import reset_host
from rnnplay.ui import cli

from .faulty_plugins import BROKEN_ON_LOAD, CORPUS, FAULTY, MODEL, TINY, on_path, run_here
from .harness import Outcome, Sandbox, assert_nothing_outside, assert_one_line_error

RNNPLAY_CHECKOUT = str(Path(__file__).resolve().parents[2])  # rnnplay's own pyproject.toml


# -- `rnnplay plugins`, in process: a plugin that fails to load is listed by name, the command still works -------
LISTING = [
    pytest.param("rnnplay-interrupt-import", ["plugins"], ("rnnplay-interrupt-import", "KeyboardInterrupt"),
                 id="keyboardinterrupt-on-import-is-that-plugins-failure"),
    pytest.param("rnnplay-exit-import", ["plugins"], ("rnnplay-exit-import", "sys.exit(3)"),
                 id="sys-exit-on-import-is-that-plugins-failure"),
    pytest.param("rnnplay-odd-import", ["plugins"], ("rnnplay-odd-import", "Abort: the odd plugin gives up"),
                 id="baseexception-subclass-on-import-is-that-plugins-failure"),
    pytest.param("rnnplay-garbage-hook", ["plugins"], ("rnnplay-garbage-hook", "register_cells returned list"),
                 id="hook-returning-a-list"),
    pytest.param("rnnplay-garbage-hook", ["plugins"], ("NoneType lacks name",), id="hook-registering-none"),
    pytest.param("rnnplay-garbage-hook", ["plugins"], ("checking ExplodingName raised RuntimeError: no name today",),
                 id="registered-object-whose-name-raises"),
    pytest.param("rnnplay-garbage-hook", ["plugins"],
                 ("register_corpus_loaders raised RnnplayError: get_host() was called while the plugins were loading",),
                 id="hook-asking-for-the-host-while-it-is-built"),
    pytest.param(BROKEN_ON_LOAD, ["plugins", "--json"], tuple(f'"name": "{n}"' for n in BROKEN_ON_LOAD.split(",")),
                 id="json-lists-every-failure"),
    pytest.param("unknown", ["plugins"], ("unknown: not installed, but RNNPLAY_LOAD_PLUGINS names it",),
                 id="load-plugins-names-an-unknown-plugin"),
    pytest.param("rnnplay-fault-sampel", ["plugins"], ("did you mean 'rnnplay-fault-sampler'?",),
                 id="load-plugins-typo-gets-a-suggestion"),
    pytest.param("fault_loader", ["plugins"], ("fault_loader: not installed", "did you mean 'rnnplay-fault-loader'?"),
                 id="load-plugins-without-the-rnnplay-prefix-gets-a-suggestion"),
    pytest.param("", ["plugins"], ("not loaded (RNNPLAY_LOAD_PLUGINS leaves them out): rnnplay-exit-import",),
                 id="load-plugins-empty-says-what-it-left-out"),
    pytest.param(",".join(f"nope{i}" for i in range(500)), ["plugins"], ("nope0: not installed", "nope499: not"),
                 id="load-plugins-with-500-unknown-names"),
    pytest.param("rnnplay-sly-names", ["plugins"], ("rnnplay-sly-names: cell name 'lstm' is already taken by rnnplay",
                                                    "sampler name 'temperature' is already taken by rnnplay"),
                 id="trylast-hooks-cannot-take-built-in-names"),
    pytest.param("rnnplay-sly-names", ["plugins"], ("KlassCell is a class: register an instance of it",),
                 id="registering-a-class-instead-of-an-instance"),
    pytest.param("rnnplay-sly-names", ["plugins"], ("sampler 'junkparams': params must be a dict of Param",),
                 id="sampler-params-that-are-not-params"),
    pytest.param("rnnplay-sly-names", ["plugins"], ("command 'sly': /exit is already taken by rnnplay",),
                 id="command-alias-taking-a-built-in-alias"),
    pytest.param("rnnplay-sly-names", ["plugins"], ("command 'nousage': usage must be a one-line string",),
                 id="command-without-a-usage-line"),
]


@pytest.fixture
def host_with(faulty_site: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process loads the faulty plugins afresh; RNNPLAY_LOAD_PLUGINS is the test's to set."""
    monkeypatch.syspath_prepend(str(faulty_site))
    reset_host()
    yield
    reset_host()


@pytest.fixture(scope="module")
def listings() -> dict[tuple[str, tuple[str, ...]], tuple[int, pytest.CaptureResult[str]]]:
    """What each command of LISTING gave (its exit status, stdout and stderr), by RNNPLAY_LOAD_PLUGINS and its
    words: the rows that check another part of the same command's output read it from here (the command, its
    children included, is the same, and so is what it says)."""
    return {}


@pytest.mark.parametrize(("load", "args", "mentions"), LISTING)
def test_listing(load: str, args: list[str], mentions: tuple[str, ...], host_with: None,
                 listings: dict[tuple[str, tuple[str, ...]], tuple[int, pytest.CaptureResult[str]]],
                 monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    if (load, tuple(args)) not in listings:
        monkeypatch.setenv("RNNPLAY_LOAD_PLUGINS", load)
        listings[load, tuple(args)] = cli.main(args), capsys.readouterr()
    code, out = listings[load, tuple(args)]
    assert code == 0
    assert "Traceback" not in out.err + out.out
    for words in mentions:
        assert words in out.out, out.out
    assert "\n  rnnplay: " not in out.out, out.out  # no plugin makes a built-in fail


def test_what_plugins_print_while_loading_goes_to_stderr(
    host_with: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RNNPLAY_LOAD_PLUGINS", "rnnplay-garbage-hook")
    monkeypatch.delitem(sys.modules, "rnnplay_garbage_hook", raising=False)  # imported afresh: it prints again
    assert cli.main(["plugins", "--json"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["failed"][0]["name"] == "rnnplay-garbage-hook"
    assert out.err == "rnnplay-garbage-hook says hello on stdout\n"


def test_unknown_names_in_load_plugins_are_a_warning_on_stderr(
    host_with: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RNNPLAY_LOAD_PLUGINS", "rnnplay-fault-sampel,rnnplay-fault-sampler")
    assert cli.main(["plugins"]) == 0
    assert capsys.readouterr().err == (
        "rnnplay: warning: RNNPLAY_LOAD_PLUGINS names rnnplay-fault-sampel (did you mean 'rnnplay-fault-sampler'?), "
        f"which is not installed; installed plugins: {', '.join(sorted(FAULTY))}\n"
    )


def test_many_unknown_names_are_one_warning(host_with: None, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RNNPLAY_LOAD_PLUGINS", ",".join(f"nope{i}" for i in range(500)) + ",rnnplay-fault-sampler")
    assert cli.main(["plugins"]) == 0
    [warning] = capsys.readouterr().err.splitlines()
    assert warning.startswith("rnnplay: warning: RNNPLAY_LOAD_PLUGINS names nope0, nope1, ")
    assert " nope9 and 490 more, which are not installed; installed plugins: rnnplay-exit-import, " in warning


# -- broken installs (hand-made dist-info folders): the one package is reported, every other command still runs ------
NAME_AND_VERSION = "Metadata-Version: 2.1\nName: rnnplay-broken-install\nVersion: 0.1\n"
BROKEN_INSTALLS = [
    pytest.param(NAME_AND_VERSION, b"[rnnplay]\nbad = \xff\xfe json\n",
                 ("rnnplay-broken-install: its installed metadata cannot be read (UnicodeDecodeError",),
                 id="entry-points-file-not-utf8"),
    pytest.param("Metadata-Version: 2.1\nVersion: 0.1\n", b"[rnnplay]\nbad = json\n",
                 ("its installed metadata cannot be read (ValueError: its METADATA has no Name)",),
                 id="metadata-without-a-name"),
    pytest.param("Metadata-Version: 2.1\nName: rnnplay-broken-install\n", b"[rnnplay]\nbad = json\n",
                 ("rnnplay-broken-install  ?",), id="metadata-without-a-version"),
    pytest.param(NAME_AND_VERSION, b"[rnnplay]\nbad = json:nothing_here\n",
                 ("rnnplay-broken-install: could not be imported: AttributeError",),
                 id="entry-point-to-a-missing-name"),
    pytest.param(NAME_AND_VERSION, b"[rnnplay]\nbad = rnnplay_no_such_module\n",
                 ("could not be imported: ModuleNotFoundError",), id="entry-point-to-a-missing-module"),
]


@pytest.mark.parametrize(("metadata_text", "entry_points", "mentions"), BROKEN_INSTALLS)
def test_broken_install(metadata_text: str, entry_points: bytes, mentions: tuple[str, ...], tmp_path: Path,
                        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    info = tmp_path / "site" / "rnnplay_broken_install-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(metadata_text)
    (info / "entry_points.txt").write_bytes(entry_points)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delenv("RNNPLAY_LOAD_PLUGINS", raising=False)
    reset_host()
    try:
        assert cli.main(["plugins"]) == 0
    finally:
        reset_host()
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    for words in mentions:
        assert words in out.out, out.out


# -- `rnnplay plugins install/uninstall/new` refusing bad input before pip or a file is touched, in process -------
MANAGING = [
    pytest.param(["install", ""], "no plugin given", id="install-empty-name"),
    pytest.param(["install", "--", "-rrequirements.txt"], "looks like an option", id="install-a-pip-option"),
    pytest.param(["install", "notes.txt"], "is a file, but not a wheel or source archive", id="install-a-text-file"),
    pytest.param(["install", "./nowhere"], "./nowhere does not exist", id="install-a-missing-folder"),
    pytest.param(["install", "empty"], "is not a Python package folder", id="install-a-folder-without-pyproject"),
    pytest.param(["install", "-e", "rnnplay-gru"], "-e installs a folder", id="install-editable-by-name"),
    pytest.param(["uninstall", ""], "no plugin given", id="uninstall-empty-name"),
    pytest.param(["uninstall", "--", "-y"], "looks like an option", id="uninstall-a-pip-option"),
    pytest.param(["uninstall", "rnnplay"], "refusing to uninstall rnnplay itself", id="uninstall-rnnplay"),
    pytest.param(["uninstall", "numpy"], "is installed but is not an rnnplay plugin", id="uninstall-not-a-plugin"),
    pytest.param(["uninstall", "rnnplay-nothing-here"], "is not installed", id="uninstall-not-installed"),
    pytest.param(["new", "demo", "--dir", "missing/deeper"], "is not a folder", id="new-in-a-missing-folder"),
    pytest.param(["new", "demo", "--dir", "notes.txt"], "is not a folder", id="new-in-a-file"),
    pytest.param(["new", "demo", "--dir", "taken"], "already exists", id="new-over-an-existing-package"),
    pytest.param(["new", ""], "is not a usable plugin name", id="new-empty-name"),
    pytest.param(["new", "../escape"], "is not a usable plugin name", id="new-name-with-a-path"),
    pytest.param(["new", "lstm"], "already provided by rnnplay", id="new-with-a-built-in-cell-name"),
    pytest.param(["install", "-U", "RNNPlay"], "refusing to install rnnplay itself", id="install-rnnplay-by-name"),
    pytest.param(["install", RNNPLAY_CHECKOUT], "refusing to install rnnplay itself", id="install-rnnplay-checkout"),
]


@pytest.mark.parametrize(("args", "mentions"), MANAGING)
def test_managing_plugins_refuses(args: list[str], mentions: str, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(sandbox.work)
    (sandbox.work / "notes.txt").write_text("not a package\n")
    (sandbox.work / "empty").mkdir()
    (sandbox.work / "taken" / "rnnplay-demo").mkdir(parents=True)
    before = sandbox.snapshot()
    assert cli.main(["plugins", *args]) == 1
    out = capsys.readouterr()
    assert out.out == "" and out.err.startswith("rnnplay: error: ") and out.err.count("\n") == 1, out.err
    assert mentions in out.err
    assert_nothing_outside(before, sandbox.snapshot())
    assert sorted(p.name for p in sandbox.work.iterdir()) == ["empty", "notes.txt", "taken"]


# -- real commands in a sandbox --------------------------------------------------------------------------------
def error(*mentions: str) -> dict:
    return {"code": 1, "mentions": mentions}


def works(*mentions: str, allowed: tuple[str, ...] = (), not_on_stdout: str | None = None, script: str = "") -> dict:
    """Expect the command to go on past the fault and end well; a REPL ``script`` ("failed") that shows an error
    line ends with exit 1, as a script with a failed line does."""
    return {"code": 0, "mentions": mentions, "allowed": allowed, "not_on_stdout": not_on_stdout,
            "script_failed": script == "failed"}


def pip_fails(*mentions: str) -> dict:
    # pip may cache what it fetched; its User-Agent runs `rustc --version`, and rustup's proxy writes its settings
    return {"code": 1, "mentions": mentions, "allowed": ("cache/pip/", "home/.rustup/")}


SAMPLE = ["sample", MODEL, "--seed", "To", "--length", "12", "--rng-seed", "1"]
REPL_HISTORY = ("data/rnnplay/history",)  # the REPL keeps what was typed
TRAIN_FLAKY = ["train", "corpus.txt", "--cell", "flaky", *TINY, "--out", "m.npz"]
FAULT_IN = "FAULT_CELL_RAISES_IN"
SLOW_AFTER = {"RNNPLAY_SLOW_PLUGIN_SECONDS": "0.1"}  # an import or hook is named slow sooner than after 3 s
ROWS = [
    # used while it fails: one line naming the package
    pytest.param([*SAMPLE, "--sampler", "explode"], "rnnplay-fault-sampler,rnnplay-fault-cell", {},
                 error("rnnplay-fault-sampler", "explode"), id="sampler-raises-while-generating"),
    pytest.param([*SAMPLE, "--sampler", "explode", "--heat=always"], "rnnplay-fault-sampler,rnnplay-fault-cell", {},
                 error("rnnplay-fault-sampler", "explode"), id="sampler-raises-while-generating-in-heat-mode"),
    pytest.param(SAMPLE, "rnnplay-fault-cell", {FAULT_IN: "step"},
                 error("rnnplay-fault-cell"), id="cell-step-raises-while-sampling"),
    pytest.param(SAMPLE, "rnnplay-fault-cell", {FAULT_IN: "forward"},
                 error("rnnplay-fault-cell"), id="cell-forward-raises-while-priming"),
    pytest.param(["score", MODEL, "--text", "To be"], "rnnplay-fault-cell", {FAULT_IN: "forward"},
                 error("rnnplay-fault-cell"), id="cell-forward-raises-while-scoring"),
    pytest.param(["neurons", MODEL, "--unit", "0:3", "--text", "To be"], "rnnplay-fault-cell", {FAULT_IN: "step"},
                 error("rnnplay-fault-cell"), id="cell-step-raises-while-showing-a-neuron"),
    pytest.param(["neurons", MODEL, "--find", "line-position", "--file", "corpus.txt"], "rnnplay-fault-cell",
                 {FAULT_IN: "step"}, error("rnnplay-fault-cell"), id="cell-step-raises-while-finding-neurons"),
    pytest.param(TRAIN_FLAKY, "rnnplay-fault-cell", {FAULT_IN: "forward"},
                 error("rnnplay-fault-cell", "flaky"), id="cell-forward-raises-while-training"),
    pytest.param(TRAIN_FLAKY, "rnnplay-fault-cell", {FAULT_IN: "backward"},
                 error("rnnplay-fault-cell", "flaky"), id="cell-backward-raises-while-training"),
    pytest.param(["train", "corpus.txt", "--resume", MODEL, "--steps", "3", "--out", "m.npz"], "rnnplay-fault-cell",
                 {FAULT_IN: "backward"}, error("rnnplay-fault-cell"), id="cell-raises-while-resuming"),
    pytest.param(["corpus", "show", "boom:x"], "rnnplay-fault-loader", {},
                 error("rnnplay-fault-loader", "boom"), id="loader-raises-in-corpus-show"),
    pytest.param(["train", "boom:x", *TINY, "--out", "m.npz"], "rnnplay-fault-loader", {},
                 error("rnnplay-fault-loader", "boom"), id="loader-raises-in-train"),
    pytest.param(["corpus", "show", "boom:x"], f"rnnplay-fault-loader,{BROKEN_ON_LOAD}", {},
                 error("rnnplay-fault-loader"), id="loader-raises-beside-plugins-that-fail-to-load"),
    pytest.param(["corpus", "show", "bytes:x"], "rnnplay-wild", {},
                 error("the corpus loader 'bytes' (from rnnplay-wild) returned a Corpus whose text is bytes, "
                       "not a str;"),
                 id="loader-returns-bytes"),
    pytest.param(["corpus", "show", "loud:x"], "rnnplay-wild", {}, works("\\x1b[31mnnn", not_on_stdout="n" * 201),
                 id="loader-corpus-name-is-escaped-and-cut"),
    pytest.param(SAMPLE, "rnnplay-fault-cell", {"FAULT_CELL_RETURNS": "none"},
                 error("the plugin rnnplay-fault-cell failed while generating (with the sampler 'temperature'"),
                 id="built-in-sampler-trips-on-what-a-plugin-cell-returned"),
    pytest.param(SAMPLE, "rnnplay-fault-cell", {"FAULT_CELL_RETURNS": "nan"},
                 error("rnnplay-fault-cell", "scores for the next character are NaN"),
                 id="plugin-cell-whose-state-turns-nan-while-generating"),
    pytest.param(["score", MODEL, "--text", "To be"], "rnnplay-fault-cell", {"FAULT_CELL_RETURNS": "nan"},
                 error("rnnplay-fault-cell", "scores are NaN"), id="plugin-cell-whose-state-turns-nan-while-scoring"),
    pytest.param(TRAIN_FLAKY, "rnnplay-fault-cell", {"FAULT_CELL_RETURNS": "junk"},
                 error("the cell 'flaky' failed to create its parameters (ValueError: init_params returned junk as a "
                       "str, not a numpy array); report it to the authors of rnnplay-fault-cell"),
                 id="cell-parameter-that-is-not-an-array"),
    pytest.param([*TRAIN_FLAKY, "--steps", "20"], "rnnplay-fault-cell", {"FAULT_CELL_RETURNS": "nan"},
                 {**error("the model's cell 'flaky' (from rnnplay-fault-cell) gives non-finite values from the start",
                          "does not mend", "report it to the authors of rnnplay-fault-cell"),
                  "allowed": ("work/m.npz",)},
                 id="cell-of-nan-diverges-from-the-first-step"),  # it advised a lower --lr and to resume
    pytest.param(TRAIN_FLAKY, "rnnplay-fault-cell", {"FAULT_CELL_RETURNS": "slash"},
                 error("init_params named a parameter 'in/W', which a checkpoint cannot hold", "rnnplay-fault-cell"),
                 id="cell-parameter-name-a-checkpoint-cannot-hold"),  # it trained, saved, and never loaded again
    pytest.param([*SAMPLE, "--sampler", "negative"], "rnnplay-fault-cell,rnnplay-wild", {},
                 error("rnnplay-wild", "the character id -1"), id="sampler-gives-a-negative-id"),
    pytest.param([*SAMPLE, "--sampler", "oom"], "rnnplay-fault-cell,rnnplay-wild", {},
                 error("out of memory (the oom sampler gives up)"), id="sampler-raises-memoryerror"),
    pytest.param([*SAMPLE, "--sampler", "endless"], "rnnplay-fault-cell,rnnplay-wild", {},
                 works(), id="sampler-that-never-stops-gets-its-length"),
    pytest.param(["repl", MODEL], "rnnplay-fault-cell,rnnplay-wild",
                 {"STDIN": "/halt\n/ctrlc\n/sampler negative\nTo\n"},
                 works("/halt (from rnnplay-wild) failed: SystemExit: 5", "/ctrlc (from rnnplay-wild) failed: "
                       "KeyboardInterrupt", "the sampler 'negative' (from rnnplay-wild) failed while generating",
                       allowed=REPL_HISTORY,
                       script="failed"), id="repl-plugin-command-and-sampler-faults-are-named"),
    pytest.param(["repl", MODEL], "rnnplay-fault-cell", {"STDIN": "/score To be, or not\n/neurons find "
                                                          "line-position\n", "FAULT_CELL_RETURNS": "nan",
                                                          FAULT_IN: "step"},
                 works("/score failed with the cell 'flaky' from rnnplay-fault-cell: ValueError: ",
                       "report it to the authors of rnnplay-fault-cell",
                       "/neurons failed in the plugin rnnplay-fault-cell: RuntimeError: the flaky cell failed in step",
                       allowed=REPL_HISTORY,
                       script="failed"), id="repl-built-in-command-failing-in-a-plugin-cell-names-the-plugin"),
    pytest.param(["repl", MODEL], "rnnplay-fault-cell,rnnplay-wild", {"STDIN": "/compare To\n"},
                 works("the sampler 'negative' (from rnnplay-wild) failed while comparing samplers",
                       "negative failed (the error above)", "greedy", "top-p", allowed=REPL_HISTORY,
                       script="failed"),
                 id="repl-compare-keeps-the-rows-of-samplers-that-work"),  # one failing sampler showed no row at all
    pytest.param(["repl", MODEL], "rnnplay-fault-cell,rnnplay-wild", {"STDIN": "/sampler oom\nTo\n"},
                 works("error: out of memory (the oom sampler gives up)", allowed=REPL_HISTORY,
                       script="failed"),
                 id="repl-sampler-raising-memoryerror-is-one-line"),
    pytest.param(["repl"], "rnnplay-sly-names", {"STDIN": "/exit\nTo\n"},
                 works(not_on_stdout="the sly command ran", allowed=REPL_HISTORY), id="repl-exit-stays-rnnplays"),
    pytest.param(["neurons", MODEL, "--find", "line-position", "--file", "/dev/zero"], "rnnplay-fault-cell", {},
                 error("/dev/zero is a character device"), id="neurons-file-is-a-device"),
    # not loaded: the model's cell is named, and what to do
    pytest.param(SAMPLE, "", {}, error("rnnplay-fault-cell", "RNNPLAY_LOAD_PLUGINS leaves out"),
                 id="model-cell-plugin-left-out-by-load-plugins"),
    pytest.param(SAMPLE, "rnnplay-exit-import", {}, error("rnnplay-fault-cell", "RNNPLAY_LOAD_PLUGINS leaves out"),
                 id="model-cell-plugin-left-out-beside-a-failing-one"),
    pytest.param(SAMPLE, "rnnplay-sly-names", {},
                 error("rnnplay-fault-cell", "the cell 'flaky' loaded now is another, from rnnplay-sly-names"),
                 id="model-cell-of-the-same-name-from-another-plugin"),
    # failing to load: the plugin is skipped and the command works (not "interrupted", not exit 3)
    pytest.param(SAMPLE, "rnnplay-fault-cell,rnnplay-interrupt-import", {}, works("To"),
                 id="sample-despite-keyboardinterrupt-on-import"),
    pytest.param(SAMPLE, "rnnplay-fault-cell,rnnplay-exit-import", {}, works("To"),
                 id="sample-despite-sys-exit-on-import"),
    pytest.param(SAMPLE, "rnnplay-fault-cell,rnnplay-odd-import", {}, works("To"),
                 id="sample-despite-baseexception-on-import"),
    pytest.param(["score", MODEL, "--text", "To be"], f"rnnplay-fault-cell,{BROKEN_ON_LOAD}", {}, works(),
                 id="score-despite-every-load-failure"),
    pytest.param(TRAIN_FLAKY, f"rnnplay-fault-cell,{BROKEN_ON_LOAD}", {}, works(allowed=("work/m.npz",)),
                 id="train-despite-every-load-failure"),
    pytest.param(["corpus", "show", "corpus.txt"], BROKEN_ON_LOAD, {}, works(),
                 id="corpus-show-despite-every-load-failure"),
    pytest.param(["plugins"], BROKEN_ON_LOAD, {}, works("rnnplay-interrupt-import", "rnnplay-exit-import"),
                 id="plugins-listing-in-a-subprocess"),
    pytest.param(SAMPLE, "rnnplay-fault-cell,rnnplay-garbage-hook", {},
                 works("says hello on stdout", not_on_stdout="hello"), id="what-a-plugin-prints-stays-off-stdout"),
    pytest.param(["sample", "missing.npz"], "rnnplay-wild", {"WILD_CLOSE_STDOUT": "1"},
                 error("missing.npz: no such file"), id="plugin-closing-stdout-on-import-leaves-stderr-open"),
    pytest.param(["sample", "--seed-file", "corpus.txt", "--length", "5"], "rnnplay-sly-names", {"SLY_CHDIR": "1"},
                 works("To be, or not"), id="plugin-changing-the-working-folder-is-undone"),
    # slow to import or to register: named on stderr while the command waits, then it works
    pytest.param([*SAMPLE, "--sampler", "sleepy"], "rnnplay-fault-cell,rnnplay-slow-import",
                 {"SLOW_IMPORT_SECONDS": "0.5", **SLOW_AFTER},
                 works("rnnplay-slow-import", "`RNNPLAY_LOAD_PLUGINS=rnnplay-fault-cell` skips it"),
                 id="slow-import-is-named"),
    pytest.param([*SAMPLE, "--sampler", "sleepy"], "rnnplay-fault-cell,rnnplay-slow-import",
                 {"SLOW_IMPORT_SECONDS": "0", "SLOW_HOOK_SECONDS": "0.5", **SLOW_AFTER},
                 works("running plugin rnnplay-slow-import's register_samplers hook"), id="slow-hook-is-named"),
    # installing what the index does not have
    pytest.param(["plugins", "install", "rnnplay-gru"], "", {"PIP_NO_INDEX": "1"},
                 pip_fails("no distribution named rnnplay-gru", "plugins/rnnplay-gru", "not published yet"),
                 id="install-an-unpublished-example-points-to-its-folder"),
    pytest.param(["plugins", "install", "rnnplay-nothing-here"], "", {"PIP_INDEX_URL": "EMPTY_INDEX"},
                 pip_fails("no distribution named rnnplay-nothing-here", "rnnplay-NAME"),
                 id="install-a-name-the-index-lacks"),
    pytest.param(["plugins", "install", str(FIXTURES / "rnnplay-unbuildable")], "", {"PIP_INDEX_URL": "EMPTY_INDEX"},
                 pip_fails("needs 'rnnplay-no-such-build-requirement' (its pyproject.toml's [build-system] requires"),
                 id="install-a-folder-whose-build-requirement-the-index-lacks"),
]


@pytest.mark.parametrize(("args", "load", "env", "expect"), ROWS)
def test_plugin_fault(args: list[str], load: str, env: dict[str, str], expect: dict, sandbox: Sandbox,
                      faulty_site: Path, flaky_model: Path, empty_index: str, capsys: pytest.CaptureFixture[str],
                      monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(flaky_model, sandbox.work / MODEL)
    (sandbox.work / "corpus.txt").write_text(CORPUS)
    env = {k: empty_index if v == "EMPTY_INDEX" else v for k, v in env.items()}
    stdin = env.pop("STDIN", None)  # lines for the REPL
    env = {"PYTHONPATH": on_path(faulty_site), "RNNPLAY_LOAD_PLUGINS": load, "PIP_CONFIG_FILE": os.devnull,
           "PIP_NO_INPUT": "1", **env}
    before = sandbox.snapshot()
    if needs_a_process(args, load, env, stdin):
        out = sandbox.run(args, timeout=90, stdin=stdin, env=env)
    else:  # the same entry point and plugin discovery, the faulty plugins found on this process's sys.path
        out = run_here(sandbox, args, faulty_site, env, capsys, monkeypatch)
    if expect["code"] == 0:
        assert_worked(out, expect["mentions"], code=int(expect["script_failed"]))
        assert expect["not_on_stdout"] is None or expect["not_on_stdout"] not in out.stdout, out.stdout
    else:
        assert_one_line_error(out, mentions=expect["mentions"], code=expect["code"])
    assert_nothing_outside(before, sandbox.snapshot(), allowed=expect.get("allowed", ()))


def needs_a_process(args: list[str], load: str, env: dict[str, str], stdin: str | None) -> bool:
    """Whether a row's command runs in a new interpreter rather than through rnnplay.ui.cli.main in this one."""
    return (
        args[0] == "train"  # it leaves by os._exit
        or args[0] == "plugins"  # pip's output goes to the process's stdout and stderr; one row is the listing's own
        or stdin is not None  # the REPL reads its lines
        or "endless" in args  # were the length not kept, it would never end: a process can be timed out
        or "WILD_CLOSE_STDOUT" in env or "SLY_CHDIR" in env  # what the plugin does is to its process
        or "rnnplay-slow-import" in load  # named on stderr by a timer as the process waits
    )


def assert_worked(out: Outcome, mentions: tuple[str, ...], code: int = 0) -> None:
    assert "Traceback" not in out.stderr + out.stdout, out.stderr[-3000:]
    assert out.code == code, f"exit {out.code}; stderr: {out.stderr[-2000:]}"
    assert not [ln for ln in out.error_lines if ln.startswith("rnnplay: error")], out.stderr
    for words in mentions:
        assert words in out.stdout + out.stderr, out.stdout + out.stderr


# -- Ctrl-C while a slow plugin imports still interrupts -----------------------------------------------------------
def test_ctrl_c_during_a_slow_import_interrupts(sandbox: Sandbox, faulty_site: Path) -> None:
    env = {**sandbox.env, "PYTHONPATH": on_path(faulty_site), "RNNPLAY_LOAD_PLUGINS": "rnnplay-slow-import",
           "SLOW_IMPORT_SECONDS": "30", **SLOW_AFTER}
    proc = subprocess.Popen([sys.executable, "-m", "rnnplay", "plugins"], cwd=sandbox.work, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        said = proc.stderr.readline()  # waits until the host names the slow plugin (at worst, its 30 s import)
        assert said.startswith("rnnplay: warning: still importing plugin rnnplay-slow-import"), said
        proc.send_signal(signal.SIGINT)
        rest = proc.stderr.read()
        assert proc.wait(timeout=60) == 130
    finally:
        proc.kill()
        proc.wait()
    assert rest == "rnnplay: interrupted\n"
