"""Training throughput: rnnplay (NumPy) beside PyTorch CPU, same model, same batch, one run.

    python benchmarks/train_throughput.py [--steps 10] [--warmup 3] [--rounds 3]

Each row runs full training steps (forward, backward through time, clip by
global norm 5, Adam) on batches of tiny shakespeare and prints characters per
second; "numpy only" is rnnplay with its compiled LSTM kernels off (RNNPLAY_JIT=0;
the RNN has none). The three take turns, --steps steps each, --rounds times, so the
shared machine's slow minutes fall on all of them alike.
Needs ../shared/corpora/tinyshakespeare.txt; PyTorch is optional
(`pip install torch==2.13.0`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from rnnplay.core.cells import LSTMCell, RNNCell
from rnnplay.core.data import StreamBatcher
from rnnplay.core.model import Model
from rnnplay.core.optim import Adam, clip_by_global_norm
from rnnplay.core.vocab import Vocab

CORPUS = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpora" / "tinyshakespeare.txt"
CONFIGS = [  # (label, cell, layers, hidden, batch, seq)
    ("LSTM 2x256, B64 T100", "lstm", 2, 256, 64, 100),
    ("RNN 1x128, B64 T100", "rnn", 1, 128, 64, 100),
]


def rnnplay_steps(ids: np.ndarray, vocab: Vocab, cell: str, layers: int, hidden: int, B: int, T: int,
                  compiled: bool) -> Iterator[None]:  # fmt: skip
    """One full rnnplay training step per next(), kernels on or off."""
    model = Model(LSTMCell() if cell == "lstm" else RNNCell(), vocab, hidden, layers)
    opt = Adam(model.params)
    batcher = StreamBatcher(ids, B, T)
    states = model.initial_state(B)
    while True:
        os.environ["RNNPLAY_JIT"] = "1" if compiled else "0"  # read each time the cell runs forward/backward
        batch = batcher.next()
        _, grads, states = model.loss_and_grads(batch.inputs, batch.targets, states)
        clip_by_global_norm(grads, 5.0)
        opt.step(model.params, grads, 2e-3)
        yield


def torch_steps(ids: np.ndarray, V: int, cell: str, layers: int, hidden: int, B: int, T: int) -> Iterator[None] | None:
    """One full PyTorch training step per next(), or None without torch."""
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(0)
    rnn_cls = torch.nn.LSTM if cell == "lstm" else torch.nn.RNN
    emb = torch.nn.Embedding(V, V)
    with torch.no_grad():
        emb.weight.copy_(torch.eye(V))  # one-hot input, as in rnnplay
    emb.weight.requires_grad_(False)
    rnn = rnn_cls(V, hidden, layers)
    head = torch.nn.Linear(hidden, V)
    params = list(rnn.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=2e-3)
    batcher = StreamBatcher(ids, B, T)

    def steps() -> Iterator[None]:
        state = None
        while True:
            batch = batcher.next()
            x = torch.from_numpy(batch.inputs.astype(np.int64))
            y = torch.from_numpy(batch.targets.astype(np.int64))
            out, state = rnn(emb(x), state)
            state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
            loss = torch.nn.functional.cross_entropy(head(out).reshape(-1, V), y.reshape(-1))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 5.0)
            opt.step()
            yield

    return steps()


def round_robin(runners: dict[str, Iterator[None]], steps: int, warmup: int, rounds: int) -> dict[str, float]:
    """Median seconds per step of each runner over ``rounds`` turns of ``steps`` steps each.

    The runners take turns a block of steps at a time (ABC ABC ABC), so a slow minute
    of the shared machine falls on all of them alike; a block, not a single step,
    because one library's idle threads spin for a moment after it stops and would
    slow the other down at every switch.
    """
    for runner in runners.values():
        for _ in range(warmup):
            next(runner)
    per_round: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(rounds):
        for name, runner in runners.items():
            per_round[name].append(seconds_per_step(runner, steps))
    return {name: statistics.median(times) for name, times in per_round.items()}


def seconds_per_step(runner: Iterator[None], steps: int) -> float:
    """Wall-clock seconds per step of ``runner`` over ``steps`` steps in a row."""
    start = time.perf_counter()
    for _ in range(steps):
        next(runner)
    return (time.perf_counter() - start) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3, help="turns of --steps steps per runner; the median is printed")
    args = ap.parse_args()
    if not CORPUS.exists():
        raise SystemExit(f"benchmark corpus missing: {CORPUS}")
    text = CORPUS.read_text()
    vocab = Vocab.from_text(text)
    ids = vocab.encode(text)
    print(
        f"machine: {os.cpu_count()} cores; numpy {np.__version__}; median of {args.rounds} turns of {args.steps} "
        f"timed steps each, after {args.warmup} warm-up steps"
    )
    print(f"{'model':<24}{'rnnplay chars/s':>17}{'numpy only':>12}{'torch chars/s':>15}{'ratio':>8}")
    for label, cell, layers, hidden, B, T in CONFIGS:
        runners = {
            "rnnplay": rnnplay_steps(ids, vocab, cell, layers, hidden, B, T, compiled=True),
            "numpy": rnnplay_steps(ids, vocab, cell, layers, hidden, B, T, compiled=False),
        }
        theirs = torch_steps(ids, vocab.size, cell, layers, hidden, B, T)
        if theirs is not None:
            runners["torch"] = theirs
        seconds = round_robin(runners, args.steps, args.warmup, args.rounds)
        rates = {name: B * T / s for name, s in seconds.items()}
        torch_s = f"{rates['torch']:,.0f}" if "torch" in rates else "no torch"
        ratio = f"{rates['rnnplay'] / rates['torch']:.2f}x" if "torch" in rates else "n/a"
        print(f"{label:<24}{rates['rnnplay']:>17,.0f}{rates['numpy']:>12,.0f}{torch_s:>15}{ratio:>8}", flush=True)


if __name__ == "__main__":
    main()
