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

__all__ = ["MODES", "MARKERS", "LOOP", "JobPlan", "plan_job", "Spread", "JobRun", "ModeResult", "ModeComparison",
           "orders", "run_modes", "spread_verdict", "CPU_NOTE", "LOOPS_NOTE", "Lines", "verdicts",
           "guess_vs_measured", "ModeTable", "mode_table", "WAITS", "first_vs_all_done", "waits_per_mode",
           "MappingResult", "check_mapping", "MappingWidget", "mapping_widget", "_s", "_num",
           "invoke_loop", "stream_loop", "batch_job"]

# ---- sizing the job to the backend's speed -----------------------------------------------

@dataclass(frozen=True)
class JobPlan:
    """How much work fits the time budget, from one timed answer (lesson 04).

    estimate_s is cautious: each repeat runs the invoke loop and the stream loop
    (N answers each) and a batch counted as twice as slow as a loop (on a busy CPU
    the requests in flight can slow each other down that much).
    """

    n_prompts: int
    repeats: int
    answer_s: float
    estimate_s: float
    n_wanted: int
    budget_s: float

    @property
    def shrunk(self) -> bool:
        return self.n_prompts < self.n_wanted

    def __str__(self) -> str:
        head = f"one answer took {self.answer_s:.2f} s here"
        if not self.shrunk:
            return (f"{head}: measuring all {self.n_prompts} prompts × {self.repeats} repeats, "
                    f"about {self.estimate_s:.0f} s")
        full = self.estimate_s * self.n_wanted / self.n_prompts
        note = (f"{head}, so {self.n_wanted} prompts × {self.repeats} repeats would take about {full:.0f} s: "
                f"measuring {self.n_prompts} prompts instead (shrunk to fit about {self.budget_s:.0f} s)")
        if self.estimate_s > self.budget_s * 1.2:
            note += f"; even this takes about {self.estimate_s:.0f} s, so expect a wait"
        return note

    __repr__ = __str__


def plan_job(answer_s: float, n_max: int, budget_s: float = 60.0, repeats: int = 3,
             n_min: int = 2) -> JobPlan:
    """Pick how many prompts to measure so that `repeats` runs of the three modes fit
    about `budget_s` seconds, given `answer_s`, the measured time of one answer (lesson 04).

    Repeats never drop below 3 (a median needs them); the number of prompts shrinks
    instead, down to n_min. A pure function: the same numbers give the same plan.
    """
    if not (isinstance(answer_s, (int, float)) and math.isfinite(answer_s) and answer_s > 0):
        raise ValueError(f"answer_s must be a measured time in seconds > 0, got {answer_s!r}")
    if isinstance(n_max, bool) or not isinstance(n_max, int) or n_max < 1:
        raise ValueError(f"n_max must be a whole number >= 1, got {n_max!r}")
    if not (isinstance(budget_s, (int, float)) and budget_s > 0):
        raise ValueError(f"budget_s must be a number of seconds > 0, got {budget_s!r}")
    repeats = max(3, int(repeats))
    per_prompt = 4 * repeats * answer_s             # invoke + stream + a batch twice as slow as a loop
    n = max(min(n_min, n_max), min(n_max, int(budget_s // per_prompt)))
    return JobPlan(n, repeats, float(answer_s), n * per_prompt, n_max, float(budget_s))


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


def orders(repeats: int) -> tuple[tuple[str, ...], ...]:
    """The order of the modes in each repeat: rotated, so each mode goes first in turn (lesson 04)."""
    return tuple(MODES[r % 3:] + MODES[:r % 3] for r in range(repeats))


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


def run_modes(llm, prompts: Sequence[str], max_concurrency: int, *, repeats: int = 3,
              label: str = "", warm_up: bool = True, report: Callable[[str], None] | None = None,
              loops: Sequence[Callable] | None = None) -> ModeComparison:
    """Do the same job (answer every prompt) three ways, `repeats` times (lesson 04).

    Each repeat runs the invoke loop, the stream loop and one `llm.batch(...)` with
    `max_concurrency`, in an order that rotates from repeat to repeat. loops: the three
    functions to run, (invoke_loop, stream_loop, batch_job), e.g. the ones the notebook
    defines; by default the identical ones in `modes`.
    warm_up sends one short untimed request first (it opens the connection).
    report (e.g. `print`) gets one line per repeat. label names the backend.
    """
    prompts = _check_args(prompts, max_concurrency, repeats)
    fns = dict(zip(MODES, _check_loops(loops)))
    say = report or (lambda line: None)
    if warm_up:
        llm.invoke(prompts[0], max_tokens=8)
    runs: dict[str, list[JobRun]] = {m: [] for m in MODES}
    sample = ""
    for i, order in enumerate(orders(repeats)):
        for mode in order:
            run, text = _run(llm, prompts, mode, fns[mode], max_concurrency)
            runs[mode].append(run)
            sample = sample or (text if mode == "invoke" else "")
        say(f"repeat {i + 1} of {repeats} (order: {', '.join(order)}): all {len(prompts)} answers done in "
            + ", ".join(f"{m} {_s(runs[m][-1].all_done_s)}" for m in MODES))
    return ModeComparison(label, max_concurrency, prompts,
                          *(ModeResult(m, tuple(runs[m])) for m in MODES),
                          orders(repeats), sample)
