"""``rnnplay sample``: stream a model's continuation of a seed to stdout, character by character."""

from __future__ import annotations

import argparse
import os
import stat
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, TextIO, TypeVar

import numpy as np
from rich.console import Console

from rnnplay.core import jit
from rnnplay.core.errors import RnnplayError
from rnnplay.core.generate import check_request, generate, prime_stream
from rnnplay.core.model import Model
from rnnplay.core.params import ESCAPES_SAID, unescape
from rnnplay.core.sampler import parse_assignments
from rnnplay.core.score import RunningScore
from rnnplay.core.vocab import describe_char, unknown_error
from rnnplay.corpora.text import decode, read_regular_file
from rnnplay.corpora.text_pieces import TextFile, TextPieces, stdin_pieces
from rnnplay.models.library import open_model
from rnnplay.plugins.host import get_host
from rnnplay.plugins.interrupts import plugin_prints_to_stderr
from rnnplay.session.events import Chunk, Event, Working
from rnnplay.session.stall_watch import StallWatch
from rnnplay.ui.cli import add_encoding_option, model_command
from rnnplay.ui.cli.bars import Estimate, file_pass, reading_bar
from rnnplay.ui.cli.negative_values import take_negative_values
from rnnplay.ui.console import ansi, colours, heat_legend, heat_style, make_console, no_color, redraws, styled, visible
from rnnplay.ui.work_line import WorkLine

EXAMPLES = f"""\
examples:
  rnnplay sample model.npz --seed "ROMEO:" --length 300 --rng-seed 1
  rnnplay sample model.npz --seed "ROMEO:" --sampler top-p --set p=0.9 --temperature 0.8
  rnnplay sample model.npz --seed 'ROMEO:\\n' --sampler beam --set width=8 --set end='\\n' --stop '\\n'
  rnnplay sample model.npz --seed "KING" --heat            colour each character by its probability
  rnnplay sample --seed 'ROMEO:\\nBut soft' --length 100    a two-line seed
  rnnplay sample --seed-file scene.txt                     a seed as long as a file (--seed - reads stdin)

Samplers and their parameters: rnnplay plugins, or docs/samplers.md.
--seed, --stop and string parameters understand {ESCAPES_SAID} (docs/escapes.md); a seed file or stdin
is taken as it is, final newline included; a piped stdin of more than 4 MiB is kept in a temporary file in
the cache folder while it is read (it needs room there: RNNPLAY_CACHE_DIR)."""

# The compiled kernels (rnnplay.core.jit) take a moment to load and then save a little on each character:
# below this many characters, seed and continuation together, they cost more than they save (measured in
# docs/samplers.md and docs/performance.md).
COMPILE_FROM = 25_000
SPOOL_INSTEAD = "save it in a file and give %s FILE"  # what to do when a long stdin finds no room on the disk
T = TypeVar("T")


def register(sub: argparse._SubParsersAction) -> None:
    p = model_command(sub, "sample", "generate text from a model, streamed as it is written",
                      "Continue a seed text with a trained model, streaming each character as it is picked.", EXAMPLES)
    take_negative_values(p)
    seed = p.add_mutually_exclusive_group()
    seed.add_argument("--seed", default="", help="text that primes the model (default: none); - reads it from stdin")
    seed.add_argument("--seed-file", metavar="PATH", help="prime the model with this file's text (- reads stdin)")
    add_encoding_option(p, "--seed-file and stdin")
    p.add_argument("-n", "--length", type=int, default=200, metavar="N", help="characters to generate (default 200)")
    p.add_argument("--sampler", default="temperature", help="temperature, greedy, top-k, top-p, beam, or a plugin's")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a sampler parameter (repeatable)")
    p.add_argument("--temperature", metavar="T", help="shortcut for --set temperature=T")
    p.add_argument("--rng-seed", type=int, help="random seed: the same seed gives the same text (default: random)")
    p.add_argument("--stop", help="stop right after this text appears (it is printed)")
    p.add_argument("--strict", action="store_true", help="refuse seed characters the model has never seen")
    p.add_argument("--heat", nargs="?", const="auto", choices=["auto", "always"],
                   help="colour characters by the probability the model gave them (on a terminal; =always to force)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    host = get_host()
    sampler = host.get("samplers", args.sampler)
    params: dict[str, str] = parse_assignments(args.set)
    if args.temperature is not None:
        params["temperature"] = args.temperature
    if args.rng_seed is not None and args.rng_seed < 0:
        raise RnnplayError(f"--rng-seed must be a whole number >= 0 (got {args.rng_seed})")
    check_request(sampler, params, args.length)  # before a long seed is read for nothing
    seed = read_seed(args)
    model = sample_model(args.model, args.set)
    with file_pass(seed.bytes_hint) as progress:  # a pass over a seed file before the model reads it
        tally = seed.tally(model.vocab, 0, progress, "reading the seed file")  # how long, which characters unseen
    if tally.chars + args.length < COMPILE_FROM:  # the seed's characters are model steps too
        jit.disable()  # loading the kernels would take longer than they save (COMPILE_FROM)
    if tally.unknown and args.strict:
        raise unknown_error(list(tally.unknown))
    if tally.unknown:
        names = ", ".join(describe_char(c) for c in tally.unknown)
        print(f"rnnplay: skipping seed characters the model has never seen: {names}", file=sys.stderr)
    rng = np.random.default_rng(args.rng_seed)
    stop = unescape(args.stop) if args.stop else None
    out = sys.stdout
    console, heat = colour_console(args.heat, out, "--heat=always")
    shown = visible if out.isatty() else str  # a terminal would act on ESC or CR; a pipe or file gets text as it is
    # a plugin's fault is named, in one line (a plugin cell's too, when a built-in sampler trips on it); what plugin
    # code prints goes to stderr, never into the text on stdout (``out``, taken above)
    with host.blame("samplers", args.sampler, "generating", cell=model.cell.name), plugin_prints_to_stderr():
        known = tally.chars - tally.unknown_count
        with reading_bar("reading the seed", known if args.length else 0) as bar:
            ids = (model.vocab.encode(piece, on_unknown="skip") for piece in seed.pieces())
            progress = Estimate(f"reading {known:,} characters of the seed", known, bar)
            primed = prime_stream(model, ids, known, progress=progress) if args.length else None
        stream = generate(model, "" if primed is None else primed, sampler, params, args.length, rng, stop=stop)
        paint = heat_paint(console, RunningScore(model, primed), model, shown) if heat and primed is not None else shown
        screen = SampleOutput(out, console, paint)
        for piece in seed.pieces():  # the seed as it is, again a piece at a time
            screen.write(shown(piece), piece)
        try:
            with StallWatch(screen.show, args.sampler, args.length) as watch:  # a quiet sampler says it is at work
                for ch in stream:
                    watch.chunk(Chunk(ch))
        finally:
            screen.write("\n", "\n")  # an error line then starts a line of its own
    if heat:  # on stderr, in the colours the text got (a 16-colour terminal gets 16, not the 256 of the palette)
        print(ansi(console, heat_legend()), file=sys.stderr)
    return 0


def sample_model(name: str | None, settings: list[str]) -> Model:
    """:func:`open_model`; a MODEL that is none but a KEY=VALUE (a second pair after one ``--set``, as
    ``/sampler beam width=2 end=x`` takes them) says where it goes, not that no model has that name."""
    try:
        return open_model(name)
    except RnnplayError:
        if name is None or "=" not in name or os.path.lexists(name):  # a file of that name: its own line
            raise
        where = (f"--set takes one KEY=VALUE, so give each its own (--set {settings[-1]} --set {name})" if settings
                 else f"a sampler parameter goes after --set (--set {name})")
        raise RnnplayError(f"{name!r} is no model: {where}") from None


def colour_console(wanted: str | None, out: TextIO, force: str) -> tuple[Console, bool]:
    """The console for ``out`` and whether it shows colours, ``wanted`` "auto" (where they show: saying why not
    when they do not, and that ``force`` forces them), "always", or None (none asked for)."""
    console = make_console(out, color=True if wanted == "always" else None)
    heat = wanted is not None and colours(console)
    if wanted == "auto" and not heat:
        why = ("NO_COLOR is set" if no_color() else "stdout is not a terminal" if not out.isatty()
               else f"the terminal is TERM={os.environ.get('TERM', '')!r}")
        print(f"rnnplay: {why}, so no colours (use {force} to force them)", file=sys.stderr)
    return console, heat


def read_seed(args: argparse.Namespace) -> TextPieces:
    """The seed: a file, read a piece at a time each time it is asked; --seed with its escapes (docs/escapes.md);
    stdin's text as it is, a long one kept in a temporary file (:func:`~rnnplay.corpora.text_pieces.stdin_pieces`)."""
    if args.seed_file == "-" or args.seed == "-":
        return read_stdin("the seed", lambda data: stdin_pieces(data, args.encoding, SPOOL_INSTEAD % "--seed-file"))
    if args.seed_file is not None:
        return TextFile(Path(args.seed_file), args.encoding)
    return TextPieces(unescape(args.seed))


def read_text(path: Path, encoding: str = "utf-8") -> str:
    """A regular file's text, as it is (a named pipe or a folder is refused in one line, not waited on)."""
    return decode(read_regular_file(path), str(path), encoding)


def read_stdin(what: str, read: Callable[[BinaryIO], T]) -> T:
    """What ``read`` makes of stdin; on a terminal, say how to end it first. A stdin that cannot be read (``nohup``
    opens /dev/null write-only in its place) is one line."""
    if sys.stdin is None:
        raise RnnplayError(f"there is no stdin to read {what} from; pass it as an argument or a file")
    if sys.stdin.isatty():
        print(f"rnnplay: reading {what} from the terminal; end it with Ctrl+D", file=sys.stderr)
    try:
        return read(sys.stdin.buffer)
    except OSError as err:
        raise RnnplayError(f"cannot read stdin: {err.strerror or err}; pipe {what} in, or pass it as an argument "
                           "or a file") from None
    except KeyboardInterrupt:
        if sys.stdin.isatty():
            print(file=sys.stderr)  # the "interrupted" line on a line of its own, not after what was typed
        raise


def heat_paint(console: Console, running: RunningScore, model: Model, shown: Callable[[str], str]
               ) -> Callable[[str], str]:
    """What writes each next character (``shown`` as the terminal should see it) in the colour of its probability."""
    index = {c: i for i, c in enumerate(model.vocab.chars)}

    def paint(text: str) -> str:
        return "".join(colour(ch, running.push(index[ch])) for ch in text)  # each one read, a new line too

    def colour(ch: str, p: float) -> str:
        return ch if ch == "\n" else styled(console, shown(ch), heat_style(p))

    return paint


def is_file(out: TextIO) -> bool:
    """Is ``out`` a file, or a device that shows nothing (/dev/null)? Neither reaches a terminal's screen."""
    try:
        mode = os.fstat(out.fileno()).st_mode
    except (AttributeError, OSError, ValueError):
        return False
    return stat.S_ISREG(mode) or (stat.S_ISCHR(mode) and not out.isatty())


class SampleOutput:
    """Where the text goes as it comes: stdout, and, while the sampler is quiet (a wide beam), a line that says it
    is at work (:class:`~rnnplay.ui.work_line.WorkLine`): under the text when stdout is a terminal; on stderr, when
    that is one, if stdout is a file (a pipe may end in the same terminal, ``| cat``, and the line would erase the
    text's row there); never in the text itself."""

    def __init__(self, out: TextIO, console: Console, paint: Callable[[str], str]) -> None:
        self.out, self.paint = out, paint
        lock = threading.RLock()
        where = console if redraws(console) else make_console(sys.stderr) if is_file(out) else None
        self.line = WorkLine(where.file, where, lambda: where.width, lock) if where and redraws(where) else None
        self.text_line = self.line if where is console else None  # the line shares the text's rows: text through it

    def write(self, codes: str, text: str) -> None:
        """``codes`` (``text`` as the terminal should get it), at once."""
        if self.text_line is not None:
            self.text_line.write(codes, text)
            return
        self.out.write(codes)
        self.out.flush()

    def show(self, event: Event) -> None:
        """The stream's next characters (in their colours), or the quiet line's start or end."""
        if isinstance(event, Chunk):
            self.write(self.paint(event.text), event.text)
        elif isinstance(event, Working) and self.line is not None:
            self.line.show(event)
