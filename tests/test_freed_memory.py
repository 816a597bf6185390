"""A training keeps the memory its steps free for the next step, and gives it back at the end (core/freed_memory.py).

Each run is a fresh process (malloc's settings are the process's), a real Trainer on
real text, and counts what the kernel reports: page faults and resident memory. No
timings here: what the kept memory buys is in docs/training.md ("Memory kept between steps").
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from rnnplay.core import freed_memory

pytestmark = [pytest.mark.skipif(freed_memory._glibc() is None, reason="malloc's settings are glibc's"),
              pytest.mark.long_file]  # run first (tests/conftest.py): one or two long tests

PROBE = textwrap.dedent("""
    import json, resource, sys
    from rnnplay.core import freed_memory
    from rnnplay.core.cells import LSTMCell
    from rnnplay.core.data import split_ids
    from rnnplay.core.model import Model
    from rnnplay.core.train_config import TrainConfig
    from rnnplay.core.trainer import FinishedEvent, StepEvent, Trainer
    from rnnplay.core.vocab import Vocab

    if sys.argv[1] == "unkept":
        freed_memory.keep = lambda: None  # malloc as it sets itself
    text = "".join(f"line {i}: the quick brown fox jumps over the lazy dog.\\n" for i in range(2000))
    vocab = Vocab.from_text(text)
    train_ids, val_ids = split_ids(vocab.encode(text))
    model = Model(LSTMCell(), vocab, 256, 2, seed=1)  # a chunk's gate array: 100 x 8 x 1024 floats, 3.2 MB
    trainer = Trainer(model, train_ids, val_ids, TrainConfig(batch_size=64, seq_length=100, steps=5, val_every=0))

    def resident() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize()

    faults = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    seen = {}
    for event in trainer.run():
        if isinstance(event, StepEvent) and event.step in (3, 5):  # the faults of steps 4 and 5
            seen[event.step] = faults()
            seen["resident at the last step"] = resident()
    print(json.dumps({"faults per step": (seen[5] - seen[3]) / 2, "resident at the last step":
                      seen["resident at the last step"], "resident after the run": resident()}))
""")


def probe(mode: str) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_steps_reuse_the_memory_the_step_before_freed_and_the_end_of_the_run_gives_it_back() -> None:
    kept, unkept = probe("kept"), probe("unkept")
    # malloc by itself hands each step's big arrays back and maps them again: a page fault per 4 KiB, tens of
    # thousands a step at this size; kept, the steps find their memory mapped
    assert kept["faults per step"] * 10 < unkept["faults per step"], (kept, unkept)
    # what the steps kept is returned when the run ends: no more resident than malloc alone would hold
    assert kept["resident after the run"] < kept["resident at the last step"], kept
    assert kept["resident after the run"] <= unkept["resident after the run"] * 1.1, (kept, unkept)
