"""``rnnplay sweep``: train one model per combination of settings on Ray, a live table of the trials, the results
sorted by validation loss (``--json``: as JSON, alone on stdout). What a sweep does is :mod:`rnnplay.session.sweep`.

Every flag and every grid value is checked, and the output folder made, before the corpus loads or Ray starts.
Ctrl-C (or SIGTERM, or SIGHUP when its terminal closes) cancels the running trials and keeps what ended: their
checkpoints, best.npz and results.json; SIGINT does so even where the shell started the sweep with it ignored, as it
does ``rnnplay sweep ... &`` in a script.
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
from contextlib import closing, nullcontext

from rich.live import Live
from rich.table import Table

from rnnplay.core.ctrl_c import ctrl_c_raises
from rnnplay.core.errors import RnnplayError, counted
from rnnplay.distributed.cluster import check_local_room, ray_session, require_ray
from rnnplay.session.sweep import CANCELLED, FAILED, RUNNING, Sweep, TrialResult, plan, value_text
from rnnplay.session.sweep_files import output_dir
from rnnplay.ui.cli import add_encoding_option
from rnnplay.ui.cli.bars import read_corpus
from rnnplay.ui.cli.interrupts import STOP_SIGNALS
from rnnplay.ui.cli.streams import lenient_output
from rnnplay.ui.cli.train_flags import CONFIG_FIELDS, MODEL_FIELDS, add_setting_flags, given
from rnnplay.ui.console import make_console, redraws
from rnnplay.ui.event_text import duration
from rnnplay.ui.leave_signals import LEAVE_SIGNALS, heard

EXAMPLES = """\
examples:
  rnnplay sweep notes.txt --grid hidden=256,512 dropout=0.2,0.4 lr=2e-3,4e-3 --time 300
  rnnplay sweep notes.txt --grid batch=16,32,64 --steps 2000 --workers 2 --out sweeps/batch
  rnnplay sweep notes.txt --grid layers=1,2 --time 600 --ray-address 10.0.0.5:6379   on a cluster
  rnnplay sweep notes.txt --grid lr=1e-3,3e-3,1e-2 --steps 500 --json > results.json

--grid takes KEY=V1,V2,... words, each KEY a setting (the flags below, without the dashes: hidden, lr, batch,
dropout, steps, ...); the trials are every combination of the values, and every other flag applies to all of
them. Each trial is an ordinary training run of one CPU; --workers N runs N at once (default: the CPUs of the
Ray cluster, or of this machine). Into --out DIR (default sweep-YYYYmmdd-HHMMSS) go each trial's checkpoint,
best.npz (the lowest validation loss) and results.json. A trial that fails is reported and the others go on;
Ctrl-C cancels the running trials and keeps the ones that ended."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep", help="train one model per combination of settings, on Ray",
        description="Train a model for every combination of the --grid settings as trials on Ray; compare them.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("corpus", help="the training text: a file path or corpus spec")
    p.add_argument("--grid", nargs="+", required=True, metavar="KEY=V1,V2",
                   help="the settings to vary and their values, e.g. hidden=256,512 lr=2e-3,4e-3")
    add_setting_flags(p)
    s = p.add_argument_group("sweep")
    s.add_argument("--workers", type=int, metavar="N", help="trials at once (default: the Ray cluster's CPUs)")
    s.add_argument("--ray-address", metavar="ADDR",
                   help="join the Ray cluster at ADDR (`ray start --head`; or RAY_ADDRESS) instead of a local Ray")
    s.add_argument("--out", metavar="DIR", help="the sweep's folder (default sweep-YYYYmmdd-HHMMSS)")
    s.add_argument("--json", action="store_true", help="print the results as JSON on stdout (the table goes to stderr)")
    add_encoding_option(s, "the corpus")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    spec_flags, settings = given(args, MODEL_FIELDS), given(args, CONFIG_FIELDS)
    trials = plan(args.grid, spec_flags, settings)
    if args.workers is not None and args.workers < 1:
        raise RnnplayError(f"--workers must be at least 1 (got {args.workers})")
    require_ray("rnnplay sweep")
    check_local_room(args.ray_address)  # under ``ulimit -v``: before the corpus loads
    # Ctrl-C's KeyboardInterrupt stops the sweep (below, in Ray's start, or while the corpus loads), also where the
    # shell started it with SIGINT ignored (`rnnplay sweep ... &` in a script), as `rnnplay train` hears it there
    with ctrl_c_raises(), output_dir(args.out, [f"{t.name}.npz" for t in trials]) as out:
        corpus = read_corpus(args.corpus, args.encoding)
        sweep = Sweep(trials, corpus, out, {"command": "rnnplay " + shlex.join(sys.argv[1:])})
        with ray_session(args.ray_address, what="rnnplay sweep", num_cpus=args.workers) as ray:
            workers = args.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
            print(f"sweep: {counted(len(trials), 'trial')} on {corpus.sized()}, "
                  f"{min(workers, len(trials))} at once, into {out}", file=sys.stderr)
            stopped_by = watch(sweep, ray, workers)
        with lenient_output() if stopped_by else nullcontext():  # a closed terminal's SIGHUP: no reader, same code
            show_results(sweep, args.json)
    if stopped_by:
        return 128 + stopped_by
    if all(r.status == FAILED for r in sweep.results):
        raise RnnplayError("every trial failed (the reasons are above): fix the settings and sweep again")
    return 0


class Stop:
    """Which signal stopped the sweep: SIGINT (Ctrl-C, Python's own KeyboardInterrupt) unless this handler, set for
    SIGTERM and SIGHUP (a closed terminal, as ``rnnplay train`` hears it), saw one. It raises KeyboardInterrupt too,
    as Ray re-raises whatever a signal raises in its waits."""

    def __init__(self) -> None:
        self.signum = signal.SIGINT

    def __call__(self, signum: int, frame: object) -> None:
        self.signum = signal.Signals(signum)
        raise KeyboardInterrupt


def watch(sweep: Sweep, ray: object, workers: int) -> int:
    """Run the sweep with its live table on stderr (a line per ended trial off a terminal). Returns 0, or the
    signal (Ctrl-C's SIGINT, SIGTERM, or SIGHUP unless it was ignored, as under ``nohup``) that stopped it."""
    console = make_console(sys.stderr)
    live = Live(trial_table(sweep.results, live=True), console=console, transient=True, refresh_per_second=4,
                redirect_stdout=False, redirect_stderr=False) if redraws(console) else None
    stop, said = Stop(), 0
    previous = {sig: signal.signal(sig, stop) for sig in heard(LEAVE_SIGNALS)}
    try:
        with live if live is not None else nullcontext(), closing(sweep.run(ray, workers)) as events:
            for ended in events:
                if ended is not None:
                    console.print(ended_line(ended))
                for note in dict.fromkeys(sweep.notes[said:]):  # a disk that filled up: said once, and it goes on
                    console.print(f"warning: {note}")
                said = len(sweep.notes)
                if live is not None:
                    live.update(trial_table(sweep.results, live=True))
    except KeyboardInterrupt:
        for sig in (signal.SIGINT, *previous):  # the results are being written: a second signal waits
            signal.signal(sig, signal.SIG_IGN)
        kept = sum(r.checkpoint is not None for r in sweep.results)
        console.print(f"{STOP_SIGNALS[stop.signum]}: cancelled the running trials; " + (
            f"kept the {kept} that ended in {sweep.out}" if kept else "none had ended, so nothing was kept"))
        for result in sweep.interrupted:  # how far each had got (its checkpoint is not kept: see docs/sweeps.md)
            console.print(ended_line(result))
        return stop.signum
    for sig, handler in previous.items():
        signal.signal(sig, handler)
    return 0


def ended_line(result: TrialResult) -> str:
    """'trial 3 (hidden=8 lr=0.002) finished: validation loss 2.3104 at step 200 in 41 s'."""
    what = f"trial {result.trial.index + 1} ({settings_text(result)})"
    if result.status == FAILED:
        return f"{what} failed: {result.error}"
    if result.status == CANCELLED:
        best = f"best validation loss {result.best_val_loss:.4f}" if result.best_val_loss is not None else \
            "no validation yet"
        return f"{what} cancelled at step {result.step}: {best}"
    val = f"validation loss {result.val_loss:.4f}" if result.val_loss is not None else "no validation loss"
    took = f" in {duration(result.seconds)}" if result.seconds is not None else ""
    again = " (its second run: the first one's worker died)" if result.runs > 1 else ""
    return f"{what} {result.status}: {val} at step {result.step}{took}{again}"


def settings_text(result: TrialResult) -> str:
    return " ".join(f"{k}={value_text(v)}" for k, v in result.trial.settings.items())


def number(x: float | None, digits: int = 4) -> str:
    return "" if x is None else f"{x:,.0f}" if digits == 0 else f"{x:.{digits}f}"


COLUMNS = (("#", "right"), ("trial", "right"), ("settings", "left"), ("status", "left"), ("step", "right"),
           ("loss", "right"), ("val loss", "right"), ("chars/s", "right"), ("why", "left"))


def trial_table(results: list[TrialResult], live: bool = False) -> Table:
    """The trials as a table: in grid order with how far each got (``live``), or ranked as given; a failed
    trial's reason in the last column (there only when one failed)."""
    table = Table(title="rnnplay sweep" if live else None, title_justify="left")
    reasons = any(r.error for r in results)
    shown = [(name, justify) for name, justify in COLUMNS
             if not (live and name == "#") and (reasons or name != "why")]
    for name, justify in shown:
        table.add_column(name, justify=justify, no_wrap=name not in ("settings", "why"))  # type: ignore[arg-type]
    for rank, r in enumerate(results, 1):
        status = f"{r.status} {r.fraction:.0%}" if r.status == RUNNING and r.fraction is not None else r.status
        cells = {"#": str(rank), "trial": str(r.trial.index + 1), "settings": settings_text(r), "status": status,
                 "step": str(r.step), "loss": number(r.loss), "val loss": number(r.val_loss),
                 "chars/s": number(r.chars_per_sec, 0), "why": r.error}
        table.add_row(*(cells[name] for name, _ in shown))
    return table


def show_results(sweep: Sweep, as_json: bool) -> None:
    """The ranked table, failures with their reasons (stdout, or stderr with --json); where the best went; the
    JSON on stdout."""
    out = make_console(sys.stderr if as_json else sys.stdout)
    ranked = sweep.ranked()
    table = trial_table(ranked)
    if not redraws(out):  # a file or a pipe has no width to fit: no cell is wrapped
        out.width = max(out.width, out.measure(table, options=out.options.update(max_width=10_000)).maximum)
    out.print(table)
    best = sweep.best
    if best is not None:
        by = (f"validation loss {number(best.val_loss)}" if best.val_loss is not None
              else f"training loss {number(best.loss)} (no validation)")
        print(f"best: trial {best.trial.index + 1} ({settings_text(best)}), {by}: {sweep.out / 'best.npz'}",
              file=sys.stderr)
    if sweep.results_written:
        print(f"results: {sweep.out / 'results.json'}", file=sys.stderr)
    if as_json:
        print(json.dumps(sweep.summary(), indent=2))
