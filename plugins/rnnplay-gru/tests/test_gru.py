"""The GRU cell: gradient checks, step() against forward(), training, registration, PyTorch parity."""

from __future__ import annotations

from importlib import metadata

import numpy as np
import pytest
from rnnplay.core.cells import Cell
from rnnplay.core.model import Model
from rnnplay.core.trainer import StepEvent, TrainConfig, Trainer
from rnnplay.core.vocab import Vocab
from rnnplay.plugins.host import PluginHost
from rnnplay.plugins.testing import check_cell

from rnnplay_gru import GRUCell

TEXT = "".join("the quick brown fox jumps over the lazy dog. "[i:] for i in range(20)) * 6


def test_meets_the_cell_contract() -> None:
    assert isinstance(GRUCell(), Cell)


@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("carried_state", [True, False])
def test_gradients_match_finite_differences(num_layers: int, carried_state: bool) -> None:
    report = check_cell(GRUCell(), num_layers=num_layers, carried_state=carried_state)
    assert report.max_rel_error < 1e-6


def test_gradient_of_vector_inputs() -> None:
    assert check_cell(GRUCell(), num_layers=2, vector_input=True).max_rel_error < 1e-6


def test_is_registered_through_the_entry_point() -> None:
    host = PluginHost()
    assert host.cells["gru"].plugin == "rnnplay-gru"
    assert host.cell_plugin("gru") == "rnnplay-gru"
    assert not [f for f in host.failures if f.plugin == "rnnplay-gru"]
    assert metadata.version("rnnplay-gru") == "0.1.0"


def test_two_layers_learn() -> None:
    vocab = Vocab.from_text(TEXT)
    model = Model(GRUCell(), vocab, hidden_size=32, num_layers=2, seed=1)
    config = TrainConfig(batch_size=4, seq_length=16, steps=60, lr=1e-2, val_every=0, seed=1)
    losses = [e.loss for e in Trainer(model, vocab.encode(TEXT), None, config).run() if isinstance(e, StepEvent)]
    assert np.mean(losses[-10:]) < np.mean(losses[:10]) - 0.5


def test_model_steps_like_it_runs_sequences() -> None:
    model = Model(GRUCell(), Vocab.from_text(TEXT), hidden_size=8, num_layers=2, dtype=np.float64)
    ids = Vocab.from_text(TEXT).encode(TEXT[:12]).reshape(12, 1)
    logits, _, _ = model.forward(ids, model.initial_state(1))
    states = model.initial_state(1)
    for t in range(12):
        step_logits, states = model.step(ids[t], states)
        np.testing.assert_allclose(step_logits, logits[t], rtol=1e-10, atol=1e-12)


def test_matches_pytorch() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    I, H, T, B = 5, 4, 6, 3
    cell = GRUCell()
    params = cell.init_params(I, H, rng, np.float64)
    gru = torch.nn.GRU(I, H, dtype=torch.float64)
    with torch.no_grad():  # PyTorch stores weight_ih as (3H, I) with rows r, z, n: our W_xh transposed
        gru.weight_ih_l0.copy_(torch.from_numpy(params["W_xh"].T))
        gru.weight_hh_l0.copy_(torch.from_numpy(params["W_hh"].T))
        gru.bias_ih_l0.copy_(torch.from_numpy(params["b_xh"]))
        gru.bias_hh_l0.copy_(torch.from_numpy(params["b_hh"]))
    x, h0 = rng.normal(size=(T, B, I)), rng.normal(size=(B, H))
    hs, (h_final,), _ = cell.forward(params, x, (h0,))
    expected, expected_final = gru(torch.from_numpy(x), torch.from_numpy(h0[None]))
    np.testing.assert_allclose(hs, expected.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(h_final, expected_final[0].detach().numpy(), rtol=1e-12, atol=1e-12)
