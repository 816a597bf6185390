"""A distributed step that waits for a lost node says so, and only the nodes the workers run on count as lost.

While a step on Ray workers waited for a lost node (up to $RNNPLAY_LOST_NODE_WAIT_SECONDS), the 30 s stall line
blamed the cell ("the cell 'lstm' of rnnplay is slow here"); and every node alive as the workers started counted
as the run's, so a node that held none of its workers, lost, started the wait that ends the run. Here Ray is a
stand-in (as tests/test_distributed.py's FakeCluster is): nodes whose raylets are real listening sockets on
127.0.0.1, workers that are real ShardWorkers placed on them, and step answers that come when the test says.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from waiting import wait_for

from rnnplay.core.model import Model
from rnnplay.core.vocab import Vocab
from rnnplay.distributed import data_parallel
from rnnplay.distributed.data_parallel import Cluster, DataParallelGradients
from rnnplay.plugins.host import get_host
from rnnplay.session.step_watch import StepWatch


class RayError(Exception):
    pass


class Answer:
    """A remote call's answer, there once ``ready`` is set: ``value()`` then."""

    def __init__(self, value: Callable[[], Any], ready: threading.Event) -> None:
        self.value, self.ready = value, ready


class Worker:
    """An actor: a real ShardWorker on the node the stand-in placed it on."""

    def __init__(self, ray: StandInRay, node: str, worker: Any) -> None:
        self.ray, self.node, self.worker = ray, node, worker

    def __getattr__(self, method: str) -> SimpleNamespace:
        def remote(*args: Any) -> Answer:
            if method == "step":  # answered from where the worker is by then
                return Answer(lambda: (*self.worker.step(*args)[:2], self.ray.moved.get(self.node, self.node)),
                              self.ray.steps)
            return Answer(lambda: {"where": (1000, self.node), "pid": 1000}[method], self.ray.started)
        return SimpleNamespace(remote=remote)


class StandInRay:
    """What DataParallelGradients asks of Ray: nodes, workers placed one a node in order, answers held."""

    exceptions = SimpleNamespace(RayError=RayError, GetTimeoutError=type("GetTimeoutError", (RayError,), {}),
                                 RayTaskError=type("RayTaskError", (RayError,), {}))

    def __init__(self, nodes: list[str], placement: list[str]) -> None:
        self.raylets = {node: socket.create_server(("127.0.0.1", 0)) for node in nodes}
        self.ports = {node: raylet.getsockname()[1] for node, raylet in self.raylets.items()}
        self.alive = set(nodes)
        self.placement = iter(placement)
        self.moved: dict[str, str] = {}  # a worker started again elsewhere: its old node → its new one
        self.started, self.steps = threading.Event(), threading.Event()
        self.started.set()
        self.polls = 0  # looks at the step's answers that found them not all there
        self.polled = threading.Condition()

    def nodes(self) -> list[dict[str, Any]]:
        return [{"NodeID": node, "Alive": node in self.alive, "NodeManagerAddress": "127.0.0.1",
                 "NodeManagerPort": port, "Resources": {"CPU": 1.0}} for node, port in self.ports.items()]

    def lose(self, node: str) -> None:
        """The node dead to Ray, its raylet gone."""
        self.alive.discard(node)
        self.raylets[node].close()

    def remote(self, cls: type) -> SimpleNamespace:
        def options(**_: Any) -> SimpleNamespace:
            return SimpleNamespace(remote=lambda *args: Worker(self, next(self.placement), cls(*args)))
        return SimpleNamespace(options=options)

    def put(self, value: Any) -> Any:
        return value

    def wait(self, refs: list[Answer], num_returns: int, timeout: float) -> tuple[list[Answer], list[Answer]]:
        ready = [ref for ref in refs if ref.ready.wait(timeout)]
        if len(ready) < num_returns:
            with self.polled:
                self.polls += 1
                self.polled.notify_all()
        return ready, [ref for ref in refs if ref not in ready]

    def get(self, refs: list[Answer], timeout: float | None = None) -> list[Any]:
        return [ref.value() for ref in refs]

    def kill(self, worker: Worker) -> None:
        pass

    def close(self) -> None:
        for raylet in self.raylets.values():
            raylet.close()


@pytest.fixture
def model() -> Model:
    return Model(get_host().cell("lstm"), Vocab(tuple("abcdef")), 8, 1, seed=1)


@pytest.fixture
def three_nodes(monkeypatch: pytest.MonkeyPatch) -> Iterator[StandInRay]:
    """Nodes A, B and C; the run's two workers on A and B."""
    monkeypatch.setattr(data_parallel, "POLL_SECONDS", 0.01)
    monkeypatch.setenv("RNNPLAY_LOST_NODE_WAIT_SECONDS", "600")
    ray = StandInRay(["A", "B", "C"], ["A", "B"])
    yield ray
    ray.steps.set()
    ray.close()


def a_step(gradients: DataParallelGradients, model: Model) -> dict[str, Any]:
    """One step of the gradients on a batch of 2 streams, in a thread; what it returned or raised, once it has."""
    ended: dict[str, Any] = {}
    inputs = np.zeros((3, 2), np.int64)

    def run() -> None:
        try:
            ended["answer"] = gradients(inputs, inputs, model.initial_state(2), None)
        except Exception as err:
            ended["error"] = err
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ended["thread"] = thread
    return ended


def polled(ray: StandInRay, times: int) -> None:
    """Wait until the step has looked ``times`` more times at answers not all there (and for lost nodes after)."""
    with ray.polled:
        until = ray.polls + times
        assert ray.polled.wait_for(lambda: ray.polls >= until, 60), "the step to look again"


def test_a_lost_node_without_a_worker_of_the_run_is_no_loss(three_nodes: StandInRay, model: Model) -> None:
    gradients = DataParallelGradients(three_nodes, model, Cluster(workers=2))
    three_nodes.lose("C")
    assert gradients.lost_nodes() == ""
    three_nodes.lose("B")
    assert gradients.lost_nodes() == "the node 127.0.0.1"


def test_the_stall_line_of_a_step_waiting_for_a_lost_node_says_so(three_nodes: StandInRay, model: Model) -> None:
    gradients = DataParallelGradients(three_nodes, model, Cluster(workers=2))
    trainer = SimpleNamespace(model=model, gradients=gradients, step=6, reading=SimpleNamespace(what=""),
                              stopping=False, budget_fraction=lambda: None)
    said: list[str] = []
    three_nodes.steps.clear()
    three_nodes.lose("B")
    step = a_step(gradients, model)
    polled(three_nodes, 2)  # a look for lost nodes has seen B gone
    watch = StepWatch(said.append, trainer, "Ctrl-C twice leaves without it", seconds=0.01)  # type: ignore[arg-type]
    with watch, watch.taking(7):
        wait_for(lambda: said, "the stall line")
        three_nodes.moved["B"] = "C"  # Ray started B's worker again on C: the step answers
        three_nodes.steps.set()
        step["thread"].join()
    line = said[0]
    assert line.startswith("training step 7 has not returned for "), line
    assert ": it waits for Ray to start the workers of the node 127.0.0.1 again elsewhere, that node gone: the step " \
           "waits up to 600 s for it ($RNNPLAY_LOST_NODE_WAIT_SECONDS), " in line, line
    assert line.endswith(" s more, then ends the run; Ctrl-C twice leaves without it"), line
    assert "cell" not in line
    assert "answer" in step, step.get("error")
    assert gradients.lost_nodes() == ""  # the workers now run on A and C, both there
    assert gradients.waits_for() == ""
