"""`rnnplay sample --set width=2 end=x`: the second pair, read as the MODEL argument, says how to give it.

`--set` takes one KEY=VALUE (repeatable), while `/sampler beam width=2 end=x` and `sweep --grid` take several; a user
who typed two after one `--set` was told "no model 'end=x': not a file, nor a name in …", about a model they never
named. Real subprocesses, as a user runs them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from tiny_model import save_sharp_model

TEXT = "ROMEO:\nBut soft, what light through yonder window breaks?\n"


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_sharp_model(tmp_path_factory.mktemp("model") / "m.npz", TEXT)


def sample(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rnnplay", "sample", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def test_a_second_pair_after_one_set_is_named_as_one(model_path: Path, tmp_path: Path) -> None:
    done = sample("--seed", "RO", "--sampler", "beam", "--set", "width=2", "end=t", "--length", "5", cwd=tmp_path)
    assert done.returncode == 1 and done.stdout == "", done.stderr
    assert done.stderr == ("rnnplay: error: 'end=t' is no model: --set takes one KEY=VALUE, so give each its own "
                           "(--set width=2 --set end=t)\n")
    again = sample(str(model_path), "--seed", "RO", "--sampler", "beam", "--set", "width=2", "--set", "end=t",
                   "--length", "5", cwd=tmp_path)
    assert again.returncode == 0 and again.stdout.startswith("RO"), again.stderr


def test_a_pair_without_set_says_where_it_goes(tmp_path: Path) -> None:
    done = sample("temperature=0.5", "--seed", "RO", "--length", "5", cwd=tmp_path)
    assert done.returncode == 1 and done.stdout == "", done.stderr
    assert done.stderr == ("rnnplay: error: 'temperature=0.5' is no model: a sampler parameter goes after --set "
                           "(--set temperature=0.5)\n")


def test_a_model_whose_name_has_an_equals_sign_still_opens(model_path: Path, tmp_path: Path) -> None:
    trial = tmp_path / "trial-01-lr=0.004.npz"  # as `rnnplay sweep` names its trials
    trial.write_bytes(model_path.read_bytes())
    done = sample(trial.name, "--seed", "RO", "--length", "5", "--set", "temperature=0.5", cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.startswith("RO"), done.stderr


def test_a_damaged_model_whose_name_has_an_equals_sign_keeps_the_loaders_line(model_path: Path, tmp_path: Path) -> None:
    """A file that is there is the model the user named: its fault is said, not a hint about --set."""
    trial = tmp_path / "trial-02-lr=0.01.npz"
    trial.write_bytes(model_path.read_bytes()[:200])  # cut short
    done = sample(trial.name, "--seed", "RO", "--length", "5", cwd=tmp_path)
    assert done.returncode == 1 and done.stdout == "", done.stderr
    assert "is no model" not in done.stderr and "trial-02-lr=0.01.npz" in done.stderr, done.stderr
