"""The Session, driven the way every front end drives it: submit(line), then read the events."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from file_limits import small_disk
from folder_swap import put_back, replaced_by_a_file
from tiny_model import write_corpus
from waiting import wait_for

from rnnplay.core import generate as generate_module
from rnnplay.core.errors import RnnplayError
from rnnplay.core.generate import generate
from rnnplay.core.time_budget import TimeBudget
from rnnplay.core.train_config import ModelSpec, TrainConfig
from rnnplay.core.train_events import NoteEvent, SampleEvent, StepEvent, ValidationEvent
from rnnplay.corpora import file_corpus, load_corpus
from rnnplay.models.bundled import BUNDLED_MODEL, load_model
from rnnplay.plugins.host import Registered
from rnnplay.plugins.slash import SimpleCommand
from rnnplay.session import stall_watch, training_job
from rnnplay.session.events import (
    Changed,
    Chunk,
    CompareShown,
    Event,
    Message,
    QuitRequested,
    ScoreShown,
    TrainingEnded,
    TurnEnded,
    TurnStarted,
    Working,
)
from rnnplay.session.output_paths import OutputLock
from rnnplay.session.session import Session, no_model
from rnnplay.session.training_job import fit_batches
from rnnplay.session.training_runs import TrainingRun
from rnnplay.ui.cli import build_parser

TIMEOUT = 60  # seconds to wait for a background event before failing (a bound, not a speed claim)


class Recorder:
    """Collects a session's events from any thread; wait() blocks until one matches."""

    def __init__(self, session: Session) -> None:
        self.events: list[Event] = []
        self.cond = threading.Condition()
        session.subscribe(self.add)

    def add(self, event: Event) -> None:
        with self.cond:
            self.events.append(event)
            self.cond.notify_all()

    def of(self, kind: type) -> list:
        with self.cond:
            return [e for e in self.events if isinstance(e, kind)]

    def wait(self, match: Callable[[Event], bool], timeout: float = TIMEOUT) -> Event:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                found = next((e for e in self.events if match(e)), None)
                if found is not None:
                    return found
                left = deadline - time.monotonic()
                assert left > 0, f"no matching event; got {self.events[-5:]}"
                self.cond.wait(left)

    def messages(self, level: str) -> list[str]:
        return [e.text for e in self.of(Message) if e.level == level]

    def text(self) -> str:
        return "".join(e.text for e in self.of(Chunk))


def streaming(session: Session, rec: Recorder, seed: str = "To be") -> threading.Thread:
    """``seed`` continued for 100,000 characters on a thread of its own, returned once the first chunk has come."""
    before = len(rec.of(Chunk))
    session.submit("/set length 100000")
    worker = threading.Thread(target=session.submit, args=(seed,))
    worker.start()
    rec.wait(lambda e: len(rec.of(Chunk)) > before)
    return worker


@pytest.fixture(autouse=True)
def data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """rnnplay's data folder (the model library) in a fresh temporary folder."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path / "data" / "rnnplay"


@pytest.fixture
def session(tiny_path: Path) -> Session:
    s = Session()
    s.load(str(tiny_path))
    yield s
    s.close()


@pytest.fixture
def rec(session: Session) -> Recorder:
    return Recorder(session)


def test_without_a_model_it_says_how_to_get_one() -> None:
    s = Session()  # a bare Session opens nothing, not even the bundled model
    rec = Recorder(s)
    s.greet()
    s.submit("To be")
    assert rec.messages("info") == [no_model()]
    assert rec.messages("error") == [no_model()]
    assert "/load" in no_model() and "/train" in no_model() and "\n" not in no_model()
    assert dict(s.card())["model"] == "none"


def test_a_seed_streams_its_continuation(session: Session, rec: Recorder) -> None:
    session.submit("/set length 40")
    session.submit("To be")
    started = rec.of(TurnStarted)[0]
    assert started.seed == "To be" and started.sampler.startswith("temperature")
    assert len(rec.of(Chunk)) == 40 and len(rec.text()) == 40
    assert rec.of(TurnEnded) == [TurnEnded("done", 40)]
    assert set(rec.text()) <= set(session.model.vocab.chars)


def test_a_fixed_seed_repeats_the_continuation(session: Session, rec: Recorder) -> None:
    session.submit("/set seed 7")
    first = session.generation.generate("To be")
    assert session.generation.generate("To be") == first
    session.submit("/set seed random")
    assert session.seed is None


def test_unknown_seed_characters_are_skipped_and_named(session: Session, rec: Recorder) -> None:
    session.submit("To be ζ")
    assert any("'ζ'" in w for w in rec.messages("warning"))
    assert rec.of(TurnEnded)[0].reason == "done"


def test_set_takes_key_equals_value_as_sampler_does(session: Session, rec: Recorder) -> None:
    session.submit("/set length=40")
    session.submit("/set stop==")  # the value may itself hold '='
    session.submit("/set length=")
    assert session.length == 40 and session.stop == "="
    assert rec.messages("error") == ["length must be an integer (got '')"]


def test_set_takes_several_key_equals_value_pairs_and_ollamas_names(session: Session, rec: Recorder) -> None:
    """`/set length=40 temperature=0.9` was refused as "unknown setting 'length=40' (did you mean 'length'?)", and
    Ollama's `/set parameter top_k 5` as "unknown setting 'top_k' (did you mean 'stop'?)"."""
    session.submit("/set length=40 temperature=0.9")
    assert session.length == 40 and session.params["temperature"] == 0.9 and not rec.messages("error")
    session.submit("/set parameter top_k 5")
    assert rec.messages("error") == ["sampler temperature has no parameter 'k'; top-k has it: /sampler top-k k=5"]
    session.submit("/sampler top-k")
    session.submit("/set parameter top_k 5")
    assert session.params["k"] == 5 and len(rec.messages("error")) == 1


def test_a_wrong_value_names_the_bound(session: Session, rec: Recorder) -> None:
    session.submit("/set temperature 0")
    assert rec.messages("error") == ["temperature must be in (0, 100] (got 0); "
                                     "for the most likely character every time, type /sampler greedy; "
                                     "at 100 every character is already about equally likely"]
    session.submit("/temp -1")
    assert rec.messages("error")[-1] == ("temperature must be in (0, 100] (got -1); "
                                         "for the most likely character every time, type /sampler greedy; "
                                         "at 100 every character is already about equally likely")
    session.submit("/temp 0")  # wants greedy decoding: told what to type for it here
    assert rec.messages("error")[-1].endswith("(got 0); for the most likely character every time, type /sampler "
                                              "greedy; at 100 every character is already about equally likely")
    session.submit("/set length 0")
    assert "length must be >= 1" in rec.messages("error")[-1]
    assert session.params["temperature"] == 0.7


def test_sampler_switch_changes_the_next_continuation(session: Session, rec: Recorder) -> None:
    session.submit("/sampler beam width=3")
    assert session.sampler_name == "beam" and session.params["width"] == 3
    assert Changed("sampler") in rec.events
    assert ("width", "3") in session.sampler_card()
    session.submit("/set length 20")
    session.submit("To")
    assert rec.of(TurnStarted)[-1].sampler.startswith("beam width=3")
    assert rec.of(TurnEnded)[-1] == TurnEnded("done", 20)


def test_unknown_names_get_the_closest_valid_ones(session: Session, rec: Recorder) -> None:
    session.submit("/smapler greedy")
    session.submit("/sampler beam widht=3")
    session.submit("/sampler gredy")
    session.submit("/set temprature 0.5")
    errors = rec.messages("error")
    assert errors[0].startswith("unknown command /smapler (did you mean '/sampler'")
    assert "did you mean 'width'" in errors[1]
    assert "did you mean 'greedy'" in errors[2]
    assert "did you mean 'temperature'" in errors[3]
    assert all("\n" not in e for e in errors)


def test_a_parameter_of_another_sampler_says_which(session: Session, rec: Recorder) -> None:
    session.submit("/sampler greedy")
    session.submit("/set temperature 0.5")
    assert "/sampler" in rec.messages("error")[-1] and "temperature" in rec.messages("error")[-1]


def test_ollama_style_aliases(session: Session, rec: Recorder) -> None:
    session.submit("/set parameter temperature 0.5")
    assert session.params["temperature"] == 0.5
    session.submit("/set num_predict 12")
    assert session.length == 12
    session.submit("/?")
    assert "/sampler NAME" in rec.messages("info")[-1]
    session.submit("/bye")
    assert QuitRequested() in rec.events


def test_show_lists_the_model_card_and_sampler(session: Session, rec: Recorder) -> None:
    session.submit("/show")
    card = rec.messages("info")[-1]
    for word in ("lstm", "layers", "hidden", "32", "params", "vocab", "tiny.txt", "val",
                 "temperature", "0.7", "length"):
        assert word in card
    assert card.splitlines()[-1].startswith("val: the validation loss")  # what the card's short row means
    assert "`rnnplay score MODEL --file TEXT --val-split` reads it as one stream" in card
    command = re.search(r"`rnnplay (score [^`]*)`", card).group(1).replace("MODEL", "m.npz").replace("TEXT", "t.txt")
    args = build_parser().parse_args(command.split())  # the line a user copies runs ('score FILE' did not parse)
    assert (args.model, args.file, args.val_split) == ("m.npz", "t.txt", True)


def test_cancel_stops_a_long_generation(session: Session, rec: Recorder) -> None:
    worker = streaming(session, rec)
    assert session.cancel()
    worker.join(TIMEOUT)
    ended = rec.wait(lambda e: isinstance(e, TurnEnded))
    assert ended.reason == "stopped" and ended.chars < 100000
    assert not session.generation.running


def test_a_new_seed_stops_the_running_one(session: Session, rec: Recorder) -> None:
    worker = streaming(session, rec)
    session.submit("/set length 5")
    session.submit("or not")
    worker.join(TIMEOUT)
    assert [e.reason for e in rec.of(TurnEnded)] == ["stopped", "done"]


def test_train_runs_in_the_background_while_generation_works(session: Session, rec: Recorder,
                                                             tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path)
    out = tmp_path / "trained.npz"
    session.submit(f"/train {corpus} steps=40 hidden=24 layers=1 batch=8 seq=16 sample_every=10 val_every=10 "
                   f"out={out}")
    assert not rec.messages("error")
    rec.wait(lambda e: isinstance(e, StepEvent))
    assert session.model.hidden_size == 24
    session.submit("/set length 10")
    session.submit("To")  # generates from a copy of the weights while they train
    ended = rec.wait(lambda e: isinstance(e, TrainingEnded))
    assert ended.reason == "budget" and ended.step == 40 and ended.path == str(out) and out.exists()
    assert TurnEnded("done", 10) in rec.events
    assert rec.of(StepEvent) and rec.of(ValidationEvent)  # the loss plot's points
    first = corpus.read_text()[0]  # a sample shows the character it continues, as the corpus it comes from does
    assert rec.of(SampleEvent) and all(e.text.startswith(first) and len(e.text) > 1 for e in rec.of(SampleEvent))
    assert all(0 <= p.fraction <= 1 for p in rec.of(StepEvent))  # the progress the faces draw
    assert dict(session.card())["steps"] == "40"
    session.submit(f"/load {out}")
    assert session.model.hidden_size == 24


def test_train_on_a_folder_says_how_many_binary_files_it_skipped(session: Session, rec: Recorder,
                                                                tmp_path: Path) -> None:
    folder = tmp_path / "d1"
    folder.mkdir()
    write_corpus(folder)
    (folder / "b.bin").write_bytes(b"\x00\x01binary" * 100)
    session.submit(f"/train dir:{folder} steps=1 hidden=8 layers=1 batch=2 seq=8 out={tmp_path / 'd.npz'}")
    rec.wait(lambda e: isinstance(e, TrainingEnded))
    assert any(re.search(r" on d1 \([\d,]+ chars; 1 binary file skipped\); checkpoint: ", m)
               for m in rec.messages("info")), rec.messages("info")


def test_a_continued_model_says_its_steps_in_all(session: Session, rec: Recorder, tmp_path: Path,
                                                 tiny_path: Path) -> None:
    """The card of a /train that continues the loaded model said "trained 3 steps", the earlier ones forgotten."""
    earlier = load_model(tiny_path).meta["training"]["step"]
    session.submit(f"/train {write_corpus(tmp_path)} steps=3 batch=2 seq=8 out={tmp_path / 'more.npz'}")
    rec.wait(lambda e: isinstance(e, TrainingEnded))
    assert dict(session.card())["steps"] == f"{earlier + 3:,} (3 more)"
    session.submit(f"/load {tmp_path / 'more.npz'}")
    assert dict(session.card())["steps"] == f"{earlier + 3:,} (3 more)"


def test_a_budget_of_thousands_of_steps_is_said_with_separators(tmp_path: Path) -> None:
    corpus = tmp_path / "big.txt"
    corpus.write_text("To be, or not to be, that is the question.\n" * 500)  # 22,000 chars
    session = Session()
    rec = Recorder(session)
    session.submit(f"/train {corpus} hidden=8 layers=1 batch=2 seq=8")
    job = session.training
    session.submit("/stop")
    job.thread.join(TIMEOUT)
    session.close()
    steps = job.run.trainer.config.steps
    assert steps >= 1000 and f"no budget given: {steps:,} steps (one pass" in " ".join(rec.messages("info"))


def test_train_says_when_the_cache_could_not_take_the_corpus_ids(session: Session, rec: Recorder, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "afile").write_text("")
    monkeypatch.setenv("RNNPLAY_CACHE_DIR", str(tmp_path / "afile"))
    monkeypatch.setattr(file_corpus, "ID_FILE_BYTES", 0)  # every file through the cache
    session.submit(f"/train {write_corpus(tmp_path)} steps=5 hidden=8 layers=1 batch=4 seq=8 out={tmp_path / 'm.npz'}")
    rec.wait(lambda e: isinstance(e, TrainingEnded))
    assert any(m.startswith("cannot write the corpus's ids") and "into memory" in m for m in rec.messages("warning"))


@pytest.mark.parametrize("line", ["/save {path}", "/save {path} force", "/train {corpus} steps=2 out={path}"])
def test_a_fifo_or_device_as_a_checkpoint_is_refused_not_written_beside(session: Session, rec: Recorder,
                                                                       tmp_path: Path, line: str) -> None:
    """/save /dev/null wrote /dev/null.npz (the suffix added to a name that was taken by a device)."""
    os.mkfifo(tmp_path / "pipe")
    session.submit(line.format(path=tmp_path / "pipe", corpus=write_corpus(tmp_path)))
    assert any("pipe is not a regular file" in m for m in rec.messages("error")), rec.messages("error")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe", "small.txt"]


@pytest.mark.parametrize("line", ["/save ''", "/save '' force"])
def test_an_empty_save_path_gets_the_usage(session: Session, rec: Recorder, line: str) -> None:
    """/save '' said "the checkpoint path . is a folder", of a path the user never typed."""
    session.submit(line)
    assert rec.messages("error") == ["usage: /save PATH [force], e.g. /save my-model.npz (force replaces an existing "
                                     "file)"]


def test_save_force_never_turns_a_resumable_checkpoint_into_weights_only(session: Session, rec: Recorder,
                                                                        tiny_path: Path, tmp_path: Path) -> None:
    """/save own.npz force over the checkpoint it was loaded from dropped its training state: --resume failed."""
    own = tmp_path / "own.npz"
    own.write_bytes(tiny_path.read_bytes())
    session.submit(f"/load {own}")
    session.submit(f"/save {own} force")
    [error] = rec.messages("error")
    assert "holds a training run that `rnnplay train --resume` continues (step 30)" in error and "own-2.npz" in error
    assert own.read_bytes() == tiny_path.read_bytes()


def test_closing_says_when_a_trainings_model_could_not_be_saved_until_save_keeps_it(
        session: Session, rec: Recorder, tmp_path: Path, data_home: Path) -> None:
    """The app and the REPL left at Ctrl+D with a training whose checkpoint and rescue copy both failed, exit 0, and
    their own advice, '/save PATH keeps it', could no longer be followed."""
    (tmp_path / "o").mkdir()
    session.submit(f"/train {write_corpus(tmp_path)} time=600 hidden=8 layers=1 batch=4 seq=8 out={tmp_path}/o/m.npz")
    rec.wait(lambda e: isinstance(e, StepEvent))
    replaced_by_a_file(tmp_path / "o", tmp_path / "gone")  # --out cannot be written
    data_home.parent.mkdir(parents=True, exist_ok=True)
    data_home.write_text("a file where rnnplay's data folder was")  # nor can the rescue copy
    assert session.close() is False  # the training stopped, and its model is only in the session
    assert any("the rescue copy failed too" in m and "/save PATH keeps it" in m for m in rec.messages("error"))
    data_home.unlink()
    session.submit(f"/save {tmp_path / 'kept.npz'}")
    assert session.close() is True and load_model(tmp_path / "kept.npz").model.hidden_size == 8


def test_train_saves_its_checkpoint_as_it_goes(session: Session, rec: Recorder, tmp_path: Path) -> None:
    """/train saved only when it ended: a crash, or a disk that filled up meanwhile, lost the whole run."""
    out = tmp_path / "o" / "m.npz"
    options = "time=600 hidden=8 layers=1 batch=4 seq=8 checkpoint_every=5"
    session.submit(f"/train {write_corpus(tmp_path)} {options} out={out}")
    wait_for(lambda: out.exists(), "the first periodic checkpoint")
    assert load_model(out).training["step"] % 5 == 0
    replaced_by_a_file(tmp_path / "o", tmp_path / "gone")
    rec.wait(lambda e: isinstance(e, Message) and "instead, and so will the next checkpoints" in e.text)  # rescued
    put_back(tmp_path / "o", tmp_path / "gone")
    rec.wait(lambda e: isinstance(e, Message) and e.text.startswith(f"{out} can be written again: saved step "))
    session.submit("/stop")
    rec.wait(lambda e: isinstance(e, TrainingEnded))
    assert sum("so will the next" in m for m in rec.messages("warning")) == 1  # said once, not at every checkpoint


def test_train_checkpoint_every_zero_saves_only_at_the_end(session: Session, rec: Recorder, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The steps at which the run saved, recorded as it saves: a look for the file after step 1,000 raced the 200
    steps left to the end on a busy machine (the run had ended and saved before the test looked)."""
    out = tmp_path / "m.npz"
    session.submit(f"/train {write_corpus(tmp_path)} checkpoint_every=-1 steps=5 out={out}")
    assert rec.messages("error")[-1] == "checkpoint every must be a whole number >= 0 (got -1)"
    saved_at, save = [], TrainingRun.save

    def recorded(run: TrainingRun, *args: object, **kwargs: object) -> Path:
        saved_at.append(run.trainer.step)
        return save(run, *args, **kwargs)

    monkeypatch.setattr(TrainingRun, "save", recorded)
    session.submit(f"/train {write_corpus(tmp_path)} steps=1200 hidden=8 layers=1 batch=4 seq=8 val_every=0 "
                   f"checkpoint_every=0 out={out}")
    assert rec.wait(lambda e: isinstance(e, TrainingEnded)).step == 1200 and load_model(out).training["step"] == 1200
    assert saved_at == [1200]  # the default would have saved at step 1,000 too


def test_train_counts_room_for_two_files_where_a_save_replaces_one(session: Session, rec: Recorder,
                                                                   tmp_path: Path) -> None:
    """/train checks the room for its checkpoints as `rnnplay train` does: a disk that takes one and not two is
    refused when a periodic checkpoint comes before the end, and trains when it saves only at the end."""
    corpus = write_corpus(tmp_path)
    with small_disk(tmp_path / "disk", "256k") as disk:
        options = f"steps=5 hidden=32 layers=1 batch=4 seq=8 val_every=0 out={disk / 'm.npz'}"
        session.submit(f"/train {corpus} {options} checkpoint_every=2")
        assert "a save writes the new file beside the one it replaces" in rec.messages("error")[-1]
        assert not (disk / "m.npz").exists()
        session.submit(f"/train {corpus} {options} checkpoint_every=10")
        assert rec.wait(lambda e: isinstance(e, TrainingEnded)).step == 5 and load_model(disk / "m.npz").model


def test_train_best_keeps_the_lowest_validation_checkpoint(session: Session, rec: Recorder, tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path)
    out, best = tmp_path / "last.npz", tmp_path / "best.npz"
    options = "steps=45 hidden=24 layers=1 batch=8 seq=16 lr=0.03 val_every=5"
    session.submit(f"/train {corpus} {options} out={out} best={best}")
    assert not rec.messages("error")
    rec.wait(lambda e: isinstance(e, TrainingEnded))
    job = session.training
    assert len(job.val_losses) == 9
    lowest, at = min((loss, step) for step, loss in job.val_losses)
    kept = load_model(best)
    assert kept.training["step"] == at and kept.meta["history"]["val_loss"] == lowest
    assert f"kept {best}: the lowest validation loss, {lowest:.4f} nats/char at step {at}" in rec.messages("info")[-1]
    fresh = tmp_path / "fresh.npz"
    session.submit(f"/train {corpus} steps=5 out={fresh} best={fresh}")
    assert "give the best a name of its own" in rec.messages("error")[-1]
    session.submit(f"/train {corpus} steps=5 val_fraction=0 out={fresh} best={tmp_path / 'b.npz'}")  # it trained,
    assert rec.messages("error")[-1].startswith("best= keeps the checkpoint with the lowest validation loss, but "
                                                "val_fraction=0 holds no text out to validate on")  # never wrote b.npz
    assert not fresh.exists() and not (tmp_path / "b.npz").exists() and session.training is job


def test_training_the_loaded_model_says_when_it_ended_worse_than_it_started(session: Session, rec: Recorder,
                                                                            tmp_path: Path, tiny_path: Path) -> None:
    session.submit(f"/train {write_corpus(tmp_path)} steps=3 lr=3 val_every=0 out={tmp_path / 'worse.npz'}")
    assert not rec.messages("error")
    assert rec.wait(lambda e: isinstance(e, TrainingEnded)).reason == "budget"
    said = rec.messages("warning")[-1]
    assert said.startswith("validation loss ") and "for the model it started from (the same " in said
    assert said.endswith("this run made it worse; the model it started from is unchanged. A lower learning rate "
                         f"than 3 or a longer run may help; /load {tiny_path} brings it back")
    session.submit(said.rsplit("; ", 1)[1].removesuffix(" brings it back"))  # the command, as the user would type it
    assert session.model_path == tiny_path and not rec.messages("error")


def test_training_waits_while_a_continuation_is_written(session: Session, rec: Recorder, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(training_job, "GIVE_WAY_SECONDS", TIMEOUT)  # no step of its own while the test watches
    corpus = write_corpus(tmp_path)
    session.submit(f"/train {corpus} steps=100000 layers=1 hidden=16 batch=8 seq=16 out={tmp_path / 'w.npz'}")
    rec.wait(lambda e: isinstance(e, StepEvent))
    trainer = session.training.run.trainer
    writer = streaming(session, rec)
    step_at_start = trainer.step
    wait_for(lambda: len(rec.of(Chunk)) >= 3000, "3,000 characters")  # the time of hundreds of its steps
    assert trainer.step <= step_at_start + 1  # at most the step that was under way
    session.cancel()
    writer.join(TIMEOUT)
    resumed = trainer.step
    rec.wait(lambda e: isinstance(e, StepEvent) and e.step > resumed + 1)  # and it goes on once the text is done
    session.submit("/stop")
    rec.wait(lambda e: isinstance(e, TrainingEnded))


def test_train_refuses_a_best_checkpoint_another_run_writes(session: Session, rec: Recorder, tmp_path: Path) -> None:
    corpus, out, best = write_corpus(tmp_path), tmp_path / "o.npz", tmp_path / "best.npz"
    with OutputLock(best):  # a run in another process that keeps its best checkpoint there
        session.submit(f"/train {corpus} steps=5 layers=1 hidden=8 batch=2 seq=8 out={out} best={best}")
    assert "another training" in rec.messages("error")[-1] and "choose another best=" in rec.messages("error")[-1]
    assert session.training is None and list(tmp_path.glob("*.lock")) == [] and not out.exists()


def test_stop_ends_training_and_keeps_a_checkpoint(session: Session, rec: Recorder, tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path)
    out = tmp_path / "stopped.npz"
    session.submit(f"/train {corpus} steps=100000 layers=1 hidden=16 batch=8 seq=16 out={out}")
    rec.wait(lambda e: isinstance(e, StepEvent))
    session.submit("/load elsewhere.npz")
    assert "/stop" in rec.messages("error")[-1]
    assert session.stop_hint().startswith("training goes on in the background: /stop ends it")  # Esc, Ctrl+C
    session.submit("/stop")
    ended = rec.wait(lambda e: isinstance(e, TrainingEnded))
    assert ended.reason == "stopped" and out.exists()
    assert session.stop_hint() == "nothing to stop; Ctrl+D or /quit leaves"
    session.submit("/stop")
    assert "no model is training" in rec.messages("error")[-1]


def test_a_training_stopped_before_its_first_step_saves_nothing(session: Session, rec: Recorder, tmp_path: Path,
                                                                  data_home: Path) -> None:
    """A /stop while Ray was still starting (workers=2) wrote a 0-step copy of the loaded model into the library,
    named after the corpus; here the stop comes as the job is made, before its thread takes a step."""
    session.subscribe(lambda e: e == Changed("training") and session.training.run.trainer.stop())
    session.submit(f"/train {write_corpus(tmp_path)} steps=50")
    ended = finish(session, rec)
    assert (ended.reason, ended.step, ended.path) == ("stopped", 0, None)
    assert not list(data_home.rglob("*.npz"))
    assert rec.messages("info")[-1] == "no step of the training went through, so nothing was saved; tiny.npz is " \
                                       "loaded, as before"
    assert not any(m.startswith("training stopped") for m in rec.messages("info"))
    assert session.model_name == "tiny.npz"


def test_a_stop_before_the_first_step_says_in_one_line_that_nothing_is_saved(
        session: Session, rec: Recorder, tmp_path: Path, data_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """/stop before the training's thread takes its first step (here it gives way to a continuation being written,
    as while a turn streams): it said "stopping after this step; the checkpoint goes to …", then that nothing was
    saved."""
    monkeypatch.setattr(training_job, "GIVE_WAY_SECONDS", TIMEOUT)
    session.generation.steps_may_run.clear()  # a continuation being written: the first step waits for it
    session.submit(f"/train {write_corpus(tmp_path)} steps=50")
    session.submit("/stop")
    session.generation.steps_may_run.set()  # the continuation done
    ended = finish(session, rec)
    assert (ended.reason, ended.step, ended.path) == ("stopped", 0, None)
    said = [m for m in rec.messages("info") if "saved" in m or "stopping" in m]
    assert said == ["training stopped before its first step, so nothing is saved; tiny.npz is loaded, as before"]
    assert session.model_name == "tiny.npz" and not list(data_home.rglob("*.npz"))


def test_train_refuses_a_bad_corpus_in_one_line(session: Session, rec: Recorder, tmp_path: Path) -> None:
    session.submit(f"/train {tmp_path / 'missing.txt'}")
    session.submit(f"/train {tmp_path} stesp=10")
    errors = rec.messages("error")
    assert len(errors) == 2 and all("\n" not in e for e in errors)
    assert "did you mean 'steps'" in errors[1]


def test_save_and_load_round_trip(session: Session, rec: Recorder, tmp_path: Path) -> None:
    session.submit(f"/save {tmp_path / 'copy'}")
    assert (tmp_path / "copy.npz").exists()
    before = {k: v.copy() for k, v in session.model.params.items()}
    session.submit(f"/load {tmp_path / 'copy.npz'}")
    assert all(np.array_equal(before[k], v) for k, v in session.model.params.items())
    session.submit(f"/load {tmp_path / 'nope.npz'}")
    assert "nope.npz" in rec.messages("error")[-1]


def test_a_path_thousands_long_is_shown_cut_in_its_middle(session: Session, rec: Recorder, tmp_path: Path) -> None:
    session.submit(f"/load {tmp_path / ('a' * 5000)}.npz")
    error = rec.messages("error")[-1]
    assert len(error) < 300 and f"{tmp_path}/aaa" in error and "a…a" in error and "aaa.npz" in error


def test_a_model_saved_by_a_bare_name_loads_by_it(session: Session, rec: Recorder, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    session.submit("/save mine")  # writes mine.npz
    session.submit("/load mine")
    assert not rec.messages("error") and session.model_path == Path("mine.npz")


def test_save_never_replaces_a_file_unless_asked(session: Session, rec: Recorder, tmp_path: Path) -> None:
    notes = tmp_path / "notes.npz"  # no checkpoint, though it is named like one
    notes.write_text("mine")
    session.submit(f"/save {notes}")
    assert rec.messages("error")[-1] == f"{notes} exists: /save {notes} force replaces it, or /save " \
                                        f"{tmp_path / 'notes-2.npz'} keeps both"
    session.submit(f"/save {notes} force")
    assert "not an rnnplay checkpoint" in rec.messages("error")[-1] and notes.read_text() == "mine"
    session.submit(f"/save {tmp_path / 'model.npz'}")
    session.submit(f"/save {tmp_path / 'model.npz'} force")
    assert len(rec.messages("error")) == 2 and rec.messages("info")[-1] == f"saved {tmp_path / 'model.npz'}"


@pytest.mark.parametrize(("name", "meant"), [("out1.txt", "out1"), ("notes.md", "notes"), ("lr0.003", "lr0.003")])
def test_save_refuses_a_name_that_is_no_checkpoints(session: Session, rec: Recorder, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch, name: str, meant: str) -> None:
    """/save out1.txt wrote a checkpoint (a zip file) named out1.txt, where the conversation was likely meant."""
    monkeypatch.chdir(tmp_path)
    session.submit(f"/save {name}")
    assert rec.messages("error") == [f"{name}: a checkpoint is a .npz file, e.g. /save {meant}.npz "
                                     f"(/transcript save {meant}.md saves the conversation)"]
    assert list(tmp_path.iterdir()) == []
    session.submit(f"/save {meant}.NPZ")  # the suffix in capitals is the same suffix
    assert rec.messages("info")[-1] == f"saved {meant}.NPZ"


@pytest.mark.parametrize(("options", "expected"), [
    ("lr=nan", "learning rate must be a finite number > 0 (got nan)"),
    ("time=-5", "time (seconds) must be a finite number > 0"),
    ("steps=0", "steps must be a whole number >= 1"),
    ("hidden=100000", "hidden size 100,000 is outside"),
    ("dropout=1", "dropout must be"),
    ("batch=x", "batch must be an integer (got 'x')"),
])
def test_train_settings_are_checked_as_for_rnnplay_train(session: Session, rec: Recorder, tmp_path: Path,
                                                         options: str, expected: str) -> None:
    session.submit(f"/train {write_corpus(tmp_path)} {options}")
    assert expected in rec.messages("error")[-1] and session.training is None
    assert not rec.of(Working)  # refused before the corpus loads


def test_new_makes_an_untrained_model_of_the_same_characters(session: Session, rec: Recorder) -> None:
    vocab = session.model.vocab
    session.submit("/new cell=rnn layers=2 hidden=16")
    assert (session.model.cell.name, session.model.num_layers, session.model.hidden_size) == ("rnn", 2, 16)
    assert session.model.vocab == vocab and session.spec.cell == "rnn"
    session.submit("/new cell=lstn")
    session.submit("/new layers=0")
    errors = rec.messages("error")
    assert "did you mean 'lstm'" in errors[0] and "layers 0 is outside 1..64" in errors[1]


def test_compare_runs_every_sampler_with_one_seed(session: Session, rec: Recorder) -> None:
    rows = session.generation.compare("To be", length=15)
    assert {label.split()[0].split("=")[0] for label, _ in rows} == set(session.host.samplers)
    assert "temperature=0.7" in dict(rows) and "top-k k=10 temperature=0.7" in dict(rows)  # one style: key=value
    assert not [label for label, _ in rows if "= " in label + " "]  # beam's empty end= left out
    assert all(len(t) == 15 for _, t in rows)
    assert rec.of(CompareShown) == [CompareShown("To be", tuple(rows))]
    working = rec.of(Working)
    assert working[0] == Working(f"comparing {len(rows)} samplers") and working[-1].done
    assert "/set seed" in rec.messages("info")[-1]


def test_compare_shows_the_active_sampler_with_its_settings(session: Session, rec: Recorder) -> None:
    """The active sampler's row was written with its defaults (top-k k=10 temperature=0.7), whatever /sampler and
    /set had made of it; the others took a temperature set too (top-p's row was at 0.7 after /set temperature 0.4),
    and their defaults for what they alone have (top-p's p)."""
    session.submit("/sampler top-k k=3")
    session.submit("/set temperature 0.4")
    session.submit("/set seed 5")
    rows = dict(session.generation.compare("To be", length=15))
    assert {"top-k k=3 temperature=0.4", "top-p p=0.9 temperature=0.4", "temperature=0.4", "greedy"} <= set(rows)
    for label, name, params in (("top-k k=3 temperature=0.4", "top-k", {"k": 3, "temperature": 0.4}),
                                ("top-p p=0.9 temperature=0.4", "top-p", {"p": 0.9, "temperature": 0.4})):
        alone = generate(session.model, "To be", session.host.get("samplers", name), params, 15,
                         np.random.default_rng(5), stop=session.stop)
        assert rows[label] == "".join(alone)  # written with them, not only labelled so
    kept = {row.label: row.params for row in session.generation.compares[-1].rows}
    assert kept["top-k k=3 temperature=0.4"] == {"k": 3, "temperature": 0.4}  # and so kept for /transcript
    assert kept["top-p p=0.9 temperature=0.4"] == {"p": 0.9, "temperature": 0.4}


def test_compare_reads_a_long_seed_once_for_every_sampler(session: Session, rec: Recorder,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    long = "To be, or not to be, that is the question. " * 150
    session.submit("/set seed 4")
    reads: list[int] = []
    real_prime = generate_module.prime
    monkeypatch.setattr(generate_module, "prime", lambda m, ids, *a: reads.append(len(ids)) or real_prime(m, ids, *a))
    rows = dict(session.generation.compare(long, length=15))
    assert reads == [len(session.model.vocab.encode(long))]  # one reading, continued by every sampler
    monkeypatch.setattr(generate_module, "prime", real_prime)
    for name in session.host.samplers:
        sampler = session.host.get("samplers", name)
        params = {k: p.default for k, p in sampler.params.items()}
        alone = "".join(generate(session.model, long, sampler, params, 15, np.random.default_rng(4), stop=session.stop))
        assert [text for label, text in rows.items() if label.split()[0].split("=")[0] == name] == [alone]
    assert f"reading a seed of {len(long):,} characters" in {w.what for w in rec.of(Working)}  # shown as work


def test_score_names_the_least_expected_characters_and_shows_work_on_a_long_text(session: Session,
                                                                                   rec: Recorder) -> None:
    session.submit("/score To be, or not to be")
    assert "bits/char" in rec.messages("info")[-1]
    assert not rec.of(Working)
    long = "To be, or not to be, that is the question. " * 120
    result = session.generation.score(long)
    assert len(result.probs) == len(long) - 1
    assert f"over {len(long) - 1:,} predicted characters" in rec.messages("info")[-1]  # 5,159: as `rnnplay score`
    working = rec.of(Working)  # the start, its progress if it takes a while (on a busy machine), the end
    assert working[0] == Working(f"scoring {len(long) - 1:,} characters")  # the first character only primes
    assert working[-1] == Working(f"scoring {len(long) - 1:,} characters", done=True)
    assert all(not w.done and w.what == working[0].what for w in working[1:-1])
    assert rec.of(ScoreShown)[-1].surprises[0].prob == min(result.probs)


def test_a_long_seed_shows_its_reading_as_work_before_the_turn_starts(session: Session, rec: Recorder) -> None:
    session.generation.generate("To be")
    assert not rec.of(Working)
    long = "To be, or not to be, that is the question. " * 150
    text = session.generation.generate(long)
    assert text and rec.of(TurnEnded)[-1] == TurnEnded("done", len(text))
    what = f"reading a seed of {len(long):,} characters"
    working = rec.of(Working)  # the start, its share done if it takes a while (on a busy machine), the end
    assert working[0] == Working(what) and working[-1] == Working(what, done=True)
    assert all(not w.done and w.what == what and 0 < w.fraction <= 1 for w in working[1:-1])
    assert rec.events.index(working[-1]) < rec.events.index(rec.of(TurnStarted)[-1])  # read, then written


def test_a_short_seed_whose_reading_takes_a_moment_shows_it_as_work_before_the_turn_starts(
        session: Session, rec: Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    """5,000 characters (under the bar's 5,120) took 3.5 to 10 s to read into the bundled model on a busy machine,
    the screen unchanged until the turn started. A reading that lasts is shown as work, whatever its length: this
    one lasts until it is shown."""
    real_prime = generate_module.prime

    def slow_prime(*args, **kwargs):
        rec.wait(lambda e: isinstance(e, Working) and not e.done)
        return real_prime(*args, **kwargs)

    monkeypatch.setattr(generate_module, "prime", slow_prime)
    text = session.generation.generate("To be")
    assert text and rec.of(TurnEnded)[-1] == TurnEnded("done", len(text))
    working = rec.of(Working)
    assert working[0] == Working("reading a seed of 5 characters") and working[-1].done
    assert rec.events.index(working[-1]) < rec.events.index(rec.of(TurnStarted)[-1])  # read, then written


class Hesitant:
    """A sampler that gives two characters (id 0), then waits until the turn has said that it is still at work."""

    name, help, params = "hesitant", "waits after two characters", {}

    def __init__(self, rec: Recorder) -> None:
        self.rec = rec

    def generate(self, stepper, logits, state, length, rng, **params):
        for n in range(length):
            if n == 2:
                self.rec.wait(lambda e: isinstance(e, Working) and not e.done)
            yield 0


def test_a_turn_gone_quiet_says_it_is_still_choosing_until_its_next_character(
        session: Session, rec: Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stall_watch, "STALL_SECONDS", 0.5)  # far above a step of the tiny model
    monkeypatch.setitem(session.host.samplers, "hesitant", Registered(Hesitant(rec), "rnnplay-tests"))  # host: shared
    session.submit("/sampler hesitant")
    session.submit("/set length 5")
    assert session.generation.generate("To") == session.model.vocab.chars[0] * 5
    chunk = Chunk(session.model.vocab.chars[0])
    what = "hesitant is still choosing the next characters (2 of 5 written)"
    turn = [e for e in rec.events if isinstance(e, Chunk | Working | TurnEnded)]
    assert turn == [chunk, chunk, Working(what), Working(what, done=True), chunk, chunk, chunk, TurnEnded("done", 5)]


def test_listings_and_help(session: Session, rec: Recorder) -> None:
    for line in ("/cells", "/samplers", "/corpora", "/plugins", "/help", "/help sampler"):
        session.submit(line)
    text = "\n".join(rec.messages("info"))
    for word in ("lstm", "rnn", "beam", "greedy", "file", "rnnplay", "/train CORPUS", "width"):
        assert word in text
    assert not rec.messages("error")


def test_a_plugin_command_goes_through_the_same_registry(session: Session, rec: Recorder) -> None:
    echo = SimpleCommand("echo", "say it back", "/echo TEXT", lambda s, a: s.info(a.upper()), ("say",),
                         lambda s, a: ["loud", "quiet"])
    session.host.commands["echo"] = Registered(echo, "rnnplay-echo")
    broken = SimpleCommand("boom", "fails", "/boom", lambda s, a: 1 / 0)
    session.host.commands["boom"] = Registered(broken, "rnnplay-boom")
    try:
        session.submit("/say hi")
        session.submit("/boom")
        session.submit("/help")
    finally:
        del session.host.commands["echo"], session.host.commands["boom"]
    assert rec.messages("info")[0] == "HI"
    assert rec.messages("error") == ["/boom (from rnnplay-boom) failed: ZeroDivisionError: division by zero; report it "
                                     "to the authors of rnnplay-boom, or `rnnplay plugins uninstall rnnplay-boom`"]
    assert "/echo TEXT" in rec.messages("info")[-1]


def test_fit_batches_shrinks_to_short_texts() -> None:
    assert fit_batches(100_000, 32, 64) == (32, 64)
    b, t = fit_batches(500, 32, 64)
    assert 500 // b >= t + 1


# -- the model library and /train continuing a model ------------------------------------------------
def finish(session: Session, rec: Recorder) -> TrainingEnded:
    """Wait for the training job to end (its thread too, so another may start); its TrainingEnded event."""
    session.training.thread.join(TIMEOUT)
    return rec.of(TrainingEnded)[-1]


def test_train_continues_the_loaded_model_and_never_overwrites_a_checkpoint(
    session: Session, rec: Recorder, tmp_path: Path, data_home: Path
) -> None:
    corpus = write_corpus(tmp_path)
    loaded = {k: v.copy() for k, v in session.model.params.items()}
    session.submit(f"/train {corpus} steps=1 lr=0.00000001 batch=8 seq=16")
    assert not rec.messages("error")
    assert any(m.startswith("continuing tiny.npz (1×32 lstm) on small.txt") for m in rec.messages("info"))
    assert rec.of(Working)[0] == Working(f"loading {corpus}") and rec.of(Working)[-1].done
    first = finish(session, rec)
    assert first.path == str(data_home / "models" / "small.npz")
    assert all(np.allclose(session.model.params[k], v, atol=1e-5) for k, v in loaded.items())  # its weights, one
    assert load_model(first.path).meta["continued_from"] == "tiny.npz"                      # tiny step further
    before = Path(first.path).read_bytes()
    session.submit(f"/train {corpus} steps=1 batch=8 seq=16")
    assert any(m.startswith("continuing small.npz (1×32 lstm)") for m in rec.messages("info"))
    second = finish(session, rec)
    assert second.path == str(data_home / "models" / "small-2.npz")
    assert Path(first.path).read_bytes() == before


def test_train_grows_the_vocabulary_when_the_corpus_has_new_characters(
    session: Session, rec: Recorder, tmp_path: Path, tiny_path: Path
) -> None:
    corpus = tmp_path / "code.md"
    corpus.write_text("# Title to be\n\n`x = [1, 2]` | {y}\n" * 40)
    old = session.model
    session.submit(f"/train {corpus} steps=1 batch=4 seq=8")
    assert not rec.messages("error")
    started = [m for m in rec.messages("info") if m.startswith("continuing tiny.npz")][-1]
    added = sorted(set(corpus.read_text()) - set(old.vocab.chars))
    assert started.startswith(f"continuing tiny.npz (1×32 lstm, {old.vocab.size} characters + {len(added)} new: ")
    assert len(added) > 10 and started.endswith(f" and {len(added) - 10} more) on code.md "
                                                f"({len(corpus.read_text()):,} chars); checkpoint: "
                                                f"{session.model_path}; /stop ends it, and you can keep "
                                                "generating meanwhile")
    ended = finish(session, rec)
    saved = load_model(ended.path)
    assert saved.model.vocab.chars == old.vocab.chars + tuple(added)  # the old ids kept, the new ones appended
    (gen,) = saved.meta["ancestry"]
    assert gen["model"] == "tiny.npz" and gen["corpus"] == "tiny.txt" and gen["step"] == 30
    assert gen["sha256"] == hashlib.sha256(tiny_path.read_bytes()).hexdigest()
    session.submit("# T")  # the grown model reads its new characters
    assert not rec.messages("error") and not rec.messages("warning")


def test_train_records_the_loaded_file_in_its_ancestry_though_the_path_was_replaced(
    session: Session, rec: Recorder, tmp_path: Path, tiny_path: Path
) -> None:
    mine = tmp_path / "mine.npz"
    shutil.copyfile(tiny_path, mine)
    loaded = hashlib.sha256(mine.read_bytes()).hexdigest()
    session.submit(f"/load {mine}")
    mine.write_bytes(b"another file now")  # given another file after /load: the ancestry names what was loaded
    corpus = tmp_path / "small.txt"
    corpus.write_text("To be, or not to be\n" * 40)
    session.submit(f"/train {corpus} steps=1 batch=4 seq=8 out={tmp_path / 'next.npz'}")
    assert not rec.messages("error")
    (gen,) = load_model(finish(session, rec).path).meta["ancestry"]
    assert gen["model"] == "mine.npz" and gen["sha256"] == loaded
    saved = hashlib.sha256((tmp_path / "next.npz").read_bytes()).hexdigest()
    (tmp_path / "next.npz").write_bytes(b"replaced too")  # and the saved one before the next /train from it
    session.submit(f"/train {corpus} steps=1 batch=4 seq=8 out={tmp_path / 'third.npz'}")
    assert load_model(finish(session, rec).path).meta["ancestry"][-1] == {
        "model": "next.npz", "sha256": saved, "corpus": "small.txt", "step": 1}


def test_train_from_new_or_a_shape_starts_a_new_model(session: Session, rec: Recorder, tmp_path: Path) -> None:
    corpus = tmp_path / "code.md"
    corpus.write_text("# Title\n\n`x = [1, 2]` | {y}\n" * 40)
    session.submit(f"/train {corpus} from=new steps=1 layers=1 hidden=8 batch=4 seq=8")
    assert any(m.startswith("training a new 1×8 lstm") for m in rec.messages("info"))
    finish(session, rec)
    session.submit(f"/train {corpus} hidden=12 steps=1 batch=4 seq=8")  # a shape means a new model
    assert any(m.startswith("training a new 2×12 lstm") for m in rec.messages("info"))
    finish(session, rec)
    session.submit(f"/train {corpus} from=old")
    assert "from= takes only 'new'" in rec.messages("error")[-1]


def test_train_reads_a_text_in_another_encoding(session: Session, rec: Recorder, tmp_path: Path) -> None:
    latin = tmp_path / "notes.txt"
    latin.write_bytes(("Café au lait, naïve résumé.\n" * 40).encode("latin-1"))
    wide = tmp_path / "wide.txt"
    wide.write_bytes(("Hello there.\n" * 40).encode("utf-16"))
    session.submit(f"/train {latin} steps=1 batch=4 seq=8")
    session.submit(f"/train {wide} steps=1 batch=4 seq=8")
    session.submit("/train stdlib:json encoding=latin-1")
    not_utf8, utf16, stdlib = rec.messages("error")  # each names the option as /train takes it, not the CLI's flag
    assert "is not valid utf-8" in not_utf8 and "try encoding=latin-1" in not_utf8
    assert utf16.endswith("is UTF-16 text (it starts with a UTF-16 byte-order mark), not utf-8; give encoding=utf-16")
    assert stdlib.endswith("corpora choose their own encoding; drop encoding=")
    assert session.training is None
    session.submit(f"/train {latin} encoding=latin-1 steps=1 batch=4 seq=8")
    assert not rec.messages("error")[3:]
    assert {"é", "ï"} <= set(load_model(finish(session, rec).path).model.vocab.chars)
    with pytest.raises(RnnplayError, match=r"give --encoding utf-16$"):  # the command line's wording is back
        load_corpus(str(wide))


def test_esc_stops_loading_a_corpus(session: Session, rec: Recorder, tmp_path: Path) -> None:
    folder = tmp_path / "texts"
    folder.mkdir()
    for i in range(3):
        (folder / f"{i}.txt").write_text(f"text number {i}\n" * 20)

    def press_esc(event: Event) -> None:
        if isinstance(event, Working) and event.what.startswith("loading") and not event.done:
            session.cancel()

    session.subscribe(press_esc)
    session.submit(f"/train dir:{folder} steps=1")
    assert rec.messages("info")[-1] == f"stopped loading dir:{folder}; nothing was trained"
    assert not rec.messages("error") and session.training is None and rec.of(Working)[-1].done


def test_train_refuses_an_existing_out_file(session: Session, rec: Recorder, tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path)
    mine = tmp_path / "mine.npz"
    mine.write_bytes(b"precious")
    session.submit(f"/train {corpus} steps=1 out={mine}")
    refused = rec.messages("error")[-1]
    assert refused.startswith(f"{mine} exists and would be overwritten: out={tmp_path / 'mine-2.npz'} keeps both")
    session.submit(f"/train {corpus} steps=1 out={tmp_path / 'new.npz'} best={mine}")
    assert "best=" in rec.messages("error")[-1]
    assert mine.read_bytes() == b"precious" and session.training is None


@pytest.mark.parametrize("key", ["out", "best"])
def test_train_names_the_corpus_when_a_checkpoint_would_replace_it(session: Session, rec: Recorder, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    """best=f.txt on the corpus f.txt suggested best=f-2.txt (a text file's name) and never said f.txt is the
    corpus."""
    monkeypatch.chdir(tmp_path)
    corpus = write_corpus(tmp_path)
    before = corpus.read_bytes()
    session.submit(f"/train file:{corpus.name} steps=1 {key}=./{corpus.name}")
    assert rec.messages("error")[-1] == (f"{corpus.name} is the corpus this run reads: give the checkpoint a name of "
                                         f"its own, e.g. {key}={corpus.stem}.npz")
    assert corpus.read_bytes() == before and session.training is None


def test_load_finds_models_by_name_and_models_lists_them(session: Session, rec: Recorder, tiny_path: Path,
                                                         data_home: Path) -> None:
    (data_home / "models").mkdir(parents=True)
    (data_home / "models" / "notes.npz").write_bytes(tiny_path.read_bytes())
    session.submit("/load notes")
    assert rec.messages("info")[-1].startswith("loaded notes.npz: 1-layer lstm of 32 units")
    session.submit("/models")
    listing = rec.messages("info")[-1].splitlines()
    assert "/load NAME" in listing[0]
    marked = [line.split()[:5] for line in listing if line.startswith("*")]
    assert marked == [["*", "notes", "lstm", "1×32", "tiny.txt"]]
    session.submit("/load nots")
    assert "did you mean 'notes'" in rec.messages("error")[-1]
    (data_home / "models" / "my notes.npz").write_bytes(tiny_path.read_bytes())
    session.submit("/load my notes")  # a name with a space, as /models lists it, typed without quotes
    assert rec.messages("info")[-1].startswith("loaded my notes.npz")
    session.submit("/load my notes please")
    assert "no model 'my notes please'" in rec.messages("error")[-1]
    assert "did you mean 'my notes'" in rec.messages("error")[-1]
    if BUNDLED_MODEL.exists():
        session.submit("/load shakespeare")
        assert rec.messages("info")[-1].startswith("loaded shakespeare.npz: 2-layer lnlstm of 512 units")
        # the trainer's own validation (32 streams from a zero state), not the README's 1.359 of `rnnplay score`
        assert ("val", "1.363 in training") in session.card()


def test_a_value_the_user_set_survives_a_sampler_switch(session: Session) -> None:
    session.submit("/temp 0.5")
    session.submit("/sampler temperature")
    assert session.params == {"temperature": 0.5}
    session.submit("/sampler top-k k=3")
    assert session.params == {"k": 3, "temperature": 0.5}
    session.submit("/sampler greedy")
    session.submit("/sampler top-k")
    assert session.params == {"k": 3, "temperature": 0.5}
    session.submit("/sampler temperature temperature=0.9")
    session.submit("/sampler top-p")
    assert session.params["temperature"] == 0.9


def test_one_escaping_rule_for_seeds_stop_and_texts(session: Session, rec: Recorder) -> None:
    session.submit("/set stop \\n\\n")
    assert session.stop == "\n\n"
    session.submit("/set length 5")
    session.submit("To be\\nor")
    assert rec.of(TurnStarted)[-1].seed == "To be\nor" and not rec.messages("warning")
    assert session.turns[-1].seed == "To be\nor"
    session.submit("/sampler beam end=\\n")
    assert session.params["end"] == "\n" and "end=\\n" in session.sampler_label()


def test_help_explains_whatif_positions_and_the_escapes(session: Session, rec: Recorder) -> None:
    session.submit("/help whatif")
    text = rec.messages("info")[-1]
    assert "POS counts the continuation's characters from 0" in text and "position 0 is the space" in text
    session.submit("/help")
    assert "\\n, \\t, \\r and \\\\ are read as the characters they name" in rec.messages("info")[-1]
    session.submit("/help train")
    assert "from=new" in rec.messages("info")[-1]
    session.submit("/help set extra")  # not 'unknown command /set extra'
    assert rec.messages("error") == ["/help explains one command at a time: /help set"]


def test_train_forwards_the_trainers_own_events(session: Session, rec: Recorder, tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path)
    session.submit(f"/train {corpus} steps=30 hidden=16 layers=1 batch=8 seq=16 sample_every=10 val_every=10 "
                   f"out={tmp_path / 'm.npz'}")
    rec.wait(lambda e: isinstance(e, TrainingEnded))
    steps = rec.of(StepEvent)
    assert steps[0].step == 1 and steps[-1].step == 30 and all(0 <= e.fraction <= 1 for e in steps)
    assert [e.step for e in steps] == sorted({e.step for e in steps})  # each step once, in order
    assert [e.step for e in rec.of(ValidationEvent)] == [10, 20, 30]
    assert [e.step for e in rec.of(SampleEvent)] == [10, 20, 30]
    assert rec.events.index(rec.of(ValidationEvent)[-1]) < rec.events.index(rec.of(TrainingEnded)[0])


def test_train_without_options_uses_the_declared_defaults(tmp_path: Path) -> None:
    """/train CORPUS and `rnnplay train CORPUS` share TrainConfig's and ModelSpec's defaults; the session adds only
    a budget (one pass, at least 100 steps), and smaller batches on a text too short for them (not this one)."""
    corpus = tmp_path / "big.txt"
    corpus.write_text("To be, or not to be, that is the question.\n" * 500)  # 22,000 chars: room for 64 x 100
    session = Session()  # no model loaded: /train starts a new one of the session's spec
    rec = Recorder(session)
    session.submit(f"/train {corpus}")
    job = session.training
    assert not rec.messages("error") and job is not None
    session.submit("/stop")
    job.thread.join(TIMEOUT)
    assert replace(job.run.trainer.config, steps=None) == TrainConfig()
    assert job.run.trainer.config.steps == 100 and "no budget given: 100 steps" in " ".join(rec.messages("info"))
    model = job.run.model
    assert ModelSpec(model.cell.name, model.num_layers, model.hidden_size, model.dropout) == ModelSpec() == session.spec


def test_a_train_in_the_app_names_its_settings_as_train_takes_them(session: Session, rec: Recorder, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The training's own lines, said on its thread (here: a final validation its time budget left no time for),
    named the command line's flags in the app (--time), where /train takes time=."""
    monkeypatch.setattr(TimeBudget, "final_chars", lambda self, seconds, spent: (0, ""))  # no time left for it
    session.submit(f"/train {write_corpus(tmp_path)} time=600 steps=2 hidden=8 layers=1 batch=2 seq=8 "
                   f"out={tmp_path / 'm.npz'}")
    finish(session, rec)
    said = " ".join(note.text for note in rec.of(NoteEvent))
    assert "no final validation: the time= budget of 600 s was spent" in said, said
    assert "give a longer time= for one" in said and "--time" not in said, said
