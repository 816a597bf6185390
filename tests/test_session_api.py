"""The Session provides every member of SessionAPI, the contract slash commands are given, with the same signatures.

mypy is not part of the checks, so this test does the structural check by hand: each
member a Protocol declares exists on the object the app passes, a method with the same
parameters (names, kinds, defaults), recursively for the three collaborators.
"""

from __future__ import annotations

import inspect
import subprocess
import sys
from typing import Any

import pytest

from rnnplay.plugins.session_api import GenerationAPI, InspectionAPI, SessionAPI, TrainingAPI
from rnnplay.session.session import Session

COLLABORATORS = {"generation": GenerationAPI, "runner": TrainingAPI, "inspection": InspectionAPI}


def members(protocol: type) -> dict[str, Any]:
    """name -> what the Protocol declares (a function, a property, or None for an annotated attribute)."""
    declared: dict[str, Any] = {name: None for name in protocol.__annotations__}
    declared.update({name: value for name, value in vars(protocol).items() if not name.startswith("_")})
    return declared


def parameters(function: Any) -> list[tuple[str, Any, Any]]:
    signature = inspect.signature(function)
    return [(p.name, p.kind, p.default) for p in signature.parameters.values() if p.name != "self"]


def check(obj: object, protocol: type) -> None:
    for name, declared in members(protocol).items():
        assert hasattr(obj, name), f"{type(obj).__name__} lacks {protocol.__name__}.{name}"
        if inspect.isfunction(declared):
            provided = getattr(obj, name)
            assert callable(provided), f"{type(obj).__name__}.{name} is not a method"
            assert parameters(provided) == parameters(declared), f"{type(obj).__name__}.{name}'s parameters differ"


@pytest.fixture(scope="module")
def session() -> Session:
    return Session()


def test_the_session_provides_the_session_api(session: Session) -> None:
    check(session, SessionAPI)


@pytest.mark.parametrize("name", sorted(COLLABORATORS))
def test_each_collaborator_provides_its_api(session: Session, name: str) -> None:
    assert name in members(SessionAPI)
    check(getattr(session, name), COLLABORATORS[name])


def test_the_check_notices_a_missing_member_or_a_changed_signature(session: Session) -> None:
    class Bare:
        def generate(self, seed: str, extra: int) -> str:
            return seed

    with pytest.raises(AssertionError, match="generate's parameters differ"):
        check(Bare(), GenerationAPI)
    with pytest.raises(AssertionError, match="lacks"):
        check(object(), GenerationAPI)


def test_the_built_in_commands_import_nothing_of_the_session_layer() -> None:
    code = ("import sys, rnnplay.builtin.commands, rnnplay.builtin.inspect_commands; "
            "print(sorted(m for m in sys.modules if m.startswith(('rnnplay.session', 'rnnplay.ui'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
