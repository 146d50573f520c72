"""Invoke, stream and batch measured fairly on the same job of N prompts (lesson 04).

    probe = measure_invoke(llm, prompts[0])             # one answer, timed
    plan = plan_job(probe.total_s, n_max=len(prompts), budget_s=60)
    cmp = run_modes(llm, prompts[:plan.n_prompts], max_concurrency=4, repeats=plan.repeats)
    print(verdicts(cmp))                                # computed from this run
    first_vs_all_done(cmp); waits_per_mode(cmp)         # the two pictures

The job is the same for every mode: answer N prompts. The three ways to do it:

- **invoke loop**: one `invoke` after another; each answer appears whole when it is done;
- **stream loop**: one `stream` after another; each answer starts to show at its first text;
- **batch**: one `batch(..., config={"max_concurrency": ...})`; every answer appears when the list returns.

For each way, three moments, in seconds since the job started:

- **first text**: when the user first sees any text;
- **mean wait per answer**: on average, how long each prompt waited until its answer began to show;
- **all done**: when the last answer was complete.

Fair measurement: one untimed warm-up request opens the connection; the job is
repeated (3 times by default) and the order of the modes rotates each time, so
no mode always goes first; results are medians with the min-max range.
Every stamp is `time.perf_counter()` seconds.

The pieces live beside this module and are re-exported here, so lessons keep
writing `compare.X`: `compare_results` (what a run measured: `Spread`, `ModeComparison`),
`compare_verdicts` (`verdicts`, `guess_vs_measured`, `mode_table`), `compare_plots`
(`first_vs_all_done`, `waits_per_mode`), `mapping` (`mapping_widget`, `check_mapping`) and
`modes` (`invoke_loop`, `stream_loop`, `batch_job`: the three ways, as the lesson's cells show them).
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .compare_plots import WAITS, first_vs_all_done, waits_per_mode
from .compare_results import LOOP, MARKERS, MODES, JobRun, ModeComparison, ModeResult, Spread, _num, _s
from .compare_verdicts import (
    CPU_NOTE,
    LOOPS_NOTE,
    Lines,
    ModeTable,
    guess_vs_measured,
    mode_table,
    spread_verdict,
    verdicts,
)
from .mapping import MappingResult, MappingWidget, check_mapping, mapping_widget
from .modes import LOOPS, Tally, batch_job, invoke_loop, stream_loop

__all__ = ["MODES", "MARKERS", "LOOP", "JobPlan", "plan_job", "job_seconds", "Spread", "JobRun", "ModeResult",
           "ModeComparison", "orders", "run_modes", "spread_verdict", "CPU_NOTE", "LOOPS_NOTE", "Lines", "verdicts",
           "guess_vs_measured", "ModeTable", "mode_table", "WAITS", "first_vs_all_done", "waits_per_mode",
           "MappingResult", "check_mapping", "MappingWidget", "mapping_widget", "_s", "_num",
           "invoke_loop", "stream_loop", "batch_job"]

# ---- sizing the job to the backend's speed -----------------------------------------------

def job_seconds(answer_s: float, n_prompts: int, repeats: int, max_concurrency: int = 4) -> tuple[float, float]:
    """What one `run_modes` call costs, counted in answers of `answer_s` seconds (lesson 04).

    run_modes sends one warm-up request, then per repeat the invoke loop (n answers one after
    another), the stream loop (n more) and one batch of n. Returns (sooner, cautious): sooner if
    the server works on up to `max_concurrency` of the batch's requests at once (a hosted model,
    the simulator), cautious if it answers them one at a time (a small CPU serving them in turn).
    """
    rounds = math.ceil(n_prompts / max_concurrency)
    return (answer_s * (1 + repeats * (2 * n_prompts + rounds)),
            answer_s * (1 + repeats * 3 * n_prompts))


@dataclass(frozen=True)
class JobPlan:
    """How much work fits the time budget, from one timed answer (lesson 04).

    parts: the repeats each `run_modes` cell runs (one part: one cell). estimate_s is the
    cautious time of the whole job, every part's warm-up included (`job_seconds`);
    `cell_seconds` gives one cell's (sooner, cautious) pair, and `run_modes(..., plan=)`
    prints it beside the time the cell really took.
    """

    n_prompts: int
    repeats: int
    answer_s: float
    estimate_s: float
    n_wanted: int
    budget_s: float
    parts: tuple[int, ...] = (3,)
    max_concurrency: int = 4

    def cell_seconds(self, repeats: int, n_prompts: int | None = None,
                     max_concurrency: int | None = None) -> tuple[float, float]:
        """(sooner, cautious) seconds for one `run_modes` cell of `repeats` repeats."""
        return job_seconds(self.answer_s, self.n_prompts if n_prompts is None else n_prompts,
                           repeats, max_concurrency or self.max_concurrency)

    @property
    def sooner_s(self) -> float:
        """The whole job if the server works on the batch's requests at once."""
        return sum(self.cell_seconds(r)[0] for r in self.parts)

    @property
    def shrunk(self) -> bool:
        return self.n_prompts < self.n_wanted

    @property
    def fits(self) -> bool:
        return self.estimate_s <= self.budget_s

    def __str__(self) -> str:
        lo, hi = self.sooner_s, self.estimate_s
        cost = f"about {lo:.0f} s" + (f", or {hi:.0f} s if the server answers one request at a time"
                                      if round(hi) > round(lo) else "")
        if len(self.parts) > 1:
            cost += f", in {len(self.parts)} cells ({' + '.join(map(str, self.parts))} repeats)"
        job = f"{self.n_prompts} prompts × {self.repeats} repeats"
        head = f"one answer took {self.answer_s:.2f} s here"
        if not self.fits:
            fewest = ("" if self.n_prompts == self.n_wanted else
                      " (the fewest that still compare a loop with a batch)" if self.n_prompts == 2 else
                      " (the fewest asked for)")
            return f"{head}: measuring {job}{fewest}, {cost}: over the {self.budget_s:.0f} s budget, so expect a wait"
        if not self.shrunk:
            return f"{head}: measuring all {job}, {cost}; budget {self.budget_s:.0f} s"
        full = sum(job_seconds(self.answer_s, self.n_wanted, r, self.max_concurrency)[1] for r in self.parts)
        return (f"{head}, so all {self.n_wanted} prompts could take {full:.0f} s: measuring {job}, {cost}; "
                f"budget {self.budget_s:.0f} s")

    __repr__ = __str__


def plan_job(answer_s: float, n_max: int, budget_s: float = 60.0, repeats: int = 3,
             n_min: int = 2, *, cells: int = 1, max_concurrency: int = 4) -> JobPlan:
    """Pick how many prompts to measure so that the whole job fits about `budget_s` seconds,
    given `answer_s`, the measured time of one answer (lesson 04).

    The time is counted as `run_modes` spends it (`job_seconds`, the cautious figure: a warm-up,
    then per repeat two loops and a batch answered one request at a time). cells: split the
    repeats over that many `run_modes` cells (the second one continues the first with `after=`).
    Repeats never drop below 3 (a median needs them); the number of prompts shrinks instead,
    down to n_min (two prompts: the least that lets a batch overlap requests). If even that
    does not fit, the plan says so, with its estimate. A pure function: the same numbers give
    the same plan.
    """
    if not (isinstance(answer_s, (int, float)) and math.isfinite(answer_s) and answer_s > 0):
        raise ValueError(f"answer_s must be a measured time in seconds > 0, got {answer_s!r}")
    if isinstance(n_max, bool) or not isinstance(n_max, int) or n_max < 1:
        raise ValueError(f"n_max must be a whole number >= 1, got {n_max!r}")
    if not (isinstance(budget_s, (int, float)) and budget_s > 0):
        raise ValueError(f"budget_s must be a number of seconds > 0, got {budget_s!r}")
    repeats = max(3, int(repeats))
    if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int) or max_concurrency < 1:
        raise ValueError(f"max_concurrency must be a whole number >= 1, got {max_concurrency!r}")
    if isinstance(cells, bool) or not isinstance(cells, int) or not 1 <= cells <= repeats:
        raise ValueError(f"cells must be a whole number from 1 to {repeats} (the repeats), got {cells!r}")
    parts = tuple(repeats // cells + (i < repeats % cells) for i in range(cells))
    total = lambda n: sum(job_seconds(answer_s, n, r, max_concurrency)[1] for r in parts)  # noqa: E731
    n = max((k for k in range(1, n_max + 1) if total(k) <= budget_s), default=0)
    n = max(n, min(n_min, n_max))
    return JobPlan(n, repeats, float(answer_s), total(n), n_max, float(budget_s), parts, max_concurrency)


def _check_args(prompts: Any, max_concurrency: Any, repeats: Any) -> tuple[str, ...]:
    if not isinstance(prompts, (list, tuple)) or not prompts:
        raise ValueError("prompts must be a non-empty list of strings")
    if not all(isinstance(p, str) and p.strip() for p in prompts):
        raise ValueError("every prompt must be a non-empty string")
    if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int) or max_concurrency < 1:
        raise ValueError(f"max_concurrency must be a whole number >= 1, got {max_concurrency!r}")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be a whole number >= 1 (3 or more for a fair median), got {repeats!r}")
    return tuple(prompts)


def orders(repeats: int, start: int = 0) -> tuple[tuple[str, ...], ...]:
    """The order of the modes in each repeat: rotated, so each mode goes first in turn (lesson 04).
    start: how many repeats ran before (a cell that continues a comparison keeps rotating)."""
    return tuple(MODES[r % 3:] + MODES[:r % 3] for r in range(start, start + repeats))


def _run(llm, prompts, mode: str, fn: Callable, max_concurrency: int) -> tuple[JobRun, str]:
    """Run one of the three ways (`modes.invoke_loop` and friends, or the notebook's own) once,
    with a `Tally` attached so that tokens, errors and batch's first finished request are counted."""
    tally = Tally()
    counted = llm.with_config(callbacks=[tally])
    t0 = time.perf_counter()
    shown, done = fn(counted, prompts, max_concurrency) if mode == "batch" else fn(counted, prompts)
    first_ready = min((t - t0 for t in tally.ends), default=done) if mode == "batch" else None
    run = JobRun(mode, tuple(shown), done, tally.tokens, tally.errors,
                 None if first_ready is None else min(first_ready, done))
    return run, (tally.texts[0] if tally.texts else "")


def _check_loops(loops: Any) -> tuple[Callable, Callable, Callable]:
    if loops is None:
        return LOOPS
    if not (isinstance(loops, (list, tuple)) and len(loops) == 3 and all(callable(f) for f in loops)):
        raise ValueError("loops must be three functions, in this order: (invoke_loop, stream_loop, batch_job)")
    return tuple(loops)


def _check_after(after: Any, prompts: tuple[str, ...], max_concurrency: int) -> None:
    if after is None:
        return
    if not isinstance(after, ModeComparison):
        raise ValueError("after must be the comparison an earlier run_modes cell returned, or None")
    if after.prompts != prompts or after.max_concurrency != max_concurrency:
        raise ValueError(f"after= continues a comparison of the same job: {len(after.prompts)} prompts at "
                         f"max_concurrency={after.max_concurrency}, not {len(prompts)} at {max_concurrency} "
                         "(start again without after=)")


def run_modes(llm, prompts: Sequence[str], max_concurrency: int, *, repeats: int = 3,
              label: str = "", warm_up: bool = True, report: Callable[[str], None] | None = None,
              loops: Sequence[Callable] | None = None, after: ModeComparison | None = None,
              plan: JobPlan | None = None) -> ModeComparison:
    """Do the same job (answer every prompt) three ways, `repeats` times (lesson 04).

    Each repeat runs the invoke loop, the stream loop and one `llm.batch(...)` with
    `max_concurrency`, in an order that rotates from repeat to repeat. loops: the three
    functions to run, (invoke_loop, stream_loop, batch_job), e.g. the ones the notebook
    defines; by default the identical ones in `modes`.
    warm_up sends one short untimed request first (it opens the connection).
    report (e.g. `print`) gets one line per repeat. label names the backend.
    after: a comparison of the same job from an earlier cell; this call adds its repeats
    to it (the order keeps rotating) and returns the whole. plan: the `JobPlan` this cell
    follows; report then gets a last line with the time the cell took beside the plan's estimate.
    """
    prompts = _check_args(prompts, max_concurrency, repeats)
    _check_after(after, prompts, max_concurrency)
    if plan is not None and not isinstance(plan, JobPlan):
        raise ValueError("plan must be the JobPlan from compare.plan_job(...), or None")
    fns = dict(zip(MODES, _check_loops(loops)))
    say = report or (lambda line: None)
    done_before = after.repeats if after else 0
    t0 = time.perf_counter()
    if warm_up:
        llm.invoke(prompts[0], max_tokens=8)
    runs: dict[str, list[JobRun]] = {m: list(getattr(after, m).runs) if after else [] for m in MODES}
    sample = after.sample_answer if after else ""
    these = orders(repeats, start=done_before)
    for i, order in enumerate(these):
        for mode in order:
            run, text = _run(llm, prompts, mode, fns[mode], max_concurrency)
            runs[mode].append(run)
            sample = sample or (text if mode == "invoke" else "")
        say(f"repeat {done_before + i + 1} of {done_before + repeats} (order: {', '.join(order)}): "
            f"all {len(prompts)} answers done in "
            + ", ".join(f"{m} {_s(runs[m][-1].all_done_s)}" for m in MODES))
    if plan is not None:
        lo, hi = plan.cell_seconds(repeats, len(prompts), max_concurrency)
        guess = f"about {lo:.0f} s" + (f" (or {hi:.0f} s one request at a time)" if round(hi) > round(lo) else "")
        these_n = "this repeat" if repeats == 1 else f"these {repeats} repeats"
        say(f"{these_n} took {time.perf_counter() - t0:.1f} s, warm-up included; "
            f"the plan's estimate from one answer of {plan.answer_s:.2f} s: {guess}")
    return ModeComparison(label or (after.label if after else ""), max_concurrency, prompts,
                          *(ModeResult(m, tuple(runs[m])) for m in MODES),
                          (after.orders if after else ()) + these, sample)
