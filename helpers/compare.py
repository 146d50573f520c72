"""Invoke, stream and batch measured side by side on the same prompts (lesson 04).

    cmp = run_modes(llm, prompts, max_concurrency=4)
    latency_vs_throughput(cmp)      # the trade-off in one picture
    mode_table(cmp)                 # the source lesson's table, filled with this run's numbers

For each mode, `run_modes` records two things people care about:

- **perceived latency**: how long the caller waits before the first visible text
  (invoke: the whole answer; stream: the time to first text; batch: the whole
  batch, because `batch()` returns one list when the slowest answer is done);
- **throughput**: completion tokens (and requests) finished per second of wall time
  for all the prompts together.

Every stamp is `time.perf_counter()` seconds, via `helpers.timing`.
"""
from __future__ import annotations

import html
import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import ipywidgets as w
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from .plots import MODE_COLORS
from .quiz import ____, Feedback, Question
from .timing import measure_batch, measure_invoke, measure_stream

MODES = ("invoke", "stream", "batch")
MARKERS = {"invoke": "o", "stream": "^", "batch": "s"}


# ---- measuring -----------------------------------------------------------------------------

@dataclass(frozen=True)
class ModeResult:
    """One mode run over all the prompts (lesson 04). Times in seconds.

    perceived_latency_s: average wait before the caller sees any text.
    wall_s: wall time for all the prompts, from the first call to the last answer.
    mean_request_s: average time of one request, from its start to its last token.
    """

    mode: str
    perceived_latency_s: float
    wall_s: float
    mean_request_s: float
    completion_tokens: int
    n_requests: int
    n_errors: int = 0

    @property
    def tokens_per_s(self) -> float:
        """Throughput: completion tokens finished per second of wall time."""
        return self.completion_tokens / self.wall_s

    @property
    def requests_per_s(self) -> float:
        """Throughput: requests finished per second of wall time."""
        return self.n_requests / self.wall_s


@dataclass(frozen=True)
class ModeComparison:
    """The three modes measured on the same prompts in one run (lesson 04).

    first_ready_s: when the batch's quickest request had finished. `batch()`
    still held that answer until the whole list was ready (`batch.perceived_latency_s`);
    `batch_as_completed()` hands each answer over as soon as it is ready.
    """

    label: str
    max_concurrency: int
    prompts: tuple[str, ...]
    invoke: ModeResult
    stream: ModeResult
    batch: ModeResult
    first_ready_s: float
    sample_answer: str

    @property
    def modes(self) -> tuple[ModeResult, ModeResult, ModeResult]:
        return (self.invoke, self.stream, self.batch)

    @property
    def first_text_winner(self) -> str:
        """The mode whose caller saw text soonest."""
        return min(self.modes, key=lambda m: m.perceived_latency_s).mode

    @property
    def throughput_winner(self) -> str:
        """The mode that finished the most tokens per second."""
        return max(self.modes, key=lambda m: m.tokens_per_s).mode


def _check_args(prompts: Any, max_concurrency: Any) -> tuple[str, ...]:
    if not isinstance(prompts, (list, tuple)) or not prompts:
        raise ValueError("prompts must be a non-empty list of strings")
    if not all(isinstance(p, str) and p.strip() for p in prompts):
        raise ValueError("every prompt must be a non-empty string")
    if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int) or max_concurrency < 1:
        raise ValueError(f"max_concurrency must be a whole number >= 1, got {max_concurrency!r}")
    return tuple(prompts)


def _one_by_one(mode: str, results: list, wall_s: float, first_text: Callable) -> ModeResult:
    return ModeResult(mode, statistics.fmean(first_text(r) for r in results), wall_s,
                      statistics.fmean(r.total_s for r in results),
                      sum(r.completion_tokens or 0 for r in results), len(results))


def _rate(m: ModeResult) -> str:
    return f"{_s(m.wall_s)} ({m.requests_per_s:.1f} requests/s, {m.tokens_per_s:.0f} tokens/s)"


def run_modes(llm, prompts: Sequence[str], max_concurrency: int, *, label: str = "",
              warm_up: bool = True, report: Callable[[str], None] | None = None) -> ModeComparison:
    """Run the same prompts three ways and summarise each mode (lesson 04).

    1. invoke: one prompt after another, each waited for in full;
    2. stream: one prompt after another, stamping the first visible text;
    3. batch: all prompts with `llm.batch(..., max_concurrency=max_concurrency)`.

    warm_up sends one short untimed request first, so that the first mode does
    not pay alone for opening the connection. report (e.g. `print`) gets one
    line as each mode finishes. label names the backend in plots and tables.
    """
    prompts = _check_args(prompts, max_concurrency)
    say = report or (lambda line: None)
    if warm_up:
        llm.invoke(prompts[0], max_tokens=8)
    t0 = time.perf_counter()
    invoked = [measure_invoke(llm, p) for p in prompts]
    invoke = _one_by_one("invoke", invoked, time.perf_counter() - t0, lambda r: r.total_s)
    say(f"invoke: {len(prompts)} prompts one after another in {_rate(invoke)}")
    t0 = time.perf_counter()
    streamed = [measure_stream(llm, p) for p in prompts]
    stream = _one_by_one("stream", streamed, time.perf_counter() - t0, lambda r: r.ttft_s)
    say(f"stream: {len(prompts)} prompts one after another in {_rate(stream)}")
    b = measure_batch(llm, list(prompts), max_concurrency)
    batch = ModeResult("batch", b.makespan_s, b.makespan_s,
                       statistics.fmean(r.latency_s for r in b.requests),
                       sum(r.completion_tokens for r in b.requests), len(b.requests), b.n_errors)
    say(f"batch:  {len(prompts)} prompts, {max_concurrency} at a time, in {_rate(batch)}")
    return ModeComparison(label, max_concurrency, prompts, invoke, stream, batch,
                          min(r.end_s for r in b.requests), invoked[0].text)


# ---- the source lesson's table, rebuilt from the measurements ------------------------------

def _s(seconds: float) -> str:
    return f"{seconds:.3f} s" if seconds < 0.1 else f"{seconds:.2f} s"


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
    """The source lesson's table (Mode | User waits? | Multiple inputs? | Best for),
    every cell quoting this run's numbers (lesson 04)."""
    inv, st, b, n = cmp.invoke, cmp.stream, cmp.batch, len(cmp.prompts)
    rows = (
        ("invoke", f"Yes: nothing for {_s(inv.perceived_latency_s)}, then the whole answer",
         f"No: {n} prompts one after another took {_s(inv.wall_s)} ({inv.requests_per_s:.1f} requests/s)",
         f"Simple scripts and background jobs ({inv.tokens_per_s:.0f} tokens/s)"),
        ("stream", f"No: first words after {_s(st.perceived_latency_s)}, the rest arrive live",
         f"No: {n} prompts one after another took {_s(st.wall_s)} ({st.requests_per_s:.1f} requests/s)",
         f"Chatbots and any UI ({st.tokens_per_s:.0f} tokens/s; a whole answer took "
         f"{_s(st.mean_request_s)} on average, invoke's {_s(inv.mean_request_s)})"),
        ("batch", f"Yes: nothing for {_s(b.perceived_latency_s)}, until the slowest is done "
         f"(the first was ready at {_s(cmp.first_ready_s)})",
         f"Yes: {n} prompts, {cmp.max_concurrency} at a time, took {_s(b.wall_s)} "
         f"({b.requests_per_s:.1f} requests/s)",
         f"Bulk processing ({b.tokens_per_s:.0f} tokens/s, "
         f"{b.tokens_per_s / inv.tokens_per_s:.1f}x invoke's)"),
    )
    where = f" on {cmp.label}" if cmp.label else ""
    return ModeTable(("Mode", "User waits?", "Multiple inputs?", "Best for"), rows,
                     f"Measured in this run{where}: {n} prompts")


# ---- plots ---------------------------------------------------------------------------------

def _axes(figsize, ncols=1):
    fig, ax = plt.subplots(1, ncols, figsize=figsize, layout="constrained", squeeze=False)
    for a in ax.flat:
        a.grid(alpha=0.3)
        a.spines[["top", "right"]].set_visible(False)
    return fig, list(ax.flat)


def _name(cmp: ModeComparison, i: int) -> str:
    return cmp.label or f"run {i + 1}"


def latency_vs_throughput(*cmps: ModeComparison | None):
    """Perceived latency (x, s) against throughput (y, tokens/s): one marker per mode,
    filled for the first comparison, hollow for the next (lesson 04). None entries are skipped."""
    cmps = [c for c in cmps if c is not None]
    fig, (ax,) = _axes((9.5, 4.8))
    for i, cmp in enumerate(cmps):
        for m in cmp.modes:
            colour = MODE_COLORS[m.mode]
            ax.scatter(m.perceived_latency_s, m.tokens_per_s, s=150, marker=MARKERS[m.mode], lw=2,
                       color=colour if i == 0 else "white", edgecolor=colour, zorder=3,
                       label=f"{m.mode} ({_name(cmp, i)})")
            below = m.mode == "invoke"   # invoke and stream often sit at the same height
            ax.annotate(f"{m.mode}\n{_s(m.perceived_latency_s)}, {m.tokens_per_s:.0f} tok/s",
                        (m.perceived_latency_s, m.tokens_per_s), xytext=(9, -9 if below else 9),
                        textcoords="offset points", va="top" if below else "bottom",
                        fontsize=8.5, color="0.15")
    if cmps:
        _scale(ax, [m.perceived_latency_s for c in cmps for m in c.modes], "x")
        _scale(ax, [m.tokens_per_s for c in cmps for m in c.modes], "y")
    ax.annotate("↖ better: text early,\n   many tokens/s", xy=(0.01, 0.98), xycoords="axes fraction",
                va="top", fontsize=9, color="0.4")
    ax.set(xlabel="perceived latency: wait before any text (s)", ylabel="throughput (tokens/s)",
           title=_takeaway(cmps[0]) if cmps else "")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small", labelspacing=1.1,
              borderpad=0.8, title="mode (backend)", title_fontsize="small")
    return fig, ax


def _scale(ax, values, axis: str) -> None:
    """A log axis with plain-number ticks when the values span more than 10x, else linear from 0."""
    lo, hi = min(values), max(values)
    if lo > 0 and hi / lo > 10:
        getattr(ax, f"set_{axis}scale")("log")
        getattr(ax, f"{axis}axis").set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:g}"))
        getattr(ax, f"{axis}axis").set_minor_formatter(plt.NullFormatter())
        getattr(ax, f"set_{axis}lim")(lo / 1.6, hi * 1.6)
    else:
        getattr(ax, f"set_{axis}lim")(0, hi * 1.3)


def _takeaway(cmp: ModeComparison) -> str:
    return (f"{cmp.first_text_winner} shows text first; "
            f"{cmp.throughput_winner} finishes the most tokens per second")


def _done_first(cmp: ModeComparison) -> str:
    return min(cmp.modes, key=lambda m: m.wall_s).mode


def _bar_panel(ax, cmp: ModeComparison, name: str) -> None:
    """One comparison: per mode, a solid bar (first visible text) and a hatched one (all done)."""
    x = np.arange(len(MODES))
    for j, m in enumerate(cmp.modes):
        colour = MODE_COLORS[m.mode]
        for dx, value, hatch in ((-0.2, m.perceived_latency_s, None), (0.2, m.wall_s, "//")):
            ax.bar(x[j] + dx, value, width=0.38, color=colour if hatch is None else "white",
                   edgecolor=colour, hatch=hatch, lw=1.5)
            ax.annotate(_s(value), (x[j] + dx, value), xytext=(0, 2), textcoords="offset points",
                        ha="center", fontsize=8)
    ax.hlines(cmp.first_ready_s, x[2] - 0.42, x[2] + 0.42, colors="black", linestyles=":", lw=2)
    ax.set_xticks(x, MODES)
    ax.set_ylim(0, 1.2 * max(m.wall_s for m in cmp.modes))
    ax.set(ylabel="seconds", title=f"{name}: {len(cmp.prompts)} prompts, max_concurrency="
           f"{cmp.max_concurrency}\nfirst text: {cmp.first_text_winner}, all done first: {_done_first(cmp)}")


_BAR_LEGEND = [
    Patch(facecolor="0.45", edgecolor="0.45", label="first visible text"),
    Patch(facecolor="white", edgecolor="0.45", hatch="//", label="every prompt answered"),
    Line2D([], [], color="black", ls=":", lw=2, label="first batch answer ready (batch_as_completed)")]


def first_text_vs_total(*cmps: ModeComparison | None):
    """Grouped bars per mode: wait before the first visible text vs time for all the
    prompts (lesson 04). One panel per comparison; None entries are skipped.
    Returns (fig, ax), or (fig, array of axes) for several comparisons."""
    cmps = [c for c in cmps if c is not None]
    fig, axes = _axes((max(7.5, 5.2 * len(cmps)), 4.3), ncols=max(1, len(cmps)))
    for i, (cmp, ax) in enumerate(zip(cmps, axes)):
        _bar_panel(ax, cmp, _name(cmp, i))
    fig.legend(handles=_BAR_LEGEND, loc="outside lower center", ncols=3, fontsize="small", frameon=False)
    firsts, dones = {c.first_text_winner for c in cmps}, {_done_first(c) for c in cmps}
    first = f"{min(firsts)} shows text soonest" if len(firsts) == 1 else "the first text comes from different modes"
    done = ("which mode answers every prompt first depends on the backend" if len(dones) != 1 else
            f"{min(dones)} gets all the prompts done soonest")
    same = len(firsts) == 1 and firsts == dones
    fig.suptitle(f"{first} and gets all the prompts done soonest" if same else f"{first}; {done}")
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
