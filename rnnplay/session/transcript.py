"""/transcript save: the conversation as Markdown (to read) or JSON Lines (to process).

The conversation holds turns and comparisons, in the order they came. A turn is a
continuation (its seed, what the model wrote, and how: model, sampler, parameters,
length, random seed, stop; for a /whatif branch also the turn, position and character
it branches from) or a text given to /heat. Turns are numbered from 1 as /heat turn=N
and /whatif turn=N count them; a /compare is no turn: comparisons are numbered apart,
so they never shift a turn's number. A turn still being written is saved with its text
so far, ``ended`` "writing". In JSON Lines every line is one turn or comparison::

    {"turn": 1, "kind": "continuation", "model": "shakespeare.npz", "seed": "ROMEO:", "text": "...",
     "sampler": "temperature", "params": {"temperature": 0.7}, "length": 300, "rng_seed": null,
     "stop": null, "ended": "done", "branch": null}
    {"compare": 1, "kind": "compare", "after_turn": 1, "model": "shakespeare.npz", "seed": "ROMEO",
     "rng_seed": 1234, "length": 80, "stop": null, "ended": "done",
     "samplers": [{"sampler": "greedy", "params": {}, "text": "..."}, ...]}

(docs/transcripts.md has the whole format.) A transcript never replaces an existing
file unless asked to (``force``). A conversation that no /transcript save holds is kept in a file of its own
in the data folder (:func:`recovery_path`) as it goes and when the app or the REPL leaves (``recovery.py``).
"""

from __future__ import annotations

import datetime
import json
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rnnplay.core.atomic_write import put_new, write_atomically
from rnnplay.core.errors import RnnplayError
from rnnplay.core.vocab import describe_char
from rnnplay.folders import data_dir
from rnnplay.session.inspection import TurnRecord, branch_question, left_out, sampler_label
from rnnplay.session.output_paths import check_output_path


@dataclass(frozen=True)
class CompareRow:
    """One sampler's continuation in a /compare."""

    sampler: str
    params: dict[str, Any]
    text: str
    failed: bool = False  # the sampler raised: its error was shown, and it has no text

    @property
    def label(self) -> str:
        return sampler_label(self.sampler, self.params) + " failed (the error above)" * self.failed


@dataclass(frozen=True)
class CompareRecord:
    """A /compare: one seed (its known characters) and random seed through several samplers, as shown."""

    after: int  # the number of turns before it: it came after turn ``after`` (0: before the first)
    model: str
    seed: str
    rng_seed: int  # the random seed every sampler started from (/set seed N repeats it)
    length: int
    stop: str | None
    rows: tuple[CompareRow, ...]
    ended: str  # "done", or "stopped" (the samplers after the one stopped are left out)
    typed: str = ""  # the seed as typed, when the model left out characters of it that it has never seen

    @property
    def skipped(self) -> str:
        """The characters of the typed seed that the model has never seen and left out, each once, in order."""
        return left_out(self.seed, self.typed)


Entry = tuple[int, TurnRecord | CompareRecord]  # (turn or comparison number, record)


@dataclass(frozen=True)
class Conversation:
    """What /transcript save writes: the turns, the comparisons, and the turn being written (its text so far)."""

    turns: Sequence[TurnRecord]
    compares: Sequence[CompareRecord] = ()
    writing: TurnRecord | None = None  # ended "writing"; it will be turn len(turns) + 1

    def entries(self) -> Iterator[Entry]:
        """The turns (numbered from 1) and the comparisons (numbered apart, from 1) in the order they came."""
        turns = [*self.turns, *([self.writing] if self.writing else [])]
        keyed = [((n, 0), (n, t)) for n, t in enumerate(turns, 1)]
        keyed += [((c.after, 1), (n, c)) for n, c in enumerate(self.compares, 1)]  # just after turn ``after``
        return (entry for _, entry in sorted(keyed, key=lambda pair: pair[0]))

    @property
    def size(self) -> tuple[int, int, int | None]:
        """(turns, comparisons, characters of the turn being written or None): what a later save would add to."""
        return len(self.turns), len(self.compares), None if self.writing is None else len(self.writing.text)

    def summary(self) -> str:
        """'3 turns and 1 comparison'."""
        turns = len(self.turns) + (self.writing is not None)
        parts = [f"{turns} turn{'s' * (turns != 1)}"]
        if self.compares:
            parts.append(f"{len(self.compares)} comparison{'s' * (len(self.compares) != 1)}")
        return " and ".join(parts)


def turn_dict(number: int, turn: TurnRecord) -> dict[str, Any]:
    """One turn as plain data (what a JSON Lines transcript holds per line)."""
    data: dict[str, Any] = {"turn": number, "kind": turn.kind, "model": turn.model, "seed": turn.typed or turn.seed,
                            **({"skipped": turn.skipped} if turn.typed else {}), "text": turn.text}
    if turn.kind == "continuation":
        data.update(sampler=turn.sampler, params=turn.params, length=turn.length, rng_seed=turn.rng_seed,
                    stop=turn.stop, ended=turn.ended, branch=turn.branch and asdict(turn.branch))
    return data


def compare_dict(number: int, compare: CompareRecord) -> dict[str, Any]:
    """One comparison as plain data (one line of a JSON Lines transcript); its seed as typed, as a turn's."""
    fields = asdict(compare)
    return {"compare": number, "kind": "compare", "after_turn": compare.after, "model": compare.model,
            "seed": compare.typed or compare.seed, **({"skipped": compare.skipped} if compare.typed else {}),
            **{key: fields[key] for key in ("rng_seed", "length", "stop", "ended")}, "samplers": fields["rows"]}


def json_lines(conversation: Conversation) -> str:
    return "".join(json.dumps(turn_dict(n, e) if isinstance(e, TurnRecord) else compare_dict(n, e),
                              ensure_ascii=False) + "\n" for n, e in conversation.entries())


def _block(text: str) -> str:
    """``text`` as a fenced block whose fence is longer than any run of backticks inside it."""
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", text)), default=0))
    return f"{fence}text\n{text}\n{fence}"


def _settings(length: int | None, rng_seed: int | None, stop: str | None) -> str:
    seed = "random" if rng_seed is None else str(rng_seed)
    return f"length {length} · seed {seed} · stop {'none' if stop is None else repr(stop)}"


def _ended(turn: TurnRecord) -> str:
    if turn.ended == "writing":
        return f"still being written when saved: {len(turn.text):,} characters so far"
    return turn.ended


def _turn_markdown(number: int, turn: TurnRecord) -> list[str]:
    if turn.kind != "continuation":
        return [f"## Turn {number}: a text read with /heat", f"{turn.model}", _block(turn.text)]
    head = [f"## Turn {number}"]
    if turn.branch is not None:
        question = branch_question(turn.branch)
        head = [f"## Turn {number}: a branch of turn {turn.branch.turn}", question[:1].upper() + question[1:]]
    settings = _settings(turn.length, turn.rng_seed, turn.stop)
    return [*head, f"{turn.model} · {turn.sampler_label} · {settings} · {_ended(turn)}",
            *_seed_markdown(turn), "Continuation:", _block(turn.text)]


def _seed_markdown(entry: TurnRecord | CompareRecord) -> list[str]:
    """'Seed:', the seed as typed, and the characters the model has never seen and read it without."""
    skipped = [f"The model has never seen {', '.join(map(describe_char, entry.skipped))}: it read the seed without "
               "them."] if entry.typed else []
    return ["Seed:", _block(entry.typed or entry.seed), *skipped]


def _compare_markdown(number: int, compare: CompareRecord) -> list[str]:
    parts = [f"## Comparison {number}: the same seed through {len(compare.rows)} samplers",
             f"{compare.model} · {_settings(compare.length, compare.rng_seed, compare.stop)} · {compare.ended}",
             *_seed_markdown(compare)]
    for row in compare.rows:
        parts += [f"### {row.label}", _block(row.text)]
    return parts


def markdown(conversation: Conversation) -> str:
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    parts = ["# rnnplay transcript", f"{conversation.summary()}, saved {stamp}."]
    for number, entry in conversation.entries():
        parts += (_turn_markdown(number, entry) if isinstance(entry, TurnRecord)
                  else _compare_markdown(number, entry))
    return "\n\n".join(parts) + "\n"


def recovery_path() -> Path:
    """Where a conversation not saved is kept (``recovery.py``): the data folder's ``conversations/``, named by the
    time and the process, so two sessions never share one."""
    stamp = datetime.datetime.now().strftime("%Y-%m-%d-%H%M%S")
    return data_dir() / "conversations" / f"unsaved-{stamp}-{os.getpid()}.md"


FORMATS: dict[str, Callable[[Conversation], str]] = {".md": markdown, ".jsonl": json_lines}


def save_transcript(path: Path, conversation: Conversation, force: bool = False) -> Path:
    """Write ``conversation`` to ``path`` in the format its suffix names; an existing file only with ``force``."""
    if os.path.isdir(path):  # os.path's tests are False where Path's raise (a folder we may not search)
        raise RnnplayError(f"{path} is a folder: name a file in it, e.g. {path / 'chat.md'}")
    render = FORMATS.get(path.suffix.lower())
    if render is None:
        raise RnnplayError(f"{path.name}: name a .md (Markdown) or .jsonl (JSON Lines) file, "
                           f"e.g. /transcript save {path.with_name((path.stem or 'chat') + '.md')}")
    if os.path.exists(path) and not force:
        raise RnnplayError(f"{path} exists: /transcript save {path} force replaces it, or choose another name")
    check_output_path(path, "the transcript", example="chat.md")  # a file in the way, no rights, a name too long
    text = render(conversation).encode("utf-8")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)  # as /save does: a new folder is made, not refused
    except OSError as err:
        raise RnnplayError(f"cannot create the folder {path.parent}: {err.strerror or err}; choose another path") \
            from None
    write_atomically(path, lambda f: f.write(text), put=os.replace if force else put_new)  # another's kept
    return path
