"""Downloads against a real HTTP server on 127.0.0.1 serving the real tiny shakespeare file.

The server offers the file intact, corrupted (one byte changed), cut short (the
connection closes mid-body), under another name only, and not at all (404), so
each of the download rules is checked end to end: the real checksum is verified,
a corrupted or interrupted transfer leaves nothing in the cache, a mirror works.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from child_env import child_env

from rnnplay.core.errors import RnnplayError
from rnnplay.corpora import load_corpus
from rnnplay.corpora.cards import require_card
from rnnplay.corpora.download import _refuse_a_web_page, fetch, size_from_env
from tests.hostile.harness import drop_root_rights

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpora"
SHAKESPEARE = SHARED / "tinyshakespeare.txt"
SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"

pytestmark = pytest.mark.skipif(not SHAKESPEARE.exists(), reason=f"benchmark corpus not found at {SHAKESPEARE}")


class Handler(http.server.BaseHTTPRequestHandler):
    """/good/NAME the real file, /corrupt/NAME one byte flipped, /short/NAME half then hang up,
    /renamed/input.txt only under the url's name, /error/NAME a 500, /trickle/NAME a byte at a time
    without end, /unsized/NAME the file without a Content-Length, /page/NAME a web page showing it,
    anything else 404."""

    body = b""

    def do_GET(self) -> None:
        _, folder, name = self.path.split("/", 2)
        body = self.body
        if folder in ("trickle", "unsized"):
            self.send_response(200)
            if folder == "trickle":
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.send_slowly(body, 0.2 if folder == "trickle" else 0)
            return
        if folder == "corrupt":
            body = body[:1000] + bytes([body[1000] ^ 1]) + body[1001:]
        if folder == "error":
            self.send_error(500, "broken on purpose")
            return
        if folder == "page":  # the page around a file, as github.com/…/blob/… answers
            page = b"<!DOCTYPE html><html><body><pre>" + body[:2000] + b"</pre></body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)
            return
        known = {"good": ("tinyshakespeare.txt", "input.txt"), "corrupt": ("tinyshakespeare.txt",),
                 "short": ("tinyshakespeare.txt",), "renamed": ("input.txt",)}
        if name not in known.get(folder, ()):
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if folder == "short":
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)  # the transfer dies mid-body
            return
        self.wfile.write(body)

    def send_slowly(self, body: bytes, pause: float) -> None:
        try:
            for start in range(0, len(body), 1 if pause else 1 << 16):
                self.wfile.write(body[start : start + (1 if pause else 1 << 16)])
                self.wfile.flush()
                time.sleep(pause)
        except OSError:  # the client hung up
            pass

    def log_message(self, *args: object) -> None:  # keep pytest's output clean
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    Handler.body = SHAKESPEARE.read_bytes()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RNNPLAY_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("RNNPLAY_CORPUS_MIRROR", raising=False)
    return tmp_path / "cache"


def files_in(folder: Path) -> list[Path]:
    """The files in the cache ``folder``, and the empty folders a download made for itself (a url's hash folder)."""
    if not folder.exists():
        return []
    kept = {folder / "corpora", folder / "corpora" / "urls"}  # the cache's own layout may stay
    return [p for p in folder.rglob("*") if p.is_file() or (p not in kept and p.is_dir() and not any(p.iterdir()))]


def test_card_download_verifies_the_real_checksum(server: str, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RNNPLAY_CORPUS_MIRROR", f"{server}/good")
    seen: list[tuple[int, int | None]] = []
    corpus = load_corpus("tinyshakespeare", progress=lambda label, done, total, unit="B": seen.append((done, total)))
    assert corpus.sha256 == SHA256 and len(corpus.text) == 1_115_394
    assert corpus.licence == "public domain" and corpus.settings["cell"] == "lstm"
    assert files_in(cache) == [cache / "corpora" / "tinyshakespeare" / "tinyshakespeare.txt"]
    assert seen[-1] == (1_115_394, 1_115_394)


def test_a_corrupted_copy_is_rejected_and_not_kept(server: str, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RNNPLAY_CORPUS_MIRROR", f"{server}/corrupt")
    with pytest.raises(RnnplayError, match="checksum mismatch"):
        load_corpus("tinyshakespeare")
    assert files_in(cache) == []


def test_an_interrupted_transfer_leaves_nothing(server: str, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RNNPLAY_CORPUS_MIRROR", f"{server}/short")
    with pytest.raises(RnnplayError, match=r"stopped after|broke off"):
        load_corpus("tinyshakespeare")
    assert files_in(cache) == []


def test_ctrl_c_during_a_download_leaves_nothing(server: str, cache: Path) -> None:
    def interrupt(label: str, done: int, total: int | None, unit: str = "B") -> None:
        if done > 100_000:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fetch(f"{server}/good/input.txt", cache / "x" / "input.txt", sha256=SHA256, progress=interrupt)
    assert files_in(cache) == []


def test_a_mirror_url_is_tried_under_each_file_name(server: str, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RNNPLAY_CORPUS_MIRROR", f"{server}/renamed/")  # has input.txt, not tinyshakespeare.txt
    assert load_corpus("tinyshakespeare").sha256 == SHA256


def test_a_mirror_folder_works_without_any_network(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RNNPLAY_CORPUS_MIRROR", str(SHARED))
    corpus = load_corpus("tinyshakespeare")
    assert corpus.sha256 == SHA256
    assert corpus.source.startswith("https://raw.githubusercontent.com/")  # the origin, not the mirror
    assert require_card("tinyshakespeare").cache_path.exists()


def test_a_mirror_folder_without_the_file_says_so(tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RNNPLAY_CORPUS_MIRROR", str(tmp_path))
    with pytest.raises(RnnplayError, match=r"has none of tinyshakespeare.txt, input.txt.*unset RNNPLAY_CORPUS_MIRROR"):
        load_corpus("tinyshakespeare")


def test_a_damaged_cached_copy_is_fetched_again(server: str, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RNNPLAY_CORPUS_MIRROR", f"{server}/good")
    card = require_card("tinyshakespeare")
    card.cache_path.parent.mkdir(parents=True)
    card.cache_path.write_bytes(b"not shakespeare at all")
    assert load_corpus("tinyshakespeare").sha256 == SHA256
    assert hashlib.sha256(card.cache_path.read_bytes()).hexdigest() == SHA256


def test_a_damaged_cached_copy_that_cannot_be_fetched_again_says_so(cache: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """`corpus show` and `train` of a card whose cached file was edited said only "cannot reach HOST", offline."""
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("RNNPLAY_CORPUS_MIRROR", f"http://127.0.0.1:{port}/good")
    card = require_card("tinyshakespeare")
    card.cache_path.parent.mkdir(parents=True)
    card.cache_path.write_bytes(b"not shakespeare at all")
    with pytest.raises(RnnplayError, match=rf"^the cached copy {card.cache_path} does not match tinyshakespeare's "
                       rf"sha256 \(damaged, or edited\), and fetching it again failed: cannot reach 127.0.0.1:{port}"):
        load_corpus("tinyshakespeare")


def test_url_spec_downloads_once_into_the_cache(server: str, cache: Path) -> None:
    corpus = load_corpus(f"url:{server}/good/input.txt")
    assert (corpus.name, corpus.sha256, corpus.source) == ("input.txt", SHA256, f"{server}/good/input.txt")
    assert len(files_in(cache)) == 1
    umask = os.umask(0)
    os.umask(umask)
    assert files_in(cache)[0].stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600: a shared cache
    again = load_corpus(f"{server}/good/input.txt")  # a bare http(s) address means url:
    assert again.sha256 == SHA256 and len(files_in(cache)) == 1


def test_a_large_url_corpus_keeps_its_ids_in_the_cache_as_a_file_does(server: str, cache: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from rnnplay.corpora import file_corpus

    monkeypatch.setattr(file_corpus, "ID_FILE_BYTES", 1000)  # the threshold, lowered below tiny shakespeare's size
    corpus = load_corpus(f"url:{server}/good/input.txt")
    assert isinstance(corpus, file_corpus.FileCorpus)  # its text is not held in memory
    assert (corpus.name, corpus.sha256, corpus.source) == ("input.txt", SHA256, f"{server}/good/input.txt")
    assert corpus.chars == len(SHAKESPEARE.read_text(encoding="utf-8"))


def test_corpus_fetch_downloads_a_url_and_again_with_force(server: str, cache: Path, tmp_path: Path) -> None:
    """A url: was downloaded once and for good: nothing fetched it again (a file that changed on the server)."""
    def corpus_fetch(*args: str) -> str:
        env = {**os.environ, "RNNPLAY_CACHE_DIR": str(cache), "RNNPLAY_LOAD_PLUGINS": ""}
        done = subprocess.run([sys.executable, "-m", "rnnplay", "corpus", "fetch", *args], capture_output=True,
                              text=True, env=env, cwd=tmp_path, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    address = f"{server}/good/input.txt"
    said = corpus_fetch(f"url:{address}")
    assert f"input.txt: downloaded from {address}, 1,115,394 bytes (no checksum to verify)" in said
    [cached] = files_in(cache)
    cached.write_bytes(b"changed since")
    assert "input.txt: already cached, 13 bytes" in corpus_fetch(address)  # a bare address is url: too
    assert f"downloaded from {address}, 1,115,394 bytes" in corpus_fetch(f"url:{address}", "--force")
    assert cached.read_bytes() == SHAKESPEARE.read_bytes()


def test_kill_int_to_a_background_corpus_fetch_stops_it_and_leaves_nothing(server: str, cache: Path,
                                                                            tmp_path: Path) -> None:
    """Started with SIGINT ignored, as a shell starts ``rnnplay corpus fetch CARD &``: the signal was lost, and
    the download went on to its end (here the deadline's error, exit 1)."""
    env = {**child_env(RNNPLAY_CACHE_DIR=str(cache), RNNPLAY_LOAD_PLUGINS=""), "RNNPLAY_DOWNLOAD_TIMEOUT": "30"}
    child = subprocess.Popen([sys.executable, "-m", "rnnplay", "corpus", "fetch", f"url:{server}/trickle/input.txt"],
                             env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        while not list(cache.rglob("*.part")):  # the transfer has begun
            assert child.poll() is None, child.communicate()
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGINT)
        _, err = child.communicate(timeout=60)
    finally:
        child.kill()
    assert (child.returncode, err) == (130, "rnnplay: interrupted\n")
    assert files_in(cache) == []  # its .part file removed


def test_http_errors_are_one_line(server: str, cache: Path) -> None:
    with pytest.raises(RnnplayError, match="not found"):
        load_corpus(f"url:{server}/good/nothing.txt")
    with pytest.raises(RnnplayError, match="answered HTTP 500"):
        load_corpus(f"url:{server}/error/input.txt")
    assert files_in(cache) == []


def test_a_web_page_where_a_text_file_was_meant_is_refused_with_the_raw_address(server: str, cache: Path) -> None:
    with pytest.raises(RnnplayError, match=r"/page/input\.txt is a web page \(Content-Type: text/html\), not the "
                                           r"text file itself; give the address of the file itself"):
        load_corpus(f"url:{server}/page/input.txt")
    assert files_in(cache) == []
    for page in ("story.html", "v1.2/", "story"):  # a page asked for as one
        assert "<!DOCTYPE html>" in load_corpus(f"url:{server}/page/{page}").text
    with pytest.raises(RnnplayError, match=r"give the raw file's address, https://raw\.githubusercontent\.com/"
                                           r"karpathy/char-rnn/master/data/tinyshakespeare/input\.txt$"):
        _refuse_a_web_page("text/html; charset=utf-8",
                           "https://github.com/karpathy/char-rnn/blob/master/data/tinyshakespeare/input.txt")


def test_an_unreachable_url_says_what_to_do(cache: Path) -> None:
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(RnnplayError, match=rf"cannot reach 127.0.0.1:{port}.*check the address"):
        load_corpus(f"url:http://127.0.0.1:{port}/input.txt")
    assert files_in(cache) == []


def test_a_trickling_server_meets_the_deadline_for_the_whole_download(
    server: str, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RNNPLAY_DOWNLOAD_TIMEOUT", "1.5")
    with pytest.raises(RnnplayError, match=r"took longer than 1.5 s .*raise RNNPLAY_DOWNLOAD_TIMEOUT"):
        fetch(f"{server}/trickle/input.txt", cache / "x" / "input.txt")
    assert files_in(cache) == []


def test_a_download_stops_past_its_limit_or_its_declared_size(server: str, cache: Path) -> None:
    with pytest.raises(RnnplayError, match=r"more than 100,000 bytes, over the 100,000-byte limit.*MAX_DOWNLOAD"):
        fetch(f"{server}/unsized/input.txt", cache / "x" / "input.txt", limit=100_000)
    with pytest.raises(RnnplayError, match=r"sends 1,115,394 bytes but its card declares 1,000"):
        fetch(f"{server}/good/input.txt", cache / "x" / "input.txt", size=1000)  # refused from Content-Length
    with pytest.raises(RnnplayError, match=r"sends more than 1,000 bytes but its card declares 1,000"):
        fetch(f"{server}/unsized/input.txt", cache / "x" / "input.txt", size=1000)
    assert files_in(cache) == []


def test_a_card_uses_a_copy_beside_it_before_the_network(cache: Path, tmp_path: Path) -> None:
    folder = tmp_path / "cards"
    folder.mkdir()
    (folder / "tinyshakespeare.txt").write_bytes(SHAKESPEARE.read_bytes())
    card = folder / "mine.toml"
    card.write_text('[source]\nurl = "http://127.0.0.1:9/input.txt"\nfilename = "tinyshakespeare.txt"\n'
                    f'sha256 = "{SHA256}"\nsize = 1115394\n')  # nothing listens on port 9
    assert load_corpus(f"card:{card}").sha256 == SHA256
    assert files_in(cache) == [cache / "corpora" / "mine" / "tinyshakespeare.txt"]


@pytest.mark.parametrize(("raw", "expected"), [("", 7), ("2G", 2 << 30), ("500M", 500 << 20), ("64k", 64 << 10),
                                               ("1000", 1000), ("1.5GiB", 3 << 29)])
def test_sizes_from_the_environment(monkeypatch: pytest.MonkeyPatch, raw: str, expected: int) -> None:
    monkeypatch.setenv("RNNPLAY_MAX_DOWNLOAD", raw)
    assert size_from_env("RNNPLAY_MAX_DOWNLOAD", 7) == expected


@pytest.mark.parametrize("raw", ["lots", "-5", "0", "1X", "nan", "0.5", "1" + "0" * 400])
def test_a_bad_size_in_the_environment_is_one_line(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("RNNPLAY_MAX_DOWNLOAD", raw)
    with pytest.raises(RnnplayError, match=r"RNNPLAY_MAX_DOWNLOAD=.* is not a size; give bytes"):
        size_from_env("RNNPLAY_MAX_DOWNLOAD", 7)


def test_part_files_of_a_killed_download_are_removed_by_the_next(server: str, cache: Path) -> None:
    folder = cache / "x"
    folder.mkdir(parents=True)
    stale, fresh = folder / ".input.txt.abc123.part", folder / ".input.txt.def456.part"
    stale.write_bytes(b"half a corpus")
    fresh.write_bytes(b"another process, downloading now")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    fetch(f"{server}/good/input.txt", folder / "input.txt", sha256=SHA256)
    assert sorted(p.name for p in folder.iterdir()) == [fresh.name, "input.txt"]


def test_a_full_disk_during_a_download_is_one_line(server: str, cache: Path, tmp_path: Path) -> None:
    """The file-size limit (ulimit -f) plays a full disk: the write fails, one line that names that limit (not
    free space: the disk has room), nothing left."""
    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))

    env = {**os.environ, "RNNPLAY_CACHE_DIR": str(cache), "RNNPLAY_LOAD_PLUGINS": ""}
    done = subprocess.run([sys.executable, "-m", "rnnplay", "corpus", "show", f"url:{server}/good/input.txt"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60, preexec_fn=small_files)
    lines = [ln for ln in done.stderr.replace("\r", "\n").splitlines() if ln.startswith("rnnplay: ")]
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert len(lines) == 1 and "cannot write the download" in lines[0] and "ulimit -f" in lines[0], lines
    assert files_in(cache) == []


def test_a_read_only_cache_says_the_folder_cannot_be_written_not_free_space(server: str, cache: Path,
                                                                            tmp_path: Path) -> None:
    """The disk is not full, the cache folder refuses: the one line names the folder and RNNPLAY_CACHE_DIR."""
    cache.mkdir(parents=True, exist_ok=True)
    cache.chmod(0o555)
    env = {**os.environ, "RNNPLAY_CACHE_DIR": str(cache), "RNNPLAY_LOAD_PLUGINS": ""}
    try:
        done = subprocess.run([sys.executable, "-m", "rnnplay", "corpus", "fetch", f"url:{server}/good/input.txt"],
                              capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60,
                              preexec_fn=drop_root_rights)
    finally:
        cache.chmod(0o755)
    lines = [ln for ln in done.stderr.replace("\r", "\n").splitlines() if ln.startswith("rnnplay: ")]
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert len(lines) == 1 and "cannot be written" in lines[0] and "RNNPLAY_CACHE_DIR" in lines[0], lines
    assert f"{cache} cannot be written" in lines[0] and "free some space" not in lines[0], lines
    assert files_in(cache) == []
