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

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from .harness import Outcome, Sandbox, assert_one_line_error, limit_address_space

pytestmark = [pytest.mark.skipif(sys.platform != "linux", reason="address-space limits as Linux counts them"),
              pytest.mark.long_file]  # run first (tests/conftest.py)

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
    (sandbox.work / "t.txt").write_text(TEXT[:2000])  # the limit is met loading the model, not reading the text
    args = ["sample", "--length", "200"] if command == "sample" else ["score", "--file", "t.txt"]
    outcome_is_sound(sandbox, args, limit_mib)


PIPED_MIB = 160  # more than the limit below leaves to map once Python, numpy and rnnplay are in (near 150)
LINE = ("\u00a7" * 99_999 + "e") * 5 + "\n"  # a MB: 500,001 characters, 6 of them known to the bundled model


@pytest.mark.parametrize("command", ["sample", "score", "neurons"])
def test_a_piped_text_larger_than_the_limit_is_streamed(command: str, sandbox: Sandbox, tmp_path: Path) -> None:
    """``cat BIG | rnnplay score --file -`` under ``ulimit -v``: stdin was held whole (blocks, joined, text) and ran
    out of room; now it is kept in a temporary file in the cache and read a piece at a time, as a file is. The text
    is mostly a character the bundled model has never seen, so the model reads little of it. neurons holds its text
    whole: refused in one line, before it runs out of room."""
    big = tmp_path / "big.txt"
    with big.open("w") as f:
        for _ in range(PIPED_MIB):
            f.write(LINE)
    args = {"sample": ["sample", "--seed", "-", "--length", "5", "--rng-seed", "1"],
            "score": ["score", "--file", "-", "--skip-unknown"],
            "neurons": ["neurons", "--find", "inside-quotes", "--file", "-"]}[command]
    with big.open("rb") as text, (tmp_path / "out.txt").open("w") as out:
        cat = subprocess.Popen(["cat"], stdin=text, stdout=subprocess.PIPE)  # a real pipe
        done = subprocess.run([sys.executable, "-m", "rnnplay", *args], cwd=sandbox.work, env=sandbox.env,
                              stdin=cat.stdout, stdout=out, stderr=subprocess.PIPE, text=True, timeout=600,
                              preexec_fn=lambda: limit_address_space(400 * MIB))
        cat.stdout.close()
        cat.wait()
    err = done.stderr
    if command == "neurons":
        assert_one_line_error(Outcome(done.returncode, "", err, 0.0), mentions=("ulimit -v", "give a part of it"))
        return
    assert done.returncode == 0, err[-2000:]
    assert "Traceback" not in err and not list((sandbox.root / "cache").rglob("tmp/*"))
    said = (tmp_path / "out.txt").read_text()
    if command == "score":
        assert said.endswith(f" on {PIPED_MIB * 6 - 1:,} characters of stdin\n"), said
    else:
        assert len(said) == PIPED_MIB * len(LINE) + 6 and said.startswith(LINE)  # the seed as it came, 5 more


FEWER_WORKERS_MIB = 800  # room for a few of the step's 8 worker threads (about 50 MiB of mappings each), not all


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="8 workers: 4 a core, on 2 cores or more")
@pytest.mark.parametrize("threads", [[], ["--threads", "1"]], ids=["auto", "one"])
def test_training_under_a_limit_starts_the_worker_threads_that_fit(threads: list[str], sandbox: Sandbox) -> None:
    """A 2-layer LSTM of 128 units needs about 300 MB, yet under ``ulimit -v`` of 1.2 GB every step was refused:
    its 8 worker threads' stacks, malloc arenas and BLAS buffers did not fit beside numba's compiler. Now the
    threads that fit start, a note says so, and the weights are the unlimited run's, bit for bit; ``--threads 1``
    starts one worker (it asked for 8 too), which fits, so nothing is noted."""
    (sandbox.work / "t.txt").write_text(TEXT * 4)
    args = ["train", "t.txt", "--hidden", "128", "--layers", "2", "--steps", "3", "--val-every", "0", *threads]
    free = sandbox.run([*args, "--out", "free.npz"], env=AS_A_USER_RUNS, timeout=300)
    capped = sandbox.run([*args, "--out", "capped.npz"], env=AS_A_USER_RUNS, address_space=FEWER_WORKERS_MIB * MIB,
                         timeout=300)
    assert free.code == 0 and capped.code == 0, capped.stderr[-2000:]
    notes = [line for line in capped.stderr.splitlines() if "worker threads" in line]
    if threads:
        assert notes == []
    else:
        assert len(notes) == 1 and re.fullmatch(r"note: [1-7] worker threads? instead of 8: the address-space limit "
                                                r"of 800 MiB \(ulimit -v\) leaves room for no more.*", notes[0])
    with np.load(sandbox.work / "free.npz") as a, np.load(sandbox.work / "capped.npz") as b:
        weights = [name for name in a.files if name.startswith("param/")]
        assert weights and all(np.array_equal(a[name], b[name]) for name in weights)


HOLDS = """
import ctypes, sys
from threadpoolctl import ThreadpoolController
from rnnplay.core import parallel_step, threads

threads.start()
parallel_step.pool(4)
found = ThreadpoolController().select(internal_api="openblas").info()
blas = ctypes.CDLL(found[0]["filepath"]) if found else None
if blas is None or not hasattr(blas, "blas_memory_alloc"):
    sys.exit(3)
blas.blas_memory_alloc.restype, blas.blas_memory_alloc.argtypes = ctypes.c_void_p, [ctypes.c_int]
mapped = lambda: int(open("/proc/self/statm").read().split()[0])
before = mapped()
taken = [blas.blas_memory_alloc(0) for _ in range(5)]
print(mapped() - before)
"""


def test_the_steps_products_at_once_map_no_blas_buffer(sandbox: Sandbox) -> None:
    """OpenBLAS maps a buffer for a product only when every buffer it has mapped is in use, and ends the process when
    that fails. A pool's workers made their first products at start, but products that do not overlap share one
    buffer: on a busy machine four workers left two mapped, and a step's four products at once mapped the others
    beside its arrays (OpenBLAS's exit in one run in ten of the 2 GB case in test_train.py). Now, once a pool of 4
    has started, 5 products at once (its workers and one beside them) find their buffers mapped."""
    done = subprocess.run([sys.executable, "-c", HOLDS], cwd=sandbox.work, env=sandbox.env, capture_output=True,
                          text=True, timeout=120, preexec_fn=lambda: limit_address_space(1024 * MIB))
    if done.returncode == 3:
        pytest.skip("BLAS here is not an OpenBLAS whose buffer table can be reached")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["0"], done.stdout  # pages mapped by taking the 5 buffers


AT_THE_EDGE = ["train", "t.txt", "--layers", "2", "--hidden", "256", "--batch-size", "64", "--steps", "2",
               "--val-every", "0", "--val-max-chars", "2000", "--out", "m.npz"]
PROBE_MIB = 270  # past what starting needs (BLAS's buffers), short of what this run maps
MAPS = re.compile(r"this run maps about ([\d,]+) MiB .* and ulimit -v leaves ([\d,]+) MiB to map;")


def accepted_limit(sandbox: Sandbox) -> tuple[int, int]:
    """(the lowest limit in MiB the check accepts, the run's estimate in MiB), read from its refusal at PROBE_MIB."""
    (sandbox.work / "t.txt").write_text(TEXT * 4)
    refused = sandbox.run(AT_THE_EDGE, env=AS_A_USER_RUNS, address_space=PROBE_MIB * MIB, timeout=120)
    assert_one_line_error(refused, mentions=("out of memory for a step", "ulimit -v"))
    maps, leaves = (int(n.replace(",", "")) for n in MAPS.search(refused.stderr).groups())
    return PROBE_MIB - leaves + maps, maps


def test_a_run_at_its_address_space_estimate_trains_and_one_just_below_is_refused(sandbox: Sandbox) -> None:
    """The check weighed the run's resident estimate (numba's compiler, 8 worker threads' 104 MiB each) against
    ``ulimit -v``, and refused runs that train in a third of that: numba and the threads are what a run can go
    without under a limit. Now it weighs what the run maps with its chunks one by one: at that limit (the figures
    rounded to a MiB, so 2 more) the run trains; 6 MiB below it, it is refused in one line before it starts."""
    limit, _ = accepted_limit(sandbox)
    trains = sandbox.run(AT_THE_EDGE, env=AS_A_USER_RUNS, address_space=(limit + 2) * MIB, timeout=300)
    assert trains.code == 0 and "Traceback" not in trains.stderr, trains.stderr[-2000:]
    refused = sandbox.run(AT_THE_EDGE, env=AS_A_USER_RUNS, address_space=(limit - 6) * MIB, timeout=120)
    assert_one_line_error(refused, mentions=("out of memory for a step", "no step was made"))


MAPPED_ONCE_STARTED = """
from rnnplay.core import address_space, threads
threads.start()
print((address_space.limit() - address_space.room()) // address_space.MIB)
"""


def test_what_starting_maps_does_not_depend_on_the_limit(sandbox: Sandbox) -> None:
    """The thread policy's thread mapped a malloc arena of 64 MiB at its first allocation where the limit left room
    for one: a run's check found 64 MiB more mapped at 306 MiB than at the 270 MiB it was probed at, and refused the
    run that test_a_run_at_its_address_space_estimate_trains... expected to train (in CI, once). Now under a limit
    every thread shares the main heap from the start, so starting maps the same under any limit."""
    mapped = []
    for limit_mib in (300, 500):
        done = subprocess.run([sys.executable, "-c", MAPPED_ONCE_STARTED], cwd=sandbox.work,
                              env={**sandbox.env, **AS_A_USER_RUNS}, capture_output=True, text=True, timeout=120,
                              preexec_fn=lambda limit_mib=limit_mib: limit_address_space(limit_mib * MIB))
        assert done.returncode == 0, done.stderr[-2000:]
        mapped.append(int(done.stdout))
    assert abs(mapped[0] - mapped[1]) <= 2, mapped


def test_numba_leaves_the_steps_arrays_their_room(sandbox: Sandbox) -> None:
    """Numba loads in the first step, before its arrays: where the limit left room for numba (256 MiB) but not for
    numba and the arrays, numba took it and the step ran out ("out of memory in a training step"), a run the check
    had let through. Now numba loads only where it fits beside what the check set aside for the arrays, so the
    run trains on the numpy code."""
    limit, maps = accepted_limit(sandbox)
    out = sandbox.run(AT_THE_EDGE, env=AS_A_USER_RUNS, address_space=(limit + 256 - maps // 2) * MIB, timeout=300)
    assert out.code == 0 and "Traceback" not in out.stderr, out.stderr[-2000:]
