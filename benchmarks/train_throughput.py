"""Training throughput: rnnplay (NumPy) beside PyTorch CPU, same model, same batch, one run.

    python benchmarks/train_throughput.py [--steps 10] [--warmup 3]

Each row runs full training steps (forward, backward through time, clip by
global norm 5, Adam) on batches of tiny shakespeare and prints characters per
second. "numpy only" turns the LSTM's compiled gate kernels off (RNNPLAY_JIT=0).
Needs ../shared/corpora/tinyshakespeare.txt; PyTorch is optional
(`pip install torch==2.13.0`).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from rnnplay.core.cells import LSTMCell, RNNCell
from rnnplay.core.data import StreamBatcher
from rnnplay.core.model import Model
from rnnplay.core.optim import Adam, clip_by_global_norm
from rnnplay.core.vocab import Vocab

CORPUS = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpora" / "tinyshakespeare.txt"
CONFIGS = [  # (label, cell, layers, hidden, batch, seq, compiled gate kernels)
    ("LSTM 2x256, B64 T100", "lstm", 2, 256, 64, 100, True),
    ("  the same, numpy only", "lstm", 2, 256, 64, 100, False),
    ("RNN 1x128, B64 T100", "rnn", 1, 128, 64, 100, True),
]


def rnnplay_rate(
    ids: np.ndarray, vocab: Vocab, cell: str, layers: int, hidden: int, B: int, T: int, steps: int, warmup: int
) -> float:
    model = Model(LSTMCell() if cell == "lstm" else RNNCell(), vocab, hidden, layers)
    opt = Adam(model.params)
    batcher = StreamBatcher(ids, B, T)
    states = model.initial_state(B)
    for i in range(warmup + steps):
        if i == warmup:
            start = time.perf_counter()
        batch = batcher.next()
        _, grads, states = model.loss_and_grads(batch.inputs, batch.targets, states)
        clip_by_global_norm(grads, 5.0)
        opt.step(model.params, grads, 2e-3)
    return steps * B * T / (time.perf_counter() - start)


def torch_rate(
    ids: np.ndarray, V: int, cell: str, layers: int, hidden: int, B: int, T: int, steps: int, warmup: int
) -> float | None:
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
    state = None
    for i in range(warmup + steps):
        if i == warmup:
            start = time.perf_counter()
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
    return steps * B * T / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    args = ap.parse_args()
    if not CORPUS.exists():
        raise SystemExit(f"benchmark corpus missing: {CORPUS}")
    text = CORPUS.read_text()
    vocab = Vocab.from_text(text)
    ids = vocab.encode(text)
    print(
        f"machine: {os.cpu_count()} cores; numpy {np.__version__}; {args.steps} timed steps after {args.warmup} warm-up"
    )
    print(f"{'model':<24}{'rnnplay chars/s':>17}{'torch chars/s':>15}{'ratio':>8}")
    for label, cell, layers, hidden, B, T, compiled in CONFIGS:
        os.environ["RNNPLAY_JIT"] = "1" if compiled else "0"  # read each time the cell runs forward
        ours = rnnplay_rate(ids, vocab, cell, layers, hidden, B, T, args.steps, args.warmup)
        theirs = torch_rate(ids, vocab.size, cell, layers, hidden, B, T, args.steps, args.warmup)
        ratio = f"{ours / theirs:.2f}x" if theirs else "n/a"
        theirs_s = f"{theirs:,.0f}" if theirs else "no torch"
        print(f"{label:<24}{ours:>17,.0f}{theirs_s:>15}{ratio:>8}", flush=True)


if __name__ == "__main__":
    main()
