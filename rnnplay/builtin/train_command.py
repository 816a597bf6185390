"""/train and /stop: the session's one training job, started from a corpus and stopped between two steps.

/train takes the settings `rnnplay train` takes, as key=value (they are declared once, in
``core.train_config``), plus where the checkpoints go, Ray workers and the text's encoding.
"""

from __future__ import annotations

from rnnplay.builtin.commands import MODEL_PARAMS, model_options, model_spec, no_args
from rnnplay.core.errors import RnnplayError
from rnnplay.core.params import keys_of, params_of
from rnnplay.core.params import parse_pairs as parse_settings
from rnnplay.core.train_config import CHECKPOINT_EVERY, ModelSpec, TrainConfig
from rnnplay.plugins.hookspecs import Register, hookimpl
from rnnplay.plugins.session_api import SessionAPI
from rnnplay.plugins.slash import (
    SimpleCommand,
    complete_pairs,
    complete_path,
    last_word,
    parse_number,
    parse_pairs,
    split_args,
    words_before,
)

TRAIN_PARAMS = params_of(TrainConfig)
# keys that are no setting of model or run
RUN_KEYS = ("out", "best", "checkpoint_every", "from", "workers", "ray_address", "encoding")

TRAIN_DETAILS = f"""\
The loaded model trains further (its weights, a fresh optimizer); characters of the corpus it has never
seen are added to its vocabulary (fine-tuning, as `rnnplay train --init-from`), and the checkpoint records
its ancestry. from=new, or any of cell=, layers=, hidden=, dropout=, starts a new model of that shape
(what is not given: as /new set it, else a {ModelSpec().layers}×{ModelSpec().hidden} {ModelSpec().cell}).
The checkpoint goes to out=PATH, or to a new name in the model library (/models); an existing file is
never replaced. best=PATH also keeps the checkpoint with the lowest validation loss.
checkpoint_every=N saves the checkpoint every N steps as it trains (default {CHECKPOINT_EVERY.default}; 0: only when
it ends), so a crash loses no more than the steps since.
workers=N computes each step on N Ray workers (batch= must divide by N), on a local Ray, or on the
cluster at ray_address=ADDR (or $RAY_ADDRESS); it needs the optional extra: pip install 'rnnplay[ray]'.
Budget: steps=, time= (seconds, or 90s, 10m, 1.5h), epochs= (default: one pass, at least 100 steps).
encoding=NAME reads a text that is not UTF-8 (e.g. encoding=latin-1).
A short text trains on smaller batches (batch=, seq=) than the defaults below, which `rnnplay train` shares.
""" + "\n".join(p.describe() + (f" (also {', '.join(p.aliases)}=)" if p.aliases else "")
                for p in [*TRAIN_PARAMS.values(), *MODEL_PARAMS.values()])


def train(session: SessionAPI, argline: str) -> None:
    words = split_args(argline)
    if not words or "=" in words[0]:
        raise RnnplayError("usage: /train CORPUS [steps=N] [time=10m] [from=new hidden=H] [best=PATH] ..., "
                           "e.g. /train notes.txt steps=500")
    corpus, *rest = words
    train_keys = keys_of(TRAIN_PARAMS)
    pairs = parse_pairs(rest, [*train_keys, *MODEL_PARAMS, *RUN_KEYS], "/train option")
    settings = parse_settings(TRAIN_PARAMS, {k: v for k, v in pairs.items() if k in train_keys}, "/train option")
    spec = model_spec(session, pairs, session.spec) if _trains_new(session, pairs) else None
    workers = parse_number("workers", pairs["workers"], int, 1) if "workers" in pairs else 1
    every = CHECKPOINT_EVERY.parse(pairs.get("checkpoint_every", str(CHECKPOINT_EVERY.default)))
    session.runner.start(corpus, TrainConfig(**settings), spec, pairs.get("out"), pairs.get("best"), workers=workers,
                         ray_address=pairs.get("ray_address") or None, encoding=pairs.get("encoding", "utf-8"),
                         checkpoint_every=every)


def _trains_new(session: SessionAPI, pairs: dict[str, str]) -> bool:
    """Whether /train starts a new model (from=new, a shape, or no model loaded) rather than continue the loaded one."""
    if pairs.get("from", "new") != "new":
        raise RnnplayError(f"from= takes only 'new' (got {pairs['from']!r}); leave it off to continue the loaded model")
    return "from" in pairs or session.model is None or any(k in pairs for k in MODEL_PARAMS)


def complete_train(session: SessionAPI, argline: str) -> list[str]:
    word = last_word(argline)
    if not words_before(argline):  # the corpus, its name perhaps in quotes
        return complete_corpus(word)
    shortest = [min((name, *p.aliases), key=len) for name, p in TRAIN_PARAMS.items()]
    options = {**{k: [] for k in shortest}, **model_options(session), **{k: [] for k in RUN_KEYS},
               "from": ["new"], "workers": ["2", "4"], "checkpoint_every": ["0", "100"],
               "encoding": ["utf-8", "latin-1", "utf-16"]}
    return complete_pairs(word, options)


def complete_corpus(word: str) -> list[str]:
    """/train's corpus: files and folders, and the corpus cards by name (``card:NAME`` once ``card:`` is typed)."""
    from rnnplay.corpora.cards import builtin_cards  # the cards' module (TOML, downloads) only when completing

    cards = list(builtin_cards())
    return [*complete_path(word, (".txt", ".md", ".py", ".toml")), *cards,
            *(f"card:{name}" for name in cards if word.startswith("card:"))]


def stop(session: SessionAPI, argline: str) -> None:
    no_args("stop", argline)
    session.runner.stop()


COMMANDS = [
    SimpleCommand("train", "train the loaded model further on a text (from=new: a new model), in the background",
                  "/train CORPUS [from=new] [key=value ...]", train, (), complete_train, TRAIN_DETAILS),
    SimpleCommand("stop", "stop training and keep the checkpoint", "/stop", stop),
]


@hookimpl
def register_commands(register: Register) -> None:
    for command in COMMANDS:
        register(command)
