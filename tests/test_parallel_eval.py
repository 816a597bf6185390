"""A training run's validation reads on its step's worker threads (rnnplay/core/parallel_eval.py), where it read on
BLAS's threads, which a starved machine starved most: the same loss as Model.evaluate's, to the last bit or so, and
the same bits on any number of workers.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from rnnplay.core import parallel_step
from rnnplay.core.train_config import ModelSpec, TrainConfig
from rnnplay.corpora import Corpus
from rnnplay.session.training_runs import new_run


def test_a_training_validation_reads_on_the_step_s_workers(small_text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    run = new_run(Corpus("small", small_text * 4, "test"), ModelSpec("lstm", 2, 16),
                  TrainConfig(batch_size=8, seq_length=16, steps=2, val_every=0, seed=3))
    list(run.trainer.run())
    model, ids = run.model, run.trainer.val_ids
    readers: set[str] = set()  # the threads that read more than one stream (the text's tail, one, is read here)
    forward = model.forward

    def watched(ids, *args, **kwargs):
        if ids.shape[1] > 1:
            readers.add(threading.current_thread().name)
        return forward(ids, *args, **kwargs)

    monkeypatch.setattr(model, "forward", watched)
    by_workers = {}
    for workers in (1, 3):
        monkeypatch.setattr(parallel_step, "WORKERS", workers)
        by_workers[workers] = run.trainer.validate()
    assert readers and all(name.startswith("rnnplay-step") for name in readers), readers  # not the calling thread
    assert by_workers[1] == by_workers[3]  # bit for bit, whatever the workers
    monkeypatch.setattr(model, "forward", forward)
    assert by_workers[1] == pytest.approx(model.evaluate(ids), rel=1e-12)  # the chunks' sum, to float rounding
    assert np.isfinite(by_workers[1]) and run.trainer.val_chars == len(ids) - 1
