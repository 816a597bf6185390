"""Hostile table: checkpoints that are damaged, lie about their sizes, or are not files at all.

Each row prepares ``m.npz`` (or another path) in the sandbox's work folder, runs one
command on it — ``rnnplay sample`` unless the row says otherwise — and checks how it
ends: the exit code, one ``rnnplay: …`` line naming what is wrong (no traceback),
nothing created or changed in the sandbox, a bounded run time. Rows run in process
through ``rnnplay.ui.cli.main`` (the same code, without a start-up each); rows whose
file could block or whose message comes from the system run as a real subprocess.
Saving, ``export`` onto itself and stale temporary files follow the table.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from rnnplay.core.atomic_write import remove_stale_temporaries
from rnnplay.core.cells.rnn import RNNCell
from rnnplay.core.checkpoint import load_checkpoint, save_checkpoint
from rnnplay.core.errors import RnnplayError
from rnnplay.core.model import Model
from rnnplay.core.vocab import Vocab
from rnnplay.models.bundled import load_model
from rnnplay.models.library import resumable_step
from rnnplay.plugins.host import get_host

from .checkpoint_files import (
    HIDDEN,
    VOCAB,
    Entry,
    npy_bytes,
    npy_header,
    read_members,
    rewrite,
    tiny_model,
    write_checkpoint,
    write_members,
    write_zip,
    zero_bomb,
)
from .harness import Sandbox, assert_nothing_outside, assert_one_line_error

Make = Callable[[Path], None]
SAMPLE = ["sample", "m.npz", "--length", "5"]
RESUME = ["train", "text.txt", "--resume", "m.npz", "--steps", "5"]  # reads the optimizer and carried state
FOUR_GB = 4_000_000_000


@dataclass
class Row:
    make: Make | None
    mentions: tuple[str, ...]
    args: tuple[str, ...] = tuple(SAMPLE)
    code: int = 1
    subprocess: bool = False
    allowed: tuple[str, ...] = ()  # sandbox paths the command may create or change
    timeout: float = 60


def bad(make: Make | None, *mentions: str, args: list[str] = SAMPLE, **kw: object) -> Row:
    return Row(make, mentions, tuple(args), **kw)


# -- what a row does to m.npz -------------------------------------------------------------------------------------
def meta(change: Callable[[dict], object]) -> Make:
    return lambda work: rewrite(work / "m.npz", meta=change)


def setting(**changes: object) -> Make:
    return meta(lambda m: m.update(changes))


def array(key: str, change: Callable[[np.ndarray], object]) -> Make:
    return lambda work: rewrite(work / "m.npz", arrays={key: change})


def members(drop: tuple[str, ...] = (), **add: object) -> Make:
    return lambda work: rewrite(work / "m.npz", drop=drop, add={k.replace("__", "/"): v for k, v in add.items()})


def resuming(make: Make) -> Make:
    """``make``, and a text to resume training on."""
    def both(work: Path) -> None:
        make(work)
        (work / "text.txt").write_text(VOCAB * 100)
    return both


def nan_at_end(a: np.ndarray) -> np.ndarray:
    a = a.copy()
    a.flat[-1] = np.nan
    return a


def raw_bytes(content: bytes) -> Make:
    return lambda work: (work / "m.npz").write_bytes(content)


def cut(keep: Callable[[int], int]) -> Make:
    def make(work: Path) -> None:
        data = (work / "m.npz").read_bytes()
        (work / "m.npz").write_bytes(data[: keep(len(data))])
    return make


def zipped(*entries: Entry) -> Make:
    return lambda work: write_zip(work / "m.npz", list(entries))


def hand_written(*entries: Entry, replace: bool = True) -> Make:
    """m.npz written again as a hand-made zip, each of ``entries`` in place of its namesake (or added)."""
    def make(work: Path) -> None:
        ours = [Entry(f"{k}.npy", npy_bytes(v)) for k, v in read_members(work / "m.npz").items()]
        if replace:
            ours = [e for e in ours if e.name not in {x.name for x in entries}]
        write_zip(work / "m.npz", [*ours, *entries])
    return make


def bomb(name: str, shape: tuple[int, ...], uncompressed: int = FOUR_GB + 128) -> Entry:
    return Entry(name, zero_bomb(npy_header(shape), uncompressed), file_size=uncompressed,
                 method=zipfile.ZIP_DEFLATED, crc=0)


def many_members(work: Path) -> None:
    with zipfile.ZipFile(work / "m.npz", "w") as z:
        for i in range(20_000):
            z.writestr(f"param/x{i}.npy", b"")


def meta_of_chars(count: int) -> Make:
    text = json.dumps({"format": "rnnplay-checkpoint", "version": 1, "pad": "x" * count})
    return lambda work: write_members(work / "m.npz", {"__meta__": np.array(text)}, compressed=True)


def compressed(work: Path) -> None:
    write_members(work / "m.npz", read_members(work / "m.npz"), compressed=True)


def symlink(target: str, name: str = "m.npz") -> Make:
    def make(work: Path) -> None:
        (work / name).unlink(missing_ok=True)
        (work / name).symlink_to(target)
    return make


def replace_with(kind: str) -> Make:
    def make(work: Path) -> None:
        (work / "m.npz").unlink()
        {"folder": (work / "m.npz").mkdir, "fifo": lambda: os.mkfifo(work / "m.npz")}[kind]()
    return make


def unreadable(work: Path) -> None:
    (work / "m.npz").chmod(0)


def deep_json(work: Path) -> None:
    write_members(work / "m.npz", {"__meta__": np.array("[" * 100_000 + "]" * 100_000)})


def hidden_first_layer(size: int) -> Make:
    """Metadata and parameters agree on a hidden size the rest of the file does not have."""
    return meta(lambda m: m.update(hidden_size=size))


ROWS = [
    # not a file, or not one rnnplay can open
    pytest.param(bad(None, "no such file", args=["sample", "gone.npz"]), id="missing"),
    pytest.param(bad(replace_with("folder"), "folder"), id="a-folder"),
    pytest.param(bad(replace_with("fifo"), "not a regular file", subprocess=True), id="a-fifo"),
    pytest.param(bad(None, "not a regular file", args=["sample", "/dev/zero"]), id="a-device"),
    pytest.param(bad(symlink("loop.npz", "loop.npz"), "cannot open", args=["sample", "loop.npz"]),
                 id="a-symlink-loop"),
    pytest.param(bad(symlink("nowhere.npz"), "no such file"), id="a-dangling-symlink"),
    pytest.param(bad(None, "cannot read", args=["sample", "/proc/self/mem"]), id="a-file-that-fails-to-read"),
    pytest.param(bad(unreadable, "permission", subprocess=True), id="unreadable",
                 marks=pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")),
    pytest.param(bad(None, "not a regular file", args=["score", "--text", "abc", "/dev/zero"]),
                 id="score-a-device"),
    # not a zip archive, or a damaged one
    pytest.param(bad(raw_bytes(b""), "corrupt or truncated"), id="empty"),
    pytest.param(bad(raw_bytes(b"ROMEO: hello\n" * 50), "not a zip archive"), id="a-text-file"),
    pytest.param(bad(raw_bytes(b"\x1f\x8b\x08\x00" + bytes(100)), "not a zip archive"), id="gzipped"),
    pytest.param(bad(raw_bytes(b"PK\x03\x04" + bytes(200)), "corrupt or truncated"), id="zip-magic-then-zeros"),
    pytest.param(bad(cut(lambda n: n // 2), "corrupt or truncated"), id="truncated-in-half"),
    pytest.param(bad(cut(lambda n: n - 10), "corrupt or truncated"), id="truncated-in-its-directory"),
    pytest.param(bad(cut(lambda n: 10), "corrupt or truncated"), id="truncated-to-ten-bytes"),
    pytest.param(bad(many_members, "20,000 members"), id="a-directory-of-20000-members"),
    # members that are not what a checkpoint holds
    pytest.param(bad(members(evil=np.zeros(3, np.float32)), "unknown member 'evil.npy'"), id="unknown-member"),
    pytest.param(bad(hand_written(Entry("notes.txt", b"hello")), "unknown member"), id="member-not-npy"),
    pytest.param(bad(hand_written(Entry("../../escaped.npy", npy_bytes(np.zeros(2)))), "unknown member"),
                 id="member-path-traversal"),
    pytest.param(bad(hand_written(Entry("/etc/passwd.npy", npy_bytes(np.zeros(2)))), "unknown member"),
                 id="member-absolute-path"),
    pytest.param(bad(hand_written(Entry("param/head.b_y.npy", npy_bytes(np.zeros(8, np.float32))), replace=False),
                     "twice"), id="member-twice"),
    pytest.param(bad(hand_written(Entry("param/head.b_y.npy", b"x" * 64, flags=1)), "encrypted"),
                 id="member-encrypted"),
    pytest.param(bad(hand_written(Entry("param/head.b_y.npy", b"x" * 64, method=zipfile.ZIP_BZIP2)),
                     "compressed in a way"), id="member-bzip2"),
    pytest.param(bad(hand_written(Entry("param/head.b_y.npy", b"not an npy header at all")),
                     "no readable array header"), id="member-without-npy-magic"),
    pytest.param(bad(hand_written(Entry("param/head.b_y.npy", b"\x93NUMPY\x03\x00" + bytes(60))),
                     "no readable array header"), id="member-npy-version-3"),
    pytest.param(bad(hand_written(Entry("param/head.b_y.npy", b"\x93NUMPY\x01\x00\xff\xff" + b" " * 65535)),
                     "no readable array header"), id="member-header-of-64-kb"),
    pytest.param(bad(hand_written(Entry("param/head.b_y.npy", npy_header((10**12,)) + bytes(32))),
                     "uncompressed"), id="header-declaring-10-to-the-12-floats"),
    pytest.param(bad(hand_written(Entry("param/head.b_y.npy", npy_header((2**62, 2**62)) + bytes(32))),
                     "uncompressed"), id="header-declaring-2-to-the-124-floats"),
    pytest.param(bad(hand_written(bomb("param/layers.0.W_xh.npy", (10**9,))), "layers.0.W_xh has shape"),
                 id="zip-bomb-4-gb-member-of-a-consistent-size"),
    pytest.param(bad(hand_written(bomb("param/head.b_y.npy", (8,))), "uncompressed"),
                 id="zip-bomb-4-gb-member-of-a-small-shape"),
    pytest.param(bad(hand_written(bomb("opt/m/head.b_y.npy", (10**9,))), "optimizer state"),
                 id="zip-bomb-as-optimizer-state"),
    pytest.param(bad(hand_written(bomb("state/0/0.npy", (FOUR_GB // 4 // HIDDEN, HIDDEN))), "carried state"),
                 id="zip-bomb-as-carried-state"),
    pytest.param(bad(array("param/head.b_y", lambda a: a.astype(object)), "pickled"), id="param-pickled-object"),
    pytest.param(bad(array("param/head.b_y", lambda a: np.zeros(a.shape, [("x", "<f4")])), "expected (8,) float"),
                 id="param-structured-dtype"),
    pytest.param(bad(array("param/head.b_y", lambda a: a.astype(np.int32)), "expected (8,) float"),
                 id="param-int32"),
    pytest.param(bad(array("param/head.b_y", lambda a: a.astype(np.complex64)), "expected (8,) float"),
                 id="param-complex"),
    pytest.param(bad(array("param/head.b_y", lambda a: a.astype(np.longdouble)), "expected (8,) float"),
                 id="param-long-double"),
    pytest.param(bad(array("param/head.b_y", lambda a: np.array(["x"] * 8)), "expected (8,) float"),
                 id="param-strings"),
    # the metadata member
    pytest.param(bad(members(drop=("__meta__",)), "no rnnplay metadata"), id="meta-missing"),
    pytest.param(bad(array("__meta__", lambda a: np.array([str(a)])), "no rnnplay metadata"), id="meta-1-d"),
    pytest.param(bad(array("__meta__", lambda a: np.array({"format": 1}, dtype=object)), "pickled"),
                 id="meta-pickled"),
    pytest.param(bad(meta_of_chars(5_000_000), "5,000,0"), id="meta-of-5-million-characters"),
    pytest.param(bad(array("__meta__", lambda a: np.array("{not json")), "not valid JSON"), id="meta-bad-json"),
    pytest.param(bad(deep_json, "not valid JSON"), id="meta-json-nested-100000-deep"),
    pytest.param(bad(meta(lambda m: [m]), "format="), id="meta-a-list"),
    pytest.param(bad(setting(format="safetensors"), "format="), id="meta-other-format"),
    pytest.param(bad(setting(version=2), "version 2"), id="meta-version-2"),
    pytest.param(bad(setting(version="1"), "version 1"), id="meta-version-a-string"),
    # sizes: whole numbers within the trainer's limits, checked before anything is built
    pytest.param(bad(setting(hidden_size="4"), "hidden size must be a whole number"), id="hidden-a-string"),
    pytest.param(bad(setting(hidden_size=2.5), "hidden size must be a whole number"), id="hidden-a-fraction"),
    pytest.param(bad(setting(hidden_size=-1), "hidden size -1 is outside"), id="hidden-negative"),
    pytest.param(bad(setting(hidden_size=0), "hidden size 0 is outside"), id="hidden-zero"),
    pytest.param(bad(setting(hidden_size=1e9), "hidden size must be a whole number"), id="hidden-1e9-float"),
    pytest.param(bad(setting(hidden_size=10**9), "impossible sizes"), id="hidden-a-billion"),
    pytest.param(bad(setting(hidden_size=True), "hidden size must be a whole number"), id="hidden-true"),
    pytest.param(bad(setting(hidden_size=None), "hidden size must be a whole number"), id="hidden-null"),
    pytest.param(bad(setting(hidden_size=60_000), "hidden size 60,000"), id="hidden-60000"),
    pytest.param(bad(setting(num_layers=65), "layers 65 is outside"), id="layers-65"),
    pytest.param(bad(setting(num_layers=0), "layers 0 is outside"), id="layers-zero"),
    pytest.param(bad(meta(lambda m: {k: v for k, v in m.items() if k != "num_layers"}), "layers must be a whole"),
                 id="layers-missing"),
    pytest.param(bad(setting(hidden_size=8192, num_layers=64), "parameters"), id="too-many-parameters"),
    pytest.param(bad(setting(vocab="\n abcdeff"), "vocabulary"), id="vocab-repeats-a-character"),
    pytest.param(bad(setting(vocab=""), "vocabulary"), id="vocab-empty"),
    pytest.param(bad(setting(vocab="a"), "vocabulary"), id="vocab-one-character"),
    pytest.param(bad(setting(vocab="\ud800 abcdef"), "surrogate"), id="vocab-with-an-unpaired-surrogate"),
    pytest.param(bad(setting(vocab=list(VOCAB)), "vocabulary"), id="vocab-a-list"),
    pytest.param(bad(setting(vocab="".join(map(chr, range(0x10000, 0x10000 + 70_000)))), "vocabulary 70,000"),
                 id="vocab-of-70000-characters"),
    pytest.param(bad(setting(cell="gru"), "cell 'gru'"), id="cell-not-installed"),
    pytest.param(bad(setting(cell="gru", cell_plugin="rnnplay-gru"), "rnnplay-gru"), id="cell-of-a-missing-plugin"),
    pytest.param(bad(setting(cell=42), "bad metadata"), id="cell-a-number"),
    pytest.param(bad(setting(cell="x" * 100_000), "bad metadata"), id="cell-name-of-100000-characters"),
    pytest.param(bad(setting(cell_plugin=["x"]), "bad metadata"), id="cell-plugin-a-list"),
    pytest.param(bad(setting(cell_plugin="x" * 100_000), "bad metadata"), id="cell-plugin-of-100000-characters"),
    pytest.param(bad(setting(cell_plugin="a\x1b[2J\nb"), "bad metadata"), id="cell-plugin-with-escapes"),
    # the plugins table: which installed distribution and version the cell came from (advice, never run)
    pytest.param(bad(setting(cell="gru", cell_plugin="rnnplay-foo",
                             plugins={"cell": {"name": "rnnplay-foo", "version": "1.2.0"}}),
                     "from the plugin rnnplay-foo 1.2.0, which is not installed",
                     "`rnnplay plugins install 'rnnplay-foo==1.2.0'` if it is published"),
                 id="cell-of-a-missing-plugin-of-a-recorded-version"),
    pytest.param(bad(setting(plugins=["x"]), "plugins is not a table"), id="plugins-a-list"),
    pytest.param(bad(setting(plugins={str(i): {} for i in range(100_000)}), "plugins is not a table"),
                 id="plugins-of-100000-entries"),
    pytest.param(bad(setting(plugins={"cell": "rnnplay-foo==1.2.0"}), "plugins.cell is not a distribution's name"),
                 id="plugins-cell-a-string"),
    pytest.param(bad(setting(cell="gru", cell_plugin="x'; rm -rf ~",
                             plugins={"cell": {"name": "x'; rm -rf ~", "version": "1"}}),
                     "plugins.cell is not a distribution's name"), id="plugins-cell-name-a-shell-command"),
    pytest.param(bad(setting(cell="gru", cell_plugin="rnnplay-foo",
                             plugins={"cell": {"name": "rnnplay-foo", "version": "1" * 1_000_000}}),
                     "plugins.cell is not a distribution's name"), id="plugins-cell-version-of-a-million-characters"),
    pytest.param(bad(setting(cell="gru", cell_plugin="rnnplay-foo",
                             plugins={"cell": {"name": "rnnplay-foo", "version": "1\x1b[2J\n$(reboot)"}}),
                     "plugins.cell is not a distribution's name"), id="plugins-cell-version-with-escapes"),
    pytest.param(bad(setting(cell="gru", cell_plugin="rnnplay-foo", plugins={"cell": {"name": 7, "version": 1}}),
                     "plugins.cell is not a distribution's name"), id="plugins-cell-numbers"),
    pytest.param(bad(setting(cell="gru", cell_plugin="rnnplay-foo",
                             plugins={"cell": {"name": "rnnplay-evil", "version": "1.0"}}),
                     "plugins.cell names rnnplay-evil, but cell_plugin rnnplay-foo"),
                 id="plugins-cell-names-another-plugin"),
    pytest.param(bad(setting(plugins={"cell": {"name": "rnnplay-foo", "version": "1.0"}}),
                     "plugins.cell names rnnplay-foo, but cell_plugin None"), id="plugins-cell-of-a-built-in-cell"),
    pytest.param(bad(setting(dropout="0.5"), "dropout"), id="dropout-a-string"),
    pytest.param(bad(setting(dropout=1.5), "dropout"), id="dropout-above-one"),
    pytest.param(bad(setting(dropout=math.nan), "dropout"), id="dropout-nan"),
    pytest.param(bad(setting(dtype="float128"), "dtype"), id="dtype-float128"),
    pytest.param(bad(setting(dtype="object"), "dtype"), id="dtype-object"),
    pytest.param(bad(setting(dtype=["float32"]), "dtype"), id="dtype-a-list"),
    # parameters against what the cell makes of those sizes
    pytest.param(bad(members(drop=("param/head.b_y",)), "it lacks head.b_y, which the cell needs"), id="param-missing"),
    pytest.param(bad(members(param__extra=np.zeros(3, np.float32)), "it has extra, which the cell does not take"),
                 id="param-unexpected"),
    pytest.param(bad(array("param/layers.0.W_xh", lambda a: a.T), "layers.0.W_xh has shape (32, 8)"),
                 id="param-transposed"),
    pytest.param(bad(hidden_first_layer(9), "has shape"), id="meta-hidden-9-arrays-8"),
    pytest.param(bad(hidden_first_layer(8192), "has shape"), id="meta-hidden-8192-arrays-8"),
    pytest.param(bad(setting(num_layers=2), "it lacks layers.1"), id="meta-two-layers-arrays-one"),
    pytest.param(bad(setting(cell="rnn"), "layers.0.W_xh has shape (8, 32)"), id="meta-rnn-arrays-lstm"),
    pytest.param(bad(array("param/layers.0.W_hh", nan_at_end), "parameter layers.0.W_hh holds NaN"),
                 id="param-nan"),
    pytest.param(bad(array("param/head.W_hy", lambda a: np.full(a.shape, np.inf, np.float16)), "infinite"),
                 id="param-inf-float16"),
    # optimizer and carried state against the parameters and the hidden size
    pytest.param(bad(members(opt__m__nothing=np.zeros(3, np.float32)), "optimizer state opt/m/nothing"),
                 id="opt-for-no-parameter"),
    pytest.param(bad(array("opt/v/head.b_y", lambda a: np.zeros(9, np.float32)), "opt/v/head.b_y"),
                 id="opt-wrong-shape"),
    pytest.param(bad(members(drop=("opt/m/head.b_y",)), "optimizer state m lacks head.b_y"), id="opt-slot-incomplete"),
    pytest.param(bad(lambda w: rewrite(w / "m.npz", add={f"opt/s{i}/head.b_y": np.zeros(8, np.float32)
                                                          for i in range(5)}), "7 slots"), id="opt-stray-slots"),
    pytest.param(bad(resuming(array("opt/m/layers.0.b_h", nan_at_end)), "optimizer state m/layers.0.b_h holds NaN",
                     args=RESUME), id="opt-nan-when-resuming"),
    pytest.param(bad(members(state__3__0=np.zeros((2, HIDDEN), np.float32)), "state/3/0 is unexpected"),
                 id="state-of-a-fourth-layer"),
    pytest.param(bad(members(drop=("state/0/1",)), "state/0/1 is missing"), id="state-without-the-lstm-c"),
    pytest.param(bad(array("state/0/0", lambda a: np.zeros((2, 9), np.float32)), "carried state"),
                 id="state-wrong-hidden"),
    pytest.param(bad(array("state/0/0", lambda a: np.zeros((3, HIDDEN), np.float32)), "carried state"),
                 id="state-two-batch-sizes"),
    pytest.param(bad(array("state/0/0", lambda a: a[None]), "carried state"), id="state-3-d"),
    pytest.param(bad(resuming(array("state/0/0", nan_at_end)), "carried state 0/0 holds NaN", args=RESUME),
                 id="state-nan-when-resuming"),
    # other commands refuse the same file the same way
    pytest.param(bad(setting(hidden_size=60_000), "hidden size", args=["score", "--text", "abc", "m.npz"]),
                 id="score-hidden-60000"),
    pytest.param(bad(setting(hidden_size=60_000), "hidden size", args=["export", "m.npz", "small.npz"]),
                 id="export-hidden-60000"),
    pytest.param(bad(array("param/head.b_y", nan_at_end), "NaN", args=["export", "m.npz", "small.npz"]),
                 id="export-nan"),
    pytest.param(bad(None, "being exported", args=["export", "m.npz", "m.npz"], subprocess=True),
                 id="export-onto-itself"),
    pytest.param(bad(lambda w: (w / "sub").mkdir(), "being exported", args=["export", "m.npz", "./sub/../m.npz"]),
                 id="export-onto-itself-by-another-spelling"),
    pytest.param(bad(symlink("m.npz", "link.npz"), "being exported", args=["export", "m.npz", "link.npz"]),
                 id="export-onto-a-symlink-to-itself"),
    pytest.param(bad(lambda w: os.link(w / "m.npz", w / "hard.npz"), "being exported",
                     args=["export", "hard.npz", "m.npz"]), id="export-onto-a-hard-link-of-itself"),
    pytest.param(bad(lambda w: (w / "text.txt").write_text("my corpus\n"), "a checkpoint is a .npz file",
                     args=["export", "m.npz", "text.txt"]), id="export-onto-the-corpus"),
    pytest.param(bad(lambda w: (w / "text.npz").write_text("my corpus\n"), "not an rnnplay checkpoint",
                     args=["export", "m.npz", "text.npz"]), id="export-onto-notes-named-npz"),
    pytest.param(bad(lambda w: os.mkfifo(w / "pipe.npz"), "not a regular file", args=["export", "m.npz", "pipe.npz"]),
                 id="export-onto-a-fifo"),
    pytest.param(bad(lambda w: (w / "sub").mkdir(), "folder", args=["export", "m.npz", "sub"]),
                 id="export-onto-a-folder"),
    pytest.param(bad(lambda w: (w / "other.npz").write_bytes((w / "m.npz").read_bytes()),
                     "other.npz exists and holds a training run at step 3", "or add --force to replace it",
                     args=["export", "m.npz", "other.npz"]), id="export-onto-another-runs-resumable-checkpoint"),
    pytest.param(bad(lambda w: (w / "e.npz").write_bytes(b""), "e.npz exists: export does not replace it", "--force",
                     args=["export", "m.npz", "e.npz"]), id="export-onto-an-existing-file"),
    # handled as they should be (exit 0)
    pytest.param(Row(None, (), code=0), id="the-valid-checkpoint"),
    pytest.param(Row(compressed, (), code=0), id="savez-compressed-checkpoint"),
]


@pytest.fixture(scope="module")
def valid(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return write_checkpoint(tmp_path_factory.mktemp("valid") / "m.npz").read_bytes()


@pytest.mark.parametrize("row", ROWS)
def test_hostile_checkpoint(row: Row, valid: bytes, sandbox: Sandbox, capsys: pytest.CaptureFixture[str],
                            monkeypatch: pytest.MonkeyPatch) -> None:
    (sandbox.work / "m.npz").write_bytes(valid)
    if row.make is not None:
        row.make(sandbox.work)
    before = sandbox.snapshot()
    if row.subprocess:
        out = sandbox.run(list(row.args), timeout=row.timeout)
    else:
        out = sandbox.run_in_process(row.args, capsys, monkeypatch)
    if row.code == 0:
        assert out.code == 0 and "Traceback" not in out.stderr, out.stderr[-2000:]
    else:
        assert_one_line_error(out, mentions=row.mentions, code=row.code)
    assert out.seconds < row.timeout
    assert_nothing_outside(before, sandbox.snapshot(), allowed=row.allowed or ("\0",))


def test_export_replaces_an_existing_file_with_force(valid: bytes, sandbox: Sandbox,
                                                     capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """What --force is for: the file at OUT becomes the weights-only copy."""
    (sandbox.work / "m.npz").write_bytes(valid)
    (sandbox.work / "other.npz").write_bytes(valid)
    out = sandbox.run_in_process(("export", "m.npz", "other.npz", "--force"), capsys, monkeypatch)
    assert out.code == 0, out.stderr
    assert resumable_step(sandbox.work / "other.npz") is None and load_model(sandbox.work / "other.npz").model


def test_models_lists_hostile_metadata_on_one_line(valid: bytes, sandbox: Sandbox,
                                                   capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A corpus name or cell holding newlines and escape sequences neither breaks the table nor moves the cursor."""
    library = sandbox.root / "data" / "rnnplay" / "models"
    library.mkdir(parents=True)
    (library / "evil.npz").write_bytes(valid)
    rewrite(library / "evil.npz", meta=lambda m: m.update(corpus={"name": "a\n\x1b[31mb\rc"}, cell="rnn\x1b[2J"))
    out = sandbox.run_in_process(("models",), capsys, monkeypatch)
    assert out.code == 0, out.stderr
    assert "\x1b" not in out.stdout and "\r" not in out.stdout
    assert next(ln for ln in out.stdout.splitlines() if "evil" in ln).split()[1:2] == ["rnn\\x1b[2J"]


def test_export_by_name_onto_its_own_file_is_refused(valid: bytes, sandbox: Sandbox,
                                                      capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A model named from the library is compared as the file it names: exporting 'mine' onto the library's
    mine.npz would replace a training checkpoint with its weights-only copy."""
    library = sandbox.root / "data" / "rnnplay" / "models"
    library.mkdir(parents=True)
    (library / "mine.npz").write_bytes(valid)
    out = sandbox.run_in_process(("export", "mine", str(library / "mine.npz")), capsys, monkeypatch)
    assert_one_line_error(out, mentions="is the checkpoint being exported")
    assert (library / "mine.npz").read_bytes() == valid


@pytest.mark.parametrize("change", [lambda m: m.pop("plugins"),
                                    lambda m: m.update(plugins={"sampler": {"name": [1] * 1000}, "x" * 1000: None})],
                         ids=["saved-before-the-table", "roles-this-rnnplay-does-not-know"])
def test_the_plugins_table_is_written_and_may_be_missing_or_newer(change: Callable[[dict], object],
                                                                   tmp_path: Path) -> None:
    """A built-in cell records no plugin (``"plugins": {}``); a checkpoint without the table, or with roles a later
    rnnplay may add, loads as it did."""
    path = write_checkpoint(tmp_path / "m.npz")
    assert load_model(path).meta["plugins"] == {}
    rewrite(path, meta=change)
    assert load_model(path).model.cell.name == "lstm"


# -- saving: nothing unloadable is written, nothing stale is left ---------------------------------------------------
@pytest.mark.parametrize("change", [{"version": "\n"}, {"dropout": "0.1\n"}], ids=["version", "dropout"])
def test_metadata_quoted_in_an_error_stays_on_one_line(change: dict, valid: bytes, tmp_path: Path) -> None:
    """The message itself, not only what the command line prints of it (hypothesis found a version of '\\n')."""
    (tmp_path / "m.npz").write_bytes(valid)
    setting(**change)(tmp_path)
    with pytest.raises(RnnplayError) as err:
        load_model(tmp_path / "m.npz")
    assert "\n" not in str(err.value) and "\\n" in str(err.value), str(err.value)


def test_weights_that_are_not_finite_are_not_saved(tmp_path: Path) -> None:
    path = write_checkpoint(tmp_path / "m.npz")
    before = path.read_bytes()
    model = tiny_model()
    model.params["layers.0.W_hh"][0, 0] = np.nan
    with pytest.raises(RnnplayError, match=r"parameter layers\.0\.W_hh holds NaN") as err:
        save_checkpoint(path, model)
    assert "\n" not in str(err.value)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["m.npz"]


def test_export_to_float16_refuses_weights_beyond_its_range(sandbox: Sandbox, capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    model = tiny_model()
    model.params["head.W_hy"][0, 0] = 1e6  # float16 tops out at 65,504
    save_checkpoint(sandbox.work / "m.npz", model)
    before = sandbox.snapshot()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning would be a second line on the terminal
        out = sandbox.run_in_process(("export", "m.npz", "small.npz"), capsys, monkeypatch)
    assert_one_line_error(out, mentions=("head.W_hy", "float16"))
    assert_nothing_outside(before, sandbox.snapshot(), allowed=("\0",))


def test_a_long_history_is_thinned_so_that_the_file_loads(tmp_path: Path) -> None:
    steps = list(range(1, 400_001))
    history = {"steps": steps, "losses": [1.234567] * len(steps), "val_steps": [1000], "val_losses": [1.5]}
    training = ({"config": {}, "step": len(steps), "history": history}, {})
    path = save_checkpoint(tmp_path / "m.npz", tiny_model(), training=training)
    kept = load_model(path).training["history"]
    assert len(history["steps"]) == 400_000  # the caller's own history is left whole
    assert kept["steps"][0] == 1 and len(kept["steps"]) == len(kept["losses"]) < 400_000
    assert kept["val_steps"] == [1000] and kept["val_losses"] == [1.5]


def dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


def test_temporaries_of_killed_saves_go_at_the_next_save_and_live_ones_stay(tmp_path: Path) -> None:
    """A save killed with SIGKILL halfway through writing leaves its temporary file; the next save removes it."""
    killed = subprocess.run(
        [sys.executable, "-c", "import os, signal, numpy as np; from pathlib import Path; "
         "from tests.hostile.checkpoint_files import write_checkpoint\n"
         "def half(f, **arrays):\n    f.write(b'PK' * 1000); f.flush(); os.kill(os.getpid(), signal.SIGKILL)\n"
         "np.savez = half\nwrite_checkpoint(Path(os.sys.argv[1]))",
         str(tmp_path / "m.npz")], cwd=Path(__file__).parents[2], capture_output=True)
    assert killed.returncode == -9
    (left,) = tmp_path.glob(".m.npz.*.tmp")
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as alive:
        live = [tmp_path / f".m.npz.{pid}.abc123.tmp" for pid in (os.getpid(), alive.pid)]
        others = [tmp_path / f".m.npz.5.npz.{dead_pid()}.abc.tmp", tmp_path / f".n.npz.{dead_pid()}.abc.tmp",
                  tmp_path / ".m.npz.abc123.tmp"]  # another target's, and a name without a pid
        for path in [*live, *others]:
            path.write_bytes(b"being written")
        write_checkpoint(tmp_path / "m.npz")
        alive.kill()
    assert not left.exists()
    assert all(path.exists() for path in [*live, *others])
    assert load_model(tmp_path / "m.npz").training["step"] == 3
    assert remove_stale_temporaries(tmp_path / "m.npz") == [live[1]]  # its process has gone now


# -- plugin cells: shapes asked of the cell on tiny sizes, or at full size when they are not linear ------------------
class SquareGainCell(RNNCell):
    """A cell with a parameter of H² values (not linear in the sizes) that refuses hidden sizes below 4."""

    name = "square-gain"

    def init_params(self, input_size: int, hidden_size: int, rng: np.random.Generator, dtype: object = np.float32
                    ) -> dict[str, np.ndarray]:
        if hidden_size < 4:
            raise ValueError("hidden size below 4")
        return {**super().init_params(input_size, hidden_size, rng, dtype), "gain": np.ones(hidden_size**2, dtype)}


@pytest.mark.parametrize("cell", [RNNCell(), SquareGainCell()], ids=["linear", "not-linear"])
def test_a_cell_is_asked_its_shapes_and_its_checkpoint_round_trips(cell: RNNCell, tmp_path: Path) -> None:
    model = Model(cell, Vocab(tuple(VOCAB)), HIDDEN, 2, seed=3)
    path = save_checkpoint(tmp_path / "m.npz", model)
    loaded = load_checkpoint(path, lambda name, *_: cell).model
    assert all(np.array_equal(v, loaded.params[k]) for k, v in model.params.items())


def test_a_cell_whose_shapes_are_not_linear_is_still_checked(tmp_path: Path) -> None:
    cell = SquareGainCell()
    path = save_checkpoint(tmp_path / "m.npz", Model(cell, Vocab(tuple(VOCAB)), HIDDEN, 2, seed=3))
    rewrite(path, arrays={"param/layers.1.gain": lambda a: a[:-1]})
    with pytest.raises(RnnplayError, match=r"layers\.1\.gain has shape \(63,\)"):
        load_checkpoint(path, lambda name, *_: cell)


class BrokenCell(RNNCell):
    name = "broken"

    def init_params(self, *args: object, **kwargs: object) -> dict[str, np.ndarray]:
        raise ZeroDivisionError("a bug in the plugin")


def test_a_cell_that_fails_to_create_its_parameters_is_named_with_its_plugin(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "m.npz", Model(RNNCell(), Vocab(tuple(VOCAB)), HIDDEN, 1), )
    rewrite(path, meta=lambda m: m.update(cell="broken", cell_plugin="rnnplay-broken"))
    with pytest.raises(RnnplayError, match=r"cell 'broken' failed .*ZeroDivisionError.* authors of rnnplay-broken"):
        load_checkpoint(path, lambda name, *_: BrokenCell())


def test_without_training_state_only_the_parameters_are_read(tmp_path: Path) -> None:
    path = write_checkpoint(tmp_path / "m.npz")
    rewrite(path, arrays={"opt/m/head.b_y": nan_at_end})  # not read, so not refused
    light = load_checkpoint(path, lambda name, *_: get_host().cell(name), training_state=False)
    assert light.arrays == {} and light.training["step"] == 3
    assert all(np.array_equal(v, light.model.params[k]) for k, v in tiny_model().params.items())
    rewrite(path, arrays={"opt/m/head.b_y": lambda a: a[:-1]})  # checked all the same
    with pytest.raises(RnnplayError, match="optimizer state"):
        load_checkpoint(path, lambda name, *_: get_host().cell(name), training_state=False)
