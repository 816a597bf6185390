"""A --time budget's reckoning: when the steps end, and how much of the validation text the final validation reads,
so that the run ends with its budget, on what the run measures as it goes.

The final validation's cost is predicted from two speeds the run keeps measuring: a validation's seconds per
character (a probe of ``Model.evaluate`` before the first step, each validation, and a probe again once the steps'
end is near) and a step's seconds (the last step's, or the median of the last :data:`STEPS_KEPT` if more).
Between two measurements of the first, it is scaled by how the second has moved since, once two steps in a row show
it (:meth:`TimeBudget.per_char_now`: one slow step scaled the whole validation's estimate by its own slowness, and
the steps ended early by as much, up to the validation's share of the budget): a run starved of the CPU
halfway (a busier process beside it at a higher priority) slows its steps and its validations alike, and a
prediction made at the start let the final validation run on several times longer than foreseen. The probe near the
end catches a validation that slows more than the steps do (it reads on BLAS's threads, a step on its own workers:
the threads of a starved process need not slow alike). The steps end one step before the time left would no longer
hold the final validation and the save after it (as long as the run's last save took, or a step before any), and the
final validation reads what fits in the time left, and stops reading a step past the budget's end whatever happens
meanwhile; a time left that holds too few characters for a loss that means anything gets none.

Nothing here reads a clock: the trainer hands in what it measured, so the reckoning is tested on recorded timings.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass, field

from rnnplay.core.train_config import setting_given, setting_name

# The most of a --time budget the final validation may take; when the whole validation text would take longer,
# it reads the part that fits, so a short budget still trains.
VALIDATION_SHARE = 0.25
# Steps whose median is "a step's seconds" unless the last took longer: a run that slows is followed at its next
# step, one quick step does not shrink the estimate.
STEPS_KEPT = 5
# Steps on each side of a validation (or a probe) whose median is the step time it is scaled from: a step that the
# machine held up beside it does not shrink the reserve for the rest of the run, a slowdown just before it is seen.
AROUND = 2
# The share of a whole validation the probe near the steps' end reads at most (else as many as the first probe: a
# shorter one read its characters up to twice as fast as the validation after it did, whose end was then cut).
REFRESH_SHARE = 0.25
# Before a step is timed, one is taken to cost this many times what the probe took to read as many characters as a
# batch holds (a step reads them forward and backward), and a run's first step as much again as the first probe's
# first reading took over its second (kernels compiled, memory first touched): a run starved from its start does not
# begin a first step its budget cannot hold.
STEP_PER_BATCH_READ = 2.0
# The fewest characters a final validation under a --time budget reads (or the whole text, when shorter): a loss on
# fewer is noise (a budget too short for a step validated on one character), so the run says it has none instead.
MIN_FINAL_CHARS = 1_024


@dataclass
class TimeBudget:
    """What a run has measured of its speed (validation and steps), and what that leaves its steps of a budget."""

    whole: int  # the characters a whole validation reads (up to val_max_chars)
    batch_chars: int  # the characters a step reads
    per_char: float | None = None  # a validation's seconds per character, as last measured (None: not yet)
    step_then: float | None = None  # a step's seconds when per_char was measured (None: not known yet)
    around: list[float] = field(default_factory=list)  # the steps around that measurement, while step_then is None
    measured_at: float = 0.0  # the budget's seconds spent when per_char was measured
    probes: int = 0  # probes timed: the first, and one when the steps' end is near
    warming: float = 0.0  # what the first probe's first reading took over its fastest, until the first step is made
    saves: bool = False  # whether the run saves after its final validation, within the budget (`rnnplay train`)
    saving: float | None = None  # what the run's last save took (None: none yet), foreseen after the final validation
    steps: deque[float] = field(default_factory=lambda: deque(maxlen=STEPS_KEPT))

    def measured(self, chars: int, seconds: float, spent: float) -> None:
        """A validation (or a probe) read ``chars`` characters in ``seconds``, ``spent`` seconds into the budget."""
        self.per_char, self.measured_at = seconds / max(chars, 1), spent
        self.step_then, self.around = None, list(self.steps)[-AROUND:]  # known once AROUND steps more are made

    def probed(self, chars: int, readings: list[float], spent: float) -> None:
        """A probe read ``chars`` characters in each of ``readings`` seconds (the fastest counts), ``spent`` seconds
        into the budget."""
        self.measured(chars, min(readings), spent)
        if self.probes == 0 and not self.steps:
            self.warming = readings[0] - min(readings)
        self.probes += 1

    def stepped(self, seconds: float, warm: bool = True) -> None:
        """A step took ``seconds``; not ``warm``: a run's first, which loads and compiles, and is not counted."""
        self.warming = 0.0
        if not warm:
            return
        self.steps.append(seconds)
        if self.step_then is None:
            self.around.append(seconds)
            if len(self.around) >= 2 * AROUND or len(self.around) == len(self.steps) > AROUND:
                self.step_then = statistics.median(self.around)

    def _median(self) -> float:
        return statistics.median(self.steps) if self.steps else 0.0

    def _timed_step(self) -> float:
        """The last step's seconds, or the median of the last few if more (0 before any)."""
        return max(self._median(), self.steps[-1]) if self.steps else 0.0

    def step_seconds(self) -> float:
        """A step's seconds now: as timed, or before any step, what the probe foretells (0 before it)."""
        return self._timed_step() or STEP_PER_BATCH_READ * self.batch_chars * (self.per_char or 0.0) + self.warming

    def per_char_now(self) -> float:
        """A validation's seconds per character now: the last measured, scaled by how the step time has moved
        since, the step time now being the median of the last few or, if more, the quicker of the last two: a
        slowdown is followed once two steps in a row show it; one slow step, which :meth:`step_seconds` follows at
        once, does not multiply the whole validation's estimate."""
        if self.per_char is None:
            return 0.0
        now = max(self._median(), min(list(self.steps)[-2:], default=0.0))
        return self.per_char * (now / self.step_then if self.step_then and now else 1.0)

    def reserve(self, seconds: float) -> float:
        """The seconds a ``seconds`` budget keeps for the final validation: a whole one, or its share of the budget."""
        return min(self.whole * self.per_char_now(), VALIDATION_SHARE * seconds)

    def save_seconds(self) -> float:
        """What the save after the final validation is foreseen to take (0 for a run that saves none): the run's
        last save, or before any, a warm step (a save writes the weights and the optimizer's state, less work than a
        step does with them, and compiles nothing)."""
        if not self.saves:
            return 0.0
        if self.saving is not None:
            return self.saving
        return self._timed_step() or STEP_PER_BATCH_READ * self.batch_chars * (self.per_char or 0.0)

    def steps_until(self, seconds: float) -> float:
        """The budget's seconds after which no step begins: the final validation's reserve, the last save's and one
        step before its end."""
        return max(0.0, seconds - self.reserve(seconds) - self.save_seconds() - self.step_seconds())

    def time_left(self, seconds: float, spent: float) -> float:
        """The seconds from ``spent`` to the run's foreseen end, the ETA a progress line shows beside the steps'
        share (spent / steps_until): the steps until :meth:`steps_until`, then the final validation of
        :meth:`final_chars` (none when :meth:`too_few`) and the save; at most what is left of the budget.

            left = max(steps_until - spent, 0) + chars · per_char_now + save_seconds

        (the run ends about one step before the budget does, when its validation fills its reserve)."""
        steps_end = max(self.steps_until(seconds), spent)
        chars, _ = self.final_chars(seconds, steps_end)
        validation = 0.0 if self.too_few(chars) else chars * self.per_char_now()
        return max(0.0, min(seconds - spent, steps_end - spent + validation + self.save_seconds()))

    def eta(self, steps_left: list[float], per_step: float, validates: bool, seconds: float | None,
            spent: float) -> float | None:
        """The seconds to the run's foreseen end, the ETA of its progress line (None: no limit). Under --steps or
        --epochs, the ``steps_left`` (one per limit) at ``per_step`` seconds, then the final validation of the whole
        text, when one is ahead (``validates``), and the save:

            left = steps_left · per_step + whole · per_char_now + save_seconds

        (the validation counts 0 until one was measured: a run without --time makes no probe, and the first
        validation measures it); under a --time budget :meth:`time_left`; the soonest of them."""
        after = (self.whole * self.per_char_now() if validates else 0.0) + self.save_seconds()
        left = [n * per_step + after for n in steps_left]
        if seconds is not None:
            left.append(self.time_left(seconds, spent))
        return max(0.0, min(left)) if left else None

    def wants_probe(self, seconds: float, spent: float) -> bool:
        """Whether to time a probe now: before any measurement while time is left, and once (its measure is noisy:
        probes closer to the end would move it late) when the steps' end is within one reserve, unless a validation
        came since."""
        if self.per_char is None:
            return spent < seconds  # a budget spent before the first step (a starved start-up) is not probed
        near = self.steps_until(seconds) - max(self.reserve(seconds), self.step_seconds())
        return self.probes < 2 and spent >= near > self.measured_at

    def probe_chars(self, first: int) -> int:
        """The characters a probe reads: ``first``, or for the one near the steps' end at most a share of a whole
        validation."""
        return first if self.per_char is None else max(2, min(first, int(REFRESH_SHARE * self.whole)))

    def final_chars(self, seconds: float | None, spent: float) -> tuple[int, str]:
        """The characters the final validation reads, ``spent`` seconds into a ``seconds`` budget, and why fewer than
        the whole validation ("" for the whole): the whole when it fits in its share of the budget and the time left
        (less the save's) and one step (the steps' end is foreseen to within one); else what fits in its share, or in
        the time left; none when no time is left and no probe was made."""
        per_char = self.per_char_now()
        if seconds is None:
            return self.whole, ""
        share, left = VALIDATION_SHARE * seconds, max(seconds - spent - self.save_seconds(), 0.0)
        if per_char <= 0:  # never probed: the budget was spent before the first step
            return (self.whole, "") if left > 0 else (0, f"what fits in the 0.0 s left of the {budget_name()}")
        if self.whole * per_char <= min(share, left + self.step_seconds()):
            return self.whole, ""
        if share <= left:
            return max(2, int(share / per_char)), f"what {VALIDATION_SHARE:.0%} of the {budget_name()} validates"
        return max(2, int(left / per_char)), f"what fits in the {left:.1f} s left of the {budget_name()}"

    def too_few(self, chars: int) -> bool:
        """Whether a final validation of ``chars`` characters would be noise: fewer than :data:`MIN_FINAL_CHARS` and
        than the whole text."""
        return chars < min(MIN_FINAL_CHARS, self.whole)

    def read_note(self, chars: int, why: str, read: int) -> str:
        """What a final validation of ``chars`` characters (fewer than the whole: ``why``) says of what it read,
        ``read`` characters predicted ("" for the whole)."""
        if read < chars - 1:  # the budget ran out while it read
            return (f"on {read:,} of {self.whole - 1:,} validation characters (the start of each of its streams), "
                    f"what it read before the {budget_name()} ran out")
        return f"on the first {chars - 1:,} of {self.whole - 1:,} validation characters, {why}" if why else ""

    def no_validation_note(self, chars: int, seconds: float | None, spent: float, val_steps: list[int]) -> str:
        """What a run says instead of a final validation's loss when its ``seconds`` budget left time for only
        ``chars`` characters (:meth:`too_few`), ``spent`` seconds into it; ``val_steps``: its earlier validations'."""
        budget = f"the {budget_name()} of {seconds:g} s"
        if chars <= 0:
            what = f"{budget} was spent when the steps ended ({spent:.1f} s, the start-up included)"
        else:
            what = (f"{budget} left time for {chars - 1:,} of {self.whole - 1:,} validation characters, too few for "
                    "a loss that means anything")
        shown = f"; the validation loss shown is step {val_steps[-1]:,}'s" if val_steps else ""
        return f"no final validation: {what}{shown}; give a longer {setting_name('time')} for one"

    def least_seconds(self) -> float | None:
        """The least budget foreseen to hold one step in a run that made none: what it spent before its first (when
        the probe was read), a step, the final validation's reserve and the save after it (None when nothing was
        timed to foretell a step: the start-up spent the budget)."""
        if self.per_char is None:
            return None
        need, whole = self.measured_at + self.step_seconds() + self.save_seconds(), self.whole * self.per_char_now()
        return need + whole if whole <= VALIDATION_SHARE * (need + whole) else need / (1 - VALIDATION_SHARE)

    def no_step_note(self, seconds: float, spent: float) -> str:
        """Why a run under a ``seconds`` budget made no step (``spent`` seconds of it at its end), and what budget
        would hold one."""
        budget = f"no training step fitted in the {budget_name()} of {seconds:g} s"
        least = self.least_seconds()
        if least is None:
            return f"{budget}: the start-up took all of it ({spent:.1f} s); give a longer {setting_name('time')}"
        return (f"{budget}: {self.measured_at:.1f} s went before the first step (the start-up included), and a first "
                f"step, with the final validation and the save, is foreseen to take {least - self.measured_at:.1f} s "
                f"more; give {setting_given('time', math.ceil(least))} or more")


def budget_name() -> str:
    """'--time budget': the budget named as the user gives it here (``--time`` on the command line, ``time=`` in the
    app's /train)."""
    return f"{setting_name('time')} budget"
