"""What the REPL reads: completion of /commands, the shared history, and three-double-quote blocks.

Completion looks at the whole text before the cursor (prompt-toolkit's default
word pattern would split '/' from the word, and a plain WordCompleter would then
match nothing for '/s'). The input history is the file the app shares
(:mod:`rnnplay.ui.history`), kept in memory only when ``RNNPLAY_NOHISTORY`` is set.
A line starting with three double quotes opens a multi-line block, as in Ollama,
until a line ends with three double quotes.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from prompt_toolkit.buffer import Buffer
from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.filters import Condition
from prompt_toolkit.history import History, InMemoryHistory
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent

from rnnplay.core.errors import RnnplayError
from rnnplay.plugins.slash import command_table, complete_line
from rnnplay.session.session import Session
from rnnplay.ui.history import append_history, history_path, load_history, not_kept, unwritable

PROMPT, CONTINUATION = "› ", "… "
PLAIN_PROMPT, PLAIN_CONTINUATION = "> ", ". "  # where the terminal's encoding holds no "›" (Latin-1, ASCII)
QUOTES = '"""'


def prompts(encoding: str | None) -> tuple[str, str]:
    """The prompt and the continuation prompt a terminal writing ``encoding`` can show: "› " and "… " where it
    holds them, else "> " and ". " (prompt-toolkit would draw "?", which reads as a question)."""
    try:
        (PROMPT + CONTINUATION).encode(encoding or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return PLAIN_PROMPT, PLAIN_CONTINUATION
    return PROMPT, CONTINUATION


class SlashCompleter(Completer):
    """Completes '/sa' to '/sampler ' (the space, so what is typed next is an argument), then whatever the
    command's own completer offers."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterable[Completion]:
        word, candidates = complete_line(self.session, document.text_before_cursor)
        table = command_table(self.session.host) if " " not in document.text_before_cursor else {}
        for candidate in candidates:
            command = table.get(candidate[1:])
            if command is None:
                yield Completion(candidate, start_position=-len(word))
            else:
                yield Completion(candidate + " ", start_position=-len(word), display=candidate,
                                 display_meta=command.help)


class SharedHistory(History):
    """prompt-toolkit's view of the history file the app shares (:mod:`rnnplay.ui.history` reads and writes it).

    A file that cannot be written is said once, by ``warn``: as the prompt first loads the history, or at the first
    entry that could not be added (a disk gone full); the REPL works on without it."""

    def __init__(self, path: Path, warn: Callable[[str], object] | None = None) -> None:
        super().__init__()
        self.path = path
        self.warn = warn

    def load_history_strings(self) -> Iterable[str]:
        self.said(unwritable(self.path))
        return reversed(load_history(self.path, exact=True))  # prompt-toolkit wants the newest first

    def store_string(self, string: str) -> None:
        self.said(append_history(string, self.path))

    def said(self, reason: str | None) -> None:
        if reason is not None and self.warn is not None:
            self.warn(not_kept(self.path, reason))
            self.warn = None  # once


def piped_line() -> str | None:
    """A line of stdin without its line end (LF or CRLF), bytes that are not UTF-8 as U+FFFD; None at the end.

    A stdin that cannot be read (``nohup`` opens /dev/null write-only in its place: EBADF) is one line."""
    try:
        raw = sys.stdin.buffer.readline()
    except OSError as err:
        raise RnnplayError(f"cannot read stdin: {err.strerror or err}; run `rnnplay repl` in a terminal, or pipe "
                           "a script into it (… | rnnplay repl)") from None
    return raw.decode("utf-8", "replace").removesuffix("\n").removesuffix("\r") if raw else None


def piped_entry() -> str | None:
    """The next entry of a piped script: a line, or a block opened with three double quotes through the line that
    closes it; None at the script's end. A script that ends inside a block is one line: the block was cut short,
    or its closing quotes forgotten, and its text is no seed."""
    line = piped_line()
    while line is not None and block_open(line):
        more = piped_line()
        if more is None:
            raise RnnplayError(f'the script ended inside a block opened with {QUOTES} and never closed; end the '
                               f'block with a line ending in {QUOTES}')
        line += "\n" + more
    return line


def default_history(warn: Callable[[str], object] | None = None) -> History:
    """The shared history file (``warn`` says once that it cannot be written), or a history that lasts this run
    only when RNNPLAY_NOHISTORY is set."""
    path = history_path()
    return InMemoryHistory() if path is None else SharedHistory(path, warn)


UNDO_CHARS = 1 << 20  # what the prompt's undo steps may hold, all together, in characters


def bound_undo(buffer: Buffer) -> None:
    """Drop the oldest undo steps past :data:`UNDO_CHARS`. prompt-toolkit saves the whole input before each key
    for undo: a long line pasted key by key (a terminal without bracketed paste) kept one copy per character,
    quadratic memory that reached gigabytes for a paste of 100 KB."""
    stack = buffer._undo_stack  # prompt-toolkit offers no public bound
    total = sum(len(text) for text, _ in stack)
    while len(stack) > 1 and total > UNDO_CHARS:
        total -= len(stack.pop(0)[0])


def block_open(text: str) -> bool:
    """True while the input is a block that opened with three double quotes and has not closed yet."""
    body = text.lstrip()
    return body.startswith(QUOTES) and not body[len(QUOTES) :].rstrip().endswith(QUOTES)


def block_keys(buffer: Callable[[], Buffer]) -> KeyBindings:
    """The keys of an open block in the prompt's ``buffer()``: Enter a new line, and Ctrl+D at its end (where it
    deleted nothing and said nothing) its closing quotes and Enter, as end of input ends a shell's here-document."""
    bindings = KeyBindings()

    @bindings.add("enter", filter=Condition(lambda: block_open(buffer().text)))
    def _next_line(event: KeyPressEvent) -> None:
        event.current_buffer.insert_text("\n")

    @bindings.add("c-d", filter=Condition(lambda: block_open(buffer().text) and buffer().document.is_cursor_at_the_end))
    def _close_block(event: KeyPressEvent) -> None:
        event.current_buffer.insert_text(QUOTES)  # as if typed, then Enter: the seed is the same
        event.current_buffer.validate_and_handle()

    return bindings


def unquote_block(line: str) -> str:
    """What the REPL submits for an input line: a closed block becomes the text between its quotes.

    The newline right after the opening quotes is left out; a block's text that starts
    with '/' is still text, not a command (the session reads '//x' as the text '/x').
    """
    body = line.strip()
    if not (len(body) >= 2 * len(QUOTES) and body.startswith(QUOTES) and body.endswith(QUOTES)):
        return line
    inner = body[len(QUOTES) : -len(QUOTES)]
    inner = inner[1:] if inner.startswith("\n") else inner
    return "/" + inner if inner.startswith("/") else inner
