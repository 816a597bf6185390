"""`rnnplay corpus cache [--prune [--all]]` on real id files of real 4 MiB corpora, through the real command.

Each test has its own cache folder (RNNPLAY_CACHE_DIR); the corpora are built by `corpus show`, as a user's
first load builds them, and the processes that hold a text are real ones that loaded it.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from waiting import wait_for

from rnnplay.corpora.file_corpus import ID_FILE_BYTES

pytestmark = pytest.mark.long_file  # run first (tests/conftest.py)

LINE = "the quick brown fox jumps over the lazy dog\n"
HOLDER = """import sys
from rnnplay.corpora import load_corpus
corpus = load_corpus(sys.argv[1])
ids = corpus.encode(corpus.vocab())
print("ready", flush=True)
sys.stdin.readline()
print(len(ids), int(ids.sum()), flush=True)
"""


def big(path: Path, line: str = LINE) -> Path:
    path.write_text(line * (ID_FILE_BYTES // len(line) + 1))
    return path


def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "RNNPLAY_CACHE_DIR": str(tmp_path / "cache"), "RNNPLAY_LOAD_PLUGINS": "",
            "PYTHONIOENCODING": "utf-8"}


def rnnplay(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "rnnplay", *args], capture_output=True, text=True,
                          env=env(tmp_path), cwd=tmp_path, timeout=300)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    return done


def load(tmp_path: Path, path: Path) -> str:
    """`corpus show PATH`: its stderr (which says "encoded" when the text was encoded)."""
    return rnnplay(tmp_path, "corpus", "show", str(path), "--preview", "0").stderr


def cache_files(tmp_path: Path) -> set[str]:
    folder = tmp_path / "cache" / "ids"
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def squeezed(out: str) -> str:
    """Output with each run of spaces as one: a prune's rows, whose state column is as wide as its widest state."""
    return re.sub(" +", " ", out)


def sha_of(tmp_path: Path, path: Path) -> str:
    shown = rnnplay(tmp_path, "corpus", "show", str(path), "--preview", "0").stdout
    return next(line.split()[1] for line in shown.splitlines() if line.startswith("sha256:"))


def test_the_cache_lists_each_text_and_prunes_those_whose_source_is_gone_or_changed(tmp_path: Path) -> None:
    gone, changed, kept = big(tmp_path / "gone.txt"), big(tmp_path / "b.txt", LINE.upper()), big(
        tmp_path / "c.txt", LINE.title())
    for path in (gone, changed, kept):
        assert "encoded" in load(tmp_path, path)
    kept_sha = sha_of(tmp_path, kept)
    gone.unlink()
    with changed.open("a") as f:
        f.write("one line more\n")
    listed = rnnplay(tmp_path, "corpus", "cache").stdout
    size = f"{(gone.stat().st_size if gone.exists() else kept.stat().st_size) / 1e6:.1f} MB"
    for state, path in (("source gone", gone), ("source changed", changed), ("unchanged", kept)):
        assert f"{size}  {state:<16} {path}" in listed, listed
    assert "memos: 3" in listed and "2 stale" in listed and "--prune` frees 8.4 MB (with --all: 12.6 MB)" in listed
    pruned = rnnplay(tmp_path, "corpus", "cache", "--prune").stdout
    assert f"source gone {gone}" in squeezed(pruned) and f"source changed {changed}" in squeezed(pruned), pruned
    assert "freed 8.4 MB" in pruned and str(kept) not in pruned
    assert {name.split("-")[0].split(".")[0] for name in cache_files(tmp_path) if "/" not in name} == {kept_sha}
    assert len([n for n in cache_files(tmp_path) if n.startswith("files/")]) == 1
    assert "encoded" not in load(tmp_path, kept)  # its memo and ids kept: read, not encoded again
    assert "frees 0 B" in rnnplay(tmp_path, "corpus", "cache").stdout


def test_a_memo_of_an_older_rnnplay_is_source_unknown_kept_by_prune_and_removed_by_all(tmp_path: Path) -> None:
    path = big(tmp_path / "a.txt")
    load(tmp_path, path)
    [memo] = (tmp_path / "cache" / "ids" / "files").glob("*.json")
    record = json.loads(memo.read_text())
    assert record["source"]["path"] == str(path.resolve()) and record["source"]["size"] == path.stat().st_size
    memo.write_text(json.dumps({"sha256": record["sha256"]}))  # what an older rnnplay wrote
    listed = rnnplay(tmp_path, "corpus", "cache").stdout
    assert "source unknown   (noted by an older rnnplay" in listed, listed
    assert "nothing to remove" in rnnplay(tmp_path, "corpus", "cache", "--prune").stdout
    assert "encoded" not in load(tmp_path, path)  # the old memo still leads a load to the ids
    removed = rnnplay(tmp_path, "corpus", "cache", "--prune", "--all").stdout
    assert "source unknown" in removed and "freed 4.2 MB" in removed
    assert cache_files(tmp_path) == set()
    one_line = subprocess.run([sys.executable, "-m", "rnnplay", "corpus", "cache", "--all"], capture_output=True,
                              text=True, env=env(tmp_path), timeout=120)
    assert one_line.returncode == 1 and one_line.stderr.startswith("rnnplay: error: --all goes with --prune")


@pytest.mark.parametrize("built_by_holder", [True, False], ids=["built-by-it", "found-by-it"])
def test_a_text_a_running_process_loaded_is_never_pruned(tmp_path: Path, built_by_holder: bool) -> None:
    """The process builds the ids (holding them before they are renamed into place) or finds them; either way a
    prune, even --all, leaves them while it runs, and the process reads all its ids after the prune."""
    path = big(tmp_path / "a.txt")
    if not built_by_holder:
        load(tmp_path, path)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=env(tmp_path))
    try:
        assert holder.stdout.readline() == "ready\n"
        path.unlink()  # its source gone: a prune would remove it, were it not held
        before = cache_files(tmp_path)
        pruned = rnnplay(tmp_path, "corpus", "cache", "--prune").stdout
        assert f"kept 4.2 MB in use {path.resolve()}" in squeezed(pruned), pruned
        assert "memo, source gone" in pruned  # the memo leads nowhere now: it goes
        pruned = rnnplay(tmp_path, "corpus", "cache", "--prune", "--all").stdout
        assert "kept 4.2 MB in use (no memo)" in squeezed(pruned) and "nothing to remove" in pruned, pruned
        assert "in use" in rnnplay(tmp_path, "corpus", "cache").stdout
        assert {n for n in before if n.endswith((".ids", ".json")) and "/" not in n} <= cache_files(tmp_path)
        out, _ = holder.communicate("\n", timeout=120)
    finally:
        holder.kill()
    assert holder.returncode == 0 and out.split() == [str(ID_FILE_BYTES // len(LINE) * len(LINE) + len(LINE)),
                                                      out.split()[1]]
    assert "freed 4.2 MB" in rnnplay(tmp_path, "corpus", "cache", "--prune").stdout
    assert cache_files(tmp_path) == set()


def test_part_files_of_killed_builds_and_downloads_go_and_live_ones_and_downloads_stay(tmp_path: Path) -> None:
    """A part file is alive while its writer holds it locked, whatever PID its name holds: one named with this live
    process's PID but held by none is a killed build's (a PID the system gave again), and goes."""
    ids, corpora = tmp_path / "cache" / "ids", tmp_path / "cache" / "corpora"
    (ids / "files").mkdir(parents=True)
    dead, live = ids / ".tmp-999999999-ab.part", ids / ".tmp-999999999-cd.part"
    unheld = ids / f".tmp-{os.getpid()}-ef.part"
    dead_memo = ids / "files" / f"{'0' * 32}.json.999999999.part"
    (corpora / "urls" / "h").mkdir(parents=True)
    download, old_part, young_part = (corpora / "urls" / "h" / "x.txt", corpora / "urls" / "h" / ".x.txt.ab.part",
                                      corpora / "urls" / "h" / ".x.txt.cd.part")
    for made in (dead, live, unheld, dead_memo, download, old_part, young_part):
        made.write_bytes(b"x" * 1000)
    os.utime(old_part, (1, 1))  # older than any download may last
    with live.open("rb") as writer:
        fcntl.flock(writer, fcntl.LOCK_EX)  # its writer's lock, as a build holds it
        listed = rnnplay(tmp_path, "corpus", "cache").stdout
        for state, where in (("killed build", dead.name), ("building", live.name), ("killed build", unheld.name),
                             ("download", "urls/h/x.txt"), ("killed download", old_part.name),
                             ("downloading", young_part.name)):
            assert any(state + " " in line and line.endswith(where) for line in listed.splitlines()), (state, listed)
        pruned = rnnplay(tmp_path, "corpus", "cache", "--prune", "--all").stdout
    assert "freed 4.0 kB" in pruned, pruned
    assert not dead.exists() and not unheld.exists() and not dead_memo.exists() and not old_part.exists()
    assert live.exists() and download.exists() and young_part.exists()


BUILDER = """import sys
from pathlib import Path
from rnnplay.corpora.id_file import TempFile
part = TempFile(Path(sys.argv[1]))
part.write(b"ids so far" * 100_000)
print(part.path.name, flush=True)
sys.stdin.readline()
"""


def in_another_pid_namespace(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """`rnnplay ARGS` in a PID namespace of its own (as in a container), where this machine's processes are not."""
    done = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-m", "rnnplay", *args],
                          capture_output=True, text=True, env=env(tmp_path), cwd=tmp_path, timeout=300)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    return done


def test_a_prune_in_another_pid_namespace_leaves_a_live_build_alone(tmp_path: Path) -> None:
    """A prune in a container (or on a second machine with the same NFS home) judged a build's part file by its
    writer's PID, which it could not see: it removed a live build's 53.5 MB ("killed build"). Now the writer's lock
    says it is alive to any process that sees the file; once the writer is killed, the file goes."""
    if subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "true"], capture_output=True).returncode != 0:
        pytest.skip("unshare --pid is not permitted here")
    ids = tmp_path / "cache" / "ids"
    builder = subprocess.Popen([sys.executable, "-c", BUILDER, str(ids)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True, env=env(tmp_path))
    try:
        part = ids / builder.stdout.readline().strip()
        listed = in_another_pid_namespace(tmp_path, "corpus", "cache").stdout
        assert f"building         ids/{part.name}" in listed, listed
        pruned = in_another_pid_namespace(tmp_path, "corpus", "cache", "--prune").stdout
        assert part.name not in pruned and part.exists(), pruned
    finally:
        builder.kill()
        builder.wait()
    pruned = in_another_pid_namespace(tmp_path, "corpus", "cache", "--prune").stdout
    assert f"killed build ids/{part.name}" in squeezed(pruned) and not part.exists(), pruned


def test_a_session_lets_a_text_go_once_its_training_ends(tmp_path: Path) -> None:
    """A REPL held every text it had trained on until it left: `corpus cache` listed them all as in use, and no
    prune could free them. Now a text is held while its training runs (never pruned then), and let go after. Each
    /stop comes once a periodic checkpoint shows that steps were made (a training stopped before its first saves
    nothing)."""
    first, second = big(tmp_path / "a.txt"), big(tmp_path / "b.txt", LINE.upper())
    repl = subprocess.Popen([sys.executable, "-m", "rnnplay", "repl"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**env(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data")}, cwd=tmp_path)
    assert repl.stdin is not None

    def send(line: str) -> None:
        repl.stdin.write(line + "\n")
        repl.stdin.flush()

    def row(path: Path) -> str:
        """The text's row in the listing: '4.2 MB  in use           PATH'."""
        listed = rnnplay(tmp_path, "corpus", "cache").stdout
        return next((line for line in listed.splitlines() if line.endswith(f" {path}")), "")

    try:
        send(f"/train {first} from=new hidden=8 layers=1 batch=2 seq=8 steps=100000 checkpoint_every=100 "
             "out=a.npz")
        wait_for(lambda: "in use" in row(first), "the first text held while it trains", 120)
        pruned = rnnplay(tmp_path, "corpus", "cache", "--prune", "--all").stdout
        assert f"in use {first}" in squeezed(pruned) and "nothing to remove" in pruned, pruned
        wait_for(lambda: (tmp_path / "a.npz").exists(), "the first training's first checkpoint", 120)
        send("/stop")
        wait_for(lambda: "unchanged" in row(first), "the first text let go once its training ended", 120)
        send(f"/train {second} from=new hidden=8 layers=1 batch=2 seq=8 steps=100000 checkpoint_every=100 "
             "out=b.npz")
        wait_for(lambda: "in use" in row(second), "the second text held while it trains", 120)
        pruned = rnnplay(tmp_path, "corpus", "cache", "--prune", "--all").stdout
        assert f"removed 4.2 MB unchanged {first}" in squeezed(pruned), pruned
        assert f"kept 4.2 MB in use {second}" in squeezed(pruned) and "freed 4.2 MB" in pruned, pruned
        wait_for(lambda: (tmp_path / "b.npz").exists(), "the second training's first checkpoint", 120)
        send("/stop")
        _, err = repl.communicate(timeout=120)
    finally:
        repl.kill()
    assert repl.returncode == 0, err
    assert (tmp_path / "a.npz").exists() and (tmp_path / "b.npz").exists()


def test_a_dir_folder_is_encoded_again_only_when_its_listing_changes(tmp_path: Path) -> None:
    """A `dir:` folder's ids were built anew at each load, and `corpus cache` listed them as '(no memo)'. Now a memo
    keyed by the folder's listing (names, sizes, mtimes, ctimes, inodes) finds them while it is unchanged, and the
    listing names the folder as the spec that loads it."""
    folder = tmp_path / "notes"
    folder.mkdir()
    half = ID_FILE_BYTES // 2 // len(LINE) + 1
    (folder / "a.txt").write_text(LINE * half)
    (folder / "b.txt").write_text(LINE.upper() * half)
    spec = f"dir:{folder}"
    assert "encoded" in load(tmp_path, Path(spec))
    shown = rnnplay(tmp_path, "corpus", "show", spec, "--preview", "0")
    assert "encoded" not in shown.stderr and "2 files" in shown.stdout, shown.stdout + shown.stderr
    assert f"unchanged        {spec}" in rnnplay(tmp_path, "corpus", "cache").stdout
    with (folder / "b.txt").open("a") as f:
        f.write("one line more\n")
    listed = rnnplay(tmp_path, "corpus", "cache").stdout
    assert f"source changed   {spec}" in listed, listed
    assert "encoded" in load(tmp_path, Path(spec))
    pruned = rnnplay(tmp_path, "corpus", "cache", "--prune").stdout
    assert f"source changed {spec}" in squeezed(pruned) and "freed 4.2 MB" in pruned, pruned
    assert f"unchanged        {spec}" in rnnplay(tmp_path, "corpus", "cache").stdout
    (folder / "c.txt").write_text("a third file\n")
    assert "encoded" in load(tmp_path, Path(spec))  # a member more: another text
    assert "3 files" in rnnplay(tmp_path, "corpus", "show", spec, "--preview", "0").stdout
    two = f"{spec}:[ab].txt"  # a glob is part of the folder's listing: the two files' text again, its memo anew
    assert "encoded" in load(tmp_path, Path(two)) and "encoded" not in load(tmp_path, Path(two))
    listed = rnnplay(tmp_path, "corpus", "cache").stdout
    assert f"unchanged        {two}\n" in listed and f"unchanged        {spec}\n" in listed, listed


def test_the_stdin_spool_folder_is_named_rnnplays_and_a_killed_spool_file_goes(tmp_path: Path) -> None:
    """``tmp/`` holds a piped stdin's spool file (docs/corpora.md): listed as rnnplay's own, not "not rnnplay's".
    A spool file is unlinked at once (or never named); one left named by a killed process (its pid in the name,
    the pid of a process that has ended) is pruned, one of a live process and a stranger's file stay."""
    spool = tmp_path / "cache" / "tmp"
    spool.mkdir(parents=True)
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (spool / f".spool-{ended.stdout.strip()}-k1ll3d").write_bytes(b"x" * 1000)
    (spool / f".spool-{os.getpid()}-l1v3").write_bytes(b"y" * 10)
    (spool / "notes.txt").write_text("mine")
    listed = rnnplay(tmp_path, "corpus", "cache").stdout
    assert "stdin spool" in listed and "not rnnplay's" not in listed, listed
    assert "killed spool" in listed and "spooling" in listed, listed
    pruned = rnnplay(tmp_path, "corpus", "cache", "--prune").stdout
    assert "killed spool" in pruned, pruned
    assert sorted(p.name for p in spool.iterdir()) == [f".spool-{os.getpid()}-l1v3", "notes.txt"]


def test_the_listing_lines_up_its_columns_however_long_a_state_is(tmp_path: Path) -> None:
    """'left alone: not a name rnnplay gives' is wider than the state column was (16): its rows pushed their path
    out of line with the others', as 'memo, source gone' did in a prune's. Every row's path now starts where the
    others' do."""
    path = big(tmp_path / "a.txt")
    load(tmp_path, path)
    (tmp_path / "cache" / "tmp").mkdir()
    for stray in ("ids/notes.txt", "tmp/notes"):
        (tmp_path / "cache" / stray).write_text("mine")
    listed = rnnplay(tmp_path, "corpus", "cache").stdout
    rows = {where: next(line for line in listed.splitlines() if line.endswith(where))
            for where in (str(path.resolve()), "tmp/", "ids/notes.txt", "tmp/notes")}
    assert "left alone: not a name rnnplay gives  ids/notes.txt" in rows["ids/notes.txt"], listed
    assert len({line.rindex(where) for where, line in rows.items()}) == 1, listed
    path.unlink()  # the text and its memo go: 'memo, source gone' is wider than 16 too
    removed = [line for line in rnnplay(tmp_path, "corpus", "cache", "--prune").stdout.splitlines()
               if line.startswith("removed")]
    assert len(removed) == 2 and len({len(line) - len(line.rsplit("  ", 1)[1]) for line in removed}) == 1, removed
