"""Bad thread counts, from the flag and from the environment: one line each, before any work."""

from __future__ import annotations

import pytest

from .harness import Sandbox, assert_nothing_outside, assert_one_line_error

BAD = ["0", "-1", "x", str(10**6), "", " ", "1.5", "2e0", "１", "9" * 5000, "auto-ish", "1\n2"]


@pytest.mark.parametrize("value", BAD)
def test_bad_threads_flag(value: str, sandbox: Sandbox) -> None:
    before = sandbox.snapshot()
    out = sandbox.run(["corpus", "list", "--threads", value], timeout=60)
    assert_one_line_error(out, mentions=("--threads", "thread count"))
    assert_nothing_outside(before, sandbox.snapshot())


@pytest.mark.parametrize("value", [v for v in BAD if v.strip()])
def test_bad_threads_environment(value: str, sandbox: Sandbox) -> None:
    before = sandbox.snapshot()
    out = sandbox.run(["corpus", "list"], env={"RNNPLAY_THREADS": value}, timeout=60)
    assert_one_line_error(out, mentions=("RNNPLAY_THREADS", "thread count"))
    assert_nothing_outside(before, sandbox.snapshot())


def test_an_empty_environment_variable_means_auto(sandbox: Sandbox) -> None:
    out = sandbox.run(["corpus", "list"], env={"RNNPLAY_THREADS": ""}, timeout=60)
    assert out.code == 0, out.stderr
