"""Data-parallel training on Ray: N workers, each a replica of the model and a shard of every batch's streams.

One step is the Trainer's gradient function (:class:`DataParallelGradients`); everything else — clipping,
the optimizer, checkpoints, resume, stopping between steps — stays the Trainer's::

    masks  = model.dropout_masks(rng, T, B)       drawn once, on the driver, for all B streams
    w      = ray.put(params)                      the weights once into the object store, read by every worker
    (L_n, g_n, s_n) = worker n on its streams S_n = [n·B/N, (n+1)·B/N)          (all N at once)
    loss   = Σ_n L_n / (B·T),   g = Σ_n g_n (in worker order),   states = s_0 ‖ s_1 ‖ … ‖ s_{N-1}

Each worker sums its streams' chunks (:mod:`.shard_worker`), so g is the in-process step's gradient up to the
order of the float additions (bit for bit when each shard is one chunk of parallel_step.chunk_size(model) streams).
Per step the weights go out once and each worker sends back a gradient: 4 bytes × parameters each way per
worker.

Faults: the workers are actors Ray restarts (``max_restarts``) and asks the step again (``max_task_retries``);
a step holds no worker state, so the retried one gives the same numbers. When Ray gives up, the step raises a
one-line error before anything changed, and the run saves its last complete step; once a node of the run is gone,
the step gives Ray LOST_NODE_WAIT seconds ($RNNPLAY_LOST_NODE_WAIT_SECONDS) to bring its worker back before it
gives up itself (Ray may wait for ever).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from rnnplay.core import parallel_step
from rnnplay.core.errors import RnnplayError
from rnnplay.core.model import Model, States
from rnnplay.core.trainer import Trainer
from rnnplay.distributed.cluster import (
    PROBE_SECONDS,
    check_local_room,
    check_reachable,
    cluster_address,
    logs_hint,
    ray_session,
    require_ray,
)
from rnnplay.distributed.shard_worker import Replica, ShardResult, ShardWorker
from rnnplay.env_values import seconds_from_env

MAX_RESTARTS = 3  # times Ray restarts a killed worker (and retries its step) before the run stops
START_TIMEOUT = 120.0  # seconds the workers may take to start (a cluster may need to fetch or schedule them)
LOST_NODE_WAIT = 60.0  # seconds a step waits, once a node of the run is gone, for Ray to start its worker elsewhere
POLL_SECONDS = 5.0  # how often a step that has not answered looks for lost nodes


class NodeLost(RnnplayError):
    """A node of the cluster died with a worker on it, and the worker could not be started again elsewhere."""


@dataclass(frozen=True)
class Cluster:
    """Where a run's gradients are computed: ``workers`` Ray actors on the cluster at ``address`` (else
    ``RAY_ADDRESS``, else a local Ray started for the run); one worker and no address: in this process."""

    workers: int = 1
    address: str | None = None

    @property
    def uses_ray(self) -> bool:
        return self.workers > 1 or bool(self.address)

    def check(self, batch_size: int | None = None) -> None:
        """One line, before anything starts: fewer than one worker, Ray missing, a cluster that does not answer, a
        local Ray that cannot start under the address-space limit, or B not split evenly."""
        if self.workers < 1:
            raise RnnplayError(f"workers must be at least 1 (got {self.workers})")
        if not self.uses_ray:
            return
        require_ray("training on Ray workers")
        if cluster_address(self.address):  # before the corpus loads: a wrong or silent address is one line now
            check_reachable(cluster_address(self.address))
        check_local_room(self.address)  # under ``ulimit -v``: a limit too small for a local Ray is one line now
        if batch_size is not None and batch_size % self.workers:
            n = self.workers
            lower, upper = batch_size - batch_size % n, batch_size + n - batch_size % n
            near = f"{lower} or {upper}" if lower else str(upper)
            raise RnnplayError(f"a batch of {batch_size} streams does not split evenly over {n} workers: choose a "
                               f"batch size that divides by {n} ({near}) or another number of workers")

    def describe(self) -> str:
        where = f"the Ray cluster at {cluster_address(self.address)}" if cluster_address(self.address) else "local Ray"
        return f"{self.workers} worker{'s' if self.workers != 1 else ''} on {where}"


@dataclass
class StepTiming:
    """Where a step's seconds went on the driver: putting the weights, the whole round trip, the slowest worker's
    compute (the round trip less that is communication and scheduling)."""

    put: float
    total: float
    compute: float

    @property
    def communication(self) -> float:
        return self.total - self.compute


class DataParallelGradients:
    """The Trainer's gradient function (``trainer.gradients``) over ``workers`` Ray actors."""

    def __init__(self, ray: ModuleType, model: Model, cluster: Cluster) -> None:
        self.ray, self.model, self.cluster = ray, model, cluster
        self.lost_node_wait = seconds_from_env("RNNPLAY_LOST_NODE_WAIT_SECONDS", LOST_NODE_WAIT)
        workers = cluster.workers
        self.cpus = worker_cpus(ray, workers)
        actor = ray.remote(ShardWorker).options(num_cpus=self.cpus, max_restarts=MAX_RESTARTS,
                                                max_task_retries=MAX_RESTARTS)
        self.workers = [actor.remote(Replica.of(model), self.cpus) for _ in range(workers)]
        try:
            where = self._get([w.where.remote() for w in self.workers], START_TIMEOUT)  # started, or one line
        except BaseException:
            self.close()
            raise
        self.pids = [pid for pid, _ in where]
        self.nodes: dict[str, tuple[str, int]] = {}  # the nodes the workers run on: ID → the raylet's (host, port)
        self.follow_workers([node for _, node in where])
        self.waiting: tuple[str, float] | None = None  # the lost nodes the step in progress waits for, since when
        self.timing: StepTiming | None = None  # the last step's

    def __call__(self, inputs: np.ndarray, targets: np.ndarray, states: States,
                 rng: np.random.Generator | None) -> tuple[float, dict[str, np.ndarray], States]:  # fmt: skip
        T, B = inputs.shape[:2]
        masks = self.model.dropout_masks(rng, T, B)
        start = time.perf_counter()
        weights = self.ray.put(self.model.params)
        put = time.perf_counter() - start
        b = B // len(self.workers)
        refs = []
        for n, worker in enumerate(self.workers):
            part = slice(n * b, (n + 1) * b)
            shard_states, shard_masks = parallel_step.streams_part(states, masks, part)
            refs.append(worker.step.remote(weights, np.ascontiguousarray(inputs[:, part]),
                                           np.ascontiguousarray(targets[:, part]), shard_states, shard_masks, B * T))
        answers = self._step_answers(refs)
        self.timing = StepTiming(put, time.perf_counter() - start, max(seconds for _, seconds, _ in answers))
        self.follow_workers([node for _, _, node in answers])  # a worker Ray started again may be on another node
        return parallel_step.sum_chunks((writable(result) for result, _, _ in answers), B * T)  # one copy at a time

    def follow_workers(self, nodes: list[str]) -> None:
        """Watch the ``nodes`` the workers run on now (their IDs) for a loss, and those alone: a node that holds no
        worker of the run, lost, loses the run nothing."""
        if set(nodes) == set(self.nodes):
            return
        known = {n["NodeID"]: (n["NodeManagerAddress"], n["NodeManagerPort"], n["Alive"]) for n in self.ray.nodes()}
        if all(node in known for node in nodes):
            self.nodes = {node: known[node][:2] for node in nodes}
        else:  # a worker that could not name its node: every node alive counts, lest a loss go unseen
            self.nodes = {node: (host, port) for node, (host, port, alive) in known.items() if alive}

    def _step_answers(self, refs: list[Any]) -> list[Any]:
        """The workers' answers to a step, or one line; a wait that ends, whatever Ray does after a node is lost.

        Ray retries a step whose worker died (``max_task_retries``), and a retry sent while the worker is being
        started again waits for that start. When the lost node held the worker and no other node has room for it,
        that start never comes, and ``ray.get`` waited for ever: it did whenever the head declared the node dead (its
        health checks) before the retries had run out (Ray's backoff between them in this process,
        ``RAY_task_actor_unavailable_retry_delay_base_ms``; docs/scaling.md). So the step waits in slices of
        POLL_SECONDS, looks for lost nodes after each, and gives Ray ``lost_node_wait`` seconds from the first sight of
        one to answer::

            answered by t            → the answers (or the worker's error, as from ray.get)
            a node gone since t0     → NodeLost at t0 + lost_node_wait, this step not made
        """
        lost_since: float | None = None
        try:
            while len(self.ray.wait(refs, num_returns=len(refs), timeout=POLL_SECONDS)[0]) < len(refs):
                lost = self.lost_nodes()
                lost_since = (lost_since or time.monotonic()) if lost else None
                self.waiting = (lost, lost_since) if lost and lost_since is not None else None
                if lost and time.monotonic() - lost_since >= self.lost_node_wait:
                    raise NodeLost(f"the Ray cluster lost {lost} during this step, with the worker there, and did not "
                                   f"start that worker again elsewhere within {self.lost_node_wait:g} s "
                                   f"({self.logs()}); this step was not made")
        finally:
            self.waiting = None
        return self._get(refs)

    def waits_for(self) -> str:
        """What the step in progress waits for besides the workers' compute, for the line that says a step has not
        returned (:mod:`rnnplay.session.step_watch`): 'Ray to start the workers of the node 10.0.0.6 again
        elsewhere, that node gone: the step waits up to 60 s for it ($RNNPLAY_LOST_NODE_WAIT_SECONDS), 35 s more,
        then ends the run'; '' when it waits for no lost node. The wait ends at the first look for lost nodes (every
        POLL_SECONDS) past the limit."""
        waiting = self.waiting
        if waiting is None:
            return ""
        lost, since = waiting
        more = max(0.0, self.lost_node_wait - (time.monotonic() - since))
        return (f"Ray to start the workers of {lost} again elsewhere, that node gone: the step waits up to "
                f"{self.lost_node_wait:g} s for it ($RNNPLAY_LOST_NODE_WAIT_SECONDS), {more:.0f} s more, then ends "
                "the run")

    def logs(self) -> str:
        """Where Ray's logs are, for the lines that say a worker or a node was lost."""
        return logs_hint(joined=bool(cluster_address(self.cluster.address)))

    def _get(self, refs: list[Any], timeout: float | None = None) -> list[Any]:
        """``ray.get`` of the workers' answers; what went wrong on a worker as one line (nothing has changed)."""
        exceptions = self.ray.exceptions
        try:
            return self.ray.get(refs, timeout=timeout)
        except exceptions.GetTimeoutError:
            raise RnnplayError(f"the Ray workers did not start within {timeout:.0f} s: is the cluster short of "
                               "CPUs, or rnnplay missing on its nodes?") from None
        except exceptions.RayTaskError as err:
            cause = err.cause
            if isinstance(cause, RnnplayError | MemoryError):
                raise cause from None
            raise RnnplayError(f"a Ray worker failed in this step: {type(cause).__name__}: {first_line(cause)}") \
                from None
        except exceptions.RayError as err:
            if getattr(err, "actor_init_failed", False):  # its replica could not be built (a plugin's cell missing)
                raise RnnplayError(f"a Ray worker could not start: {last_line(err)}") from None
            logs = self.logs()
            if lost := self.lost_nodes():  # Ray's retries ran out before it started the worker elsewhere, if it can
                raise NodeLost(f"the Ray cluster lost {lost} during this step, with the worker there, and Ray gave the "
                               f"step up before it started that worker again elsewhere ({logs}); this step was not "
                               "made") from None
            raise RnnplayError(f"a Ray worker stopped and Ray could not bring it back in {MAX_RESTARTS} restarts "
                               f"({type(err).__name__}: {first_line(err)}; {logs}); this step was not made") from None

    def lost_nodes(self) -> str:
        """The nodes the workers ran on at their last answer (or start) that are gone now ('the node 10.0.0.6'), or
        ''.

        Gone: dead to Ray, or its raylet refuses connections. The head marks a node dead only after several missed
        health checks (Ray's health_check_period_ms × health_check_failure_threshold, set where the head starts),
        usually after a step's retries on a node whose raylet was killed have run out, but not always
        (:meth:`_step_answers`).
        """
        try:
            dead = {n["NodeID"] for n in self.ray.nodes() if not n["Alive"]}
        except (self.ray.exceptions.RayError, ConnectionError):  # the cluster itself is out of reach
            return ""
        gone = [host for node, (host, port) in self.nodes.items() if node in dead or not answers(host, port)]
        return f"the node{'s' if len(gone) > 1 else ''} {', '.join(gone)}" if gone else ""

    def describe(self) -> str:
        """'each step on 2 workers on local Ray, 1 CPU each (1 thread, each with one BLAS thread)'."""
        plural = "s" if self.cpus != 1 else ""
        return (f"each step on {self.cluster.describe()}, {self.cpus} CPU{plural} each ({self.cpus} thread{plural}, "
                "each with one BLAS thread)")

    def close(self) -> None:
        """End the workers (a cluster's would otherwise outlive the run)."""
        for worker in self.workers:
            self.ray.kill(worker)


def answers(host: str, port: int) -> bool:
    """Whether something accepts a connection at (host, port) within PROBE_SECONDS."""
    try:
        socket.create_connection((host, port), timeout=PROBE_SECONDS).close()
    except OSError:
        return False
    return True


def writable(result: ShardResult) -> ShardResult:
    """A worker's answer with arrays of its own: ``ray.get`` hands out read-only views of the object store,
    and the sum, the clip and the carried states write into them."""
    loss, grads, states = result
    return loss, {k: np.array(g) for k, g in grads.items()}, [tuple(np.array(a) for a in s) for s in states]


def last_line(err: BaseException) -> str:
    """The last line of a remote traceback, the exception itself (an RnnplayError's text alone)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    text = lines[-1] if lines else type(err).__name__
    return text.removeprefix(f"{RnnplayError.__module__}.{RnnplayError.__name__}: ")[:200]


def first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:200] if text else type(err).__name__


def worker_cpus(ray: ModuleType, workers: int) -> int:
    """CPUs per worker: the cluster's CPUs shared out (at least one; no more than the largest node has), or one
    line when the workers cannot all be placed. A worker runs that many chunk threads, each BLAS on one thread."""
    nodes = [float(n["Resources"].get("CPU", 0)) for n in ray.nodes() if n.get("Alive")]
    total = sum(nodes)
    cpus = max(1, min(int(total // workers), int(max(nodes, default=0))))
    fits = sum(int(c // cpus) for c in nodes)
    if fits < workers:
        raise RnnplayError(f"{workers} workers do not fit on the Ray cluster ({total:g} CPUs on {len(nodes)} "
                           f"node{'s' if len(nodes) != 1 else ''}): use at most {fits} workers, or add nodes")
    return cpus


@contextmanager
def data_parallel(trainer: Trainer, cluster: Cluster) -> Iterator[DataParallelGradients | None]:
    """``trainer``'s gradients computed by the cluster's workers while the block runs (None: in this process).

    A local Ray starts and stops with the block, with a CPU for each worker at least; a cluster is joined and
    left, its workers ended.
    """
    if not cluster.uses_ray:
        yield None
        return
    cluster.check(trainer.config.batch_size)
    local_cpus = max(os.cpu_count() or 1, cluster.workers)
    with ray_session(cluster.address, what="training on Ray workers", num_cpus=local_cpus) as ray:
        gradients = DataParallelGradients(ray, trainer.model, cluster)
        trainer.gradients = gradients
        try:
            yield gradients
        finally:
            trainer.gradients = None
            gradients.close()
