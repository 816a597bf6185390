"""The terminal faces' console and colours: one rich ``Console`` factory, the heat and neuron colours, styles.

Whether a face colours its output is decided here, once, by the conventions users set:

* ``NO_COLOR`` (any value but '') -- no escape codes at all, not even bold (https://no-color.org);
* ``FORCE_COLOR`` (any value but '') -- colours even when the output is a pipe or a file
  (https://force-color.org; rich reads it);
* otherwise colours when the output is a terminal.

A command-line flag that asks for colours (``rnnplay sample --heat=always``) overrides both.
The CLI, the REPL and the TUI take their colours from here, so no face imports another's.
"""

from __future__ import annotations

import os
import re
import sys
from typing import TextIO

from rich.console import COLOR_SYSTEMS, Console, RenderableType
from rich.control import Control
from rich.segment import Segment
from rich.style import Style
from rich.text import Text

# The 256-colour palette index for each probability band, from red (the model found the character unlikely)
# to green (it expected it): a probability below ``bound`` takes ``code``.
HEAT = ((0.01, 196), (0.05, 202), (0.1, 208), (0.2, 214), (0.35, 220), (0.5, 190), (0.7, 154), (0.9, 118),
        (1.01, 46))
LEVEL_STYLES = {"info": "", "note": "dim", "warning": "yellow", "error": "bold red"}  # a session message's look
SEED_STYLE = "bold cyan"  # the seed as typed; the continuation after it keeps the terminal's colour
DIM = "dim"
CLEAR_SCREEN = str(Control.clear()) + str(Control.home())  # the cursor ends at the start of the first line


# Control characters a terminal would act on rather than show (ESC starts a sequence, CR moves the cursor, BEL
# rings): C0 but newline and tab as their Unicode control pictures (ESC shows as ␛), DEL as ␡, C1 as �. Invisible
# formatting characters whose width terminals disagree on, or that reorder a row, as a dotted circle ◌ (one cell
# wide in every terminal): rich counts a lone ZWJ 0 cells and tmux 3.3a 1, so a box it stood in lost its right
# border. Zero-width space, LRM and RLM, the bidi embeddings, overrides and isolates, word joiner and the byte-order
# mark always; the joiners ZWJ and ZWNJ only alone, not between two characters beyond ASCII (👩‍👧's ZWJ, Persian's
# ZWNJ: the text needs them). One character for one, so a styled text's spans still fit. The screen only: the
# transcript and saved text keep every character.
INVISIBLE = (0x200B, 0x200E, 0x200F, *range(0x202A, 0x202F), 0x2060, *range(0x2066, 0x206A), 0xFEFF)
VISIBLE = {**{c: 0x2400 + c for c in range(0x20) if chr(c) not in "\n\t"}, 0x7F: 0x2421,
           **{c: 0xFFFD for c in range(0x80, 0xA0)}, **dict.fromkeys(INVISIBLE, 0x25CC)}
JOINED = f"[^\\x00-\\x7f\\s\u200c\u200d{''.join(map(chr, INVISIBLE))}]"  # a character a joiner may join
LONE_JOINER = re.compile(rf"(?<!{JOINED})[\u200c\u200d]|[\u200c\u200d](?!{JOINED})")


def visible(text: str) -> str:
    """``text`` safe to put on a terminal: every control character shown (newline and tab kept), none acted on, and
    no invisible character left whose width a terminal may count otherwise; one character for one."""
    if "\u200c" in text or "\u200d" in text:
        text = LONE_JOINER.sub("\u25cc", text)
    return text.translate(VISIBLE)


def visible_text(text: Text) -> Text:
    """A rich ``Text`` with :func:`visible` characters, its styles kept."""
    shown = text.copy()
    shown.plain = visible(text.plain)
    return shown


def no_color() -> bool:
    """True when ``NO_COLOR`` asks for output without escape codes."""
    return os.environ.get("NO_COLOR", "") != ""


def force_color() -> bool:
    """True when ``FORCE_COLOR`` asks for colours wherever the output goes (``NO_COLOR`` wins over it)."""
    return os.environ.get("FORCE_COLOR", "") != "" and not no_color()


def make_console(file: TextIO | None = None, *, color: bool | None = None) -> Console:
    """A rich console on ``file`` (stdout by default) that never wraps or highlights what it prints.

    ``color`` True: always colours (256 colours, the faces' palette); False: never;
    None: as the environment says (see the module's docstring): NO_COLOR, then
    FORCE_COLOR (whatever TERM says), else colours on a terminal, as many as TERM tells rich.
    """
    file = file if file is not None else sys.stdout
    if color is None and (no_color() or force_color()):
        color = not no_color()
    system = {None: "auto", True: "256", False: None}[color]
    return Console(file=file, force_terminal=color, color_system=system, no_color=False,  # type: ignore[arg-type]
                   highlight=False, markup=False, emoji=False, soft_wrap=True)


def colours(console: Console) -> bool:
    """Does ``console`` write colours (escape codes)?"""
    return console.color_system is not None


def redraws(console: Console) -> bool:
    """Can ``console`` redraw a line in place: its file is a real terminal (FORCE_COLOR makes a pipe take colours,
    not cursor moves), and not a dumb one?"""
    try:
        tty = console.file.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed file
        tty = False
    return tty and os.environ.get("TERM", "").lower() not in ("dumb", "unknown")


def ansi(console: Console, renderable: RenderableType, width: int | None = None) -> str:
    """``renderable`` as ``console`` writes it, codes only if it colours. A ``Text`` stays as it is (no wrapping,
    no tab expanded); anything else is laid out ``width`` cells wide (by default, the console's width)."""
    if isinstance(renderable, Text):  # its spans' styles on top of its own (which Text.render leaves to the caller)
        segments = Segment.apply_style(renderable.render(console), console.get_style(renderable.style))
    else:
        segments = console.render(renderable, console.options.update(width=width or console.width))
    return "".join(styled(console, segment.text, segment.style or "") for segment in segments)


def styled(console: Console, text: str, style: str | Style) -> str:
    """``text`` in ``style`` as ``console`` writes it (codes only if it colours); unlike printing a rich ``Text``,
    the characters stay exactly as they are: tabs are not expanded, control characters not dropped."""
    if console.color_system is None or not text or not style:
        return text
    return (Style.parse(style) if isinstance(style, str) else style).render(
        text, color_system=COLOR_SYSTEMS[console.color_system])


def heat_colour(p: float) -> int:
    """The 256-colour palette index for probability ``p``."""
    return next(code for bound, code in HEAT if p < bound)


def heat_style(p: float | None) -> Style:
    """Red (the model found it unlikely) through yellow to green (it expected it); plain without a probability."""
    return Style() if p is None else Style(color=f"color({heat_colour(p)})")


def heat_text(text: str, probs: tuple[float | None, ...] | list[float | None]) -> Text:
    """``text`` with each character in the colour of its probability (newlines plain)."""
    out = Text()
    for ch, p in zip(text, probs, strict=True):
        out.append(visible(ch), None if ch == "\n" else heat_style(p))
    return out


def heat_legend(label: str = "heat (probability the model gave each character): ") -> Text:
    """'■<1% ■1%+ ■5%+ … ■90%+': each colour and the probability it starts at."""
    text = Text(label)
    low = 0.0
    for i, (bound, code) in enumerate(HEAT):
        text.append(" " if i else "")
        text.append("■", Style(color=f"color({code})"))
        text.append(f"{low:.0%}+" if low else f"<{bound:.0%}")
        low = bound
    return text


def neuron_colour(value: float) -> int:
    """The 256-colour palette index for a value in [-1, 1]: white at 0, deepening to red (+1) or blue (-1)
    (the cube colour 16 + 36r + 6g + b, with r, g, b in 0..5)."""
    k = round(min(abs(value), 1.0) * 5)
    r, g, b = (5, 5 - k, 5 - k) if value >= 0 else (5 - k, 5 - k, 5)
    return 16 + 36 * r + 6 * g + b


def neuron_text(text: str, values: tuple[float, ...] | list[float], mask: tuple[bool, ...] | None = None) -> Text:
    """Each character on a background for its value (red +, white 0, blue -), underlined where ``mask`` holds;
    newlines stay plain so a colour never bleeds to the end of a line."""
    out = Text()
    for ch, v, hit in zip(text, values, mask or (False,) * len(text), strict=True):
        if ch == "\n":
            out.append("\n")
        else:
            out.append(visible(ch), Style(color="color(16)", bgcolor=f"color({neuron_colour(v)})",
                                          underline=hit or None))
    return out
