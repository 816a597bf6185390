"""Hostile table: `rnnplay train --workers/--ray-address` and `rnnplay sweep` under bad flags and addresses.

Every row is refused in one `rnnplay: …` line before the corpus is trained on and before
a Ray instance starts (so each takes well under a second or two), and leaves nothing
behind in the sandbox. What happens once Ray runs (a killed worker, Ctrl-C, a failing
trial) is tested in tests/test_distributed.py, tests/test_ray_start_signals.py and tests/test_sweep.py.
"""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from .harness import Sandbox, assert_nothing_outside, assert_one_line_error

LINE = "To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer.\n"
CORPUS = "".join(LINE[i:] + LINE[:i] for i in range(0, 80, 7)) * 2
TINY = ["--layers", "1", "--hidden", "8", "--batch-size", "2", "--seq-length", "8"]
TRAIN = ["train", "small.txt", *TINY, "--steps", "2", "--out", "m.npz"]
SWEEP = ["sweep", "small.txt", *TINY, "--steps", "2"]
SILENT = "127.0.0.1:1"  # nothing listens on port 1


@dataclass
class Row:
    args: list[str]
    mentions: tuple[str, ...]
    code: int = 1
    env: dict[str, str] = field(default_factory=dict)
    subprocess: bool = False  # argparse's own refusals end the process: run those for real


ROWS = [
    pytest.param(Row([*TRAIN, "--workers", "0"], ("workers", "at least 1")), id="train-no-workers"),
    pytest.param(Row([*TRAIN, "--workers", "-2"], ("workers", "at least 1")), id="train-negative-workers"),
    pytest.param(Row([*TRAIN, "--workers", "two"], ("--workers", "invalid int"), code=2, subprocess=True),
                 id="train-workers-not-a-number"),
    pytest.param(Row([*TRAIN, "--workers", "3"], ("does not split evenly over 3 workers",)), id="train-uneven-batch"),
    pytest.param(Row([*TRAIN, "--ray-address", "abc"], ("not HOST:PORT",)), id="train-address-without-port"),
    pytest.param(Row([*TRAIN, "--ray-address", "[::1]:99999"], ("not HOST:PORT",)), id="train-address-port-too-big"),
    pytest.param(Row([*TRAIN, "--ray-address", SILENT], ("no Ray cluster answers", "ray start --head")),
                 id="train-address-nobody-listens"),
    pytest.param(Row([*TRAIN, "--workers", "2"], ("no Ray cluster answers",), env={"RAY_ADDRESS": SILENT}),
                 id="train-RAY_ADDRESS-nobody-listens"),
    pytest.param(Row([*TRAIN, "--workers", "2"], ("the Ray address 'garbage' (from RAY_ADDRESS) is not HOST:PORT",),
                     env={"RAY_ADDRESS": "garbage"}), id="train-RAY_ADDRESS-garbage-is-named-as-such"),
    pytest.param(Row([*TRAIN, "--ray-address", "{web}"], ("something listens at 127.0.0.1:", "not a Ray head",
                                                          "it answered")), id="train-address-of-a-web-server"),
    pytest.param(Row([*SWEEP, "--grid", "seed=1", "--ray-address", "{mute}"], ("not a Ray head",
                                                                              "said nothing in 3 s")),
                 id="sweep-address-that-accepts-and-never-answers"),  # Ray waited 14 minutes, deaf to Ctrl-C
    pytest.param(Row([*SWEEP, "--grid", "hiden=8"], ("unknown setting 'hiden'", "did you mean 'hidden'")),
                 id="sweep-unknown-key"),
    pytest.param(Row([*SWEEP, "--grid", "hidden="], ("empty value",)), id="sweep-empty-values"),
    pytest.param(Row([*SWEEP, "--grid", "=3"], ("not KEY=V1,V2",)), id="sweep-no-key"),
    pytest.param(Row([*SWEEP, "--grid", "seed=abc"], ("seed", "integer")), id="sweep-value-of-wrong-type"),
    pytest.param(Row([*SWEEP, "--grid", "dropout=1.5"], ("dropout", "[0, 1)")), id="sweep-value-out-of-range"),
    pytest.param(Row([*SWEEP, "--grid", "seed=1,2", "seed=3"], ("twice",)), id="sweep-key-twice"),
    pytest.param(Row([*SWEEP, "--grid", "hidden=8,16"], ("both a flag", "give it once")), id="sweep-key-and-flag"),
    pytest.param(Row(["sweep", "small.txt", *TINY, "--grid", "seed=1,2"], ("budget",)), id="sweep-no-budget"),
    pytest.param(Row([*SWEEP, "--grid"], ("--grid", "expected at least one"), code=2, subprocess=True),
                 id="sweep-empty-grid"),
    pytest.param(Row([*SWEEP, "--grid", "seed=" + ",".join(map(str, range(1001)))], ("1,001 trials",)),
                 id="sweep-too-many-trials"),
    pytest.param(Row([*SWEEP, "--grid", "cell=nosuch"], ("unknown cell 'nosuch'",)), id="sweep-unknown-cell"),
    pytest.param(Row([*SWEEP, "--grid", "seed=1", "--workers", "0"], ("--workers", "at least 1")),
                 id="sweep-no-workers"),
    pytest.param(Row([*SWEEP, "--grid", "seed=1", "--out", "small.txt"], ("--out small.txt",)),
                 id="sweep-out-is-a-file"),
    pytest.param(Row([*SWEEP, "--grid", "seed=1", "--ray-address", "abc"], ("not HOST:PORT",)),
                 id="sweep-address-without-port"),
    pytest.param(Row([*SWEEP, "--grid", "seed=1", "--ray-address", SILENT], ("no Ray cluster answers",)),
                 id="sweep-address-nobody-listens"),
]


@pytest.fixture(scope="module")
def listeners() -> Iterator[dict[str, str]]:
    """Two addresses on 127.0.0.1 where something other than Ray listens: a web server, and a socket that
    accepts connections and never says a word."""
    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    mute = socket.create_server(("127.0.0.1", 0))  # the kernel completes connections for its backlog
    try:
        yield {"web": f"127.0.0.1:{web.server_address[1]}", "mute": f"127.0.0.1:{mute.getsockname()[1]}"}
    finally:
        web.shutdown()
        mute.close()


@pytest.mark.parametrize("row", ROWS)
def test_hostile_scale_out(row: Row, sandbox: Sandbox, listeners: dict[str, str],
                           capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    (sandbox.work / "small.txt").write_text(CORPUS)
    before = sandbox.snapshot()
    args = [arg.format(**listeners) for arg in row.args]
    if row.subprocess:
        out = sandbox.run(args, timeout=60, env=row.env)
    else:
        out = sandbox.run_in_process(args, capsys, monkeypatch, env=row.env)
    assert_one_line_error(out, mentions=row.mentions, code=row.code)
    assert out.seconds < 30
    assert_nothing_outside(before, sandbox.snapshot())
