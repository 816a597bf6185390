"""The plugin host: hooks, registries, contract checks, robust loading, `rnnplay plugins`, scaffolding names.

Broken plugins are real packages (tests/fixtures/), installed with pip into a
temporary folder that is put on sys.path (in process) or PYTHONPATH (for the CLI).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import ClassVar

import numpy as np
import pluggy
import pytest
from child_env import child_env
from plugin_fixtures import pip_install_fixtures

from rnnplay.core.cells import RNNCell
from rnnplay.core.errors import RnnplayError
from rnnplay.core.params import Param
from rnnplay.core.plugin_record import Provider
from rnnplay.corpora import Corpus
from rnnplay.plugins import discovery, hookspecs
from rnnplay.plugins.contracts import HOOK_KINDS, contract_problem
from rnnplay.plugins.hookspecs import Register, hookimpl
from rnnplay.plugins.host import PluginHost, reset_host
from rnnplay.plugins.scaffold import PluginNames
from rnnplay.ui.cli import cmd_plugins
from rnnplay.ui.cli import main as cli_main
from rnnplay.ui.cli.cmd_plugins import first_plugin_hint
from rnnplay.ui.cli.plugin_pip import NOT_ON_INDEX, not_on_index, pip

ROOT = Path(__file__).resolve().parents[1]
BROKEN = ["rnnplay-broken-import", "rnnplay-broken-hook", "rnnplay-taken-name", "rnnplay-bad-contract",
          "rnnplay-wrong-args"]
RNNPLAY = [sys.executable, "-m", "rnnplay"]


# -- plugins registered in process, through every hook ------------------------------------
class Greedy:
    """A sampler meeting the Sampler contract: always the most likely character."""

    name = "greedy-test"
    help = "always the most likely next character"
    params: ClassVar[dict] = {}

    def generate(self, stepper, logits, state, length, rng, **params):
        for _ in range(length):
            i = int(np.argmax(logits))
            yield i
            out, state = stepper(np.array([i]), state)
            logits = out[0]


class Shout:
    """A corpus loader meeting the CorpusLoader contract."""

    name = "shout"
    help = "upper-cased text from a file"

    def load(self, spec, progress):
        text = Path(spec).read_text().upper()
        return Corpus(f"shout:{spec}", text, spec)


class Ping:
    """A slash command meeting the Command contract."""

    name = "ping"
    help = "answer pong"
    usage = "/ping"
    aliases = ("p",)

    def run(self, session, argline):
        session.append("pong")


class EverythingPlugin:
    """One plugin implementing all four hooks, as a third-party package would."""

    @hookimpl
    def register_cells(self, register: Register) -> None:
        class Tiny(RNNCell):
            name = "tiny"

        register(Tiny())

    @hookimpl
    def register_samplers(self, register: Register) -> None:
        register(Greedy())

    @hookimpl
    def register_corpus_loaders(self, register: Register) -> None:
        register(Shout())

    @hookimpl
    def register_commands(self, register: Register) -> None:
        register(Ping())


@pytest.fixture
def host() -> PluginHost:
    return PluginHost(load_entry_points=False)


def test_builtin_cells_come_through_the_hooks(host: PluginHost) -> None:
    assert host.cells["rnn"].plugin == host.cells["lstm"].plugin == "rnnplay"
    assert "register_cells" in host.plugins["rnnplay"].hooks
    assert host.cell_plugin("lstm") is None  # built-ins need no install
    assert not host.failures


def test_a_plugin_registers_through_every_hook(host: PluginHost) -> None:
    host.register(EverythingPlugin(), "rnnplay-everything")
    assert not host.failures
    info = host.plugins["rnnplay-everything"]
    assert info.hooks == list(HOOK_KINDS)
    assert info.provides == {"cells": ["tiny"], "samplers": ["greedy-test"], "corpus_loaders": ["shout"],
                             "commands": ["ping"]}
    assert host.cell_plugin("tiny") == "rnnplay-everything"
    assert host.get("samplers", "greedy-test").help.startswith("always")
    assert host.corpus_loaders["shout"].plugin == host.commands["ping"].plugin == "rnnplay-everything"


def test_a_plugin_registered_under_no_name_or_a_taken_one_is_one_line(host: PluginHost) -> None:
    """An empty name raised a KeyError from deep in the hook calls; 'rnnplay' passed a plugin off as rnnplay's."""
    for name in ("", "  ", None, 5):
        with pytest.raises(RnnplayError, match="registered under a name"):
            host.register(EverythingPlugin(), name)
    host.register(EverythingPlugin(), "rnnplay-everything")
    for name in ("rnnplay", "rnnplay-everything"):
        with pytest.raises(RnnplayError, match=f"named '{name}' is already registered"):
            host.register(EverythingPlugin(), name)
    assert not host.failures


def test_unknown_names_get_a_suggestion(host: PluginHost) -> None:
    suggestion = r"unknown cell 'lstn' \(did you mean 'lstm' or 'lnlstm'\?\); available: lnlstm, lstm, rnn"
    with pytest.raises(RnnplayError, match=suggestion):
        host.cell("lstn")


def test_an_unknown_kind_is_one_line_naming_the_kinds(host: PluginHost) -> None:
    """docs/plugins.md promises a one-line error from ``host.get``: an unknown kind raised a bare KeyError."""
    kinds = r"no plugin kind 'sampler' \(did you mean 'samplers'\?\); the kinds are: cells, samplers, corpus_loaders"
    with pytest.raises(RnnplayError, match=kinds):
        host.get("sampler", "greedy")


def test_a_checkpoint_cell_that_is_not_installed_names_the_distribution(
    host: PluginHost, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # by name only if it is published (it said "run `rnnplay plugins install rnnplay-foo`", which pip refuses for a
    # plugin that never was), else from its source folder
    with pytest.raises(RnnplayError, match=r"plugin rnnplay-foo, .*: install the plugin that provides it \(`rnnplay "
                                           r"plugins install rnnplay-foo` if it is published, or `rnnplay plugins "
                                           r"install PATH` from its source folder\)$"):
        host.resolve_cell("foo", "rnnplay-foo")
    # The examples in this checkout's plugins/ are not on the package index: the message gives their folder.
    monkeypatch.chdir(ROOT)
    with pytest.raises(RnnplayError, match=r"from the plugin RNNPlay_GRU, .*: run `rnnplay plugins install "
                                           r"\./plugins/rnnplay-gru` \(an example plugin of rnnplay, not on the"):
        host.resolve_cell("gru", "RNNPlay_GRU")
    monkeypatch.chdir(tmp_path)
    bundled = re.escape(str(ROOT / "plugins" / "rnnplay-gru"))
    with pytest.raises(RnnplayError, match=f"run `rnnplay plugins install {bundled}`"):
        host.resolve_cell("gru", "rnnplay-gru")
    with pytest.raises(RnnplayError, match="which no installed plugin provides"):
        host.resolve_cell("gru", None)
    assert host.resolve_cell("lstm", None) is host.cell("lstm")


class RaisingPlugin:
    @hookimpl
    def register_cells(self, register: Register) -> None:
        raise ValueError("no cells today")

    @hookimpl
    def register_corpus_loaders(self, register: Register) -> None:
        register(Shout())


class TypoPlugin:
    @hookimpl
    def register_cell(self, register: Register) -> None:  # not a hook: the spec is register_cells
        register(RNNCell())


class WrongArgumentPlugin:
    @hookimpl
    def register_cells(self, register: Register, config: dict) -> None:
        register(RNNCell())


def test_a_hook_that_raises_is_reported_and_the_plugins_other_hooks_still_work(host: PluginHost) -> None:
    host.register(RaisingPlugin(), "rnnplay-raising")
    assert [str(f) for f in host.failures] == [
        "plugin rnnplay-raising skipped: register_cells raised ValueError: no cells today"
    ]
    assert host.corpus_loaders["shout"].plugin == "rnnplay-raising"
    assert set(host.cells) == {"rnn", "lstm", "lnlstm"}


def test_unknown_hooks_and_mismatched_signatures_are_reported(host: PluginHost) -> None:
    host.register(TypoPlugin(), "rnnplay-typo")
    host.register(WrongArgumentPlugin(), "rnnplay-wrong-args")
    reasons = {f.plugin: f.reason for f in host.failures}
    assert reasons["rnnplay-typo"].startswith("implements register_cell, which is not an rnnplay hook")
    assert reasons["rnnplay-wrong-args"].startswith("its register_cells hook asks for config, which rnnplay does not")


class ExitingPlugin:
    @hookimpl
    def register_cells(self, register: Register) -> None:
        raise KeyboardInterrupt  # raised by the plugin itself: no Ctrl-C was pressed

    @hookimpl
    def register_samplers(self, register: Register):
        return [Greedy()]  # returned instead of registered

    @hookimpl
    def register_corpus_loaders(self, register: Register) -> None:
        sys.exit(2)


def test_baseexceptions_and_returned_values_from_hooks_are_that_plugins_failure(host: PluginHost) -> None:
    host.register(ExitingPlugin(), "rnnplay-exiting")
    assert [str(f) for f in host.failures] == [
        "plugin rnnplay-exiting skipped: register_cells raised KeyboardInterrupt",
        "plugin rnnplay-exiting skipped: register_samplers returned list (it is ignored): "
        "a hook calls register(obj) for each object and returns None",
        "plugin rnnplay-exiting skipped: register_corpus_loaders raised SystemExit: 2",
    ]
    assert "greedy-test" not in host.samplers


class CtrlCPlugin:
    @hookimpl
    def register_cells(self, register: Register) -> None:
        os.kill(os.getpid(), signal.SIGINT)  # the user presses Ctrl-C while this hook runs
        time.sleep(30)


def test_a_ctrl_c_while_plugins_load_still_interrupts(host: PluginHost) -> None:
    with pytest.raises(KeyboardInterrupt):
        host.register(CtrlCPlugin(), "rnnplay-slow-hook")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the host's watch is gone


def test_a_ctrl_c_still_stops_when_a_handler_set_inside_blame_is_undone_late(host: PluginHost) -> None:
    try:
        with host.blame("cells", "lstm", "training"):
            watching = signal.getsignal(signal.SIGINT)
            signal.signal(signal.SIGINT, lambda signum, frame: None)  # a trainer's own handler, set inside
        signal.signal(signal.SIGINT, watching)  # ... and put back only after blame has ended
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(30)
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def test_blame_names_the_package_whose_code_raised(host: PluginHost) -> None:
    with pytest.raises(RnnplayError, match=r"^the sampler 'top-k' \(from rnnplay\) failed while generating: "
                                           r"SystemExit: 4; this is a bug in rnnplay"), \
            host.blame("samplers", "top-k", "generating"):
        sys.exit(4)
    with pytest.raises(RnnplayError, match=r"^already one line$"), host.blame("samplers", "top-k", "generating"):
        raise RnnplayError("already one line")
    with pytest.raises(RnnplayError, match="failed while generating: KeyboardInterrupt; "), \
            host.blame("samplers", "top-k", "generating"):
        raise KeyboardInterrupt  # raised by code, not by a key
    with pytest.raises(KeyboardInterrupt), host.blame("samplers", "top-k", "generating"):
        os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C still stops
        time.sleep(30)
    host.register(EverythingPlugin(), "rnnplay-everything")  # its classes live in this module
    with pytest.raises(RnnplayError) as raised, host.blame("samplers", "greedy-test", "generating"):
        raise ValueError("bad\nsecond line")
    assert str(raised.value) == (
        "the sampler 'greedy-test' (from rnnplay-everything) failed while generating: ValueError: bad; "
        "report it to the authors of rnnplay-everything, or `rnnplay plugins uninstall rnnplay-everything`"
    )


def test_blame_names_a_plugin_cell_that_fails_under_a_builtin_sampler(tmp_path: Path) -> None:
    (tmp_path / "rnnplay_stepper.py").write_text(
        "from rnnplay.core.cells import RNNCell\n"
        "class Stepper(RNNCell):\n    name = 'stepper'\n"
        "    def step(self, params, x, state):\n        raise ValueError('no step today')\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        import rnnplay_stepper
    finally:
        sys.path.remove(str(tmp_path))

    class Plugin:
        @hookimpl
        def register_cells(self, register: Register) -> None:
            register(rnnplay_stepper.Stepper())

    host = PluginHost(load_entry_points=False)
    host.register(Plugin(), "rnnplay-stepper")
    cell = host.cell("stepper")
    with pytest.raises(RnnplayError) as raised, host.blame("samplers", "temperature", "generating"):
        cell.step({}, None, None)
    assert str(raised.value).startswith(
        "the plugin rnnplay-stepper failed while generating (with the sampler 'temperature' from rnnplay): "
        "ValueError: no step today; report it to the authors of rnnplay-stepper"
    )


@pytest.mark.parametrize(
    ("hook", "obj", "problem"),
    [
        ("register_cells", object(), "object lacks name, state_size, init_params, forward, backward, step"),
        ("register_cells", type("C", (RNNCell,), {"name": "two words"})(), "name must be a word of 1 to 64"),
        ("register_cells", type("C", (RNNCell,), {"name": "x" * 65})(), "name must be a word of 1 to 64"),
        ("register_cells", type("C", (RNNCell,), {"name": "\x1b[2J"})(), "got '\\x1b[2J'"),
        ("register_cells", type("C", (RNNCell,), {"state_size": 0})(), "state_size must be an int >= 1"),
        ("register_samplers", type("S", (Greedy,), {"params": [1]})(), "params must be a dict of Param"),
        ("register_samplers", type("S", (Greedy,), {"help": None})(), "help must be a one-line string"),
        ("register_corpus_loaders", type("L", (), {"name": "x", "help": "h"})(), "L lacks load"),
        ("register_commands", type("K", (Ping,), {"aliases": "p"})(), "aliases must be a tuple"),
        ("register_commands", type("K", (Ping,), {"aliases": ("p q",)})(), "aliases must be a tuple of names"),
        ("register_samplers", type("S", (Greedy,), {"help": "two\nlines"})(), "help must be a one-line string"),
        ("register_commands", type("K", (), {"name": "k", "help": "h", "run": print})(), "K lacks usage, aliases"),
        ("register_commands", type("K", (Ping,), {"name": "MyCmd"})(), "/MyCmd has capitals, and commands are "
                                                                      "typed in lower case: /mycmd"),
        ("register_commands", type("K", (Ping,), {"aliases": ("P",)})(), "/P has capitals"),
        ("register_samplers", type("S", (Greedy,), {"params": {"length": Param("length", int, 5, "")}})(),
         "may not be named 'length', which generate() already takes"),
        ("register_samplers", type("S", (Greedy,), {"params": {"p": Param("p", float, 5.0, "", max=1.0)}})(),
         "the default of p is outside its own bounds"),
        ("register_samplers", type("S", (Greedy,), {"params": {"k": Param("top_k", int, 5, "")}})(),
         "sampler 'greedy-test': params['k'] is a Param named 'top_k', which /help and its errors would show, "
         "where /set and --set take 'k'; name both the same"),
    ],
)
def test_contract_checks(hook: str, obj: object, problem: str) -> None:
    assert problem in (contract_problem(hook, obj) or "")


def test_contract_check_accepts_the_examples() -> None:
    assert contract_problem("register_cells", RNNCell()) is None
    for hook, obj in [("register_samplers", Greedy()), ("register_corpus_loaders", Shout()),
                      ("register_commands", Ping())]:
        assert contract_problem(hook, obj) is None


# -- real broken packages, installed with pip -------------------------------------------------
@pytest.fixture(scope="module")
def broken_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The five broken fixture packages, pip-installed into one folder."""
    return pip_install_fixtures(BROKEN, tmp_path_factory.mktemp("broken"))


def test_a_bad_slow_plugin_seconds_is_one_line_where_children_list_the_plugins(broken_site: Path,
                                                                              tmp_path: Path) -> None:
    """With third-party plugins installed, `rnnplay plugins` lists them from child processes: the setting is said
    by the command itself, not as 'failed in the process that loads the plugins'."""
    env = child_env(broken_site, RNNPLAY_SLOW_PLUGIN_SECONDS="soon")
    env.pop("RNNPLAY_LOAD_PLUGINS", None)
    r = subprocess.run([*RNNPLAY, "plugins"], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert r.returncode == 1 and r.stderr == ("rnnplay: error: RNNPLAY_SLOW_PLUGIN_SECONDS=soon is not a number of "
                                              "seconds; give one such as RNNPLAY_SLOW_PLUGIN_SECONDS=3, or unset "
                                              "it\n"), r.stderr


@pytest.fixture
def with_broken(broken_site: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(broken_site))
    monkeypatch.delenv("RNNPLAY_LOAD_PLUGINS", raising=False)
    return broken_site


def test_each_broken_package_is_reported_once_by_name_and_skipped(with_broken: Path) -> None:
    host = PluginHost()
    reasons = {f.plugin: f.reason for f in host.failures}
    assert len(reasons) == len(host.failures) == 5
    assert reasons["rnnplay-broken-import"] == (
        "could not be imported: ModuleNotFoundError: No module named 'rnnplay_this_dependency_is_missing'"
    )
    assert reasons["rnnplay-broken-hook"] == "register_cells raised RuntimeError: the broken hook fell over"
    assert reasons["rnnplay-taken-name"] == "cell name 'lstm' is already taken by rnnplay"
    assert reasons["rnnplay-bad-contract"] == "HalfACell lacks backward, step"
    assert reasons["rnnplay-wrong-args"] == (  # was pluggy's "hookimpl definition: ... not be found in the hookspec"
        "its register_cells hook asks for config, which rnnplay does not pass (rnnplay calls register_cells(register): "
        "docs/plugins.md, Hook reference); report it to its authors")
    assert host.cells["lstm"].plugin == "rnnplay"  # the built-in keeps its name
    assert host.cells["fresh-rnn"].plugin == "rnnplay-taken-name"  # the plugin's good cell still loads
    assert "half" not in host.cells
    with pytest.raises(RnnplayError, match=r"plugins that failed to load: rnnplay-bad-contract, rnnplay-broken-hook"):
        host.cell("gru")


def test_load_plugins_variable_limits_what_loads(with_broken: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RNNPLAY_LOAD_PLUGINS", "")
    host = PluginHost()
    assert list(host.plugins) == ["rnnplay"] and not host.failures
    monkeypatch.setenv("RNNPLAY_LOAD_PLUGINS", "RNNPlay_Taken_Name, rnnplay-broken-hook")  # names normalised
    host = PluginHost()
    assert sorted(host.plugins) == ["rnnplay", "rnnplay-broken-hook", "rnnplay-taken-name"]
    assert sorted(f.plugin for f in host.failures) == ["rnnplay-broken-hook", "rnnplay-taken-name"]


def cli(*args: str, site: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = child_env(site)
    env.pop("RNNPLAY_LOAD_PLUGINS", None)
    return subprocess.run([*RNNPLAY, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


def test_cli_lists_and_trains_despite_broken_plugins(broken_site: Path, small_file: Path, tmp_path: Path) -> None:
    table = cli("plugins", site=broken_site, cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    assert re.search(r"^rnnplay \(built-in\)\s+\S+\s+cells.*cells: rnn, lstm, lnlstm", table.stdout, re.M)
    assert re.search(r"^rnnplay-taken-name\s+0\.0\.1\s+cells\s+cells: fresh-rnn$", table.stdout, re.M)
    failed = table.stdout.split("failed to load (skipped):\n")[1]
    for name in BROKEN:
        assert f"  {name}: " in failed

    listing = json.loads(cli("plugins", "--json", site=broken_site, cwd=tmp_path).stdout)
    assert {f["name"] for f in listing["failed"]} == set(BROKEN)
    by_name = {p["name"]: p for p in listing["plugins"]}
    assert by_name["rnnplay"]["builtin"] and by_name["rnnplay"]["cells"][:3] == ["rnn", "lstm", "lnlstm"]
    assert by_name["rnnplay-taken-name"]["cells"] == ["fresh-rnn"]

    train = cli("train", str(small_file), "--cell", "fresh-rnn", "--layers", "1", "--hidden", "16", "--batch-size", "4",
                "--seq-length", "16", "--steps", "5", "--out", "m.npz", site=broken_site, cwd=tmp_path)
    assert train.returncode == 0, train.stderr
    assert "Traceback" not in train.stderr
    meta = json.loads(str(np.load(tmp_path / "m.npz")["__meta__"]))
    assert (meta["cell"], meta["cell_plugin"]) == ("fresh-rnn", "rnnplay-taken-name")


def test_the_summary_says_a_plugin_that_failed_to_load_is_installed_but_not_loaded(tmp_path: Path) -> None:
    site = pip_install_fixtures(["rnnplay-broken-import"], tmp_path)
    table = cli("plugins", site=site, cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    assert "  rnnplay-broken-import: could not be imported" in table.stdout
    assert table.stdout.endswith("\nno plugins loaded: 1 installed plugin failed to load (listed above)\n")
    assert "no plugins installed" not in table.stdout


def test_a_checkpoint_whose_plugin_cell_changed_its_parameters_says_both_versions_and_both_sides(
    small_file: Path, tmp_path: Path
) -> None:
    """Saved by rnnplay-taken-name 0.0.0 when its cell's bias was `b`; 0.0.1 installed calls it `b_h`: the line said
    only 'missing layers.0.b_h'."""
    site = pip_install_fixtures(["rnnplay-taken-name"], tmp_path)
    train = cli("train", str(small_file), "--cell", "fresh-rnn", "--layers", "1", "--hidden", "16", "--batch-size",
                "4", "--seq-length", "16", "--steps", "2", "--out", "m.npz", site=site, cwd=tmp_path)
    assert train.returncode == 0, train.stderr
    with np.load(tmp_path / "m.npz") as stored:
        arrays = {key.replace("layers.0.b_h", "layers.0.b"): stored[key] for key in stored.files}
    meta = json.loads(str(arrays["__meta__"]))
    meta["plugins"]["cell"]["version"] = "0.0.0"
    np.savez(tmp_path / "m.npz", **{**arrays, "__meta__": np.array(json.dumps(meta))})
    score = cli("score", "m.npz", "--text", "To be, or not", site=site, cwd=tmp_path)
    assert score.returncode == 1 and score.stdout == ""
    assert score.stderr == (
        "rnnplay: error: m.npz: its parameters do not match the cell 'fresh-rnn' from the plugin rnnplay-taken-name "
        "(saved with 0.0.0, 0.0.1 installed): it has layers.0.b, which the cell does not take; it lacks layers.0.b_h, "
        "which the cell needs: `rnnplay plugins install 'rnnplay-taken-name==0.0.0'` installs the version it was "
        "saved with\n"
    )


def test_cli_install_and_uninstall_refuse_bad_targets(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*RNNPLAY, "plugins", *args], capture_output=True, text=True, cwd=tmp_path)

    gru = ROOT / "plugins" / "rnnplay-gru"
    for args, message in [
        (("install", "./nowhere"), "./nowhere does not exist: give a plugin's folder (with its pyproject.toml), a "
                                   "wheel or a source archive, or a name on the package index"),
        (("uninstall", str(gru)), f"{gru} is a path: uninstall takes the plugin's distribution name, as `rnnplay "
                                  "plugins` shows it (`rnnplay plugins uninstall rnnplay-gru`)"),
        (("install", "-e", "rnnplay-gru"), "-e installs a folder in development mode: give a path"),
        (("uninstall", "rnnplay"), "refusing to uninstall rnnplay itself"),
        (("uninstall", "rnnplay-not-installed"), "rnnplay-not-installed is not installed"),
        (("uninstall", "numpy"), "numpy is installed but is not an rnnplay plugin"),
    ]:
        done = run(*args)
        assert done.returncode == 1
        assert done.stderr.startswith(f"rnnplay: error: {message}") and done.stderr.count("\n") == 1


def test_the_first_plugin_hint_offers_the_example_from_its_folder(monkeypatch: pytest.MonkeyPatch,
                                                                   tmp_path: Path) -> None:
    monkeypatch.chdir(ROOT)
    assert first_plugin_hint() == ("try rnnplay's example, `rnnplay plugins install ./plugins/rnnplay-gru`, "
                                   "or write one with `rnnplay plugins new NAME` (./docs/plugins.md)")
    monkeypatch.chdir(tmp_path)  # elsewhere: "(docs/plugins.md)" was no file from there
    assert first_plugin_hint() == (f"try rnnplay's example, `rnnplay plugins install {ROOT}/plugins/rnnplay-gru`, "
                                   f"or write one with `rnnplay plugins new NAME` ({ROOT}/docs/plugins.md)")
    monkeypatch.setattr(discovery, "BUNDLED_PLUGINS", tmp_path)  # an installed rnnplay: test_plugin_packages.py
    assert first_plugin_hint() == ("write one with `rnnplay plugins new NAME` (a working cell plugin, with its tests, "
                                   "to edit and install)")


@pytest.mark.parametrize(
    ("stderr", "line"),
    [
        ("ERROR: Could not find a version that satisfies the requirement rnnplay-gru (from versions: none)\n"
         "ERROR: No matching distribution found for rnnplay-gru\n",
         "the package index has no distribution named rnnplay-gru; it is an example plugin of rnnplay, "
         "not published yet: run `rnnplay plugins install ./plugins/rnnplay-gru`"),
        ("ERROR: Could not find a version that satisfies the requirement rnnplay-foo>=2 (from versions: 0.1, 1.0)\n",
         "no version of rnnplay-foo on the package index installs here (it has 0.1, 1.0); "
         "check the name: plugins are usually called rnnplay-NAME"),
    ],
)
def test_what_pip_could_not_find_becomes_one_line(stderr: str, line: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    found = NOT_ON_INDEX.search(stderr)
    assert found is not None and not_on_index(found["name"], found["versions"]) == line


# -- scaffolding ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("demo", PluginNames("demo", "rnnplay-demo", "rnnplay_demo", "DemoCell")),
        ("rnnplay-my-cell", PluginNames("my-cell", "rnnplay-my-cell", "rnnplay_my_cell", "MyCellCell")),
        ("Leaky_2", PluginNames("leaky_2", "rnnplay-leaky-2", "rnnplay_leaky_2", "Leaky2Cell")),
    ],
)
def test_scaffold_names(name: str, expected: PluginNames) -> None:
    assert PluginNames.from_name(name) == expected


@pytest.mark.parametrize("name", ["", "2cells", "my cell", "a--b", "rnnplay-", "ünï", "a" * 65, "a\x1b[2J"])
def test_scaffold_refuses_unusable_names(name: str) -> None:
    with pytest.raises(RnnplayError, match="is not a usable plugin name"):
        PluginNames.from_name(name)


def test_scaffold_refuses_a_taken_cell_name_and_an_existing_folder(tmp_path: Path) -> None:
    (tmp_path / "rnnplay-demo").mkdir()
    for name, message in [("lstm", "the cell name 'lstm' is already provided by rnnplay"),
                          ("demo", "rnnplay-demo already exists")]:
        done = subprocess.run([*RNNPLAY, "plugins", "new", name], capture_output=True, text=True, cwd=tmp_path)
        assert done.returncode == 1 and message in done.stderr


# -- every hook is documented and tested --------------------------------------------------------
def hook_names() -> list[str]:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    return sorted(name for name in dir(hookspecs) if pm.parse_hookspec_opts(hookspecs, name) is not None)


def test_every_hookspec_is_known_to_the_host() -> None:
    assert hook_names() == sorted(HOOK_KINDS)


@pytest.mark.parametrize("hook", hook_names())
def test_every_hook_has_a_reference_section(hook: str) -> None:
    docs = (ROOT / "docs" / "plugins.md").read_text()
    reference = docs.split("\n## Hook reference", 1)[1]
    section = re.search(rf"^### {hook}\(register\)\n(.*?)(?=^##)", reference + "\n##", re.S | re.M)
    assert section, f"docs/plugins.md has no '### {hook}(register)' section under '## Hook reference'"
    assert "```python" in section.group(1) and "@hookimpl" in section.group(1), f"{hook}: the section needs an example"


@pytest.mark.parametrize("hook", hook_names())
def test_every_hook_is_exercised_by_a_test(hook: str) -> None:
    implemented = [p.name for p in (ROOT / "tests").glob("test_*.py") if re.search(rf"def {hook}\(", p.read_text())]
    assert implemented, f"no tests/test_*.py registers anything through {hook}"


def test_a_cell_the_installed_plugin_lacks_names_the_version_the_model_was_saved_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model whose cell's distribution is installed, at another version than the one it recorded: the line pins
    the recorded one (it said `rnnplay plugins install -U`, which may not bring that cell back)."""
    monkeypatch.syspath_prepend(str(pip_install_fixtures(["rnnplay-noisy"], tmp_path)))  # version 0.0.1
    monkeypatch.setenv("RNNPLAY_LOAD_PLUGINS", "rnnplay-noisy")
    host = PluginHost()
    assert host.cell_provider("bigstate") == Provider("rnnplay-noisy", "0.0.1") and host.cell_provider("lstm") is None
    with pytest.raises(RnnplayError, match=r"which the installed rnnplay-noisy 0\.0\.1 does not provide: `rnnplay "
                                           r"plugins install 'rnnplay-noisy==0\.0\.2'` installs the version it was "
                                           r"saved with$"):
        host.resolve_cell("quiet", "rnnplay-noisy", Provider("rnnplay-noisy", "0.0.2"))
    with pytest.raises(RnnplayError, match=r"0\.0\.1 does not provide: run `rnnplay plugins install -U rnnplay-noisy`"):
        host.resolve_cell("quiet", "rnnplay-noisy", Provider("rnnplay-noisy", "0.0.1"))


def test_the_child_interpreters_ignore_folders_named_like_their_modules_where_they_start(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`python -m` put the current folder first on the child's path: after `rnnplay plugins install` from the folder
    holding a clone of the repository (./rnnplay), the check run after pip imported the clone's folder for rnnplay
    ("cannot import name '__version__' from 'rnnplay'") and said the new plugin broke rnnplay; ./pip stood in for
    pip the same way."""
    for name in ("rnnplay", "pip"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(f"raise ImportError('a folder named {name}, not {name}')\n")
    (tmp_path / "rnnplay" / "plugins").mkdir()
    monkeypatch.chdir(tmp_path)
    done = cmd_plugins.listing()
    assert done.returncode == 0 and "plugins" in json.loads(done.stdout), done.stderr
    pip("--version")  # one line (RnnplayError) if it ran ./pip


@pytest.fixture
def slow_import_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """rnnplay-slow-import on sys.path, the only plugin let load, imported afresh (it sleeps as it is imported)."""
    site = pip_install_fixtures(["rnnplay-slow-import"], tmp_path)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, "rnnplay_slow_import", raising=False)
    monkeypatch.setenv("RNNPLAY_LOAD_PLUGINS", "rnnplay-slow-import")
    return site


def test_a_plugin_is_named_slow_after_the_seconds_the_environment_gives(slow_import_site: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """$RNNPLAY_SLOW_PLUGIN_SECONDS: an import of 0.3 s is slow past 0.05 s (named in the host's warnings when it
    ends, whether or not the timer's line came first); it was 3 s, whatever a user or a test wanted."""
    monkeypatch.setenv("SLOW_IMPORT_SECONDS", "0.3")
    monkeypatch.setenv("RNNPLAY_SLOW_PLUGIN_SECONDS", "0.05")
    said: list[str] = []
    host = PluginHost(warn=said.append)
    assert [w for w in host.warnings if w.startswith("importing plugin rnnplay-slow-import took ")], host.warnings
    assert all(line.startswith(("still importing plugin rnnplay-slow-import after 0.05 s (slow); ",
                                "importing plugin rnnplay-slow-import took ")) for line in said), said
    assert "sleepy" in host.samplers


@pytest.mark.parametrize("given", ["soon", "0", "-1", "inf"])
def test_slow_plugin_seconds_that_are_no_number_of_seconds_are_one_line(
    given: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Said as the host is built, before any plugin is imported (here none is let load: no process lists them)."""
    monkeypatch.setenv("RNNPLAY_SLOW_PLUGIN_SECONDS", given)
    monkeypatch.setenv("RNNPLAY_LOAD_PLUGINS", "")
    reset_host()
    try:
        assert cli_main(["plugins"]) == 1
    finally:
        reset_host()
    assert capsys.readouterr().err == (f"rnnplay: error: RNNPLAY_SLOW_PLUGIN_SECONDS={given} is not a number of "
                                       "seconds; give one such as RNNPLAY_SLOW_PLUGIN_SECONDS=3, or unset it\n")
