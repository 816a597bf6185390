"""The one exception type that front ends turn into a one-line message.

Anything a user can cause (a missing file, a hostile checkpoint, an unknown
command) raises :class:`RnnplayError` with a message that says what is wrong and
what to do. Front ends print ``str(err)`` and never a traceback.
"""

import re

from rnnplay.core import address_space

LONGEST_WORD = 160  # characters of one word (a path, a URL) that a message shows in full


class RnnplayError(Exception):
    """A user-facing error: ``str(err)`` is one line that says what to do next."""


def flat(text: object) -> str:
    """``text`` on one line: each run of whitespace, line breaks included, as one space (a server's reason, a
    library's message that spans lines)."""
    return " ".join(str(text).split())


def has_control(text: str) -> bool:
    """Whether ``text`` holds a control character (C0, DEL or C1): a line break, or the start of a terminal's
    escape sequence, where a name or an address should have none."""
    return any(ord(c) < 32 or 127 <= ord(c) < 160 for c in text)


def printable(text: str) -> str:
    """``text`` with control and invisible characters (a newline in a file name, an escape sequence in a
    checkpoint's metadata) written as escapes, so it prints as one line and moves no cursor."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def shortened(text: str) -> str:
    """``text`` with each word longer than :data:`LONGEST_WORD` cut in its middle (``/tmp/aaaa…bbbb.npz``), so that
    a path of thousands of characters in a message stays a line that still tells where it starts and which file
    it names."""
    keep = (LONGEST_WORD - 1) // 2
    return re.sub(rf"\S{{{LONGEST_WORD + 1},}}", lambda word: f"{word[0][:keep]}…{word[0][-keep:]}", text)


def counted(n: int, noun: str) -> str:
    """'1 line', '2 lines', '1,024 lines': ``n`` and the noun, plural when n is not 1."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def file_size_limit(elsewhere: str) -> str:
    """What to do about EFBIG, a file grown to the largest this process may write (``ulimit -f``) or the file
    system holds: not a full disk; ``elsewhere``, where else to write ("send the output elsewhere")."""
    return f"the file-size limit (ulimit -f) was reached: raise it, or {elsewhere}"


def out_of_memory(err: MemoryError) -> str:
    """The one line for a MemoryError that no command turned into a message of its own."""
    said = f" ({printable(str(err)[:200])})" if str(err) else ""
    return f"out of memory{said}; {address_space.advice() or 'close other programs, or '}try a smaller model or text"
