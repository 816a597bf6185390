"""The recovery file: a conversation that no /transcript save holds, kept in the data folder as it goes.

Written whole (``core/atomic_write.py``) after each finished turn or comparison once the front end asks for it
(:meth:`RecoveryFile.follow`: the app, and the REPL at a terminal), at most :data:`RECOVERY_SECONDS` behind and
no more often than that, so a kill -9, an OOM kill or a power loss loses at most the last few seconds; removed
when /transcript save writes the conversation, written again when more follows; finished as the session leaves
(:meth:`RecoveryFile.finish`, with the turn still being written). The file is the process's own: its name holds
the PID, and it is created only where no file has that name (``put_new``), then replaced by this process alone.
Its name is held by a lock file until the leaving line reached the user (:meth:`RecoveryFile.said`): a session
that ends without it leaves the lock file, and the next one names the file (``recovery_folder.py``).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from rnnplay.core.atomic_write import NameTaken
from rnnplay.core.errors import RnnplayError
from rnnplay.session.output_paths import OutputLock
from rnnplay.session.recovery_folder import hold, look_over, recovered
from rnnplay.session.transcript import Conversation, recovery_path, save_transcript

RECOVERY_SECONDS = 2.0  # the most the file lags behind the conversation, and the least time between two writes

Size = tuple[int, int, int | None]


class RecoveryFile:
    """One session's recovery file; ``conversation()`` gives what it holds, ``warn`` says a write failed (once)."""

    def __init__(self, conversation: Callable[[], Conversation], warn: Callable[[str], None]) -> None:
        self._conversation = conversation
        self._warn = warn
        self._lock = threading.Lock()  # one write, save or finish at a time (timer, turn and closing threads)
        self.path: Path | None = None  # the file, once named
        self._on_disk = False  # whether ``path`` holds our file now (removed after a /transcript save)
        self._saved: Size = Conversation([]).size  # the conversation as /transcript save last wrote it
        self._written: Size = self._saved  # ... as this file last held it
        self._told: Size | None = None  # ... as :meth:`finish` last named it
        self._following = False
        self._timer: threading.Timer | None = None
        self._last = float("-inf")  # time.monotonic() of the last write
        self._warned = False
        self._held: OutputLock | None = None  # the lock on the file's name, held until its line is said
        self.recovered: str | None = None  # the line about earlier sessions' files, for the greeting

    def follow(self) -> None:
        """Keep the file as the conversation goes from now on (:meth:`changed` writes it); the files of earlier
        sessions looked over first (``recovery_folder.py``): :attr:`recovered` names those no line named."""
        self.recovered = recovered(look_over(recovery_path().parent))
        self._following = True

    def changed(self) -> None:
        """A turn or a comparison was recorded: written at once when the last write is old enough, else when it is
        (one write for a fast series of turns)."""
        with self._lock:
            if not self._following or self._timer is not None:
                return
            self._timer = threading.Timer(max(0.0, self._last + RECOVERY_SECONDS - time.monotonic()), self._due)
            self._timer.daemon = True
            self._timer.start()

    def _due(self) -> None:
        failed = None
        with self._lock:
            self._timer = None
            if not self._following:
                return
            try:
                self._write(self._conversation())
            except RnnplayError as err:
                failed, self._warned = (None, True) if self._warned else (err, True)
        if failed is not None:  # said outside the lock: a front end's output may wait on a thread that takes it
            self._warn(f"this conversation cannot be kept as it goes: {failed}; /transcript save PATH keeps it")

    def _write(self, conversation: Conversation) -> None:
        """``conversation`` to the file, when it holds something neither /transcript save nor the file holds."""
        if conversation.size in (self._saved, self._written):
            return
        self._last = time.monotonic()
        if self._on_disk and self.path is not None:
            save_transcript(self.path, conversation, force=True)  # our own file, replaced
        else:
            self._create(conversation)
        self._written = conversation.size

    def _create(self, conversation: Conversation) -> None:
        """The file made where no file is: a name another process took (its PID in another namespace, or a file
        left from before) is never replaced, the next name tried. The name is held (its lock file,
        ``recovery_folder.py``) before the file is there, so that a session starting meanwhile leaves it alone."""
        first = self.path or recovery_path()
        for attempt in range(100):
            path = first.with_name(f"{first.stem}-{attempt + 1}{first.suffix}") if attempt else first
            lock = self._held if path == self.path else hold(path)
            if lock is None:
                continue
            try:
                save_transcript(path, conversation)
            except RnnplayError as err:  # NameTaken among them
                if lock is not self._held:
                    lock.__exit__()
                if isinstance(err, NameTaken) or os.path.lexists(path):
                    continue  # "exists": taken before the check
                raise
            if lock is not self._held:
                self._let_go()
            self.path, self._on_disk, self._held = path, True, lock
            return
        raise RnnplayError(f"cannot name a new file beside {first}: 100 names are taken")

    def saved(self, size: Size) -> None:
        """/transcript save wrote the conversation (of ``size``): the file holds nothing more, and goes."""
        with self._lock:
            self._saved = size
            if self._on_disk and self.path is not None:
                with contextlib.suppress(OSError):  # left behind, it holds only what the transcript holds
                    self.path.unlink()
                self._on_disk = False
            self._written = size

    def finish(self) -> str | None:
        """As the front end leaves: the file written with all there is (the turn being written with its text so
        far), no more writes after it; the line naming it, or saying why it could not be written; None when
        /transcript save holds everything, or the line was said for this conversation already."""
        with self._lock:
            self._following = False
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            conversation = self._conversation()
            if conversation.size in (self._saved, self._told):
                return None
            try:
                self._write(conversation)
            except RnnplayError as err:
                return f"{unsaved(conversation, self._saved)}, and not kept either: {err}"
            self._told = conversation.size
            return f"{unsaved(conversation, self._saved)}: kept in {self.path}"

    def said(self) -> None:
        """The line :meth:`finish` gave reached the user (or there was none): the name is let go, and the next session
        does not name the file again. Until then a session that ends (killed, or its terminal taking nothing more)
        leaves the lock file, and the next one names the file as it starts."""
        with self._lock:
            self._let_go()

    def _let_go(self) -> None:
        if self._held is not None:
            self._held.__exit__()
            self._held = None


def unsaved(conversation: Conversation, saved: Size) -> str:
    """'1 turn not saved with /transcript save (3 turns in all)': what came since the conversation was ``saved``
    (its size then; a turn being written then, and longer now, counts again), and the whole when that is more."""
    turns = len(conversation.turns) + (conversation.writing is not None) - saved[0]
    compares = len(conversation.compares) - saved[1]
    since = " and ".join(f"{n} {word}{'s' * (n != 1)}" for n, word in ((turns, "turn"), (compares, "comparison"))
                         if n > 0)
    whole = conversation.summary()
    if not since or since == whole:
        return f"{whole} not saved with /transcript save"
    return f"{since} not saved with /transcript save ({whole} in all)"
