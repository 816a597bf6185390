"""/transcript save: the conversation as Markdown (to read) or JSON Lines (to process).

Each turn is a continuation (its seed, what the model wrote, and how: model,
sampler, parameters, length, random seed, stop) or a text given to /heat. In
JSON Lines every line is one turn::

    {"turn": 1, "kind": "continuation", "model": "shakespeare.npz", "seed": "ROMEO:", "text": "...",
     "sampler": "temperature", "params": {"temperature": 0.7}, "length": 300, "rng_seed": null,
     "stop": null, "ended": "done"}

A transcript never replaces an existing file unless asked to (``force``).
"""

from __future__ import annotations

import datetime
import json
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rnnplay.core.errors import RnnplayError
from rnnplay.session.inspection import TurnRecord


def turn_dict(number: int, turn: TurnRecord) -> dict[str, Any]:
    """One turn as plain data (what a JSON Lines transcript holds per line)."""
    data: dict[str, Any] = {"turn": number, "kind": turn.kind, "model": turn.model, "seed": turn.seed,
                            "text": turn.text}
    if turn.kind == "continuation":
        data.update(sampler=turn.sampler, params=turn.params, length=turn.length, rng_seed=turn.rng_seed,
                    stop=turn.stop, ended=turn.ended)
    return data


def json_lines(turns: Sequence[TurnRecord]) -> str:
    return "".join(json.dumps(turn_dict(i, t), ensure_ascii=False) + "\n" for i, t in enumerate(turns, 1))


def _block(text: str) -> str:
    """``text`` as a fenced block whose fence is longer than any run of backticks inside it."""
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", text)), default=0))
    return f"{fence}text\n{text}\n{fence}"


def _settings(turn: TurnRecord) -> str:
    seed = "random" if turn.rng_seed is None else str(turn.rng_seed)
    stop = "none" if turn.stop is None else repr(turn.stop)
    return f"{turn.sampler_label} · length {turn.length} · seed {seed} · stop {stop}"


def markdown(turns: Sequence[TurnRecord]) -> str:
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    parts = ["# rnnplay transcript", f"{len(turns)} turn{'s' * (len(turns) != 1)}, saved {stamp}."]
    for number, turn in enumerate(turns, 1):
        if turn.kind == "continuation":
            parts += [f"## Turn {number}", f"{turn.model} · {_settings(turn)} · {turn.ended}",
                      "Seed:", _block(turn.seed), "Continuation:", _block(turn.text)]
        else:
            parts += [f"## Turn {number}: a text read with /heat", f"{turn.model}", _block(turn.text)]
    return "\n\n".join(parts) + "\n"


FORMATS: dict[str, Callable[[Sequence[TurnRecord]], str]] = {".md": markdown, ".jsonl": json_lines}


def save_transcript(path: Path, turns: Sequence[TurnRecord], force: bool = False) -> Path:
    """Write ``turns`` to ``path`` in the format its suffix names; an existing file only with ``force``."""
    if path.is_dir():
        raise RnnplayError(f"{path} is a folder: name a file in it, e.g. {path / 'chat.md'}")
    render = FORMATS.get(path.suffix.lower())
    if render is None:
        raise RnnplayError(f"{path.name}: name a .md (Markdown) or .jsonl (JSON Lines) file, "
                           f"e.g. /transcript save {path.stem or 'chat'}.md")
    if path.exists() and not force:
        raise RnnplayError(f"{path} exists: /transcript save {path} force replaces it, or choose another name")
    if not path.parent.is_dir():
        raise RnnplayError(f"{path.parent} is not a folder: create it first, or choose another path")
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(render(turns), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise RnnplayError(f"cannot write {path}: {err.strerror or err}; choose another folder") from None
    return path
