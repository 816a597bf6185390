"""Hostile corpora: cards, paths, special files and HTTP servers that misbehave, each one row.

Every row runs a real ``rnnplay`` command against a sandbox (its own HOME, XDG folders
and cwd) and checks how it ended: the exit code, exactly one ``rnnplay: error:`` line
(no traceback) that mentions what went wrong, no file created or changed outside the
place the row allows, and a bounded run time. Rows where the front end matters (FIFOs,
downloads, ``train``, ``score``) run in a subprocess; rows that only parse a card run
``rnnplay.ui.cli.main`` in-process, with the sandbox's environment and cwd.

The HTTP rows talk to a real server on 127.0.0.1 started here: it answers slowly, without
end, with a huge Content-Length, with a directory listing, with redirects and errors.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from child_env import python_path

from .harness import Sandbox, assert_nothing_outside, assert_one_line_error

ROOT = Path(__file__).resolve().parents[2]
SHAKESPEARE = ROOT / ".." / "shared" / "corpora" / "tinyshakespeare.txt"
TEXT = "To be, or not to be, that is the question.\nWhether 'tis nobler in the mind to suffer.\n" * 20
SHA = "0" * 64
LATIN = "caf\xe9 na\xefve r\xe9sum\xe9\n".encode("latin-1") * 20
TINY = ["--steps", "1", "--hidden", "8", "--layers", "1", "--batch-size", "2", "--seq-length", "8",
        "--val-every", "0", "--sample-every", "0"]
CACHE = "cache/rnnplay/"  # the sandbox's download cache (XDG_CACHE_HOME/rnnplay), relative to its root


# -- the misbehaving server -----------------------------------------------------------------
class Handler(http.server.SimpleHTTPRequestHandler):
    """Special paths misbehave; anything else is served from the listing folder (with a directory listing)."""

    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:
        route = self.path.split("?")[0].strip("/").split("/")[0]
        special = {"slow": self.slow, "endless": self.endless, "huge": self.huge, "mega": self.mega,
                   "text": self.text, "to-file": self.to_file, "to-ftp": self.to_ftp, "loop": self.loop,
                   "error": self.error, "gzip": self.gzipped, "empty": self.empty, "garbage": self.garbage,
                   "mute": self.mute, "stall": self.stall}
        if route in special:
            special[route]()
        else:
            super().do_GET()

    def headers_for(self, length: int | None, code: int = 200) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.end_headers()

    def trickle(self, piece: bytes, pause: float, until: float) -> None:
        give_up = time.monotonic() + until
        try:
            while time.monotonic() < give_up:
                self.wfile.write(piece)
                self.wfile.flush()
                time.sleep(pause)
        except OSError:  # the client gave up: the point of the row
            pass

    def mute(self) -> None:  # the request read, no answer at all
        time.sleep(10)

    def stall(self) -> None:  # 40 bytes of 10,000, then nothing (the connection kept open)
        self.headers_for(10_000)
        self.wfile.write(b"abc\n" * 10)
        self.wfile.flush()
        time.sleep(10)

    def slow(self) -> None:  # 2 bytes every 0.3 s, never done
        self.headers_for(10_000)
        self.trickle(b"ab", 0.3, 60)

    def endless(self) -> None:  # a body without a length that never ends
        self.headers_for(None)
        self.trickle(b"endless text " * 5000, 0, 60)

    def huge(self) -> None:  # declares 10 TB
        self.headers_for(10**13)
        self.trickle(b"x" * 1000, 0.1, 5)

    def mega(self) -> None:  # 1 MB of text, no length given
        self.headers_for(None)
        self.wfile.write(TEXT.encode() * (1_000_000 // len(TEXT)))

    def text(self) -> None:
        body = TEXT.encode()
        self.headers_for(len(body))
        self.wfile.write(body)

    def to_file(self) -> None:
        self.send_response(302)
        self.send_header("Location", "file:///etc/passwd")
        self.end_headers()

    def to_ftp(self) -> None:  # urllib's own redirect handler would follow this one
        self.send_response(302)
        self.send_header("Location", "ftp://127.0.0.1:9/x.txt")
        self.end_headers()

    def loop(self) -> None:
        self.send_response(302)
        self.send_header("Location", "/loop")
        self.end_headers()

    def error(self) -> None:
        self.send_error(500, "broken on purpose")

    def gzipped(self) -> None:  # compressed although nobody asked (Accept-Encoding): some servers do
        body = gzip.compress(TEXT.encode())
        self.send_response(200)
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def empty(self) -> None:
        self.headers_for(0)

    def garbage(self) -> None:  # not HTTP: the status line is the whole answer
        self.wfile.write(b"HELLO THERE\r\n\r\n")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    listing = tmp_path_factory.mktemp("listing")
    (listing / "a.txt").write_text(TEXT)
    (listing / "sub").mkdir()
    handler = lambda *args: Handler(*args, directory=str(listing))  # noqa: E731
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


# -- rows -------------------------------------------------------------------------------------
@dataclass
class Row:
    """One hostile case: files to make, the command (``{url}`` is the server, ``{work}`` the cwd), how it ends."""

    args: list[str]
    mentions: tuple[str, ...] = ()
    files: dict[str, str | bytes] = field(default_factory=dict)  # relative to the sandbox's work folder
    make: Callable[[Path], None] | None = None  # anything files cannot say (FIFOs, symlinks)
    env: dict[str, str] = field(default_factory=dict)
    code: int = 1
    allowed: tuple[str, ...] = ()  # sandbox paths the command may write
    subprocess: bool = False
    timeout: float = 30
    stdout: str = ""  # a successful row's output must contain this
    lacks: str = ""  # no output may contain this (a password in the address)


def card(source: str, head: str = 'name = "evil"\n', rest: str = "") -> str:
    return f'{head}description = "x"\nlicence = "CC0"\n[source]\n{source}\n{rest}'


URL_SOURCE = 'url = "{url}/text/t.txt"\nsha256 = "' + SHA + '"\nsize = 1000'
GOOD_SOURCE = f'url = "{{url}}/text/t.txt"\nsha256 = "{hashlib.sha256(TEXT.encode()).hexdigest()}"\nsize = {len(TEXT)}'


def fifo(name: str) -> Callable[[Path], None]:
    return lambda work: os.mkfifo(work / name)


def sparse(name: str) -> Callable[[Path], None]:
    """A text file that claims a terabyte (sparse: it takes no disk): some text, then holes."""
    def make(work: Path) -> None:
        with open(work / name, "wb") as f:
            f.write(b"To be, or not to be, that is the question.\n" * 200)
            f.truncate(1 << 40)
    return make


def link(name: str, target: str) -> Callable[[Path], None]:
    return lambda work: os.symlink(target, work / name)


def dir_with(member: Callable[[Path], None]) -> Callable[[Path], None]:
    def make(work: Path) -> None:
        (work / "notes").mkdir()
        (work / "notes" / "a.txt").write_text(TEXT)
        member(work / "notes")
    return make


def unlisted(name: str) -> Callable[[Path], None]:
    """A subfolder (with a file in it) that cannot be listed."""
    def make(folder: Path) -> None:
        (folder / name).mkdir()
        (folder / name / "x.txt").write_text(TEXT)
        (folder / name).chmod(0)
    return make


def cache_link(name: str) -> Callable[[Path], None]:
    def make(work: Path) -> None:
        corpora = work.parent / CACHE / "corpora"
        corpora.mkdir(parents=True)
        (work.parent / "outside").mkdir()
        os.symlink(work.parent / "outside", corpora / name)
    return make


def card_in(folder: str, source: str, then: Callable[[Path], None] | None = None) -> Callable[[Path], None]:
    """A card c.toml of ``source`` in the work folder's subfolder ``folder``, a secret.txt beside that folder
    and in the sandbox's home; ``then`` makes more in the card's folder."""
    def make(work: Path) -> None:
        (work / folder).mkdir()
        (work / folder / "c.toml").write_text(card(source))
        for secret in (work / "secret.txt", work.parent / "home" / "secret.txt"):
            secret.write_text(TEXT)
        if then is not None:
            then(work / folder)
    return make


SHOW, FETCH, TRAIN = ["corpus", "show"], ["corpus", "fetch"], ["train"]
FLAG_NOT_A_SIZE = ("argument --max-download:", "is not a size", "e.g. --max-download 2G")
OUTSIDE_CARD = ("reads outside the card's folder", "move the text next to the card", "rnnplay train")
ESCAPE = ("outside", "fix the card")

ROWS = [
    # -- a card must not lead outside the cache (issue 14 item 1) --
    pytest.param(Row([*FETCH, "evil.toml"], (*ESCAPE, "'../../../escaped'"),
                     {"evil.toml": card(URL_SOURCE, 'name = "../../../escaped"\n')}), id="card-name-dotdot"),
    pytest.param(Row([*FETCH, "evil.toml"], (*ESCAPE, "escaped2.txt"),
                     {"evil.toml": card(URL_SOURCE + '\nfilename = "../../../../escaped2.txt"')}),
                 id="card-filename-dotdot"),
    pytest.param(Row([*FETCH, "evil.toml"], ("slash",), {"evil.toml": card(URL_SOURCE, 'name = "/tmp/abs"\n')}),
                 id="card-name-absolute"),
    pytest.param(Row([*FETCH, "evil.toml"], ("slash",), {"evil.toml": card(URL_SOURCE + '\nfilename = "/etc/x"')}),
                 id="card-filename-absolute"),
    pytest.param(Row([*FETCH, "evil.toml"], ("drive letter",), {"evil.toml": card(URL_SOURCE, 'name = "C:evil"\n')}),
                 id="card-name-drive-letter"),
    pytest.param(Row([*FETCH, "evil.toml"], ("NUL",), {"evil.toml": card(URL_SOURCE + '\nfilename = "a\\u0000b"')}),
                 id="card-filename-nul"),
    pytest.param(Row([*FETCH, "evil.toml"], ("empty",), {"evil.toml": card(URL_SOURCE + '\nfilename = ""')}),
                 id="card-filename-empty"),
    pytest.param(Row([*FETCH, "evil.toml"], ("'.'",), {"evil.toml": card(URL_SOURCE + '\nfilename = "."')}),
                 id="card-filename-dot"),
    pytest.param(Row([*FETCH, "evil.toml"], ("slash",), {"evil.toml": card(URL_SOURCE + '\nfilename = "..\\\\x.txt"')}),
                 id="card-filename-backslash"),
    pytest.param(Row([*FETCH, "evil.toml"], ("symbolic link",), {"evil.toml": card(URL_SOURCE)},
                     make=cache_link("evil"), subprocess=True), id="card-cache-folder-symlinked-outside"),
    pytest.param(Row([*SHOW, "card:evil.toml"], ESCAPE, {"evil.toml": card(URL_SOURCE, 'name = ".."\n')}),
                 id="show-card-name-dotdot"),
    pytest.param(Row([*TRAIN, "card:evil.toml", *TINY], ESCAPE, {"evil.toml": card(URL_SOURCE, 'name = ".."\n')},
                     subprocess=True), id="train-card-name-dotdot"),
    # -- every field of a card is checked --
    pytest.param(Row([*SHOW, "card:evil.toml"], ("http(s)",),
                     {"evil.toml": card('url = "file:///etc/passwd"\nsha256 = "' + SHA + '"\nsize = 10')}),
                 id="card-url-file-scheme"),
    pytest.param(Row([*SHOW, "card:evil.toml"], ("http(s)",),
                     {"evil.toml": card('url = "ftp://x/y"\nsha256 = "' + SHA + '"\nsize = 10')}), id="card-url-ftp"),
    pytest.param(Row([*SHOW, "card:evil.toml"], ("64 hex",),
                     {"evil.toml": card('url = "https://x/y"\nsha256 = "xyz"\nsize = 10')}), id="card-sha256-bad"),
    pytest.param(Row([*SHOW, "card:evil.toml"], ("size = -1",),
                     {"evil.toml": card('url = "https://x/y"\nsha256 = "' + SHA + '"\nsize = -1')}),
                 id="card-size-negative"),
    pytest.param(Row([*SHOW, "card:evil.toml"], ("size = true",),
                     {"evil.toml": card('url = "https://x/y"\nsha256 = "' + SHA + '"\nsize = true')}),
                 id="card-size-bool"),
    pytest.param(Row([*SHOW, "card:evil.toml"], ("size = '10'",),
                     {"evil.toml": card('url = "https://x/y"\nsha256 = "' + SHA + '"\nsize = "10"')}),
                 id="card-size-string"),
    pytest.param(Row([*SHOW, "card:evil.toml"], ("not both",),
                     {"evil.toml": card('url = "https://x/y"\nsha256 = "' + SHA + '"\nsize = 1\nspec = "stdlib:"')}),
                 id="card-url-and-spec"),
    pytest.param(Row([*SHOW, "card:evil.toml"], ("[source]",), {"evil.toml": 'name = "x"\n'}), id="card-no-source"),
    pytest.param(Row([*SHOW, "card:evil.toml"], ("[source] table",), {"evil.toml": 'source = "stdlib:"\n'}),
                 id="card-source-not-a-table"),
    pytest.param(Row([*SHOW, "card:evil.toml"], ("[train] table",), {"evil.toml": 'train = 5\n[source]\nspec = "x"\n'}),
                 id="card-train-not-a-table"),
    pytest.param(Row([*SHOW, "card:evil.toml"], ("option name",),
                     {"evil.toml": card('spec = "stdlib:json"', rest='[train]\n"../x" = 1\n')}), id="card-train-key"),
    pytest.param(Row([*SHOW, "card:evil.toml"], ("klingon",),
                     {"evil.toml": card('spec = "stdlib:json"\nencoding = "klingon"')}), id="card-encoding-unknown"),
    pytest.param(Row([*SHOW, "card:evil.toml"], ("name = 5",),
                     {"evil.toml": card('spec = "stdlib:json"', "name = 5\n")}), id="card-name-not-a-string"),
    pytest.param(Row([*SHOW, "card:evil.toml"], ("fix its toml",), {"evil.toml": "name = \n"}), id="card-bad-toml"),
    pytest.param(Row([*SHOW, "card:evil.toml"], ("fix its toml",), {"evil.toml": b"name = '\xff\xfe'\n"}),
                 id="card-not-utf8"),
    pytest.param(Row([*SHOW, "card:evil.toml"], ("more than",), {"evil.toml": "# " + "x" * 2_000_000 + "\n"}),
                 id="card-huge"),
    pytest.param(Row([*SHOW, "card:evil.toml"], ("named pipe",), make=fifo("evil.toml"), subprocess=True),
                 id="card-is-a-fifo"),
    pytest.param(Row([*SHOW, "card:evil.toml"], ("folder",), make=lambda w: (w / "evil.toml").mkdir()),
                 id="card-is-a-folder"),
    pytest.param(Row([*SHOW, "card:evil.toml"], ("leads back to itself",),
                     {"evil.toml": card('spec = "card:evil.toml"')}), id="card-spec-is-itself"),
    pytest.param(Row([*SHOW, "card:a.toml"], ("leads back to itself",),
                     {"a.toml": card('spec = "card:b.toml"'), "b.toml": card('spec = "card:a.toml"')}),
                 id="cards-spec-each-other"),
    pytest.param(Row([*TRAIN, "card:evil.toml", *TINY], ("leads back to itself",),
                     {"evil.toml": card('spec = "card:evil.toml"')}, subprocess=True), id="train-card-spec-is-itself"),
    # -- a card's local spec stays in the card's folder (issue 14, sweep O7) --
    pytest.param(Row([*SHOW, "card:cards/c.toml"], (*OUTSIDE_CARD, "spec dir:..", "rnnplay train dir:/"),
                     make=card_in("cards", 'spec = "dir:.."')), id="card-spec-dir-dotdot"),
    pytest.param(Row([*SHOW, "card:cards/c.toml"], (*OUTSIDE_CARD, "rnnplay train dir:/etc:host*"),
                     make=card_in("cards", 'spec = "dir:/etc:host*"')), id="card-spec-dir-absolute"),
    pytest.param(Row([*SHOW, "card:cards/c.toml"], (*OUTSIDE_CARD, "secret.txt"),
                     make=card_in("cards", 'spec = "../secret.txt"')), id="card-spec-path-dotdot"),
    pytest.param(Row([*TRAIN, "card:cards/c.toml", *TINY], (*OUTSIDE_CARD, "file:/etc/hostname"),
                     make=card_in("cards", 'spec = "file:/etc/hostname"'), subprocess=True),
                 id="train-card-spec-file-absolute"),
    pytest.param(Row([*SHOW, "card:cards/c.toml"], (*OUTSIDE_CARD, "home/secret.txt"),
                     make=card_in("cards", 'spec = "file:~/secret.txt"')), id="card-spec-file-tilde"),
    pytest.param(Row([*SHOW, "card:cards/c.toml"], (*OUTSIDE_CARD, "card:"),
                     make=card_in("cards", 'spec = "card:../c2.toml"', lambda d: (d.parent / "c2.toml").write_text(
                         card('spec = "secret.txt"')))), id="card-spec-card-dotdot"),
    pytest.param(Row([*SHOW, "card:cards/c.toml"], (*OUTSIDE_CARD, "spec dir:notes"),
                     make=card_in("cards", 'spec = "dir:notes"', lambda d: os.symlink(d.parent, d / "notes"))),
                 id="card-spec-dir-symlinked-out"),
    pytest.param(Row([*SHOW, "card:cards/c.toml"], (), code=0, stdout="source:      cards/notes", make=card_in(
        "cards", 'spec = "dir:notes:*.txt"', lambda d: dir_with(lambda n: None)(d))), id="card-spec-dir-inside"),
    pytest.param(Row([*SHOW, "card:evil.toml"], ("named pipe",), {"evil.toml": card('spec = "file:pipe"')},
                     make=fifo("pipe"), subprocess=True), id="card-spec-is-a-fifo"),
    # -- a corpus that is not a regular file (item 6) --
    pytest.param(Row([*SHOW, "pipe"], ("named pipe",), make=fifo("pipe"), subprocess=True), id="show-fifo"),
    pytest.param(Row([*TRAIN, "pipe", *TINY], ("named pipe",), make=fifo("pipe"), subprocess=True), id="train-fifo"),
    pytest.param(Row(["score", "--file", "pipe"], ("named pipe",), make=fifo("pipe"), subprocess=True, timeout=15),
                 id="score-fifo"),
    pytest.param(Row([*SHOW, "/dev/zero"], ("character device",), subprocess=True), id="show-dev-zero"),
    pytest.param(Row([*TRAIN, "/dev/null", *TINY], ("character device",), subprocess=True), id="train-dev-null"),
    pytest.param(Row([*SHOW, "zero"], ("character device",), make=link("zero", "/dev/zero"), subprocess=True),
                 id="show-symlink-to-device"),
    pytest.param(Row([*SHOW, "dir:notes"], ("named pipe", "pipe"), make=dir_with(fifo("pipe")), subprocess=True),
                 id="dir-member-fifo"),
    pytest.param(Row([*TRAIN, "dir:notes", *TINY], ("named pipe",), make=dir_with(fifo("pipe")), subprocess=True),
                 id="train-dir-member-fifo"),
    pytest.param(Row([*SHOW, "dir:/dev:zero"], ("character device", "zero"), subprocess=True),
                 id="dir-member-device"),
    pytest.param(Row([*SHOW, "dir:notes"], (), code=0, stdout="skipped 1 file that links outside notes/",
                     make=dir_with(link("zero", "/dev/zero")), subprocess=True), id="dir-member-link-to-device"),
    pytest.param(Row([*SHOW, "dir:/proc/self:mem"], ("cannot read", "mem"), subprocess=True),
                 id="dir-member-unreadable"),
    pytest.param(Row([*SHOW, "dir:notes:../*"], ("inside the folder",), make=dir_with(lambda d: None)),
                 id="dir-glob-dotdot"),
    pytest.param(Row([*SHOW, "dir:notes:/etc/*"], ("inside the folder",), make=dir_with(lambda d: None)),
                 id="dir-glob-absolute"),
    # -- a dir: member is a file inside the folder, whatever links lead elsewhere (issue 14, sweep O10) --
    pytest.param(Row([*SHOW, "dir:notes:etc/host*"], ("matched no text files inside notes/",
                                                      "that link outside notes/", "copy the files into notes/"),
                     make=dir_with(link("etc", "/etc"))), id="dir-glob-through-a-link-out"),
    pytest.param(Row([*SHOW, "dir:notes"], (), code=0, stdout="notes: 1 file, skipped 1 file that links outside "
                     "notes/", files={"secret.txt": TEXT}, make=dir_with(link("s.txt", "../secret.txt"))),
                 id="dir-member-linked-out-is-skipped"),
    pytest.param(Row([*SHOW, "dir:notes"], (), code=0, stdout="notes: 1 file, skipped 1 folder that links outside "
                     "notes/", make=dir_with(link("etc", "/etc"))), id="dir-folder-linked-out-is-said"),  # "1 file"
    pytest.param(Row([*SHOW, "dir:notes"], (), code=0, stdout="notes: 2 files\n",
                     make=dir_with(link("b.txt", "a.txt"))), id="dir-member-linked-inside-counts"),
    pytest.param(Row([*SHOW, "dir:there"], (), code=0, stdout="notes: 2 files\n", make=lambda w: (
        dir_with(link("b.txt", "a.txt"))(w), os.symlink("notes", w / "there"))), id="dir-folder-is-a-link"),
    pytest.param(Row([*SHOW, "dir:notes"], ("matched no text files",), make=lambda w: (w / "notes").mkdir()),
                 id="dir-empty"),
    pytest.param(Row([*SHOW, "no\0pe.txt"], ("no such file",)), id="path-with-nul"),
    pytest.param(Row([*SHOW, "loop.txt"], ("loop.txt", "symbolic link that leads nowhere", "loop"),
                     make=link("loop.txt", "loop.txt")), id="path-is-a-loop-of-links"),
    pytest.param(Row([*SHOW, "dir:notes"], ("notes", "symbolic link that leads nowhere"),
                     make=link("notes", "gone")), id="dir-is-a-link-to-nothing"),
    pytest.param(Row([*SHOW, "file:"], ("file: needs a path", "file:notes.txt")), id="file-prefix-alone"),
    pytest.param(Row([*SHOW, "dir::*.txt"], ("dir: needs a folder", "dir:."), files={"t.txt": TEXT}),
                 id="dir-prefix-without-a-folder"),  # never the folder the user is in, read without a word
    pytest.param(Row([*SHOW, "a" * 5000], ("no such file",)), id="path-too-long"),
    pytest.param(Row([*SHOW, "big.txt"], ("ids need", "are free"), make=sparse("big.txt")),
                 id="file-bigger-than-memory"),
    pytest.param(Row([*TRAIN, "big.txt", *TINY], ("ids need", "are free"), make=sparse("big.txt"),
                     subprocess=True), id="train-file-bigger-than-memory"),
    pytest.param(Row([*SHOW, "dir:notes"], ("ids need", "are free"), make=dir_with(sparse("big.txt"))),
                 id="dir-member-bigger-than-memory"),  # streamed as a large file is: refused for the disk its ids need
    pytest.param(Row([*SHOW, "t.txt", "--encoding", "rot13"], ("unknown text encoding 'rot13'",), {"t.txt": TEXT},
                     code=2), id="encoding-not-for-text"),  # refused as the flags are parsed: a usage mistake
    pytest.param(Row([*TRAIN, "t.txt", "--encoding", "punycode", *TINY], ("unknown text encoding",),
                     {"t.txt": TEXT}, code=2, subprocess=True), id="train-encoding-for-domain-names"),
    pytest.param(Row([*SHOW, "card:evil.toml"], ("encoding = 'zlib'",),
                     {"evil.toml": card('spec = "stdlib:json"\nencoding = "zlib"')}), id="card-encoding-not-for-text"),
    pytest.param(Row([*SHOW, "file:" + "a" * 5000], ("no such file",)), id="file-path-too-long"),
    pytest.param(Row([*SHOW, "dir:" + "a" * 5000], ("no such folder",)), id="dir-path-too-long"),
    pytest.param(Row([*SHOW, "card:" + "a" * 5000 + ".toml"], ("cannot read",)), id="card-path-too-long"),
    pytest.param(Row([*SHOW, "card:evil.toml"], ("too deeply",), {"evil.toml": "a = " + "[" * 5000 + "]" * 5000}),
                 id="card-toml-nested-5000-deep"),
    pytest.param(Row([*FETCH, "evil.toml"], ("control character",),
                     {"evil.toml": card(URL_SOURCE, 'name = "a\\nb"\n')}), id="card-name-line-break"),
    pytest.param(Row([*FETCH, "evil.toml"], ("control character",),
                     {"evil.toml": card(URL_SOURCE, 'name = "a\\u001b[2Jb"\n')}), id="card-name-terminal-escape"),
    pytest.param(Row([*FETCH, "evil.toml"], ("built-in card", "name of its own"),
                     {"evil.toml": card(GOOD_SOURCE, 'name = "tinyshakespeare"\n')}), id="card-takes-a-built-in-name"),
    pytest.param(Row([*TRAIN, "card:evil.toml", *TINY], ("not valid utf-8", "encoding = ", "[source]"),
                     {"evil.toml": card(f'url = "{{url}}/l.txt"\nsha256 = "{hashlib.sha256(LATIN).hexdigest()}"\n'
                                        f'size = {len(LATIN)}'), "l.txt": LATIN}, allowed=(CACHE,), subprocess=True),
                 id="card-file-not-in-its-encoding"),  # --encoding is refused for cards: the card must say it
    pytest.param(Row([*SHOW, "card:evil.toml"], (), {"evil.toml": card('spec = "l.txt"\nencoding = "latin-1"'),
                                                     "l.txt": LATIN}, code=0, stdout="café naïve"),
                 id="card-spec-in-its-encoding"),
    pytest.param(Row([*SHOW, "u.txt"], ("UTF-16 text", "--encoding utf-16"), {"u.txt": TEXT.encode("utf-16")}),
                 id="utf16-with-bom"),
    pytest.param(Row([*SHOW, "u.txt"], ("UTF-16-LE text without a byte-order mark", "--encoding utf-16-le"),
                     {"u.txt": TEXT.encode("utf-16-le")}), id="utf16le-without-bom"),  # it said "binary"
    pytest.param(Row([*SHOW, "u.txt"], ("UTF-16-LE text without a byte-order mark", "--encoding utf-16-le"),
                     {"u.txt": "hello world\n".encode("utf-16-le") * 2}), id="short-utf16le-without-bom"),  # "binary"
    pytest.param(Row([*SHOW, "n.bin"], ("looks like a binary file",), {"n.bin": b"".join(
        i.to_bytes(2, "little") for i in range(1, 25))}), id="short-16-bit-numbers-are-binary"),  # not UTF-16
    pytest.param(Row([*TRAIN, "u.txt", *TINY], ("UTF-16-BE text without a byte-order mark", "--encoding utf-16-be"),
                     {"u.txt": TEXT.encode("utf-16-be")}, subprocess=True), id="train-utf16be-without-bom"),
    pytest.param(Row([*TRAIN, "u.txt", *TINY], ("UTF-32 text", "--encoding utf-32"), {"u.txt": TEXT.encode("utf-32")},
                     subprocess=True), id="train-utf32-with-bom"),
    pytest.param(Row([*SHOW, "dir:notes"], ("b.txt", "UTF-16 text"), make=dir_with(
        lambda d: (d / "b.txt").write_bytes(TEXT.encode("utf-16")))), id="dir-member-utf16-not-skipped-as-binary"),
    pytest.param(Row([*SHOW, "dir:notes"], (), code=0, stdout="notes: 2 files", make=dir_with(
        lambda d: (d / os.fsdecode(b"caf\xe9.txt")).write_text(TEXT))), id="dir-member-name-not-utf8"),
    pytest.param(Row([*SHOW, "dir:notes"], (), code=0, stdout="==> 0\\n==> fake <==.txt <==", make=dir_with(
        lambda d: (d / "0\n==> fake <==.txt").write_text(TEXT))), id="dir-member-name-cannot-forge-a-header"),
    pytest.param(Row([*SHOW, "dir:notes"], ("cannot read the folder", "sub"), make=dir_with(unlisted("sub")),
                     subprocess=True), id="dir-subfolder-unreadable",
                 marks=pytest.mark.skipif(os.geteuid() == 0, reason="root lists folders whatever their mode")),
    pytest.param(Row([*SHOW, "file:~nosuchuser/x.txt"], ("no such file",)), id="tilde-of-no-user"),
    # -- downloads that misbehave (items 5 and 6) --
    pytest.param(Row([*SHOW, "url:{url}/slow/s.txt"], ("took longer than 2 s", "RNNPLAY_DOWNLOAD_TIMEOUT"),
                     env={"RNNPLAY_DOWNLOAD_TIMEOUT": "2"}, subprocess=True), id="url-trickles"),
    pytest.param(Row([*SHOW, "url:{url}/stall/s.txt"], ("stalled: nothing arrived for 2 s (40 bytes so far)",
                                                        "RNNPLAY_DOWNLOAD_TIMEOUT"),
                     env={"RNNPLAY_DOWNLOAD_TIMEOUT": "2"}, subprocess=True), id="url-stalls-mid-body"),
    pytest.param(Row([*SHOW, "url:{url}/mute/m.txt"], ("127.0.0.1", "did not answer within 2 s",
                                                       "RNNPLAY_DOWNLOAD_TIMEOUT"),
                     env={"RNNPLAY_DOWNLOAD_TIMEOUT": "2"}, subprocess=True), id="url-reached-and-silent"),
    pytest.param(Row([*SHOW, "url:{url}/endless/e.txt", "--max-download", "1M"], ("over the 1,048,576-byte limit",),
                     subprocess=True), id="url-endless-body"),
    pytest.param(Row([*TRAIN, "url:{url}/endless/e.txt", *TINY], ("limit", "RNNPLAY_MAX_DOWNLOAD"),
                     env={"RNNPLAY_MAX_DOWNLOAD": "2M"}, subprocess=True), id="train-url-endless-body"),
    pytest.param(Row([*SHOW, "url:{url}/huge/h.txt"], ("10,000,000,000,000 bytes", "limit"), subprocess=True),
                 id="url-huge-content-length"),
    pytest.param(Row([*FETCH, "evil.toml"], ("declares 1,000",),
                     {"evil.toml": card('url = "{url}/mega/m.txt"\nsha256 = "' + SHA + '"\nsize = 1000')},
                     subprocess=True), id="card-size-1000-body-1mb"),
    pytest.param(Row([*FETCH, "evil.toml"], ("checksum mismatch",),
                     {"evil.toml": card(f'url = "{{url}}/text/t.txt"\nsha256 = "{SHA}"\nsize = {len(TEXT)}')},
                     subprocess=True), id="card-checksum-mismatch"),
    pytest.param(Row([*SHOW, "url:{url}/to-file"], ("302",), subprocess=True), id="url-redirect-to-file"),
    pytest.param(Row([*SHOW, "url:{url}/text/ü.txt"], (), code=0, stdout="ü.txt", allowed=(CACHE,), subprocess=True),
                 id="url-with-a-non-ascii-path-is-percent-encoded"),
    pytest.param(Row([*SHOW, "url:{url}/to-ftp"], ("302", "not an http(s) address"), subprocess=True),
                 id="url-redirect-to-ftp"),
    pytest.param(Row([*SHOW, "url:http://user:secret@127.0.0.1:9/x.txt"], ("user name or password",),
                     lacks="secret"), id="url-with-a-password-is-refused-without-echoing-it"),
    pytest.param(Row([*SHOW, "url:{url}/loop"], ("redirects in a loop (HTTP 302", "will not help"), subprocess=True),
                 id="url-redirect-loop"),  # urllib's reason (line breaks, "try later") is not repeated
    pytest.param(Row([*SHOW, "url:{url}/garbage/g.txt"], ("BadStatusLine", "HELLO THERE); check the address"),
                     subprocess=True), id="url-not-http"),
    pytest.param(Row([*SHOW, "url:{url}/text/a\nb.txt"], ("control characters", "check the address"),
                     subprocess=True), id="url-with-a-line-break"),
    pytest.param(Row([*SHOW, "url:{url}/gzip/g.txt"], ("Content-Encoding: gzip", "by hand"), subprocess=True),
                 id="url-gzip-content-encoding"),  # refused before a byte is kept: nothing in the cache
    pytest.param(Row([*SHOW, "url:{url}/empty/e.txt"], ("is empty",), subprocess=True),
                 id="url-empty-body-not-cached"),  # kept, it would fail this way even once the server is fixed
    pytest.param(Row([*SHOW, "url:{url}/error/x.txt"], ("http 500",), subprocess=True), id="url-500"),
    pytest.param(Row([*SHOW, "url:{url}/nothing.txt"], ("not found",), subprocess=True), id="url-404"),
    pytest.param(Row([*SHOW, "url:{url}/a/.."], ESCAPE, subprocess=True), id="url-name-dotdot"),
    pytest.param(Row([*SHOW, "url:{url}/a/%2e%2e"], ESCAPE, subprocess=True), id="url-name-encoded-dotdot"),
    pytest.param(Row([*SHOW, "url:{url}/a%00b"], ("NUL",), subprocess=True), id="url-name-nul"),
    pytest.param(Row([*SHOW, "url:http://[::1/x"], ("not an http(s) address",)), id="url-unbalanced-bracket"),
    pytest.param(Row([*SHOW, "url:file:///etc/passwd"], ("not an http(s) address",)), id="url-file-scheme"),
    pytest.param(Row([*FETCH, "good.toml"], (), {"good.toml": card(GOOD_SOURCE)}, code=0, allowed=(CACHE,),
                     subprocess=True, stdout="/text/t.txt, 1,720 bytes, sha256 verified"), id="card-good-download"),
    pytest.param(Row([*FETCH, "good.toml"], ("cannot write into",), {"good.toml": card(GOOD_SOURCE), "afile": "x"},
                     env={"RNNPLAY_CACHE_DIR": "afile"}, subprocess=True), id="cache-dir-is-a-file"),
    pytest.param(Row([*FETCH, "tinyshakespeare"], ("has none of",), env={"RNNPLAY_CORPUS_MIRROR": "/dev/null"},
                     subprocess=True), id="mirror-is-a-device"),
    pytest.param(Row([*FETCH, "tinyshakespeare"], ("RNNPLAY_CORPUS_MIRROR=data://x is a data:// address",
                                                   "http:// or https://"), env={"RNNPLAY_CORPUS_MIRROR": "data://x"}),
                 id="mirror-data-scheme"),  # urllib said "ValueError: not enough values to unpack"
    pytest.param(Row([*FETCH, "tinyshakespeare"], ("ftp:// address", "http:// or https://"),
                     env={"RNNPLAY_CORPUS_MIRROR": "ftp://127.0.0.1:9/corpora"}), id="mirror-ftp-scheme"),
    pytest.param(Row([*SHOW, "url:data://x/t.txt"], ("not an http(s) address",)), id="url-data-scheme"),
    pytest.param(Row([*FETCH, "tinyshakespeare"], ("RNNPLAY_CORPUS_MIRROR=", "/sub has none of tinyshakespeare.txt, "
                                                   "input.txt (HTTP 404 for each); put one there"),
                     env={"RNNPLAY_CORPUS_MIRROR": "{url}/sub"}, subprocess=True),
                 id="mirror-url-lacks-the-file"),  # said "{url}/sub/input.txt was not found": the last name tried
    pytest.param(Row([*FETCH, "tinyshakespeare"], ("took longer than 2 s",),
                     env={"RNNPLAY_CORPUS_MIRROR": "{url}/slow", "RNNPLAY_DOWNLOAD_TIMEOUT": "2"}, subprocess=True),
                 id="mirror-url-trickles"),
    pytest.param(Row([*SHOW, "url:{url}/text/t.txt", "--max-download", "lots"], FLAG_NOT_A_SIZE, code=2),
                 id="max-download-not-a-size"),  # it named RNNPLAY_MAX_DOWNLOAD, which was not set, and exit 1
    pytest.param(Row([*FETCH, "url:{url}/text/t.txt", "--max-download", "4X"], FLAG_NOT_A_SIZE, code=2),
                 id="fetch-max-download-not-a-size"),
    pytest.param(Row([*SHOW, "url:{url}/text/t.txt", "--max-download", "1" + "0" * 400], FLAG_NOT_A_SIZE, code=2),
                 id="max-download-past-float"),
    pytest.param(Row([*SHOW, "url:{url}/text/t.txt", "--max-download", "0.5"], FLAG_NOT_A_SIZE, code=2),
                 id="max-download-under-a-byte"),
    pytest.param(Row([*SHOW, "url:{url}/text/t.txt"], ("not a number of seconds",),
                     env={"RNNPLAY_DOWNLOAD_TIMEOUT": "nan"}, subprocess=True), id="download-timeout-nan"),
    pytest.param(Row([*SHOW, "url:{url}/"], (), code=0, allowed=(CACHE,), subprocess=True,
                     stdout="Directory listing"), id="url-directory-listing-is-text"),
    pytest.param(Row([*SHOW, "url:{url}/sub/"], (), code=0, allowed=(CACHE,), subprocess=True,
                     stdout="Directory listing"), id="url-subfolder-listing"),
    # -- accepted and handled --
    pytest.param(Row([*SHOW, "bom.txt"], (), {"bom.txt": b"\xef\xbb\xbf" + TEXT.encode()}, code=0,
                     stdout="vocabulary:  23 characters"), id="bom-is-not-a-character"),
    pytest.param(Row([*SHOW, "tinyshakespeare"], (), code=0, stdout="not downloaded", subprocess=True),
                 id="show-card-offline"),
]


def files_beside(root: Path) -> set[str]:
    """Files in the sandbox's parent folder, outside the sandbox: where an escaping path would land."""
    return {str(p) for p in root.parent.rglob("*") if root not in p.parents and p != root}


@pytest.mark.parametrize("row", ROWS)
def test_hostile_corpus(row: Row, sandbox: Sandbox, server: str, capsys: pytest.CaptureFixture[str],
                        monkeypatch: pytest.MonkeyPatch) -> None:
    for name, content in row.files.items():
        path = sandbox.work / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content.replace("{url}", server))
    if row.make is not None:
        row.make(sandbox.work)
    args = [a.replace("{url}", server) for a in row.args]
    before, beside = sandbox.snapshot(), files_beside(sandbox.root)
    env = {name: value.replace("{url}", server) for name, value in row.env.items()}
    if row.subprocess:
        out = sandbox.run(args, timeout=row.timeout, env=env)
    else:
        out = sandbox.run_in_process(args, capsys, monkeypatch, env=env)
    if row.code == 0:
        assert out.code == 0 and "Traceback" not in out.stderr, out.stderr[-2000:]
        assert row.stdout in out.stdout, out.stdout[-2000:]
    else:
        assert_one_line_error(out, mentions=row.mentions, code=row.code)
    assert not row.lacks or row.lacks not in out.stdout + out.stderr, out.stderr
    assert out.seconds < row.timeout
    assert_nothing_outside(before, sandbox.snapshot(), allowed=row.allowed)
    assert files_beside(sandbox.root) == beside
    assert not Path("/escaped2.txt").exists() and not Path("/escaped").exists()


@pytest.mark.skipif(not SHAKESPEARE.exists(), reason=f"no corpus at {SHAKESPEARE}")
@pytest.mark.parametrize("where", ["cwd", "mirror"])
def test_train_a_card_from_a_local_copy_without_the_network(sandbox: Sandbox, where: str) -> None:
    """`rnnplay train tinyshakespeare` with a copy in the working folder or the mirror: no download is tried."""
    folder = sandbox.work if where == "cwd" else sandbox.root / "mirror"
    folder.mkdir(exist_ok=True)
    shutil.copy(SHAKESPEARE, folder / "tinyshakespeare.txt")
    env = {"RNNPLAY_CORPUS_MIRROR": str(folder)} if where == "mirror" else {}
    env["https_proxy"] = env["http_proxy"] = "http://127.0.0.1:9"  # any network use fails fast
    out = sandbox.run(["train", "tinyshakespeare", *TINY, "--out", "m.npz"], timeout=120, env=env)
    assert out.code == 0, out.stderr[-2000:]
    assert (sandbox.root / CACHE / "corpora" / "tinyshakespeare" / "tinyshakespeare.txt").is_file()


def test_a_slow_load_off_a_terminal_says_how_far_it_has_got(sandbox: Sandbox, server: str) -> None:
    """Off a terminal a load's bar was one line at its end, and nothing before it: a log was silent for the whole
    first load of a large corpus (20 s to 70 s for 2.5 GB here) or a slow download. A line of how far it has got
    comes now once $RNNPLAY_STATUS_SECONDS pass without one; the error stays the last line, and the one."""
    out = sandbox.run([*SHOW, f"url:{server}/slow/s.txt"], timeout=30,
                      env={"RNNPLAY_DOWNLOAD_TIMEOUT": "3", "RNNPLAY_STATUS_SECONDS": "0.5"})
    assert_one_line_error(out, mentions=("took longer than 3 s",))
    so_far = [line for line in out.error_lines if line.startswith("downloading s.txt: 0% ")]
    assert so_far and all(line.endswith(" / 10.0 kB so far") for line in so_far), out.stderr


def test_a_plugin_loader_that_raises_is_blamed_on_its_package(sandbox: Sandbox, tmp_path: Path) -> None:
    """A real package installed with pip whose loader raises: `corpus show` and `train` name the package."""
    package = tmp_path / "rnnplay-brokenloader"
    (package / "brokenloader").mkdir(parents=True)
    (package / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "rnnplay-brokenloader"\nversion = "0.1"\n'
        '[project.entry-points.rnnplay]\nbrokenloader = "brokenloader"\n'
    )
    (package / "brokenloader" / "__init__.py").write_text(
        "from rnnplay.plugins.hookspecs import hookimpl\n\n\n"
        "class Broken:\n    name = 'broken'\n    help = 'always fails'\n\n"
        "    def load(self, spec, progress):\n        return {}['no such key']\n\n\n"
        "@hookimpl\ndef register_corpus_loaders(register):\n    register(Broken())\n"
    )
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(package)], check=True, capture_output=True, timeout=300)
    env = {"PYTHONPATH": python_path(target)}
    before = sandbox.snapshot()
    for args in (["corpus", "show", "broken:x"], ["train", "broken:x", *TINY]):
        out = sandbox.run(args, timeout=60, env=env)
        assert_one_line_error(out, mentions=("rnnplay-brokenloader", "KeyError", "loading 'broken:x'"))
    assert_nothing_outside(before, sandbox.snapshot())


def test_a_large_file_that_grows_while_it_is_encoded_is_one_line(sandbox: Sandbox, capsys: pytest.CaptureFixture[str],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A file appended to (a log still written) while its ids are built: refused, not ids of neither text."""
    from rnnplay.corpora import text_stream

    path = sandbox.work / "log.txt"
    path.write_bytes(TEXT.encode() * (5_000_000 // len(TEXT)))
    read = text_stream.TextStream._read

    def read_then_append(self: text_stream.TextStream) -> bytes:
        data = read(self)
        if self.done == len(data):  # once, after the first chunk
            with open(path, "ab") as f:
                f.write(b"one more line\n")
        return data

    monkeypatch.setattr(text_stream.TextStream, "_read", read_then_append)
    out = sandbox.run_in_process([*SHOW, "log.txt"], capsys, monkeypatch)
    assert_one_line_error(out, mentions=("changed while it was read", "load it again"))
    assert not list((sandbox.root / CACHE / "ids").glob("*.ids"))
