"""Commands under an address-space limit (``ulimit -v``): one line of rnnplay's, never BLAS's exit or a hang.

Under a limit every mapping counts: a worker thread's stack and malloc arena, and
OpenBLAS's per-thread buffer, which OpenBLAS maps at a thread's first product and,
when that fails, ends the process with its own message. The limits below cover the
stages where that happened: BLAS's first product in the main thread, the training
step's worker threads starting (where a thread that could not start left the others
waiting at exit: a hang), the step's arrays, and numba importing and compiling the
kernels in the first step (470 and 490 MiB: LLVM's ``std::bad_alloc`` ended the
process). Each run either works or fails with one line that names the limit; the
threads and the compiled kernels are on, as a user runs them.
"""

from __future__ import annotations

import sys

import pytest

from .harness import Sandbox, assert_one_line_error

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="address-space limits as Linux counts them")

MIB = 1 << 20
AS_A_USER_RUNS = {"RNNPLAY_JIT": "1", "RNNPLAY_THREADS": ""}  # the sandbox's defaults are one thread, no JIT
TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n" * 400


def outcome_is_sound(sandbox: Sandbox, args: list[str], limit_mib: int) -> None:
    out = sandbox.run(args, env=AS_A_USER_RUNS, address_space=limit_mib * MIB, timeout=120)
    assert "OpenBLAS" not in out.stderr, out.stderr[-2000:]
    if out.code != 0:
        assert_one_line_error(out, mentions="ulimit -v")


@pytest.mark.parametrize("limit_mib", [200, 250, 340, 410, 440, 470, 490])
def test_train_under_an_address_space_limit(limit_mib: int, sandbox: Sandbox) -> None:
    (sandbox.work / "t.txt").write_text(TEXT)
    outcome_is_sound(sandbox, ["train", "t.txt", "--steps", "2", "--out", "m.npz"], limit_mib)


@pytest.mark.parametrize("limit_mib", [200, 300])
@pytest.mark.parametrize("command", ["sample", "score"])
def test_bundled_model_under_an_address_space_limit(command: str, limit_mib: int, sandbox: Sandbox) -> None:
    (sandbox.work / "t.txt").write_text(TEXT)
    args = ["sample", "--length", "200"] if command == "sample" else ["score", "--file", "t.txt"]
    outcome_is_sound(sandbox, args, limit_mib)
