"""A fine-tuned model's ancestry: the models it continued, kept in its checkpoint's metadata.

A run started from a model (``rnnplay train --init-from``, the app's /train on a loaded model) records the
model's own ancestry and that model itself, one generation each: which file it was (name and sha256 of its bytes),
the corpus it was trained on and the steps it had. The app's model panel counts the steps of every generation
(:func:`trained_text`).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from rnnplay.core.errors import printable

MAX_ANCESTRY = 100  # generations kept in a checkpoint's metadata (the oldest are dropped)
UNTRAINED = "untrained"  # the session's name for a model /new made, which has no file


def model_named(name: str, path: Path | None) -> str:
    """The loaded model as a line names it: its file's name, or 'the untrained model' for one /new made ('continuing
    untrained (1×8 lstm)' read as if a word were missing)."""
    return "the untrained model" if path is None and name == UNTRAINED else printable(name)


def ancestry(meta: dict[str, Any], sha256: str | None, name: str) -> list[dict[str, Any]]:
    """The model's own ancestry (its metadata's ``ancestry``) and itself: what a model fine-tuned from it records.

    Each generation is ``{"model": name, "sha256": of its file as it was loaded or saved (None if it has none),
    "corpus": the corpus name it was trained on, "step": the steps it had}``. A damaged record is left out, not
    passed on.
    """
    earlier = meta.get("ancestry")
    kept = [dict(g) for g in earlier if _generation(g)] if isinstance(earlier, list) else []
    corpus = meta.get("corpus")
    trained = meta.get("training") or meta.get("trained")
    step = trained.get("step") if isinstance(trained, dict) else None
    me = {"model": name, "sha256": sha256,
          "corpus": corpus.get("name") if isinstance(corpus, dict) else None,
          "step": step if isinstance(step, int) and not isinstance(step, bool) else None}
    return [*kept, me][-MAX_ANCESTRY:]


def trained_text(steps: int, meta: dict[str, Any]) -> str:
    """'40'; for a model that continued another (its metadata's ``ancestry``), '6,169 (5 more)': all its steps."""
    earlier = meta.get("ancestry")
    gens = earlier if isinstance(earlier, list) else []
    before = sum(g["step"] for g in gens if _generation(g) and isinstance(g.get("step"), int))
    return f"{steps + before:,} ({steps:,} more)" if before else f"{steps:,}"


def _generation(g: object) -> bool:
    return (isinstance(g, dict) and set(g) <= {"model", "sha256", "corpus", "step"}
            and all(v is None or (isinstance(v, str | int) and not isinstance(v, bool)) for v in g.values())
            and all(len(v) <= 1000 for v in g.values() if isinstance(v, str)))


def file_sha256(path: str | os.PathLike[str]) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


COPY_KEEPS = ("corpus", "history", "command", "ancestry")  # what a weights-only /save keeps of the model's metadata


def trained_record(meta: dict[str, Any]) -> dict[str, Any]:
    """``{"trained": {...}}``: what a weights-only copy keeps of the run that trained the model (its settings, step
    and loss history), from the metadata's ``training`` (a resumable checkpoint's) or the ``trained`` an earlier copy
    kept; {} when there is neither."""
    run = meta.get("training") or meta.get("trained")
    return {"trained": {k: run[k] for k in ("config", "step", "history") if k in run}} if isinstance(run, dict) else {}


def copy_record(meta: dict[str, Any]) -> dict[str, Any]:
    """The metadata a weights-only /save of the model keeps: its corpus, loss, command, ancestry and how it was
    trained (the card's steps; the step a model fine-tuned from the copy records)."""
    return {**{k: meta[k] for k in COPY_KEEPS if k in meta}, **trained_record(meta)}
