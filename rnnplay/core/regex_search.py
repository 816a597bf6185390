"""A user's regular expression, matched in a child process that can be stopped.

Python's ``re`` cannot be stopped from another thread, and a pattern such as
``(a+)+$`` backtracks about 2ⁿ times on a run of n a's that does not end the text:
matched in this process it holds the thread that runs it, and a front end waiting
for that thread, until it ends, which may be never. So the matching runs in a child
interpreter (``python -I -S``: no site, no user paths), which is killed when
``cancel()`` says so or the caller is interrupted (Ctrl-C, which reaches only this
process: the child has a session of its own, so that the front end says what
stopped it, never the child's own traceback). Starting a child is small beside
reading a model's states over the same text.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

from rnnplay.core.errors import RnnplayError, flat
from rnnplay.core.work import Cancel, Cancelled

CHILD = "import json,re,sys; p,t=json.load(sys.stdin); json.dump([m.span() for m in re.finditer(p,t)], sys.stdout)"
POLL = 0.05  # seconds between two looks at cancel() while the child matches


def match_spans(pattern: str, text: str, cancel: Cancel | None = None) -> list[tuple[int, int]]:
    """(start, end) of every match of ``pattern`` in ``text``, as ``re.finditer`` gives them; ``re.error`` for a
    pattern that does not compile (checked here, before a child starts), :class:`Cancelled` when ``cancel()``."""
    re.compile(pattern)
    payload: str | None = json.dumps([pattern, text])
    with subprocess.Popen([sys.executable, "-I", "-S", "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, encoding="utf-8", start_new_session=True) as child:
        try:
            while True:
                try:
                    out, err = child.communicate(payload, timeout=POLL)
                    break
                except subprocess.TimeoutExpired:
                    payload = None  # sent once; communicate() goes on where it stopped
                    if cancel is not None and cancel():
                        raise Cancelled("stopped while matching the regular expression") from None
        finally:
            if child.poll() is None:
                child.kill()
    if child.returncode != 0:
        last = flat(err.strip().splitlines()[-1] if err.strip() else f"exit {child.returncode}")
        raise RnnplayError(f"matching the regular expression failed ({last[:200]}); try a simpler pattern")
    return [(int(a), int(b)) for a, b in json.loads(out)]
