"""Ray's C++ log lines kept off the terminal while a Ray session runs; everything else on standard error kept.

Ray's core in the driver logs to its log file (``python-core-driver-*.log`` in the session's ``logs`` folder)
and copies its ERROR lines to the process's standard error, file descriptor 2, where no logging setting of the
driver alone reaches them (``RAY_BACKEND_LOG_LEVEL`` also empties the log files). A local Ray whose raylet dies
mid-run printed six such lines before the run's own one ("task_manager.cc:1545: Failed to push error to driver
for task ...", one per retry of each worker's step). So for the block, file descriptor 2 is a pipe: a thread
copies to the real standard error every line but Ray's (``[2026-12-06 11:28:26,094 E 17737 17989] file.cc:N:``),
which stay in Ray's log file, and ``sys.stderr`` writes to the real standard error directly (still a terminal
for ``isatty``, with no thread in between).
"""

from __future__ import annotations

import io
import os
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

RAY_LINE = re.compile(rb"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ [DIWEF] \d+ \d+\] [\w./-]+\.(cc|h):\d+: ")
DRAIN_SECONDS = 5.0  # how long the copying thread may take to pass on what is left once the block ends: a bound


@contextmanager
def ray_lines_filtered() -> Iterator[None]:
    """Ray's C++ log lines on file descriptor 2 dropped for the block (see the module's docstring).

    Only where ``sys.stderr`` is the process's own file descriptor 2 (the CLI, the REPL): in the app, Textual
    holds ``sys.stderr`` and draws on the terminal itself, and with standard error closed there is nothing to keep.
    """
    if not writes_to_fd_2(sys.stderr):
        yield
        return
    shown = sys.stderr
    shown.flush()
    terminal = os.dup(2)
    read_end, write_end = os.pipe()
    copier = threading.Thread(target=copy_lines, args=(read_end, os.dup(terminal)), name="ray-stderr", daemon=True)
    copier.start()
    os.dup2(write_end, 2)
    os.close(write_end)
    sys.stderr = io.TextIOWrapper(io.FileIO(terminal, "w", closefd=False), encoding=shown.encoding,
                                  errors=shown.errors, line_buffering=True)
    try:
        yield
    finally:
        sys.stderr.flush()
        sys.stderr = shown  # first: a Ctrl-C in what follows leaves no stream on a closed descriptor
        os.dup2(terminal, 2)  # the pipe's last write end closed: the thread reads to its end and stops
        os.close(terminal)
        copier.join(DRAIN_SECONDS)


def writes_to_fd_2(stream: object) -> bool:
    """Whether ``stream`` writes to file descriptor 2 (not a stand-in without one, as the app's, nor a closed one)."""
    try:
        return stream.fileno() == 2  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return False


def copy_lines(read_end: int, out: int) -> None:
    """Copy what arrives on ``read_end`` to ``out`` as it comes, Ray's lines left out, until the pipe ends."""
    held = b""
    with open(read_end, "rb", buffering=0) as source:
        while chunk := source.read(65536):  # read to the end even when ``out`` fails: no writer waits on the pipe
            *lines, held = (held + chunk).split(b"\n")
            kept = b"".join(line + b"\n" for line in lines if not RAY_LINE.match(line))
            if held and not held.startswith(b"["):  # a part line that is not Ray's (a progress line): at once
                kept, held = kept + held, b""
            out = write_all(out, kept)
    write_all(out, b"" if RAY_LINE.match(held) else held)
    if out >= 0:
        os.close(out)


def write_all(out: int, data: bytes) -> int:
    """``data`` written to ``out``; ``out``, or -1 (closed) once a write fails (standard error itself closed)."""
    try:
        while data and out >= 0:
            data = data[os.write(out, data):]
    except OSError:
        os.close(out)
        return -1
    return out
