"""``rnnplay plugins`` read from child processes, so that a plugin ending the process is listed, not obeyed.

A plugin whose import or hook ends the process outright (``os._exit``, a signal it sends itself) takes down any
process that loads it, and the listing command ended with it. So the list is made by a child,
``rnnplay plugins --json`` told by :data:`IN_PROCESS` to load the plugins itself. When a plugin ends that child,
the child's last line (:mod:`rnnplay.plugins.last_words`) names the plugin and what it was doing; the list is read
again without it, and it is listed as failed with how the process ended, until a child lists the rest.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from typing import Any

from rnnplay.core.errors import RnnplayError, printable
from rnnplay.plugins.discovery import chosen_entry_points, find_entry_points, normalize
from rnnplay.plugins.problems import ended_in
from rnnplay.plugins.slow_plugins import slow_plugin_seconds

IN_PROCESS = "RNNPLAY_PLUGINS_IN_PROCESS"  # set for the child: it loads the plugins itself


def listing_command(only: list[str] | None = None) -> tuple[list[str], dict[str, str]]:
    """`rnnplay plugins --json` for a new interpreter that loads the plugins itself (only ``only`` when given), and
    its environment: this process's path (a folder put on it at run time too), then what its own start adds."""
    env = {**os.environ, IN_PROCESS: "1", "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    if only is not None:
        env["RNNPLAY_LOAD_PLUGINS"] = ",".join(only)
    return [sys.executable, "-P", "-m", "rnnplay", "plugins", "--json"], env


def listing(only: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    """What `rnnplay plugins --json` says in a new interpreter that loads the plugins itself."""
    command, env = listing_command(only)
    return subprocess.run(command, capture_output=True, text=True, check=False, env=env)


OWN_LAST_LINES = ("rnnplay: error: ", "rnnplay: interrupted", "rnnplay: stopped by ")  # said by the parent instead


def listing_live(only: list[str], shown: set[str]) -> subprocess.CompletedProcess[str]:
    """:func:`listing`, with what the child says on stderr (its warnings: a plugin slow to import; what plugins
    print) passed on as it comes, once a line; not its last line, which the parent words. A signal that ends
    this process (Ctrl-C, SIGTERM) ends the child too."""
    command, env = listing_command(only)
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.append(proc.stdout.read() if proc.stdout else ""), daemon=True)
    reader.start()
    said: list[str] = []
    try:
        for line in proc.stderr or ():
            said.append(line)
            if line not in shown and not line.startswith(OWN_LAST_LINES):
                shown.add(line)
                sys.stderr.write(line)
                sys.stderr.flush()
        code = proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join()
    return subprocess.CompletedProcess(command, code, "".join(out), "".join(said))


def listed(done: subprocess.CompletedProcess[str]) -> dict[str, Any] | None:
    """What a child's `rnnplay plugins --json` printed, or None if it did not finish."""
    if done.returncode != 0:
        return None
    try:
        data = json.loads(done.stdout)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def why_it_ended(done: subprocess.CompletedProcess[str]) -> str:
    """'exit 7', 'killed by SIGSEGV', and what rnnplay's own last line says is wrong (not what to do, said here
    anew) or a traceback's last line: never what plugins printed."""
    code = done.returncode
    why = f"exit {code}" if code >= 0 else f"killed by signal {-code}"
    if -code in signal.valid_signals():
        why = f"killed by {signal.Signals(-code).name}"
    lines = done.stderr.strip().splitlines()
    last = lines[-1] if lines else ""
    if last.startswith("rnnplay: "):
        return f"{why}: {printable(last.removeprefix('rnnplay: ').removeprefix('error: ').split('; ')[0][:200])}"
    if "Traceback (most recent call last):" in lines:
        return f"{why}: {printable(last[:200])}"
    return why


def ended_with(code: int) -> str:
    """'with exit status 3', 'with SIGKILL': how a child process ended."""
    if code >= 0:
        return f"with exit status {code}"
    return f"with {signal.Signals(-code).name}" if -code in signal.valid_signals() else f"with signal {-code}"


def needs_children() -> bool:
    """Whether the listing loads third-party plugins (any may end the process), and this is not its child."""
    return not os.environ.get(IN_PROCESS) and bool(chosen_entry_points(find_entry_points()[0])[0])


def listed_apart() -> dict[str, Any]:
    """What `rnnplay plugins --json` says, each plugin that ends the process listed as failed: read from children,
    one more for each such plugin."""
    slow_plugin_seconds()  # a bad $RNNPLAY_SLOW_PLUGIN_SECONDS said here, not as each child's failure
    chosen, wanted = chosen_entry_points(find_entry_points()[0])
    names = list(wanted.values()) if wanted is not None else sorted({f.dist for f in chosen})
    shown: set[str] = set()  # the child's lines passed on (a later round's child says some of them again)
    ended: dict[str, tuple[str, str]] = {}  # normalised -> the plugin's name, and why it is listed as failed
    while True:  # each round lists the plugins, or finds one more that ends the process (none left: none loads)
        done = listing_live([n for n in names if normalize(n) not in ended], shown)
        data = listed(done)
        if data is not None:
            break
        culprit = ended_in(done.stderr)
        if culprit is None or normalize(culprit[0]) in ended:
            raise RnnplayError(f"`rnnplay plugins` failed in the process that loads the plugins ({why_it_ended(done)});"
                               " `RNNPLAY_LOAD_PLUGINS= rnnplay plugins` lists them without loading any")
        ended[normalize(culprit[0])] = culprit[0], f"ended the process {ended_with(done.returncode)} while {culprit[1]}"
    data["failed"] += [{"name": name, "error": why} for name, why in ended.values()]
    data["skipped"] = [name for name in data["skipped"] if normalize(name) not in ended]
    return data
