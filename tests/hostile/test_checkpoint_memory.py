"""Memory-bounded loading: a hostile checkpoint of any declared size is refused within 100 MB.

Each case runs in a fresh Python process that first loads a valid tiny checkpoint (so
imports and first-call costs are paid), reads its peak resident size
(``resource.getrusage(...).ru_maxrss``), then tries the hostile file and reads the
peak again: the growth must stay under ``LIMIT``. The time each refusal took is
printed (``pytest -s``) and recorded as a property of the test, not asserted: a
generous timeout only catches a hang.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from .checkpoint_files import (
    HIDDEN,
    Entry,
    npy_bytes,
    npy_header,
    read_members,
    rewrite,
    write_checkpoint,
    write_zip,
    zero_bomb,
)

LIMIT = 100 << 20
FOUR_GB = 4_000_000_000
PROBE = """
import json, resource, sys, time
from rnnplay.core.errors import RnnplayError
from rnnplay.models.bundled import load_model
load_model(sys.argv[1])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
try:
    load_model(sys.argv[2])
    said = None
except RnnplayError as err:
    said = str(err)
seconds = time.perf_counter() - start
grew = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024
print(json.dumps({"said": said, "seconds": seconds, "grew": grew}))
"""


def bomb_in_place_of(name: str, shape: tuple[int, ...], dtype: str = "<f4", data: int = FOUR_GB
                     ) -> Callable[[Path], None]:
    """The valid checkpoint with member ``name`` replaced by ``data`` bytes of zeros that its header announces."""
    def make(path: Path) -> None:
        size = len(npy_header(shape, dtype)) + data
        bomb = Entry(f"{name}.npy", zero_bomb(npy_header(shape, dtype), size), file_size=size,
                     method=zipfile.ZIP_DEFLATED, crc=0)
        kept = [Entry(f"{k}.npy", npy_bytes(v)) for k, v in read_members(path).items() if k != name]
        write_zip(path, [*kept, bomb])
    return make


def header_lies(name: str, shape: tuple[int, ...]) -> Callable[[Path], None]:
    """Member ``name`` announcing ``shape`` with 64 bytes of data behind the header."""
    def make(path: Path) -> None:
        kept = [Entry(f"{k}.npy", npy_bytes(v)) for k, v in read_members(path).items() if k != name]
        write_zip(path, [*kept, Entry(f"{name}.npy", npy_header(shape) + bytes(64))])
    return make


def meta(**changes: object) -> Callable[[Path], None]:
    return lambda path: rewrite(path, meta=lambda m: m.update(changes))


CASES = [
    pytest.param(meta(hidden_size=60_000), "hidden size 60,000", id="metadata-hidden-60000"),
    pytest.param(meta(hidden_size=8192), "has shape", id="metadata-hidden-8192-arrays-of-8"),
    pytest.param(meta(hidden_size=8192, num_layers=64), "parameters", id="metadata-8192-by-64-layers"),
    pytest.param(header_lies("param/layers.0.W_hh", (10**12,)), "uncompressed", id="header-of-10-to-the-12-floats"),
    pytest.param(header_lies("param/layers.0.W_hh", (2**40, 2**40)), "uncompressed", id="header-of-2-to-the-80"),
    pytest.param(bomb_in_place_of("param/layers.0.W_hh", (10**9,)), "has shape", id="zip-bomb-4-gb-parameter"),
    pytest.param(bomb_in_place_of("opt/v/layers.0.W_hh", (10**9,)), "optimizer state", id="zip-bomb-4-gb-optimizer"),
    pytest.param(bomb_in_place_of("state/0/0", (FOUR_GB // 4 // HIDDEN, HIDDEN)), "carried state",
                 id="zip-bomb-4-gb-carried-state"),
    pytest.param(bomb_in_place_of("__meta__", (), f"<U{10**8}", data=4 * 10**8), "100,000,000 characters",
                 id="zip-bomb-400-mb-metadata"),  # numpy's own limit on a str dtype is 2**31 bytes
]


@pytest.mark.parametrize(("make", "said"), CASES)
def test_a_hostile_checkpoint_is_refused_in_bounded_memory(make: Callable[[Path], None], said: str, tmp_path: Path,
                                                           record_property: Callable[[str, object], None]) -> None:
    valid = write_checkpoint(tmp_path / "valid.npz")
    hostile = write_checkpoint(tmp_path / "hostile.npz")
    make(hostile)
    proc = subprocess.run([sys.executable, "-c", PROBE, str(valid), str(hostile)], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.splitlines()[-1])
    print(f"\n{hostile.stat().st_size / 1e6:.1f} MB file refused in {result['seconds']:.3f} s, "
          f"peak memory +{result['grew'] / 1e6:.1f} MB: {result['said']}")
    record_property("seconds", result["seconds"])
    record_property("grew_bytes", result["grew"])
    assert result["said"] is not None and said in result["said"] and "\n" not in result["said"]
    assert result["grew"] < LIMIT
