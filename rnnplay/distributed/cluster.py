"""Where Ray runs: a local instance that starts and stops with the run, or a cluster joined by address.

``--ray-address ADDR`` (or the ``RAY_ADDRESS`` environment variable, Ray's own) joins a cluster
started with ``ray start --head``; without either, :func:`ray_session` starts a local Ray for the
run and stops it at the end. Ray's own log lines stay out of the terminal; what goes wrong is one
line (:class:`~rnnplay.core.errors.RnnplayError`).
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from types import ModuleType
from typing import Any

from rnnplay.core import address_space
from rnnplay.core.errors import RnnplayError
from rnnplay.distributed.local_processes import ray_processes_ended
from rnnplay.distributed.start_signals import signals_not_lost, sigterm_kept
from rnnplay.distributed.stderr_filter import ray_lines_filtered, writes_to_fd_2

INSTALL_HINT = "pip install 'rnnplay[ray]'"
UNFINISHED_START = threading.Event()  # set once a ray.init in this process raised: see start_unfinished
PROBE_SECONDS = 3.0  # how long a cluster's address may take to answer before it counts as unreachable
MIN_OBJECT_STORE = 75 << 20  # the smallest object store Ray accepts, in bytes
WORKER_ROOM = 1400 << 20  # what a Ray worker with rnnplay loaded maps of its own (Ray 2.60, x86-64 Linux)


def require_ray(what: str = "this") -> ModuleType:
    """The ``ray`` module, or one line saying how to install it (``what`` names the feature that needs it)."""
    try:
        import ray
    except ImportError:
        raise RnnplayError(f"{what} needs Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


def cluster_address(address: str | None) -> str | None:
    """The cluster to join: ``address``, else ``RAY_ADDRESS``, else None (a local Ray for this run)."""
    return address or os.environ.get("RAY_ADDRESS") or None


def check_reachable(address: str) -> None:
    """One line, within seconds, if nothing at ``address`` (HOST:PORT of a head node) answers as Ray's head does.

    Ray itself waits a minute or more for an unreachable cluster, and for a port where another server
    listens (a web server, say) it waited 14 minutes, deaf to Ctrl-C. A plain TCP connection says the first
    in seconds; the second, an HTTP/2 greeting: Ray's head speaks gRPC, which answers it with its settings.
    ``auto`` and ``ray://`` addresses are left to Ray.
    """
    if address == "auto" or "://" in address:
        return
    named = f"the Ray address {address!r}{' (from RAY_ADDRESS)' if address == os.environ.get('RAY_ADDRESS') else ''}"
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise RnnplayError(f"{named} is not HOST:PORT (the address `ray start --head` prints, such as "
                           "192.168.1.5:6379)")
    try:
        answer = http2_greeting(host.strip("[]"), int(port))
    except OSError as err:
        raise RnnplayError(f"no Ray cluster answers at {address} ({err.strerror or err}); start one there with "
                           "`ray start --head`, or leave out --ray-address (and RAY_ADDRESS) to run Ray "
                           "locally") from None
    if answer is not None:
        raise RnnplayError(f"something listens at {address}, but it is not a Ray head ({answer}); check the port: "
                           "`ray start --head` prints the address to give")


HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])  # then empty SETTINGS


def http2_greeting(host: str, port: int) -> str | None:
    """None if the server at (host, port) answers an HTTP/2 client's preface with a SETTINGS frame, as a gRPC
    server (Ray's head) does; else what it did instead. An OSError if nothing accepts a connection there."""
    with socket.create_connection((host, port), timeout=PROBE_SECONDS) as conn:
        try:
            conn.sendall(HTTP2_PREFACE)
            head = b""
            while len(head) < 9 and (got := conn.recv(9 - len(head))):
                head += got
        except TimeoutError:
            return f"it said nothing in {PROBE_SECONDS:g} s"
        except OSError as err:
            return f"it dropped the connection: {err.strerror or err}"
    if len(head) == 9 and head[3] == 4:  # a frame's type is its fourth byte; 4 is SETTINGS
        return None
    return f"it answered {head[:12]!r}" if head else "it closed the connection"


@contextmanager
def stderr_aside() -> Iterator[None]:
    """The process's standard error (file descriptor 2) goes to a scratch file for the block.

    Ray's C++ core writes its retries and warnings there while it connects, where no
    logging setting reaches them; what goes wrong is said in one line by the caller instead.
    ``sys.stderr`` is the process's own for the block (file descriptor 2), so that what Ray's Python code prints
    goes there too (also past :func:`~.stderr_filter.ray_lines_filtered`, whose ``sys.stderr`` is the terminal),
    and Ray hands ``faulthandler`` a real file descriptor (the app's stand-in, Textual's, has none).
    """
    sys.stderr.flush()
    shown = sys.stderr
    if not writes_to_fd_2(shown) and sys.__stderr__ is not None:
        sys.stderr = sys.__stderr__
    saved = os.dup(2)
    with tempfile.TemporaryFile() as scratch:
        os.dup2(scratch.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sys.stderr = shown


@contextmanager
def ray_session(address: str | None = None, *, what: str = "this", num_cpus: int | None = None) -> Iterator[ModuleType]:
    """Ray, connected for the block: to the cluster at ``address`` (see :func:`cluster_address`) or a local
    instance of ``num_cpus`` CPUs (default: all) started for the block and stopped after it.

    Inside an already connected process (a sweep's trial, a test's cluster) it is used as it is and left running.
    """
    ray = require_ray(what)
    if ray.is_initialized():
        yield ray
        return
    target = cluster_address(address)
    if target:
        check_reachable(target)
    with ExitStack() as stack:
        stack.enter_context(ray_lines_filtered())  # the driver's copies of Ray's log lines, until Ray has shut down
        if not target:  # the local Ray's processes end with the block, however it ends: even those Ray forgets
            stack.enter_context(ray_processes_ended())
        stack.enter_context(cluster_errors_unprinted(ray))  # until Ray has shut down
        stack.callback(ray.shutdown)  # also after a start cut short: what had started is stopped
        connect(ray, target, num_cpus)
        yield ray


def connect(ray: ModuleType, target: str | None, num_cpus: int | None) -> None:
    """``ray.init`` to join ``target``, or to start a local Ray of ``num_cpus`` CPUs; one line if it cannot."""
    local = {} if target else {"num_cpus": num_cpus, "object_store_memory": object_store_size()}
    try:
        with stderr_aside(), sigterm_kept(), start_watched(), signals_not_lost():
            ray.init(address=target, include_dashboard=False, log_to_driver=False, configure_logging=True,
                     logging_level=logging.ERROR, job_config=driver_path_unshared(ray), **local)
    except Exception as err:  # Ray's AuthenticationError, ConnectionError; a bare Exception when its node times out
        if target and refused_token(err):
            raise RnnplayError(token_advice(target)) from None
        first = str(err).strip().splitlines()[0][:160] if str(err).strip() else type(err).__name__
        if not target:
            raise RnnplayError(f"local Ray could not start ({first}); {local_advice()}") from None
        raise RnnplayError(f"cannot connect to the Ray cluster at {target} ({first}); start one with `ray start "
                           "--head`, or leave out --ray-address (and RAY_ADDRESS) to run Ray locally") from None


def driver_path_unshared(ray: ModuleType) -> Any:
    """A job configuration that keeps this process's current folder off the workers' ``sys.path``.

    Ray puts the driver's current folder first on every worker's path, where a folder named ``rnnplay`` (a clone
    of the repository, or an empty one) stood in for the installed package: every worker failed with "No module
    named 'rnnplay.plugins.host'". Ray adds it for any driver but a Ray Client's (``_client_job``), whose code
    comes with its job; a worker finds rnnplay, and the plugins, where this process found them: installed.
    """
    return ray.job_config.JobConfig(_client_job=True)


def check_local_room(address: str | None) -> None:
    """For a local Ray (no cluster ``address``, nor RAY_ADDRESS): one line now, before the corpus loads, when the
    address-space limit leaves its workers no room (:func:`object_store_size`)."""
    if not cluster_address(address):
        object_store_size()


def object_store_size() -> int | None:
    """Bytes for a local Ray's object store under an address-space limit: a quarter of it, as the raylet and every
    worker map the whole store (Ray's own size, 30% of the memory, made the raylet's mapping fail: it waited for
    it, then raised "The current node timed out during startup"); None (Ray's own size) when that is smaller.

    One line, before Ray starts, when the limit leaves a worker no room besides the store: its workers died at
    their start (``mmap failed``) and the run waited for them."""
    limit = address_space.limit()
    if limit is None:
        return None
    store = max(limit // 4, MIN_OBJECT_STORE)
    if store + WORKER_ROOM > limit:
        least = max(WORKER_ROOM * 4 // 3, WORKER_ROOM + MIN_OBJECT_STORE)
        raise RnnplayError(f"local Ray cannot start under {address_space.described()}: each of its workers maps "
                           f"about {WORKER_ROOM >> 20:,} MiB of its own besides the object store ({store >> 20:,} "
                           f"MiB); raise the limit to {least >> 20:,} MiB or more (`ulimit -v unlimited`), or join a "
                           "cluster with --ray-address")
    return store if store < os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * 3 // 10 else None


def local_advice() -> str:
    """What to do when a local Ray could not start: under ``ulimit -v``, raise the limit."""
    if limited := address_space.described():
        return (f"{limited} is too little for Ray's processes, which each map its object store: raise the limit "
                "(`ulimit -v unlimited`), or join a cluster with --ray-address")
    return f"{logs_hint()}; or join a cluster with --ray-address"


def logs_hint(joined: bool = False) -> str:
    """Where this process's Ray writes its logs, as Ray says (the session's folder on this machine), or, before its
    session has one, the folder it makes ($RAY_TMPDIR, else $TMPDIR on Linux, else /tmp; then ray/session_latest/logs).
    A cluster's (``joined``) other nodes keep theirs under their own temporary folders."""
    node = getattr(sys.modules.get("ray._private.worker"), "_global_node", None)
    try:
        folder = node.get_logs_dir_path() if node is not None else None
    except Exception:  # a node whose start was cut short: the folder it would have had
        folder = None
    if not folder:
        linux_tmp = os.environ.get("TMPDIR") if sys.platform.startswith("linux") else None
        folder = os.path.join(os.environ.get("RAY_TMPDIR") or linux_tmp or "/tmp", "ray", "session_latest", "logs")
    return f"Ray's logs are in {folder}" + (" on this machine (each node keeps its own)" if joined else "")


@contextmanager
def start_watched() -> Iterator[None]:
    """Notes a ``ray.init`` that raised (Ctrl-C, a signal, an error), or went on past a signal that is raised as it
    returns (:func:`~rnnplay.distributed.start_signals.signals_not_lost`), for :func:`start_unfinished`."""
    try:
        yield
    except BaseException:
        UNFINISHED_START.set()
        raise


def start_unfinished() -> bool:
    """Whether a ``ray.init`` in this process was cut short (Ctrl-C or SIGTERM late in a local Ray's start) or failed.

    Such a start may leave Ray's core worker made but never registered, so ``ray.shutdown`` does not stop it: its
    thread still runs while the interpreter exits, which then died of SIGSEGV after SIGINT, or of SIGABRT after
    SIGTERM (about one exit in four), after the command had said its line. A process for which this is true leaves
    with ``os._exit`` once its command is done and its output flushed (``rnnplay.ui.cli.run``)."""
    return UNFINISHED_START.is_set()


@contextmanager
def cluster_errors_unprinted(ray: ModuleType) -> Iterator[None]:
    """Ray's printing of the cluster's errors held back for the block.

    ``ray.init`` starts a thread in the driver (``listen_error_messages``) that prints every error the cluster
    publishes to ``sys.stdout``, ``log_to_driver=False`` or not: a node that dies is the last lines of a raylet's
    log (44 lines), each retried step another line, in the middle of ``rnnplay sweep --json``'s output. The run
    says what went wrong in one line instead. Ray's debugger holds them back with the same switch (``ray.util.rpdb``).
    """
    worker = ray._private.worker
    worker._worker_logs_enabled = False
    try:
        yield
    finally:
        worker._worker_logs_enabled = True


def refused_token(err: BaseException) -> bool:
    """Whether the head turned ``err``'s connection away for its token: Ray retries for 20 s, then raises a
    ConnectionError from a RuntimeError that holds, as text, its last ``AuthenticationError`` (InvalidAuthToken)."""
    chain: BaseException | None = err
    while chain is not None:
        if "InvalidAuthToken" in str(chain) or type(chain).__name__ == "AuthenticationError":
            return True
        chain = chain.__cause__ or chain.__context__
    return False


def token_advice(target: str) -> str:
    """What to do when the cluster at ``target`` refused this run's token: turn token mode on, give the token, or
    give the right one (naming where Ray took the one it sent)."""
    if os.environ.get("RAY_AUTH_MODE", "").lower() != "token":
        why = "asks for a token, and this run sends none because RAY_AUTH_MODE is not 'token'"
    elif (source := token_source()) is None:
        why = "is joined with a token (RAY_AUTH_MODE=token), and none is given: RAY_AUTH_TOKEN is not set"
    else:
        why = f"refused the token this run sends ({source}): it does not match the cluster's"
    return (f"the Ray cluster at {target} {why}; set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN to the token the cluster "
            "was started with, then run again")


def token_source() -> str | None:
    """Where Ray takes a driver's token from, in Ray's order: RAY_AUTH_TOKEN, the file RAY_AUTH_TOKEN_PATH names,
    ~/.ray/auth_token; None if from nowhere."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return "RAY_AUTH_TOKEN"
    if path := os.environ.get("RAY_AUTH_TOKEN_PATH"):
        return f"the file RAY_AUTH_TOKEN_PATH names, {path}"
    default = os.path.expanduser("~/.ray/auth_token")
    return f"{default}, as RAY_AUTH_TOKEN is not set" if os.path.exists(default) else None
