"""Invoke, stream and batch measured fairly on the same job of N prompts (lesson 04).

    probe = measure_invoke(llm, prompts[0])             # one answer, timed
    plan = plan_job(probe.total_s, n_max=len(prompts), budget_s=60)
    cmp = run_modes(llm, prompts[:plan.n_prompts], max_concurrency=4, repeats=plan.repeats)
    print(verdicts(cmp))                                # computed from this run
    first_vs_all_done(cmp); waits_per_mode(cmp)         # the two pictures

The job is the same for every mode: answer N prompts. The three ways to do it:

- **invoke loop**: one `invoke` after another; each answer appears whole when it is done;
- **stream loop**: one `stream` after another; each answer starts to show at its first text;
- **batch**: one `batch(..., max_concurrency=...)`; every answer appears when the list returns.

For each way, three moments, in seconds since the job started:

- **first text**: when the user first sees any text;
- **mean wait per answer**: on average, how long each prompt waited until its answer began to show;
- **all done**: when the last answer was complete.

Fair measurement: one untimed warm-up request opens the connection; the job is
repeated (3 times by default) and the order of the modes rotates each time, so
no mode always goes first; results are medians with the min-max range.
Every stamp is `time.perf_counter()` seconds.
"""
from __future__ import annotations

import html
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import ipywidgets as w
import matplotlib.pyplot as plt
import numpy as np

from ..plots import MODE_COLORS, style_axes
from ..quiz import Feedback, Question, ____, _is_blank
from ..timing import measure_batch, measure_invoke, measure_stream

MODES = ("invoke", "stream", "batch")
MARKERS = {"invoke": "o", "stream": "^", "batch": "s"}
LOOP = {"invoke": "invoke loop", "stream": "stream loop", "batch": "batch"}


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


# ---- measuring -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Spread:
    """One number over the repeats: the median and the range, min to max (lesson 04)."""

    median: float
    lo: float
    hi: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        values = list(values)
        return cls(float(statistics.median(values)), float(min(values)), float(max(values)))

    def overlaps(self, other: Spread) -> bool:
        """True when the two ranges share any value: then this run cannot tell them apart."""
        return self.lo <= other.hi and other.lo <= self.hi

    def __str__(self) -> str:
        return f"{_s(self.median)} ({_num(self.lo)}-{_num(self.hi)})"


@dataclass(frozen=True)
class JobRun:
    """One mode doing the whole job once (lesson 04). Seconds since the job started.

    shown_s: per prompt, when its answer began to show (invoke: when it was done;
    stream: its first text; batch: when `batch()` returned the list).
    first_ready_s: batch only, when its quickest request had finished on the wire.
    """

    mode: str
    shown_s: tuple[float, ...]
    all_done_s: float
    completion_tokens: int
    n_errors: int = 0
    first_ready_s: float | None = None

    @property
    def first_text_s(self) -> float:
        return min(self.shown_s)

    @property
    def mean_wait_s(self) -> float:
        return statistics.fmean(self.shown_s)

    @property
    def tokens_per_s(self) -> float:
        """Completion tokens of the answers that came back, per second of the whole job."""
        return self.completion_tokens / self.all_done_s


@dataclass(frozen=True)
class ModeResult:
    """One mode over all the repeats (lesson 04): medians and ranges via `Spread`."""

    mode: str
    runs: tuple[JobRun, ...]

    def spread(self, name: str) -> Spread:
        return Spread.of([getattr(r, name) for r in self.runs])

    @property
    def first_text(self) -> Spread:
        return self.spread("first_text_s")

    @property
    def mean_wait(self) -> Spread:
        return self.spread("mean_wait_s")

    @property
    def all_done(self) -> Spread:
        return self.spread("all_done_s")

    @property
    def tokens_per_s(self) -> Spread:
        return self.spread("tokens_per_s")

    @property
    def n_errors(self) -> int:
        return sum(r.n_errors for r in self.runs)


@dataclass(frozen=True)
class ModeComparison:
    """The three modes on the same job, repeated with the order rotated (lesson 04).

    orders: the order the modes ran in, one tuple per repeat.
    """

    label: str
    max_concurrency: int
    prompts: tuple[str, ...]
    invoke: ModeResult
    stream: ModeResult
    batch: ModeResult
    orders: tuple[tuple[str, ...], ...]
    sample_answer: str

    @property
    def modes(self) -> tuple[ModeResult, ModeResult, ModeResult]:
        return (self.invoke, self.stream, self.batch)

    @property
    def repeats(self) -> int:
        return len(self.orders)

    @property
    def first_ready(self) -> Spread:
        """When batch's quickest request had finished, though `batch()` still held it."""
        return Spread.of([r.first_ready_s for r in self.batch.runs])

    def winner(self, name: str) -> tuple[str, int]:
        """The mode with the lowest median of `name` (e.g. "all_done_s"), and in how many
        repeats it was lowest."""
        best = min(self.modes, key=lambda m: m.spread(name).median).mode
        wins = sum(min(self.modes, key=lambda m: getattr(m.runs[i], name)).mode == best
                   for i in range(self.repeats))
        return best, wins

    def speedup(self) -> Spread:
        """invoke loop's all-done time / batch's, per repeat: how many times sooner batch finished."""
        return Spread.of([i.all_done_s / b.all_done_s for i, b in zip(self.invoke.runs, self.batch.runs)])


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


def _loop(llm, prompts, mode: str) -> tuple[JobRun, str]:
    shown, tokens, first, t0 = [], 0, "", time.perf_counter()
    for p in prompts:
        start = time.perf_counter() - t0
        r = measure_invoke(llm, p) if mode == "invoke" else measure_stream(llm, p)
        shown.append(start + (r.total_s if mode == "invoke" else r.ttft_s))
        tokens += r.completion_tokens or 0
        first = first or r.text
    return JobRun(mode, tuple(shown), time.perf_counter() - t0, tokens), first


def _batch(llm, prompts, max_concurrency: int) -> JobRun:
    b = measure_batch(llm, list(prompts), max_concurrency)
    ok = [r for r in b.requests if r.ok]
    return JobRun("batch", (b.makespan_s,) * len(prompts), b.makespan_s,
                  sum(r.completion_tokens for r in ok), b.n_errors,
                  min((r.end_s for r in ok), default=b.makespan_s))


def run_modes(llm, prompts: Sequence[str], max_concurrency: int, *, repeats: int = 3,
              label: str = "", warm_up: bool = True,
              report: Callable[[str], None] | None = None) -> ModeComparison:
    """Do the same job (answer every prompt) three ways, `repeats` times (lesson 04).

    Each repeat runs the invoke loop, the stream loop and one `llm.batch(...,
    max_concurrency=...)`, in an order that rotates from repeat to repeat.
    warm_up sends one short untimed request first (it opens the connection).
    report (e.g. `print`) gets one line per repeat. label names the backend.
    """
    prompts = _check_args(prompts, max_concurrency, repeats)
    say = report or (lambda line: None)
    if warm_up:
        llm.invoke(prompts[0], max_tokens=8)
    runs: dict[str, list[JobRun]] = {m: [] for m in MODES}
    sample = ""
    for i, order in enumerate(orders(repeats)):
        for mode in order:
            if mode == "batch":
                runs[mode].append(_batch(llm, prompts, max_concurrency))
            else:
                run, text = _loop(llm, prompts, mode)
                runs[mode].append(run)
                sample = sample or (text if mode == "invoke" else "")
        say(f"repeat {i + 1} of {repeats} (order: {', '.join(order)}): all {len(prompts)} answers done in "
            + ", ".join(f"{m} {_s(runs[m][-1].all_done_s)}" for m in MODES))
    return ModeComparison(label, max_concurrency, prompts,
                          *(ModeResult(m, tuple(runs[m])) for m in MODES),
                          orders(repeats), sample)


# ---- verdicts: computed from the run, never typed in ----------------------------------------

def _s(seconds: float) -> str:
    return f"{seconds:.3f} s" if seconds < 0.1 else f"{seconds:.2f} s"


def _num(seconds: float) -> str:
    return _s(seconds)[:-2]


def spread_verdict(what: str, a_name: str, a: Spread, b_name: str, b: Spread) -> str:
    """Compare two measured spreads of seconds (lower is better), honestly (lesson 04).

    Only when the ranges do not overlap does it name a winner; otherwise it says the
    run cannot tell them apart (it never claims "the same").
    """
    head = f"{what}: {a_name} {a} vs {b_name} {b}"
    if a.overlaps(b):
        return f"{head}: the ranges overlap, so this run cannot tell them apart"
    (win, w), (lose, l_) = sorted([(a_name, a), (b_name, b)], key=lambda x: x[1].median)
    ratio = l_.median / w.median if w.median > 0 else math.inf
    return f"{head}: {win} was sooner in every repeat ({ratio:.1f}× sooner by the medians)"


CPU_NOTE = ("(batch gains only when the server can work on several requests at once: on a CPU with "
            "few cores the requests in flight share the same cores, a busy machine slows them further, "
            "and rate limits can hold them back)")
LOOPS_NOTE = ("(streaming changes how the answer is delivered, not how many tokens the model writes; "
              "a gap like this can come from the machine (other programs on a busy CPU), from random "
              "jitter, or from the small cost of handling each chunk: rerun to see whether it stays)")


@dataclass(frozen=True)
class Lines:
    """Printed lines that also show as plain text in Jupyter (lesson 04)."""

    lines: tuple[str, ...]

    def __str__(self) -> str:
        return "\n".join(self.lines)

    __repr__ = __str__


def verdicts(cmp: ModeComparison) -> Lines:
    """What this run showed, one computed sentence per question (lesson 04)."""
    inv, st, b = cmp.invoke, cmp.stream, cmp.batch
    lines = [f"{len(cmp.prompts)} prompts, {cmp.repeats} repeats; medians, with min-max in brackets:",
             spread_verdict("first text", "stream loop", st.first_text, "invoke loop", inv.first_text),
             spread_verdict("all done", "stream loop", st.all_done, "invoke loop", inv.all_done)]
    if not st.all_done.overlaps(inv.all_done):
        lines.append("  " + LOOPS_NOTE)
    lines.append(spread_verdict("all done", "batch", b.all_done, "invoke loop", inv.all_done))
    if b.all_done.median >= inv.all_done.median or b.all_done.overlaps(inv.all_done):
        lines.append("  " + CPU_NOTE)
    lines.append(spread_verdict("mean wait per answer", "batch", b.mean_wait, "invoke loop", inv.mean_wait))
    if b.n_errors:
        lines.append(f"batch: {b.n_errors} requests failed over the repeats; tokens/s counts only answers")
    return Lines(tuple(lines))


def _mode_guess(value: Any) -> str | None:
    text = str(value).strip().lower()
    return text if text in MODES else None


def guess_vs_measured(guess: dict, cmp: ModeComparison) -> Lines:
    """Each of your guesses beside what this run measured (lesson 04).

    guess keys: "first text on screen", "all answers done first" (a mode) and
    "batch speed-up" (how many times sooner than the invoke loop batch finishes the job).
    """
    if not isinstance(guess, dict):
        raise ValueError("my_guess must be a dict, e.g. {\"first text on screen\": \"stream\", ...}")
    lines = []
    for key, name in (("first text on screen", "first_text_s"), ("all answers done first", "all_done_s")):
        best, wins = cmp.winner(name)
        measured = f"measured: {best} (lowest in {wins} of {cmp.repeats} repeats)"
        close = [m.mode for m in cmp.modes
                 if m.mode != best and m.spread(name).overlaps(getattr(cmp, best).spread(name))]
        if close:
            measured += f", but its range overlaps {' and '.join(close)}'s: no clear winner in this run"
        g = guess.get(key, ____)
        said = ("(no guess)" if _is_blank(g) else
                f"{_mode_guess(g)}" if _mode_guess(g) else f"{g!r} (not one of invoke, stream, batch)")
        mark = " ✓" if _mode_guess(g) == best and not close else ""
        lines.append(f"{key}: you guessed {said}; {measured}{mark}")
    sp, g = cmp.speedup(), guess.get("batch speed-up", ____)
    try:
        said = "(no guess)" if _is_blank(g) else f"{float(g):.1f}×"
    except (TypeError, ValueError):
        said = f"{g!r} (not a number)"
    lines.append(f"batch speed-up: you guessed {said}; measured {sp.median:.1f}× (the median of the "
                 f"{cmp.repeats} repeats' invoke-loop time / batch time; range {sp.lo:.1f}-{sp.hi:.1f})")
    return Lines(tuple(lines))


# ---- the classic comparison table, rebuilt from the measurements --------------------------

@dataclass(frozen=True)
class ModeTable:
    """A small table that shows as HTML in Jupyter and as plain text elsewhere (lesson 04)."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str = ""

    def __str__(self) -> str:
        cells = [self.header, *self.rows]
        widths = [max(len(r[i]) for r in cells) for i in range(len(self.header))]
        line = lambda r: " | ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
        body = [line(self.header), "-+-".join("-" * w for w in widths), *map(line, self.rows)]
        return "\n".join(([self.caption] if self.caption else []) + body)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        def row(cells, tag):
            return "<tr>" + "".join(f'<{tag} style="text-align:left">{html.escape(c)}</{tag}>'
                                    for c in cells) + "</tr>"
        caption = f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        return (f"<table>{caption}<thead>{row(self.header, 'th')}</thead><tbody>"
                + "".join(row(r, "td") for r in self.rows) + "</tbody></table>")


def mode_table(cmp: ModeComparison) -> ModeTable:
    """The classic table (Mode | User waits? | Multiple inputs? | Best for), every
    number from this run: medians over the repeats (lesson 04)."""
    inv, st, b, n = cmp.invoke, cmp.stream, cmp.batch, len(cmp.prompts)
    rows = (
        ("invoke", f"Yes: nothing for {_s(inv.first_text.median)}, then the whole first answer",
         f"No: one after another, all {n} done at {_s(inv.all_done.median)}",
         f"Simple scripts and background jobs ({inv.tokens_per_s.median:.0f} tokens/s)"),
        ("stream", f"No: first words after {_s(st.first_text.median)}, the rest arrive live",
         f"No: one after another, all {n} done at {_s(st.all_done.median)}",
         f"Chatbots and any UI ({st.tokens_per_s.median:.0f} tokens/s)"),
        ("batch", f"Yes: nothing for {_s(b.first_text.median)}, until the slowest is done "
         f"(the first was ready at {_s(cmp.first_ready.median)})",
         f"Yes: {cmp.max_concurrency} at a time, all {n} done at {_s(b.all_done.median)}",
         f"Bulk processing ({b.tokens_per_s.median:.0f} tokens/s, "
         f"{b.tokens_per_s.median / inv.tokens_per_s.median:.1f}× the invoke loop's median)"),
    )
    where = f" on {cmp.label}" if cmp.label else ""
    return ModeTable(("Mode", "User waits?", "Multiple inputs?", "Best for"), rows,
                     f"Measured in this run{where}: {n} prompts, medians of {cmp.repeats} repeats")


# ---- plots ---------------------------------------------------------------------------------

def _axes(figsize, ncols=1):
    fig, ax = plt.subplots(1, ncols, figsize=figsize, layout="constrained", squeeze=False)
    style_axes(ax.flat)
    return fig, list(ax.flat)


def _name(cmp: ModeComparison, i: int) -> str:
    return cmp.label or f"run {i + 1}"


def _err(sp: Spread) -> list[list[float]]:
    return [[sp.median - sp.lo], [sp.hi - sp.median]]


def _panel_title(cmp: ModeComparison, i: int) -> str:
    return (f"{_name(cmp, i)}: {len(cmp.prompts)} prompts, max_concurrency={cmp.max_concurrency}, "
            f"{cmp.repeats} repeats")


def first_vs_all_done(*cmps: ModeComparison | None):
    """When the user first sees text (x, s) against when every answer is done (y, s): one
    marker per mode at the medians, bars from min to max over the repeats; one panel per
    comparison, linear axes from 0 (lesson 04). None entries are skipped."""
    cmps = [c for c in cmps if c is not None]
    fig, axes = _axes((max(6.5, 5.6 * len(cmps)), 4.6), ncols=max(1, len(cmps)))
    for i, (cmp, ax) in enumerate(zip(cmps, axes)):
        low = min(cmp.invoke, cmp.stream, key=lambda m: m.all_done.median).mode
        for m in cmp.modes:
            x, y = m.first_text, m.all_done
            ax.errorbar(x.median, y.median, xerr=_err(x), yerr=_err(y), fmt=MARKERS[m.mode], ms=11,
                        color=MODE_COLORS[m.mode], capsize=4, lw=1.5, label=LOOP[m.mode], zorder=3)
            below = m.mode == low        # the loops often end at the same height: labels apart
            ax.annotate(LOOP[m.mode], (x.median, y.median), xytext=(9, -9 if below else 9),
                        textcoords="offset points", va="top" if below else "bottom", fontsize=9, color="0.15")
        ax.set(xlim=(0, 1.6 * max(m.first_text.hi for m in cmp.modes)),
               ylim=(0, 1.25 * max(m.all_done.hi for m in cmp.modes)), title=_panel_title(cmp, i),
               xlabel="first text on screen (s since the job started)",
               ylabel="all answers done (s since the job started)")
        ax.annotate("↙ sooner on both", xy=(0.02, 0.02), xycoords="axes fraction", fontsize=9, color="0.4")
    if cmps:
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=3, fontsize="small", frameon=False,
                   title="markers: medians; bars: min to max over the repeats", title_fontsize="small")
    fig.suptitle("When does the user see the first text, and when is every answer done?")
    return fig, (np.array(axes) if len(cmps) > 1 else axes[0])


WAITS = (("first_text", "first text", None), ("mean_wait", "mean wait until each answer shows", ".."),
         ("all_done", "all done", "//"))


def waits_per_mode(*cmps: ModeComparison | None):
    """Per mode, three bars (medians, with min-max error bars): first text, mean wait per
    answer, all done; one panel per comparison (lesson 04). None entries are skipped."""
    cmps = [c for c in cmps if c is not None]
    fig, axes = _axes((max(7.5, 5.6 * len(cmps)), 4.4), ncols=max(1, len(cmps)))
    x = np.arange(len(MODES))
    for i, (cmp, ax) in enumerate(zip(cmps, axes)):
        for j, m in enumerate(cmp.modes):
            for k, (attr, _label, hatch) in enumerate(WAITS):
                sp, pos = getattr(m, attr), x[j] + (k - 1) * 0.27
                ax.bar(pos, sp.median, width=0.25, yerr=_err(sp), capsize=3, lw=1.5,
                       color=MODE_COLORS[m.mode] if hatch is None else "white",
                       edgecolor=MODE_COLORS[m.mode], hatch=hatch, ecolor="0.3")
                ax.annotate(_num(sp.median), (pos, sp.hi), xytext=(0, 2), textcoords="offset points",
                            ha="center", fontsize=7.5)
        ax.set_xticks(x, [LOOP[m] for m in MODES])
        ax.set_ylim(0, 1.2 * max(m.all_done.hi for m in cmp.modes))
        ax.set(ylabel="seconds since the job started", title=_panel_title(cmp, i))
    from matplotlib.patches import Patch
    fig.legend(handles=[Patch(facecolor="0.45" if h is None else "white", edgecolor="0.45", hatch=h,
                              label=lab) for _, lab, h in WAITS],
               loc="outside lower center", ncols=3, fontsize="small", frameon=False)
    fig.suptitle("How long did the user wait? (bars: median; lines: min to max over the repeats)")
    return fig, (np.array(axes) if len(cmps) > 1 else axes[0])


# ---- the real-world mapping exercise -------------------------------------------------------

@dataclass(frozen=True)
class MappingResult:
    """What the scenario check says (lesson 04): the overall feedback, and per scenario
    None (not chosen yet), "" (fits) or why it needs another look."""

    feedback: Feedback
    scenarios: dict


def _accepted(question: Question) -> dict[str, set[str]]:
    answers = question.spec["expect"]["answers"]
    return {k: {str(v).strip().lower() for v in ok} for k, ok in answers.items()}


def check_mapping(questions: Sequence[Question], modes: dict) -> MappingResult:
    """Check {scenario: mode} against one or more mapping exercises of the quiz (lesson 04).

    Each question's own `check` decides (and records your progress); a scenario
    left empty ("" or None) reads as not attempted.
    """
    rows: dict[str, str | None] = {}
    verdicts = []
    for q in questions:
        part = {k: modes.get(k) or ____ for k in q.spec["expect"]["answers"]}
        verdicts.append(q.check(part))
        for key, ok in _accepted(q).items():
            given = modes.get(key)
            rows[key] = (None if not given else
                         "" if str(given).strip().lower() in ok else q.spec["expect"]["feedback"][key])
    if any(v.outcome == "not_attempted" for v in verdicts):
        empty = sum(v is None for v in rows.values())
        fb = Feedback("not_attempted", "Not attempted", f"Choose a mode for every scenario ({empty} left).")
    elif all(v.outcome == "correct" for v in verdicts):
        fb = Feedback("correct", "Correct", "\n\n".join(q.spec["explanation"].strip() for q in questions))
    else:
        wrong = sum(bool(v) for v in rows.values())
        fb = Feedback("incorrect", "Not yet", f"{wrong} of {len(rows)} scenarios need another look: "
                      "read the note beside each one, or ask for a hint.")
    return MappingResult(fb, rows)


class MappingWidget(w.VBox):
    """The scenario -> mode exercise as ipywidgets (lesson 04): a Dropdown per scenario,
    Check and Hint buttons, a note beside each scenario and the overall feedback.
    A thin skin over `check_mapping`. Parts: `.dropdowns` and `.notes` (by scenario),
    `.check_button`, `.hint_button`, `.feedback`."""

    def __init__(self, questions: Sequence[Question]):
        self.questions = tuple(questions)
        keys = [k for q in self.questions for k in q.spec["expect"]["answers"]]
        options = [("choose…", ""), ("invoke", "invoke"), ("stream", "stream"), ("batch", "batch")]
        self.dropdowns = {k: w.Dropdown(options=options, value="", layout=w.Layout(width="100px"))
                          for k in keys}
        self.notes = {k: w.HTML(layout=w.Layout(flex="1 1 0%")) for k in keys}
        self.check_button = w.Button(description="Check", button_style="primary")
        self.hint_button = w.Button(description="Hint")
        self.feedback, self._hints_shown = w.HTML(), 0
        self.check_button.on_click(self._on_check)
        self.hint_button.on_click(self._on_hint)
        rows = [w.HBox([w.Label(k, layout=w.Layout(width="360px")), self.dropdowns[k], self.notes[k]])
                for k in keys]
        super().__init__(rows + [w.HBox([self.check_button, self.hint_button]), self.feedback])

    def result(self) -> MappingResult:
        """Check the dropdowns' current choices."""
        return check_mapping(self.questions, {k: d.value for k, d in self.dropdowns.items()})

    def _on_check(self, _button) -> None:
        res = self.result()
        for key, note in res.scenarios.items():
            self.notes[key].value = ("" if note is None else "<b>✓ Fits</b>" if note == ""
                                     else f"<b>Not yet:</b> {html.escape(note)}")
        self.feedback.value = res.feedback._repr_html_()

    def _on_hint(self, _button) -> None:
        first = self.questions[0]
        self._hints_shown = min(self._hints_shown + 1, len(first.spec["hints"]))
        hint = first.hint(self._hints_shown)
        message = hint.message.split("\n\n")[0]   # the widget's button, not .hint(n), gives the next one
        self.feedback.value = Feedback("hint", hint.label, message)._repr_html_()


def mapping_widget(*questions: Question) -> MappingWidget:
    """The real-world mapping exercise as a widget (lesson 04), e.g.
    `mapping_widget(quiz["real_world"], quiz["real_world_more"])`."""
    return MappingWidget(questions)
