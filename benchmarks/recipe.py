"""What each idea of the training recipe is worth on one step budget: a table, one row per idea.

    nice -n 10 python benchmarks/recipe.py [--steps 1200] [--val-every 300] [--rows baseline,ema]
                                          [--json results.json] [--cost-steps 5]

Every row trains the same 2×256 LSTM (seed 0, Adam, cosine schedule, B64 T100 unless
the row changes it) on tiny shakespeare's first 90% for --steps steps and validates on
the last 10% (all of it, in nats/char) every --val-every steps, as ``rnnplay train``
would. A step budget, not a time budget, so the figures do not depend on how busy
the machine is. Weight averaging does not change the path the raw weights take, so
every row keeps an average (--ema) and validates both: the raw weights (the row
without averaging) and the average (the row with it). Columns: the raw weights' best
and final validation loss and the step of the best, the average's final and best,
the mean training loss of the last tenth of the steps (with the row's dropout on), and
"step cost": the row's training step per character over the baseline's, timed
in-process A/B on the same batches (the two take turns, so the machine's load falls on
both alike; the fastest of --cost-steps each, the one the load disturbed least; the
"ema" row is the baseline with averaging).
--json keeps each row's results, and a later call with the same file adds its rows to
it, so the table can be run in parts and printed whole.
Needs ../shared/corpora/tinyshakespeare.txt.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from rnnplay.core.cells import LayerNormLSTMCell, LSTMCell
from rnnplay.core.data import split_ids
from rnnplay.core.model import Model
from rnnplay.core.train_config import TrainConfig
from rnnplay.core.train_events import ValidationEvent
from rnnplay.core.trainer import Trainer
from rnnplay.core.vocab import Vocab

CORPUS = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpora" / "tinyshakespeare.txt"


@dataclass(frozen=True)
class Row:
    """One idea: its name, output dropout rate, TrainConfig fields it changes, steps over --steps, and cell."""

    name: str
    dropout: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)
    steps_share: float = 1.0  # a larger batch at the same characters: fewer steps
    cell: type = LSTMCell


ROWS = [
    Row("baseline"),
    Row("ema", settings={"ema": 0.999}),  # step cost only: every trained row validates its average too
    Row("dropout 0.2", 0.2),
    Row("locked dropout 0.2", 0.2, {"dropout_kind": "locked"}),
    Row("weight drop 0.2", settings={"weight_drop": 0.2}),
    Row("embedding dropout 0.1", settings={"embedding_dropout": 0.1}),
    Row("warm-up 100", settings={"warmup": 100}),
    Row("weight decay 0.1", settings={"weight_decay": 0.1}),
    Row("B128 lr x1.41 half the steps", settings={"batch_size": 128, "lr": 4e-3 * math.sqrt(2)}, steps_share=0.5),
    Row("locked 0.2 + weight drop 0.2", 0.2, {"dropout_kind": "locked", "weight_drop": 0.2}),
    Row("layer-normalised LSTM", cell=LayerNormLSTMCell),
]


def trainer_for(row: Row, ids: np.ndarray, vocab: Vocab, steps: int, val_every: int) -> Trainer:
    """A fresh run of ``row``'s settings, as ``rnnplay train`` builds it (the head's bias at the unigram).

    The baseline is the recipe before this table: no averaging, no dropout of any kind, no warm-up.
    """
    config = replace(TrainConfig(seed=0, val_every=val_every, ema=0.0), steps=max(1, round(steps * row.steps_share)),
                     **row.settings)
    if row.steps_share != 1.0:
        config = replace(config, val_every=max(1, round(val_every * row.steps_share)))
    model = Model(row.cell(), vocab, 256, 2, row.dropout, seed=config.seed)
    train_ids, val_ids = split_ids(ids, config.val_fraction)
    model.init_output_bias(train_ids)
    return Trainer(model, train_ids, val_ids, config)


def train_row(row: Row, ids: np.ndarray, vocab: Vocab, steps: int, val_every: int, ema: float) -> dict[str, Any]:
    """Train ``row`` for its budget; at each validation (of the average) the raw weights' too; the late train loss."""
    trainer = trainer_for(replace(row, settings={"ema": ema, **row.settings}), ids, vocab, steps, val_every)
    start = time.perf_counter()
    raw: list[tuple[int, float]] = []
    average: list[tuple[int, float]] = []
    for event in trainer.run():  # between steps: the model holds the average, trainer.average the raw weights
        if isinstance(event, ValidationEvent) and event.val_loss is not None:
            with trainer.average.raw_weights():
                raw.append((event.step, trainer.model.evaluate(trainer.val_ids[: trainer.config.val_max_chars])))
            average.append((event.step, event.val_loss))
            print(f"  {row.name}: step {event.step} validation {raw[-1][1]:.4f}, average {event.val_loss:.4f}",
                  flush=True)
    losses = trainer.history.losses
    best_step, best = min(raw, key=lambda v: v[1])
    return {"name": row.name, "vals": raw, "ema_vals": average, "best": best, "best_step": best_step,
            "final": raw[-1][1], "ema_final": average[-1][1], "ema_best": min(v for _, v in average),
            "train": float(np.mean(losses[-max(1, len(losses) // 10) :])), "steps": trainer.step,
            "minutes": (time.perf_counter() - start) / 60}


def step_cost(row: Row, ids: np.ndarray, vocab: Vocab, rounds: int) -> float:
    """The row's step time per character over the baseline's, taking turns on the same batches (fastest of ``rounds``).

    The fastest rather than the median: on a busy machine a step's time is its work plus
    whatever waiting the load adds, and the least-disturbed step of each side is the
    closest to its work alone.
    """
    pair = [trainer_for(r, ids, vocab, 10**6, 0) for r in (ROWS[0], row)]
    times: list[list[float]] = [[], []]
    for turn in range(rounds + 1):  # the first turn warms both up (compiled kernels, the pool) and is not counted
        for side, trainer in enumerate(pair):
            start = time.perf_counter()
            trainer.train_step()
            if turn:
                times[side].append(time.perf_counter() - start)
    chars = [t.config.batch_size * t.config.seq_length for t in pair]  # per character: a larger batch does more
    return (min(times[1]) / chars[1]) / (min(times[0]) / chars[0])


def table(results: dict[str, dict[str, Any]]) -> str:
    """The rows in ROWS order, as a markdown table."""
    lines = ["| idea | best val | at step | final val | with EMA: final (best) | train (last 10%) | step cost |",
             "|---|---|---|---|---|---|---|"]
    for row in ROWS:
        r = results.get(row.name, {})
        cost = f"{r['cost']:.2f}x" if "cost" in r else "-"
        if "best" in r:
            lines.append(f"| {row.name} | {r['best']:.4f} | {r['best_step']} of {r['steps']} | {r['final']:.4f} | "
                         f"{r['ema_final']:.4f} ({r['ema_best']:.4f}) | {r['train']:.4f} | {cost} |")
        elif "cost" in r:
            lines.append(f"| {row.name} | | | | | | {cost} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1200)
    ap.add_argument("--val-every", type=int, default=300)
    ap.add_argument("--ema", type=float, default=0.999, help="the average every trained row keeps (its decay)")
    ap.add_argument("--rows", help="comma-separated row names (default: all)")
    ap.add_argument("--json", type=Path, help="keep the rows' results in this file (and add to it)")
    ap.add_argument("--cost-steps", type=int, default=10, help="timed steps per side for the step cost, 0: none")
    ap.add_argument("--no-train", action="store_true", help="only the step cost")
    args = ap.parse_args()
    if not CORPUS.exists():
        raise SystemExit(f"missing {CORPUS}")
    text = CORPUS.read_text(encoding="utf-8")
    vocab = Vocab.from_text(text)
    ids = vocab.encode(text)
    wanted = set(args.rows.split(",")) if args.rows else {r.name for r in ROWS}
    unknown = wanted - {r.name for r in ROWS}
    if unknown:
        raise SystemExit(f"unknown rows {sorted(unknown)}: choose among {[r.name for r in ROWS]}")
    results = json.loads(args.json.read_text()) if args.json and args.json.exists() else {}
    for row in (r for r in ROWS if r.name in wanted):
        trains = not args.no_train and "ema" not in row.settings  # averaging is a column of every trained row
        entry = train_row(row, ids, vocab, args.steps, args.val_every, args.ema) if trains else {}
        if args.cost_steps:
            entry["cost"] = step_cost(row, ids, vocab, args.cost_steps)
        if entry:
            results[row.name] = entry
        if args.json:  # re-read, so parts run side by side do not overwrite each other's rows
            merged = json.loads(args.json.read_text()) if args.json.exists() else {}
            args.json.write_text(json.dumps({**merged, row.name: {**merged.get(row.name, {}), **entry}}, indent=1))
    print(table(json.loads(args.json.read_text()) if args.json else results))


if __name__ == "__main__":
    main()
