"""``rnnplay neurons``: find the hidden units that track a condition, or colour a text by one unit.

The colouring is the picture from Karpathy's "The Unreasonable Effectiveness of
Recurrent Neural Networks": each character's background shows the unit's value
after reading it, red for positive, blue for negative, white near zero
(:func:`rnnplay.ui.console.neuron_text`). As ``sample --heat`` does, it colours only a terminal's text, saying
why not elsewhere (a pipe or a file, ``NO_COLOR``, a dumb terminal); ``--color=always`` forces the colours.
"""

from __future__ import annotations

import argparse
import stat
import sys
from pathlib import Path

import numpy as np

from rnnplay.core import address_space
from rnnplay.core.errors import RnnplayError
from rnnplay.core.model import Model
from rnnplay.core.neurons import (
    CONDITIONS,
    MAX_STREAMS,
    STREAM_CHARS,
    Unit,
    auto_streams,
    find_neurons,
    unit_activations,
)
from rnnplay.core.params import unescape
from rnnplay.core.vocab import describe_char
from rnnplay.corpora.char_width import held_weight
from rnnplay.corpora.memory import memory_room
from rnnplay.corpora.text import open_regular, probe, read_stream
from rnnplay.corpora.text_weight import file_pieces, shape
from rnnplay.models.library import open_model
from rnnplay.plugins.host import get_host
from rnnplay.ui.cli import add_encoding_option, model_command
from rnnplay.ui.cli.bars import ProgressBar
from rnnplay.ui.cli.cmd_sample import colour_console, read_stdin, read_text
from rnnplay.ui.cli.negative_values import take_negative_values
from rnnplay.ui.console import ansi, neuron_text

# Bytes of memory held for each character of the text, found by measuring (docs/inspect.md): --find keeps the text,
# its ids and a few numbers a character; --unit also builds the coloured text, character by character.
FIND_BYTES = 32
UNIT_BYTES = 600
EXAMPLES = f"""\
conditions: {", ".join(CONDITIONS)}, regex:PATTERN

examples:
  rnnplay neurons my.npz --find inside-parens --file notes.txt
  rnnplay neurons my.npz --find 'regex:[A-Z]+:' --file play.txt --top 10
  rnnplay neurons my.npz --unit 1:37 --text 'He said "stop (now)".'
  rnnplay neurons --find line-position --file play.txt     the bundled model

Layers and units count from 0; --state c looks at an LSTM's cell state instead of its output h.
From Python: rnnplay.core.neurons (docs/inspect.md)."""


def register(sub: argparse._SubParsersAction) -> None:
    p = model_command(sub, "neurons", "find hidden units that track a condition, or colour a text by one unit",
                      "Look inside a model: rank its hidden units by how well they track a condition, "
                      "or colour a text by one unit's activation.", EXAMPLES)
    take_negative_values(p)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--find", metavar="CONDITION", help="rank units by |correlation| with CONDITION")
    what.add_argument("--unit", metavar="LAYER:UNIT", help="colour the text by this unit, e.g. 0:12")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--text", help="the text to read (\\n a newline: docs/escapes.md)")
    src.add_argument("--file", metavar="PATH", help="read the text from a file (- reads stdin)")
    add_encoding_option(p, "--file and stdin")
    p.add_argument("--top", type=int, default=5, metavar="N", help="how many units --find shows (default 5)")
    p.add_argument("--color", choices=["auto", "always"], default="auto",
                   help="--unit's colours: on a terminal (auto, the default), or always, even to a pipe or a file")
    p.add_argument("--state", choices=["h", "c"], default="h", help="hidden output h (default) or LSTM cell state c")
    p.add_argument("--streams", type=int, metavar="N",
                   help="--find reads the text as N pieces side by side, each from a fresh state; faster on long "
                        f"texts (default: one per {STREAM_CHARS:,} characters, at most {MAX_STREAMS}; 1 = exact)")
    p.set_defaults(func=run)


def _text(args: argparse.Namespace, model: Model) -> str:
    if args.text is not None:
        text = unescape(args.text)  # \n a newline, as in every text typed in a command (docs/escapes.md)
    elif args.file is not None:
        text = read_whole(args.file, args.encoding, FIND_BYTES if args.unit is None else UNIT_BYTES)
    else:
        raise RnnplayError("give the text to read with --text TEXT or --file PATH")
    unknown = model.vocab.unknown(text)
    names = ", ".join(describe_char(c) for c in unknown[:10])
    if unknown:
        text = model.vocab.decode(model.vocab.encode(text, on_unknown="skip"))
    if len(text) < 2:  # the one line says what was skipped too: no note before it
        skipped = f" once the characters the model has never seen ({names}) are left out" if unknown else ""
        raise RnnplayError(f"the text is too short{skipped}: give at least two characters the model knows")
    if unknown:
        print(f"rnnplay: note: skipping characters the model has never seen: {names}", file=sys.stderr)
    return text


def read_whole(name: str, encoding: str, per_char: int) -> str:
    """The text of the file ``name`` (- for stdin), held whole, with ``per_char`` bytes more for each character
    while it is read: one too large for the memory left (or the address-space limit) refused before it is read."""
    if name == "-":
        return read_stdin("the text", lambda data: read_stream(data, "stdin", encoding, held=per_char))
    path = Path(name)
    info, (room, whence) = probe(path), memory_room() or (0, "")
    if info is not None and stat.S_ISREG(info.st_mode) and room:
        size, width = info.st_size, 1
        weight = held_weight(per_char, size, 1, size)
        if weight <= room < held_weight(per_char, size, 4, size):  # only wide characters would not fit: find out
            width, chars = file_shape(path, encoding)
            weight = held_weight(per_char, size, width, chars)
        if weight > room:
            each, widest = per_char + width - 1, f" (its widest takes {width} bytes in a Python str)" * (width > 1)
            raise RnnplayError(f"{path} has {size:,} bytes, and rnnplay neurons holds about {each} bytes for each "
                               f"character of its text at once{widest}, more than the {room:,} bytes of memory it may "
                               f"use now ({whence}); {address_space.advice()}give a part of it, of at most "
                               f"{room // each:,} bytes")
    return read_text(path, encoding)


def file_shape(path: Path, encoding: str) -> tuple[int, int]:
    """(the width of its widest character, its characters) of the text of the file at ``path``, found a piece at a
    time (:func:`~rnnplay.corpora.text_weight.shape`)."""
    handle, _ = open_regular(path)
    with handle:
        return shape(file_pieces(handle, encoding))


def _unit(spec: str, model: Model) -> tuple[int, int]:
    try:
        layer, unit = (int(part) for part in spec.split(":"))
    except ValueError:
        raise RnnplayError(f"--unit wants LAYER:UNIT, like 0:12 (got {spec!r})") from None
    if not 0 <= layer < model.num_layers or not 0 <= unit < model.hidden_size:
        raise RnnplayError(
            f"no unit {spec}: this model has layers 0-{model.num_layers - 1} of units 0-{model.hidden_size - 1}"
        )
    return layer, unit


def run(args: argparse.Namespace) -> int:
    model = open_model(args.model)
    if args.unit is not None:
        layer, unit = _unit(args.unit, model)
    text = _text(args, model)
    if args.find is not None:
        if args.top < 1:
            raise RnnplayError(f"--top must be at least 1 (got {args.top})")
        if args.streams is not None and args.streams < 1:
            raise RnnplayError(f"--streams must be at least 1 (got {args.streams}); leave it out for the default")
        streams = args.streams or auto_streams(len(text))
        with ProgressBar() as bar, get_host().blame("cells", model.cell.name, "reading the text"):
            scores = find_neurons(model, text, args.find, args.top, args.state, streams,
                                  progress=lambda done: bar("reading the text", round(done * len(text)), len(text),
                                                            "characters"))
        pieces = f" in {streams} pieces" if streams > 1 else ""
        layers = f"{model.num_layers} layer{'s' * (model.num_layers != 1)}"
        print(f"units whose {args.state} tracks {args.find} over {len(text):,} characters{pieces} "
              f"({layers} of {model.hidden_size} {model.cell.name} units):")
        print(f"{'rank':>4}  {'layer':>5}  {'unit':>5}  correlation")
        for rank, s in enumerate(scores, 1):
            print(f"{rank:>4}  {s.layer:>5}  {s.unit:>5}  {s.correlation:+11.3f}")
        best = scores[0]
        model_arg = f"{args.model} " if args.model else ""
        print(f"see one: rnnplay neurons {model_arg}--unit {best.layer}:{best.unit} --state {args.state} --text '...'")
        return 0
    with get_host().blame("cells", model.cell.name, "reading the text"):
        acts = unit_activations(model, text, Unit(layer, unit, args.state))  # that unit alone: a long text fits
    # h is in [-1, 1] for the built-in cells and is shown as it is; c is unbounded, so it is shown as
    # c / max|c| over this text, which keeps a slow ramp (a line-position counter) visible
    scale = max(float(np.abs(acts).max()), 1e-12) if args.state == "c" else 1.0
    values = np.clip(acts / scale, -1.0, 1.0)
    console, coloured = colour_console(args.color, sys.stdout, "--color=always")
    legend = "red positive, blue negative; " if coloured else ""
    print(f"layer {layer} unit {unit} ({args.state}): {legend}range {acts.min():+.2f} to {acts.max():+.2f}")
    print(ansi(console, neuron_text(text, values.tolist())))
    return 0
