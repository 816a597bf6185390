"""Corpus cards fuzzed with hypothesis: 250 examples of two generated cards each, shown and fetched in-process.

The cards are TOML built from hostile parts (names with ``..``, slashes, drive letters and
NUL; urls of every scheme; sizes and checksums of every type; specs that point back at the
card) and sometimes plain garbage bytes. Whatever the card says, ``rnnplay corpus show`` and
``rnnplay corpus fetch`` must end with exit 0 or one ``rnnplay: error:`` line; any other
exception fails the test, and no file may appear outside the cache. The mirror is an empty
folder and a dead proxy is set, so no card can reach the network.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnnplay.ui.cli import main

pytestmark = pytest.mark.long_file  # run first (tests/conftest.py)

CARD = "card.toml"
OTHER = "other.toml"

nasty_names = st.sampled_from([
    "ok", "..", ".", "../../../escaped", "/etc/passwd", "C:evil", "c:\\x", "a\0b", "", " ", "~", "~/x", "a/b",
    "..\\..\\x", "urls", "x" * 300, "tinyshakespeare", "é", "\t",
])
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
names = st.one_of(nasty_names, text)
urls = st.one_of(
    st.sampled_from(["https://example.org/x.txt", "http://127.0.0.1:9/a/..", "file:///etc/passwd", "ftp://x/y",
                     "http://[::1/x", "https://h/%2e%2e", "https://h/a%00b", "https://h/", "http:///x", "data:x"]),
    text,
)
specs = st.one_of(
    st.sampled_from([f"card:{CARD}", f"card:{OTHER}", "file:small.txt", "small.txt", "dir:.", "dir:.:../*",
                     "stdlib:json", "card:tinyshakespeare", "tinyshakespeare", "nope", "fiel:x", "", "file:pipe"]),
    text,
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=True), text)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(text, inner, max_size=3)), max_leaves=6)
source = st.fixed_dictionaries({}, optional={
    "url": st.one_of(urls, values), "sha256": st.one_of(st.just("0" * 64), st.just("A" * 64), values),
    "size": st.one_of(st.integers(-5, 2**70), values), "filename": st.one_of(names, values),
    "spec": st.one_of(specs, values), "encoding": st.one_of(st.sampled_from(["utf-8", "latin-1", "klingon"]), values),
})
cards = st.fixed_dictionaries({}, optional={
    "name": st.one_of(names, values), "description": st.one_of(text, values), "licence": values,
    "homepage": values, "source": st.one_of(source, values), "train": st.one_of(
        st.dictionaries(st.one_of(st.sampled_from(["hidden", "seq-length", "../x", ""]), text), values, max_size=3),
        values),
    "extra": values,
})


def toml_value(value: Any) -> str:
    """``value`` as an inline TOML value (None, which TOML lacks, becomes an empty array)."""
    if value is None:
        return "[]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if value != value else ("inf" if value == float("inf") else
                                            "-inf" if value == float("-inf") else repr(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k, ensure_ascii=False)} = {toml_value(v)}" for k, v in value.items()) + "}"


def toml_card(card: dict[str, Any]) -> str:
    """A card as TOML: tables as [section]s when they are tables, everything else inline."""
    lines = [f"{json.dumps(k)} = {toml_value(v)}" for k, v in card.items() if not isinstance(v, dict)]
    for key, table in ((k, v) for k, v in card.items() if isinstance(v, dict)):
        lines.append(f"[{json.dumps(key)}]")
        lines += [f"{json.dumps(k, ensure_ascii=False)} = {toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


contents = st.one_of(cards.map(toml_card).map(str.encode), cards.map(toml_card).map(str.encode),
                     st.binary(max_size=200))


def files_in(folder: Path) -> set[str]:
    return {str(p) for p in folder.rglob("*")}


def peak_rss_kb() -> int:
    """This process's peak resident set (VmHWM), in kB."""
    return int(re.search(r"VmHWM:\s+(\d+)", Path("/proc/self/status").read_text())[1])


@pytest.fixture(scope="module", autouse=True)
def peak_before_fuzzing() -> int:
    """The peak RSS once reset to the current one (Linux: ``5 > /proc/self/clear_refs``), as this file starts."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return peak_rss_kb()
    except OSError as err:
        pytest.skip(f"the peak RSS cannot be reset here: {err}")


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder with a small text and a FIFO, an empty mirror, a cache, and no way to the network: three
    folders below this test's own, so that a path that climbs out of it stays in a tree the test alone writes (its
    worker's temporary folder, every earlier test's files in it, took most of the fuzzing's time to list)."""
    root = tmp_path / "up" / "up" / "up"
    work = root / "work"
    work.mkdir(parents=True)
    (work / "small.txt").write_text("a small text, enough to learn from.\n" * 5)
    os.mkfifo(work / "pipe")
    (root / "mirror").mkdir()
    for name in [k for k in os.environ if k.startswith(("RNNPLAY_", "XDG_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(root / "home"))
    monkeypatch.setenv("RNNPLAY_CACHE_DIR", str(root / "cache"))
    monkeypatch.setenv("RNNPLAY_CORPUS_MIRROR", str(root / "mirror"))
    for proxy in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(proxy, "http://127.0.0.1:9")
    monkeypatch.chdir(work)
    return root


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(card=contents, other=contents)
def test_any_card_ends_in_success_or_one_line(world: Path, card: bytes, other: bytes,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    work = world / "work"
    (work / CARD).write_bytes(card)
    (work / OTHER).write_bytes(other)
    around = world.parents[2]  # the test's own folder
    before = files_in(world)
    outside = files_in(around) - before
    for args in (["corpus", "show", f"card:{CARD}", "--preview", "0"], ["corpus", "fetch", str(work / CARD)]):
        code = main(args)
        err = capsys.readouterr().err
        lines = [line for line in err.replace("\r", "\n").splitlines() if line.startswith("rnnplay: ")]
        assert code in (0, 1), err
        assert (code == 0) == (not lines) and len(lines) <= 1, err
    written = files_in(world) - before
    assert all(path.startswith(str(world / "cache")) for path in written), written
    assert files_in(around) - files_in(world) == outside
    assert not Path("/escaped").exists()


def test_fuzzing_cards_stays_small_in_memory(peak_before_fuzzing: int) -> None:
    """Cards are capped at 1 MB before parsing, so the fuzzing above never grew the process by much.

    Its own peak: the high-water mark was reset as this file started (the process may be a test worker whose
    earlier files peaked higher).
    """
    grew_mb = (peak_rss_kb() - peak_before_fuzzing) / 1024
    assert grew_mb < 256, f"the fuzzing raised the peak RSS by {grew_mb:.0f} MB"
