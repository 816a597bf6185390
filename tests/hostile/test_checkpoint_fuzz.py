"""Checkpoint loading fuzzed with hypothesis: a few hundred generated files a run.

Every file starts as a valid resumable checkpoint of a tiny LSTM and is then damaged
in one of three ways: its bytes (mostly where the zip and ``.npy`` headers are, where
a flipped byte says something new, rather than in the weights), its members (dropped,
renamed, replaced by arrays of any dtype and shape) or its metadata (any key set to
any JSON value). Loading must end in a model or in one ``RnnplayError`` line; any
other exception fails the test. Memory is bounded for real: while the fuzz runs, the
process may not grow its address space by more than ``MAX_GROWTH`` (``RLIMIT_AS``),
so a load that tried to allocate what a hostile header claims would end in a
MemoryError, which fails the test like any other exception.
"""

from __future__ import annotations

import json
import math
import resource
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from rnnplay.core.checkpoint import load_checkpoint
from rnnplay.core.errors import RnnplayError
from rnnplay.plugins.host import get_host

from .checkpoint_files import read_members, write_checkpoint, write_members

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmSize from /proc (Linux)")

MAX_GROWTH = 256 << 20  # the valid file's model is a few kilobytes
FUZZ = settings(max_examples=150, deadline=None, database=None)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def valid(folder: Path) -> Path:
    return write_checkpoint(folder / "valid.npz", layers=2)


@pytest.fixture(scope="module")
def bounded() -> Iterator[None]:
    """No more than MAX_GROWTH bytes of address space beyond what the process holds now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (address_space() + MAX_GROWTH, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def address_space() -> int:
    """This process's virtual memory size in bytes (Linux)."""
    status = Path("/proc/self/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmSize:")).split()[1]) * 1024


def load_well(path: Path) -> None:
    """Load ``path``: a model, or one line of RnnplayError; never another exception (MemoryError included)."""
    try:
        ckpt = load_checkpoint(path, get_host().resolve_cell)
    except RnnplayError as err:
        assert "\n" not in str(err) and len(str(err)) < 1000, str(err)[:2000]
    else:
        assert all(np.isfinite(p).all() for p in ckpt.model.params.values())


# -- bytes ----------------------------------------------------------------------------------------------------------
def header_offsets(path: Path) -> list[int]:
    """Offsets of the bytes that describe rather than hold data: zip headers, .npy headers, the directory."""
    size = path.stat().st_size
    with zipfile.ZipFile(path) as z:
        infos = z.infolist()
        directory = z.start_dir
    spots = [o for i in infos for o in range(i.header_offset, i.header_offset + 30 + len(i.filename) + 128)]
    return sorted(set(spots) | set(range(directory, size)))


@FUZZ
@given(data=st.data())
def test_damaged_bytes(data: st.DataObject, valid: Path, folder: Path, bounded: None) -> None:
    content = bytearray(valid.read_bytes())
    spots = header_offsets(valid)
    for _ in range(data.draw(st.integers(1, 6), label="changes")):
        at = data.draw(st.one_of(st.sampled_from(spots), st.integers(0, len(content) - 1)), label="at")
        content[at] = data.draw(st.sampled_from([0, 0xFF, 0x7F, 0x80, ord("9"), content[at] ^ 1]), label="byte")
    if data.draw(st.booleans(), label="truncate"):
        content = content[: data.draw(st.integers(0, len(content)), label="length")]
    path = folder / "bytes.npz"
    path.write_bytes(bytes(content))
    load_well(path)


# -- members --------------------------------------------------------------------------------------------------------
DTYPES = ["<f2", "<f4", ">f4", "<f8", "<i4", "|b1", "<c8", "<U3", "|u1", "<f16", [("a", "<f4")], "<M8[s]"]
arrays = hnp.arrays(st.sampled_from(DTYPES).map(np.dtype),
                    hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=40))


@FUZZ
@given(data=st.data())
def test_damaged_members(data: st.DataObject, valid: Path, folder: Path, bounded: None) -> None:
    members = read_members(valid)
    names = sorted(members)
    for _ in range(data.draw(st.integers(1, 4), label="changes")):
        name = data.draw(st.sampled_from(names), label="member")
        action = data.draw(st.sampled_from(["drop", "replace", "rename", "reshape"]), label="action")
        if action == "drop":
            members.pop(name, None)
        elif action == "replace":
            members[name] = data.draw(arrays, label="array")
        elif action == "rename":
            new = data.draw(st.sampled_from([*names, "param/layers.7.W_xh", "opt/x/head.b_y", "state/0/9", "a/b"]))
            members[new] = members.pop(name, np.zeros(1, np.float32))
        elif name in members:
            members[name] = members[name].reshape(-1)[::-1].copy()
    path = folder / "members.npz"
    write_members(path, members, compressed=data.draw(st.booleans(), label="compressed"))
    load_well(path)


# -- metadata -------------------------------------------------------------------------------------------------------
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=20),
                    st.sampled_from([0, 1, 2, 8, 9, 64, 65, 8192, 60_000, 10**12, 2.5, "8", "lstm", "rnn",
                                     "float16", "float64", "\n abcdef", "ab", "aa", "\ud800 abcdef"]))
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                            st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                           max_leaves=8)
KEYS = ["format", "version", "cell", "cell_plugin", "plugins", "vocab", "hidden_size", "num_layers", "dropout",
        "dtype", "training", "corpus"]


@FUZZ
@given(changes=st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)),
                               st.one_of(json_values, st.just(math.nan)), min_size=1, max_size=4),
       removed=st.sets(st.sampled_from(KEYS), max_size=2))
def test_damaged_metadata(changes: dict[str, Any], removed: set[str], valid: Path, folder: Path,
                          bounded: None) -> None:
    members = read_members(valid)
    meta = json.loads(str(members["__meta__"]))
    meta.update(changes)
    for key in removed:
        meta.pop(key, None)
    members["__meta__"] = np.array(json.dumps(meta))
    path = folder / "meta.npz"
    write_members(path, members)
    load_well(path)
