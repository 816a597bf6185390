"""Encoding speed: 100 MB of text into ids, and the vocabulary scan that precedes it.

    python benchmarks/encode_speed.py [--mb 100]

The text is tiny shakespeare repeated to the size asked for (ASCII, the common
case), plus the same with one non-ASCII character in it (every chunk but one
stays ASCII, so this shows the mixed path). Target: encoding 100 MB < 2 s.
Each line shows every run: the first also pays the OS for the fresh ids (one byte
a character: the vocabulary fits uint8). The last line is the process's peak
resident memory, which the text and its ids dominate.
Needs ../shared/corpora/tinyshakespeare.txt.
"""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from rnnplay.core.vocab import Vocab

T = TypeVar("T")
CORPUS = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpora" / "tinyshakespeare.txt"


def timed(label: str, fn: Callable[..., T], *args: object, repeat: int = 1) -> T:
    """Run ``fn(*args)`` ``repeat`` times and print each time (the first also pays for fresh memory pages)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn(*args)
        times.append(time.perf_counter() - start)
    print(f"{label:<44} {'  '.join(f'{t:5.2f} s' for t in times)}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=100, help="size of the text in MB (default 100)")
    parser.add_argument("--repeat", type=int, default=3, help="times to run each measurement (default 3)")
    args = parser.parse_args()
    base = CORPUS.read_text(encoding="utf-8")
    n = int(args.mb * 1_000_000)
    text = (base * (n // len(base) + 1))[:n]
    print(f"{len(text):,} characters of tiny shakespeare, repeated")
    vocab = timed("Vocab.from_text (ASCII)", Vocab.from_text, text, repeat=args.repeat)
    ids = timed(f"Vocab.encode {args.mb:g} MB (ASCII)", vocab.encode, text, repeat=args.repeat)
    assert len(ids) == len(text) and vocab.decode(ids[:1000]) == text[:1000]
    mixed = text[: n // 2] + "é" + text[n // 2 + 1 :]
    vocab = timed("Vocab.from_text (one non-ASCII char)", Vocab.from_text, mixed, repeat=args.repeat)
    timed(f"Vocab.encode {args.mb:g} MB (one non-ASCII char)", vocab.encode, mixed, repeat=args.repeat)
    print(f"peak resident memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")


if __name__ == "__main__":
    main()
