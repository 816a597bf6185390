"""The app's input: a few lines that grow as the seed does, a completion menu above them, the shared history.

Enter runs what is typed; Shift+Enter and Ctrl+J start a new line (many terminals
send Shift+Enter as a plain Enter, so Ctrl+J is the one that always works) and a
paste keeps every line. While a slash command is typed, the menu above the input
lists what ``commands.complete_line`` offers (as the REPL's menu does): Tab takes
the highlighted candidate, ↑ ↓ move in the menu, → takes the grey suggestion.
Otherwise ↑ on the first line and ↓ on the last walk the input history, which
the REPL shares (``rnnplay.ui.history``); a multi-line seed is one entry.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.cells import cell_len
from textual import events
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import OptionList, TextArea
from textual.widgets.option_list import Option

from rnnplay.plugins.slash import complete_line
from rnnplay.ui.history import append_history, history_path, load_history, not_kept
from rnnplay.ui.tui.terminal import typed_keys

IN_TURN = {"enter": "submit", "ctrl+j": "newline", "shift+enter": "newline", "tab": "complete", "up": "up",
           "down": "down"}  # key -> action, handled in order with the typed characters (PromptInput._on_key)
OPEN_ENDED = ("=", "/")  # a candidate ending so ('key=', 'folder/') wants more typed right after it
MENU_ROOM = 24  # columns the menu keeps at least, however far right the word starts


class CompletionMenu(OptionList, can_focus=False):
    """The candidates for the word before the cursor; the prompt keeps the focus and drives it."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(compact=True, **kwargs)
        self.candidates: list[str] = []
        self.picked = False  # the user moved the highlight: Enter takes that candidate

    @property
    def is_open(self) -> bool:
        return bool(self.candidates)

    def offer(self, candidates: list[str]) -> None:
        if candidates == self.candidates:
            return
        self.candidates, self.picked = candidates, False
        self.set_options(Option(Content(candidate)) for candidate in candidates)
        self.highlighted = 0 if candidates else None
        self.set_class(bool(candidates), "open")

    def close(self) -> None:
        self.offer([])

    def move(self, delta: int) -> None:
        self.highlighted = ((self.highlighted or 0) + delta) % len(self.candidates)
        self.picked = True

    def chosen(self) -> str | None:
        return self.candidates[self.highlighted or 0] if self.candidates else None


class PromptInput(TextArea):
    """The input lines: Enter runs them, Shift+Enter or Ctrl+J adds a line, Tab completes, ↑ ↓ walk the history."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+j", "newline", "New line"),  # shown in the footer; the key itself goes through _on_key
        Binding("escape", "escape", "Stop"),
        Binding("ctrl+d", "leave", "Quit"),
    ]

    class Submitted(Message):
        """The user ran ``value`` (one or more lines)."""

        def __init__(self, value: str) -> None:
            super().__init__()
            self.value = value

    def __init__(self, session: Any, menu: CompletionMenu, **kwargs: Any) -> None:
        super().__init__(soft_wrap=True, tab_behavior="focus", **kwargs)
        self.session, self.menu = session, menu
        self.earlier = load_history()
        self.position = len(self.earlier)  # index into earlier; len(earlier) is the line being typed
        self.draft = ""
        self.recalled: str | None = None  # the entry ↑ ↓ put here: no menu pops up over it
        self.word = ""  # the word before the cursor that the menu's candidates replace
        self.typed: list[str] = []  # characters typed since the last insert: inserted together
        self.history_kept = True  # until an entry could not be added to the history file (said once)

    def on_mount(self) -> None:
        """The keys typed as the app started (``App.typed_ahead``), read first: a seed typed at once runs."""
        for key in typed_keys(self.app.typed_ahead):
            self.app.post_message(key)

    async def _on_key(self, event: events.Key) -> None:
        """Keys that edit or run the text act here, in turn with the typing around them.

        A binding would act only once the key bubbled up to the app, after the keys
        typed behind it were inserted: fast typing (or a paste without bracketed-paste
        support) would run the line before its last characters arrived.

        Typed characters are gathered and inserted together once the keys queued behind
        them are read: TextArea rewraps the whole line at every insert, so a long paste
        inserted key by key costs time quadratic in its length (and holds a signal or a
        keystroke up behind it). Any other key inserts what was gathered first, and a key
        bound here (TextArea's editing keys: Backspace, ←, Home, Ctrl+U, Ctrl+W, …) acts
        here too: as a binding it would act after the characters typed behind it.
        """
        action = IN_TURN.get(event.key)
        if action is None and event.is_printable and event.character and not self.read_only:
            event.stop()
            event.prevent_default()
            if not self.typed:
                self.call_later(self.insert_typed)
            self.typed.append(event.character)
            return
        self.insert_typed()
        if action is not None:
            event.stop()
            event.prevent_default()
            getattr(self, f"action_{action}")()
        elif await self.run_own_binding(event.key):
            event.stop()
            event.prevent_default()

    async def run_own_binding(self, key: str) -> bool:
        """Run this widget's own binding of ``key``, as the app would once the key bubbled up to it; False if none
        ran (the key goes on to TextArea and up to the app, whose bindings act there)."""
        for binding in self._bindings.key_to_bindings.get(key, ()):
            if not binding.priority and await self.app.run_action(binding.action, self):
                return True
        return False

    def insert_typed(self) -> None:
        """Insert the characters gathered by :meth:`_on_key` where the cursor is, as TextArea inserts a key."""
        if self.typed:
            text, self.typed = "".join(self.typed), []
            self._restart_blink()
            self._replace_via_keyboard(text, *self.selection)

    def _on_mouse_down(self, _: events.MouseDown) -> None:
        self.insert_typed()  # a click moves the cursor: what was typed before it goes where the cursor was

    # -- the text -------------------------------------------------------------------------------
    def set_line(self, text: str) -> None:
        """Replace what is typed, cursor at the end."""
        self.text = text
        self.move_cursor(self.document.end)

    def action_newline(self) -> None:
        self.replace("\n", *self.selection, maintain_selection_offset=False)

    def action_submit(self) -> None:
        if self.menu.picked:
            self.take(self.menu.chosen() or "")
            return
        value = self.text
        self.set_line("")
        if value.strip():
            self.remember(value)
            self.post_message(self.Submitted(value))

    def action_escape(self) -> None:
        if self.menu.is_open:
            self.menu.close()
        else:
            self.app.action_stop()  # type: ignore[attr-defined]

    def action_leave(self) -> None:
        """Ctrl+D leaves from an empty input; in typed text it deletes the character at the cursor, as in the REPL."""
        if self.text:
            self.action_delete_right()
        else:
            self.app.action_leave_key("ctrl+d")  # type: ignore[attr-defined]

    # -- history --------------------------------------------------------------------------------
    def remember(self, entry: str) -> None:
        self.earlier.append(entry)
        self.position = len(self.earlier)
        path = history_path()  # None: history is off
        if path is not None and (reason := append_history(entry, path)) is not None and self.history_kept:
            self.history_kept = False
            self.session.warn(not_kept(path, reason))

    def walk_history(self, delta: int) -> None:
        if self.position == len(self.earlier):
            self.draft = self.text
        self.position = max(0, min(len(self.earlier), self.position + delta))
        entry = self.earlier[self.position] if self.position < len(self.earlier) else self.draft
        self.recalled = entry
        self.set_line(entry)

    def action_up(self) -> None:
        if self.menu.is_open:
            self.menu.move(-1)
            self.show_suggestion()
        elif self.navigator.is_first_wrapped_line(self.cursor_location):
            self.walk_history(-1)
        else:
            self.action_cursor_up()

    def action_down(self) -> None:
        if self.menu.is_open:
            self.menu.move(1)
            self.show_suggestion()
        elif self.navigator.is_last_wrapped_line(self.cursor_location):
            self.walk_history(1)
        else:
            self.action_cursor_down()

    # -- completion -----------------------------------------------------------------------------
    def before_cursor(self) -> str:
        return self.get_text_range((0, 0), self.cursor_location)

    def update_suggestion(self) -> None:
        """After every edit (TextArea calls it): refresh the menu, grey out the rest of its highlighted candidate."""
        self.refresh_completions()

    def on_text_area_selection_changed(self) -> None:
        self.refresh_completions()

    def refresh_completions(self) -> None:
        text = self.before_cursor()
        if self.text == self.recalled or "\n" in text or self.cursor_location != self.document.end:
            self.word, candidates = "", []
        else:
            self.word, candidates = complete_line(self.session, text)
        self.menu.offer([] if candidates == [self.word] else candidates)
        self.menu.styles.margin = (0, 0, 0, self.word_column(text))
        self.show_suggestion()

    def word_column(self, text: str) -> int:
        """The screen column where the word being completed starts: the menu opens under it."""
        start = self.content_region.x - self.region.x + cell_len(text) - cell_len(self.word)
        return max(0, min(start, self.size.width - MENU_ROOM))

    def show_suggestion(self) -> None:
        chosen = self.menu.chosen()
        self.suggestion = chosen[len(self.word):] if chosen and chosen.startswith(self.word) else ""

    def action_complete(self) -> None:
        """Tab: take the highlighted candidate; with none, do nothing (the focus stays here)."""
        chosen = self.menu.chosen()
        if chosen is not None:
            self.take(chosen)

    def take(self, candidate: str) -> None:
        """Replace the word before the cursor with ``candidate``, and a space unless it wants more typed."""
        row, column = self.cursor_location  # a path in quotes replaces the word whole: it may not begin as typed
        self.recalled = None
        self.replace(candidate + ("" if candidate.endswith(OPEN_ENDED) else " "), (row, column - len(self.word)),
                     self.cursor_location, maintain_selection_offset=False)


class PromptArea(Vertical):
    """The input with its completion menu above it."""

    def __init__(self, session: Any, placeholder: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.session, self.placeholder = session, placeholder

    def compose(self) -> Any:
        menu = CompletionMenu(id="completions")
        yield menu
        yield PromptInput(self.session, menu, placeholder=self.placeholder, id="prompt")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        """A click on a candidate takes it."""
        prompt = self.query_one(PromptInput)
        prompt.take(self.query_one(CompletionMenu).candidates[event.option_index])
        prompt.focus()
