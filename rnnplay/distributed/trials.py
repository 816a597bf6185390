"""Independent jobs on Ray, at most N at once, one CPU each, telling the driver how they are doing.

A sweep's trials are such jobs (:mod:`rnnplay.session.sweep` says what one does). Here is only how they run:

* each is a plain Ray task of one CPU; a trial whose worker dies (killed, its node lost) is run again from its
  start once (``max_retries=RETRIES``; an error the job raises is never retried), then reported failed;
  :class:`TrialRunner` keeps at most ``workers`` of them submitted, so the others wait on the driver and start
  in order as places free up;
* a job reports its progress by calling its ``report(row)`` argument, which sends ``row`` to a
  :class:`Board`, an actor of no CPU, without waiting for an answer; the driver reads the board's rows
  between two waits (every ``poll`` seconds) and hands them on as a :class:`Progress`;
* a task returns, with its job's result, which run of it this was (:func:`run_number`, Ray's own count), so an
  Outcome says whether it was run again. The count once came from the board, asked after the result; but the
  worker's message that counted a run went to the board without an answer, and Ray orders an actor's calls per
  caller only, so the driver's question could come first and the second run go uncounted;
* a job that raises ends as a failed :class:`Outcome` with one line saying why, and the others go on;
* when the driver stops iterating (Ctrl-C, or anything else that ends :meth:`TrialRunner.run`), every
  task still running is cancelled (its worker is ended) and no waiting one starts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from rnnplay.core import parallel_step, threads
from rnnplay.core.errors import RnnplayError
from rnnplay.distributed.cluster import logs_hint

FINISHED, FAILED, CANCELLED = "finished", "failed", "cancelled"  # an Outcome's status
Job = Callable[..., Any]  # job(*args, report=report) -> a picklable value
COLOURS = re.compile(r"\x1b\[[0-9;]*m")  # a terminal's colour codes, which Ray puts in its errors' text
WRAPPERS = 4  # the most wrappers looked into: Ray's error around a task's, around its cause
RETRIES = 1  # times Ray runs a trial again from its start when its worker dies


@dataclass
class Outcome:
    """How trial ``index`` ended: ``value`` is what its job returned (FINISHED), ``error`` one line (FAILED)."""

    index: int
    status: str
    value: Any = None
    error: str = ""
    runs: int = 1  # 2 when its first worker died and Ray ran it again from its start


@dataclass
class Progress:
    """The newest row each running or ended trial reported, by trial index."""

    rows: dict[int, dict[str, Any]] = field(default_factory=dict)


class Board:
    """What the trials report, kept for the driver (made a Ray actor by :class:`TrialRunner`)."""

    def __init__(self) -> None:
        self.rows: dict[int, dict[str, Any]] = {}

    def report(self, index: int, row: dict[str, Any]) -> None:
        self.rows[index] = row

    def snapshot(self) -> dict[int, dict[str, Any]]:
        return dict(self.rows)


class Reporter:
    """A trial's ``report(row)``: sends the row to the board and returns at once (Ray pickles this to the task)."""

    def __init__(self, board: Any, index: int) -> None:
        self.board, self.index = board, index

    def __call__(self, row: dict[str, Any]) -> None:
        self.board.report.remote(self.index, row)


def one_line(err: BaseException) -> str:
    """Why a job failed, in one line of plain text: an RnnplayError's own words, else the exception's type and first
    line (Ray's colour codes taken out)."""
    if isinstance(err, RnnplayError):
        return str(err)
    if isinstance(err, MemoryError):
        return "out of memory: choose a smaller --hidden, --layers or --batch-size"
    text = COLOURS.sub("", str(err)).strip()
    return f"{type(err).__name__}: {text.splitlines()[0][:200]}" if text else type(err).__name__


def underneath(err: BaseException) -> BaseException:
    """The exception inside Ray's wrappers: a task's own (``cause``), or the one that kept the task's arguments
    from being read in its worker (``client_exc``, such as a module the worker cannot import); else ``err``.
    Ray's own text is the task's name in colour and its PID: "RayTaskError(RaySystemError): ray::run_job()"."""
    for _ in range(WRAPPERS):
        inner = getattr(err, "cause", None) or getattr(err, "client_exc", None)
        if not isinstance(inner, BaseException):
            break
        err = inner
    return err


def run_job(job: Job, report: Reporter, *args: Any) -> tuple[str, Any, int]:
    """In the worker: ``job(*args, report=report)`` on one core (BLAS on one thread, the training step's threads
    for one core); (FINISHED, its value), or (FAILED, one line) when it raises, and which run of the task this is.
    ``args`` are the task's own arguments, so Ray hands the job the objects behind any references among them (a
    corpus put once)."""
    threads.start("1")
    parallel_step.WORKERS = parallel_step.THREADS_PER_CORE
    runs = run_number()
    try:
        return FINISHED, job(*args, report=report), runs
    except Exception as err:  # any error of one trial is that trial's alone
        return FAILED, one_line(err), runs


def run_number() -> int:
    """Which run of its task this Ray worker does: 1, or 2 when Ray runs it again from its start after its first
    worker died (Ray's attempt number, 0 the first, plus one). Ray keeps the count itself, and no public call gives
    it (2.60): read from the worker's core; a Ray without that call counts every run as the first (the count only
    words the trial's line)."""
    from ray._private.worker import global_worker

    attempt = getattr(global_worker.core_worker, "get_current_task_attempt_number", None)
    return int(attempt()) + 1 if attempt is not None else 1


class TrialRunner:
    """Runs ``job`` once per argument tuple as Ray tasks, at most ``workers`` at once (see the module's docstring)."""

    def __init__(self, ray: ModuleType, job: Job, workers: int, poll: float = 0.25) -> None:
        if workers < 1:
            raise RnnplayError(f"--workers must be at least 1 (got {workers})")
        self.ray, self.job, self.workers, self.poll = ray, job, workers, poll
        self.board = ray.remote(num_cpus=0)(Board).remote()
        self.task = ray.remote(num_cpus=1, max_retries=RETRIES)(run_job)

    def run(self, arglists: Sequence[tuple[Any, ...]]) -> Iterator[Outcome | Progress]:
        """Each trial's Outcome as it ends, and a Progress every ``poll`` seconds meanwhile."""
        waiting = list(enumerate(arglists))
        running: dict[Any, int] = {}  # task reference -> trial index
        try:
            while waiting or running:
                while waiting and len(running) < self.workers:
                    index, args = waiting.pop(0)
                    running[self.task.remote(self.job, Reporter(self.board, index), *args)] = index
                ready, _ = self.ray.wait(list(running), num_returns=1, timeout=self.poll)
                for ref in ready:
                    yield self._outcome(running.pop(ref), ref)
                yield self.progress()
        finally:
            for ref in running:
                self.ray.cancel(ref, force=True)

    def progress(self) -> Progress:
        return Progress(self.ray.get(self.board.snapshot.remote()))

    def _outcome(self, index: int, ref: Any) -> Outcome:
        exceptions = self.ray.exceptions
        try:
            status, value, runs = self.ray.get(ref)  # the count comes with the result: no message can overtake it
        except exceptions.TaskCancelledError:
            return Outcome(index, CANCELLED)
        except exceptions.RayError as err:  # its worker died (killed, out of memory), or Ray lost it
            again = " (and again when the trial was run again from its start)" if isinstance(
                err, exceptions.WorkerCrashedError | exceptions.NodeDiedError) else ""
            return Outcome(index, FAILED, error=f"its Ray worker failed{again}: {one_line(underneath(err))}; "
                                                f"{logs_hint()}")
        return Outcome(index, status, value, runs=runs) if status == FINISHED else \
            Outcome(index, status, error=value, runs=runs)

