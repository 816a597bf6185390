"""What a plugin author gets wrong in the shape of a call, said where they look: a method or function that rnnplay
cannot call as it calls it is refused when it is registered (``rnnplay plugins`` lists it), not the first time a
user types the command; and ``check_cell`` names what ``backward`` returned wrong instead of raising numpy's error.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest

from rnnplay.core.cells import RNNCell
from rnnplay.plugins.contracts import contract_problem
from rnnplay.plugins.hookspecs import Register, hookimpl
from rnnplay.plugins.host import PluginHost
from rnnplay.plugins.slash import SimpleCommand
from rnnplay.plugins.testing import GradientCheckError, check_cell


def one_argument(session: Any) -> None:
    session.info("hi")


def two_arguments(session: Any, argline: str) -> None:
    session.info(argline)


class Ping:
    name = "ping"
    help = "answer pong"
    usage = "/ping"
    aliases = ()

    def run(self, session: Any, argline: str) -> None:
        session.info("pong")


class Lines:
    name = "lines"
    help = "lines:PATH"

    def load(self, spec: str, progress: Any) -> None:
        raise AssertionError("never called here")


class Top:
    name = "top"
    help = "the top character"
    params: ClassVar[dict] = {}

    def generate(self, stepper: Any, logits: Any, state: Any, length: int, rng: Any, **params: Any) -> Any:
        yield from ()


@pytest.mark.parametrize(
    ("hook", "obj", "problem"),
    [
        ("register_commands", SimpleCommand("one", "h", "/one", one_argument),
         "command 'one': its handler one_argument(session) cannot be called as rnnplay calls it, "
         "handler(session, argline)"),
        ("register_commands", SimpleCommand("comp", "h", "/comp", two_arguments, completer=one_argument),
         "its completer one_argument(session) cannot be called as rnnplay calls it, completer(session, argline)"),
        ("register_commands", type("K", (Ping,), {"run": lambda self, argline: None})(),
         "command 'ping': its run <lambda>(argline) cannot be called as rnnplay calls it, run(session, argline)"),
        ("register_commands", type("K", (Ping,), {"run": lambda self, session, argline, more: None})(),
         "run <lambda>(session, argline, more) cannot be called"),
        ("register_corpus_loaders", type("L", (Lines,), {"load": lambda self, spec: None})(),
         "corpus loader 'lines': its load <lambda>(spec) cannot be called as rnnplay calls it, load(spec, progress)"),
        ("register_samplers", type("S", (Top,), {"generate": lambda self, stepper, logits: None})(),
         "sampler 'top': its generate <lambda>(stepper, logits) cannot be called as rnnplay calls it, "
         "generate(stepper, logits, state, length, rng, **params)"),
        ("register_cells", type("C", (RNNCell,), {"forward": lambda self, params, x: None})(),
         "cell 'rnn': its forward <lambda>(params, x) cannot be called as rnnplay calls it, forward(params, x, state)"),
        ("register_cells", type("C", (RNNCell,), {"init_params": lambda self, i, h, rng: None})(),
         "init_params(input_size, hidden_size, rng, dtype)"),
        ("register_cells", type("C", (RNNCell,), {"prepare_step": lambda self, params: None})(),
         "cell 'rnn': its prepare_step <lambda>(params) cannot be called as rnnplay calls it, "
         "prepare_step(params, input_ids)"),
        ("register_commands", type("K", (Ping,), {"run": Ping.run, "complete": lambda self, argline: []})(),
         "command 'ping': its complete <lambda>(argline) cannot be called"),
    ],
)
def test_a_method_rnnplay_cannot_call_as_it_calls_it_is_refused_at_registration(hook: str, obj: object,
                                                                                 problem: str) -> None:
    said = contract_problem(hook, obj) or ""
    assert problem in said, said
    assert "docs/plugins.md" in said  # where the calls are written out


@pytest.mark.parametrize(
    ("hook", "obj"),
    [
        ("register_commands", SimpleCommand("two", "h", "/two", two_arguments)),
        ("register_commands", SimpleCommand("star", "h", "/star", lambda *args: None, completer=lambda s, a, x=1: [])),
        ("register_commands", Ping()),
        ("register_corpus_loaders", type("L", (Lines,), {"load": lambda self, spec, progress, encoding="utf-8": 0})()),
        ("register_samplers", Top()),
        ("register_samplers", type("S", (Top,), {"generate": lambda self, *a, k=3, **kw: iter(())})()),
        ("register_cells", RNNCell()),
    ],
)
def test_methods_that_take_what_rnnplay_passes_are_accepted(hook: str, obj: object) -> None:
    assert contract_problem(hook, obj) is None


def test_a_command_with_a_bad_signature_is_listed_as_failed_and_its_neighbours_load() -> None:
    class Plugin:
        @hookimpl
        def register_commands(self, register: Register) -> None:
            register(SimpleCommand("one", "h", "/one", one_argument))
            register(SimpleCommand("two", "h", "/two", two_arguments))

    host = PluginHost(load_entry_points=False)
    host.register(Plugin(), "rnnplay-sig")
    assert "two" in host.commands and "one" not in host.commands
    assert [f.plugin for f in host.failures] == ["rnnplay-sig"]
    assert "handler one_argument(session) cannot be called" in host.failures[0].reason


def test_a_method_named_as_its_role_is_shown_once() -> None:
    class Run(Ping):
        def run(self, argline: str) -> None:
            pass

    assert "command 'ping': its run(argline) cannot be called as rnnplay calls it, run(session, argline); make it " \
        "take those arguments" in (contract_problem("register_commands", Run()) or "")


class Backward(RNNCell):
    """The vanilla RNN with one thing wrong in what ``backward`` returns, chosen by ``fault``."""

    name = "faulty"

    def __init__(self, fault: str) -> None:
        self.fault = fault

    def backward(self, params: Any, cache: Any, dh_seq: np.ndarray, dstate: Any) -> Any:
        dx, grads, dstate0 = super().backward(params, cache, dh_seq, dstate)
        if self.fault == "dx" and dx is not None:
            return dx[..., :-1], grads, dstate0
        if self.fault == "two":
            return dx, grads
        if self.fault == "none":
            return None
        if self.fault == "states":
            return dx, grads, (*dstate0, dstate0[0])
        return dx, grads, dstate0


@pytest.mark.parametrize(
    ("fault", "layers", "said"),
    [
        ("dx", 2, "faulty: backward of layer 1 returned dx of shape (4, 3, 3), where its input x was (4, 3, 4)"),
        ("two", 1, "faulty: backward must return (dx, grads, dstate0), three values; it returned a tuple of 2"),
        ("none", 1, "faulty: backward must return (dx, grads, dstate0), three values; it returned None"),
        ("states", 1, "faulty: backward returned 2 arrays for the initial state's gradient; state_size is 1"),
    ],
)
def test_check_cell_names_what_backward_returned_wrong(fault: str, layers: int, said: str) -> None:
    with pytest.raises(GradientCheckError) as raised:
        check_cell(Backward(fault), num_layers=layers)
    assert said in str(raised.value)


def test_check_cell_passes_the_cell_it_was_given_unbroken() -> None:
    assert check_cell(Backward(""), num_layers=2).max_rel_error < 1e-6


def test_a_hook_written_without_hookimpl_is_named_and_the_marked_ones_still_run() -> None:
    """The decorator forgotten: pluggy calls only marked functions, so the plugin loaded with no hook and no word
    (``rnnplay plugins`` listed it with HOOKS '-', and its /command was unknown)."""

    class Plugin:
        def register_commands(self, register: Register) -> None:
            register(SimpleCommand("two", "h", "/two", two_arguments))

        @hookimpl
        def register_samplers(self, register: Register) -> None:
            register(Top())

    host = PluginHost(load_entry_points=False)
    host.register(Plugin(), "rnnplay-bare")
    assert "top" in host.samplers and "two" not in host.commands
    assert [(f.plugin, f.reason) for f in host.failures] == [(
        "rnnplay-bare", "its register_commands is not marked @hookimpl, so rnnplay never calls it: put @hookimpl "
                        "(from rnnplay.plugins import hookimpl) on the line above `def register_commands`")]


class ReadsWhatItIsGiven:
    """A loader as a stranger writes it first: the path the user typed read as it is, no check of its own."""

    name = "lines"
    help = "lines:FILE"

    def load(self, spec: str, progress: Any) -> Any:
        with open(spec, encoding="utf-8") as text:
            return text.read()


def test_a_loader_that_cannot_read_the_path_the_user_typed_says_so_not_report_it(tmp_path: Any) -> None:
    """A typo in the path was the plugin's bug to 'report to the authors of rnnplay-lines'."""

    class Plugin:
        @hookimpl
        def register_corpus_loaders(self, register: Register) -> None:
            register(ReadsWhatItIsGiven())

    host = PluginHost(load_entry_points=False)
    host.register(Plugin(), "rnnplay-lines")
    missing = tmp_path / "notes.txt"
    for spec, why in ((missing, "No such file or directory"), (tmp_path, "Is a directory")):
        with pytest.raises(Exception) as raised, host.blame("corpus_loaders", "lines", f"loading 'lines:{spec}'"):
            ReadsWhatItIsGiven().load(str(spec), lambda *a: None)
        assert str(raised.value) == (f"the corpus loader 'lines' (from rnnplay-lines) could not read {spec} while "
                                     f"loading 'lines:{spec}': {why}; check the path")
    with pytest.raises(Exception) as raised, host.blame("corpus_loaders", "lines", "loading 'lines:x'"):
        missing.read_text(encoding="utf-8")  # a file of the plugin's own, not in the spec: still its fault
    assert "report it to the authors of rnnplay-lines" in str(raised.value)
