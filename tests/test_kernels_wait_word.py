"""A first seed that waits for the compiled kernels says so, instead of 'reading a seed of 6 characters'.

The first run on a machine compiles the kernels (rnnplay.core.jit), for seconds, and tens of seconds on a busy
2-core machine; a seed typed meanwhile showed "reading a seed of 6 characters" all that time, a bar that named the
wrong work. Here the kernels' first call is held until the test lets it go (their real module, its warm_up
wrapped), so the seed surely waits for them.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from pilot_helpers import type_line, until
from waiting import wait_for

from rnnplay.core import jit
from rnnplay.models.bundled import BUNDLED_MODEL
from rnnplay.session.session import Session
from rnnplay.ui.tui import RnnplayApp
from rnnplay.ui.tui.widgets import WorkingLine

if TYPE_CHECKING:
    from textual.pilot import Pilot
    from textual.widget import Widget

LAYERNORM = "rnnplay.core.cells.layernorm_kernels"
LOADING = "waiting for the compiled kernels, then reading a seed of 5 characters"


@asynccontextmanager
async def seed_waiting(tiny_path: Path) -> AsyncIterator[tuple[Session, RnnplayApp, Pilot, Widget]]:
    """The app on the tiny model, a seed typed and its line saying that it waits for the held kernels."""
    session = Session()
    session.load(str(tiny_path))
    app = RnnplayApp(session)
    async with app.run_test() as pilot:
        await type_line(pilot, "to be")
        line = app.query_one("#working-what")
        await until(pilot, lambda: str(line.render()).startswith(LOADING))
        yield session, app, pilot, line


async def test_a_seed_waiting_for_the_kernels_says_so(held_kernels: threading.Event, tiny_path: Path) -> None:
    try:
        async with seed_waiting(tiny_path) as (session, app, pilot, _):
            held_kernels.set()
            await until(pilot, lambda: any(t.seed == "to be" and t.ended == "done" for t in session.turns))
            assert not app.query_one(WorkingLine).has_class("active")
    finally:
        held_kernels.set()


def test_the_app_loads_the_bundled_model_s_kernels_while_the_user_types(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bundled model is a layer-normalised LSTM: its kernels load in the background as the session opens, as
    the LSTM's do, not at the first seed (on a fresh machine that seed waited for their compilation)."""
    if not jit.enabled() or jit.load(LAYERNORM) is None:
        pytest.skip("no compiled kernels here (RNNPLAY_JIT=0 or no numba)")
    if not BUNDLED_MODEL.exists():
        pytest.skip("the bundled model is not installed")
    monkeypatch.setattr(jit, "_loaded", {})  # as in a process that has loaded none
    session = Session.open(None)
    assert session.model is not None and session.model.cell.name == "lnlstm"
    wait_for(lambda: jit._loaded.get(LAYERNORM) is not None, "the layer-normalised LSTM's kernels to load", 60)


async def test_esc_while_a_seed_waits_for_the_kernels_names_them(held_kernels: threading.Event, tiny_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A seed that has not stopped after Esc because the kernels are still compiling named the sampler as slow."""
    monkeypatch.setenv("RNNPLAY_STOP_GRACE_SECONDS", "0.2")
    try:
        async with seed_waiting(tiny_path) as (session, app, pilot, line):
            await pilot.press("escape")
            await until(pilot, lambda: app.query_one(WorkingLine).stuck)
            assert str(line.render()).startswith(
                "it has not stopped yet: it waits for rnnplay's compiled kernels, which a first run compiles")
            held_kernels.set()
            await until(pilot, lambda: any(t.seed == "to be" and t.ended for t in session.turns))
    finally:
        held_kernels.set()


def test_the_opened_model_s_kernels_load_before_the_others(held_kernels: threading.Event) -> None:
    """The app and the REPL loaded the LSTM's kernels, then the layer-normalised LSTM's: a seed typed at once into
    the bundled model (an lnlstm) waited for both to compile on a first run. Here the LSTM's are held: the
    bundled model's load all the same."""
    if not BUNDLED_MODEL.exists():
        pytest.skip("the bundled model is not installed")
    session = Session.open(None)
    assert session.model is not None and session.model.cell.name == "lnlstm"
    wait_for(lambda: jit._loaded.get(LAYERNORM) is not None, "the layer-normalised LSTM's kernels to load", 60)
    assert not held_kernels.is_set() and jit.BUILT_IN[0] not in jit._loaded  # the LSTM's: still held


def test_kernels_loaded_already_do_not_wait_for_others_compiling() -> None:
    """One lock for every load: a seed's load of its kernels, loaded long before, waited for another module's
    compilation (a preload's, which holds the lock: here the test holds it) to end."""
    if not jit.enabled() or jit.load(LAYERNORM) is None:
        pytest.skip("no compiled kernels here (RNNPLAY_JIT=0 or no numba)")
    answered = threading.Event()
    with jit._lock:  # another module compiling
        threading.Thread(target=lambda: (jit.load(LAYERNORM), answered.set()), daemon=True).start()
        assert answered.wait(30), "the loaded kernels waited for another module's compilation"
