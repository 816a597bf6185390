"""A continuation's speed while the app trains: the session's generation alone, and beside its /train.

    python benchmarks/generation_beside_training.py [--model lstm|bundled] [--chars 2000] [--repeat 3]

What a user of the app does: a model loaded, `/train CORPUS` running in the background,
a seed typed. The session writes the continuation from a copy of the weights while
the training goes on (rnnplay.session). Rows, each quiet and with one core kept busy
by another process (the spinner of spinner.py):

- alone: no training;
- beside /train: the training waits between its steps while a continuation is
  written (for at most GIVE_WAY_SECONDS a step; what rnnplay does);
- beside /train, not giving way: GIVE_WAY_SECONDS set to 0, so the steps and the
  continuation share the cores (what it did before).

For each: the continuation's characters per second (median of --repeat, each
--chars long, TurnStarted to TurnEnded as the front ends see them) and the training's
characters per second over the same seconds. --model lstm: a new LSTM 2x256 trained
on tiny shakespeare; bundled: the bundled model fine-tuned on it (what `/train` does
right after the app opens).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

from spinner import one_core_busy
from train_throughput import CORPUS

from rnnplay.core.train_config import ModelSpec
from rnnplay.core.train_events import StepEvent
from rnnplay.session import training_job
from rnnplay.session.events import Event, TurnEnded, TurnStarted
from rnnplay.session.session import Session


class Turns:
    """How fast each continuation was written, from the session's events."""

    def __init__(self, session: Session) -> None:
        self.started = 0.0
        self.rates: list[float] = []  # characters per second of each continuation
        self.steps = 0
        self.first_step = threading.Event()
        self.ended = threading.Event()
        session.subscribe(self.on_event)

    def on_event(self, event: Event) -> None:
        if isinstance(event, TurnStarted):
            self.started = time.perf_counter()
        elif isinstance(event, TurnEnded):
            self.rates.append(event.chars / (time.perf_counter() - self.started))
            self.ended.set()
        elif isinstance(event, StepEvent):
            self.first_step.set()


def continuations(session: Session, turns: Turns, repeat: int) -> tuple[float, float | None]:
    """(median characters/s of ``repeat`` continuations, the training's characters/s meanwhile or None)."""
    job = session.training
    trainer = job.run.trainer if job is not None and job.alive else None
    step0, t0 = (trainer.step if trainer else 0), time.perf_counter()
    turns.rates.clear()
    for _ in range(repeat):
        turns.ended.clear()
        session.submit("ROMEO:")
        turns.ended.wait()
    window = time.perf_counter() - t0
    rate = statistics.median(turns.rates)
    if trainer is None:
        return rate, None
    c = trainer.config
    return rate, (trainer.step - step0) * c.batch_size * c.seq_length / window


def measure(args: argparse.Namespace, give_way: float | None) -> tuple[float, float | None]:
    """One row: ``give_way`` None for no training, else the GIVE_WAY_SECONDS to train with."""
    session = Session.open(None)
    if args.model == "lstm":
        session.new_model(ModelSpec(cell="lstm", layers=2, hidden=256))
    turns = Turns(session)
    session.submit(f"/set length {args.chars}")
    try:
        continuations(session, turns, 1)  # the compiled kernels loaded
        if give_way is not None:
            training_job.GIVE_WAY_SECONDS = give_way
            out = Path(tempfile.mkdtemp()) / "beside.npz"
            session.submit(f"/train {CORPUS} steps=1000000 val_every=0 out={out}")
            turns.first_step.wait()
            time.sleep(args.settle)
        return continuations(session, turns, args.repeat)
    finally:
        session.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=["lstm", "bundled"], default="lstm")
    ap.add_argument("--chars", type=int, default=2000, help="characters per continuation")
    ap.add_argument("--repeat", type=int, default=3, help="continuations per row; the median is printed")
    ap.add_argument("--settle", type=float, default=5.0, help="seconds of training before the first continuation")
    args = ap.parse_args()
    if not CORPUS.exists():
        raise SystemExit(f"{CORPUS} is missing: this benchmark trains on tiny shakespeare")
    rows = {"alone": None, "beside /train (gives way)": training_job.GIVE_WAY_SECONDS,
            "beside /train, not giving way": 0.0}
    print(f"model: {args.model}; {args.chars} characters a continuation, median of {args.repeat}")
    print(f"{'':46}{'continuation':>14}{'training':>12}   chars/s")
    for machine, load in (("quiet", None), ("one core busy", one_core_busy)):
        for label, give_way in rows.items():
            if load is None:
                gen, train = measure(args, give_way)
            else:
                with load():
                    gen, train = measure(args, give_way)
            shown = "" if train is None else f"{train:,.0f}"
            print(f"{machine + ', ' + label:46}{gen:14,.0f}{shown:>12}", flush=True)


if __name__ == "__main__":
    main()
