"""A Ray cluster on this machine for the tests that join one by address (``--ray-address``): started with
``ray start --block``, each node in a process the test ends, so no other Ray on the machine is touched.

Tests whose claim is not about a local Ray's start, a signal during it, or a node or worker that dies share one (a
fixture of their module): each run that joins it is spared the start of a Ray of its own (its head's processes and
agents, each a Python that imports Ray) and its stop.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager

TIMEOUT = 120  # seconds a node may take to start or to stop (a bound, not a speed claim)


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@contextmanager
def ray_cluster(nodes: int = 2, cpus: int = 1, **ray_settings: str) -> Iterator[tuple[str, dict[str, str]]]:
    """A head and ``nodes - 1`` more nodes of ``cpus`` CPUs each; their address and the environment that may join
    them (its own token). ``ray_settings``: Ray's own settings for the cluster, as the environment variables Ray
    reads (RAY_<name>). Its workers, and the runs that join it with that environment, use the numpy maths
    (``RNNPLAY_JIT=0``): numba's import and kernels cost each process that trains a second of CPU or more, and the
    claims made on a cluster are not about them."""
    head_port, *agents = free_ports(1 + nodes)
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32),
           "RAY_USAGE_STATS_ENABLED": "0", "RNNPLAY_JIT": "0", **ray_settings}
    address = f"127.0.0.1:{head_port}"
    common = ["--num-cpus", str(cpus), "--node-ip-address", "127.0.0.1", "--block"]
    temp = tempfile.mkdtemp(prefix="rnp-", dir="/tmp")  # short: Ray's socket paths must fit in 107 bytes
    head = ["--head", "--port", str(head_port), "--include-dashboard", "false", "--temp-dir", temp]
    started: list[subprocess.Popen] = []
    try:
        for extra, agent in zip([head] + [["--address", address]] * (nodes - 1), agents, strict=True):
            node = subprocess.Popen([sys.executable, "-m", "ray.scripts.scripts", "start", *extra, *common,
                                     "--dashboard-agent-listen-port", str(agent)], env=env, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            started.append(node)
            wait_for_line(node, "will now block forever")  # `ray start` says it once its node has joined
        yield address, env
    finally:
        for node in reversed(started):
            node.terminate()  # `ray start --block` stops its node's processes on SIGTERM
        for node in started:
            node.wait(timeout=TIMEOUT)
        shutil.rmtree(temp, ignore_errors=True)


def wait_for_line(process: subprocess.Popen, text: str) -> None:
    """Read ``process``'s output until a line holds ``text`` (then go on reading it in the background)."""
    seen = threading.Event()
    lines: list[str] = []

    def read() -> None:
        for line in process.stdout:
            lines.append(line)
            if text in line:
                seen.set()
        seen.set()  # it ended

    threading.Thread(target=read, daemon=True).start()
    seen.wait(TIMEOUT)
    assert any(text in line for line in lines), f"no {text!r} from {process.args}: {''.join(lines[-5:])}"
