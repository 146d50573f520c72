"""The batch lab and the concurrency sweep (lesson 03).

Everything here is a thin layer over `helpers.timing.measure_batch`, which runs
`model.batch(prompts, config={"max_concurrency": n})` and times every request:

- `make_prompts(n)`, `uneven_prompts()`: prompts to send.
- `run_batch(llm, n_prompts, max_concurrency)`: the plain function behind the lab.
- `BatchLab(llm)`: two number boxes, a Run button, a progress bar, the numbers and a timeline.
- `sweep(...)`, `predict_sweep(...)`, `ratios(...)`: throughput and p95 latency against
  max_concurrency, measured and predicted by the latency model.
- `progress_bar(total, desc)`: a named tqdm bar and the `on_progress` callback that moves it.
- `compare_first_result(...)`, `first_result_chart(...)`: `batch` vs `batch_as_completed`.

The sweep lives in `sweep` and batch vs batch_as_completed in `first_result`; both are
re-exported here, so lessons keep writing `batch_lab.X`.
"""
from __future__ import annotations

import html
import io
from collections.abc import Callable

import matplotlib.pyplot as plt

from .. import plots
from ..timing import BatchResult, measure_batch
from ..ui import ThreadedWidget
from .first_result import compare_first_result, first_result_chart, first_result_verdict
from .sweep import (
    _whole,
    compare_guess,
    jobs_for,
    plateau,
    point_line,
    predict_sweep,
    progress_bar,
    ratios,
    server_profile,
    sweep,
    sweep_verdict,
)

__all__ = ["PROMPT_RANGE", "CONCURRENCY_RANGE", "TOPICS", "make_prompts", "uneven_prompts", "run_batch",
           "summary", "table", "figure_png", "timeline", "BatchLab", "sweep", "server_profile", "jobs_for",
           "predict_sweep", "plateau", "point_line", "progress_bar", "sweep_verdict", "compare_guess", "ratios",
           "compare_first_result",
           "first_result_verdict", "first_result_chart"]

PROMPT_RANGE = (4, 64)        # the lab's "prompts" box
CONCURRENCY_RANGE = (1, 32)   # the lab's "max_concurrency" box
TOPICS = ["batching", "streaming", "latency", "throughput", "rate limits", "retries",
          "tokens", "RAG", "embeddings", "timeouts", "caching", "concurrency"]


def make_prompts(n: int, mixed: bool = True) -> list[str]:
    """`n` different prompts (lesson 03). mixed=True alternates one-sentence questions
    (about 30 tokens of answer) with plain ones (60-100 tokens); mixed=False: all short."""
    n = _whole("n", n, 1, 10_000)
    out = []
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        short = not mixed or i % 2 == 0
        out.append(f"In one sentence: what is {topic}? (question {i + 1})" if short
                   else f"Explain {topic} to a new colleague. (question {i + 1})")
    return out


def uneven_prompts(n_short: int = 7) -> list[str]:
    """One long prompt first, then `n_short` one-sentence prompts (lesson 03): the long
    answer is the slowest request, so `batch()` makes every answer wait for it."""
    n_short = _whole("n_short", n_short, 1, 1000)
    return ["Explain streaming in detail."] + make_prompts(n_short, mixed=False)


def run_batch(llm, n_prompts: int, max_concurrency: int,
              on_progress: Callable[[int, int], None] | None = None) -> BatchResult:
    """Send `n_prompts` prompts with `llm.batch(..., max_concurrency=...)` and time each
    request (lesson 03). This is what the lab's Run button does. on_progress(done, index)
    is called from the worker threads as each request ends (e.g. to move a progress bar)."""
    n = _whole("n_prompts", n_prompts, *PROMPT_RANGE)
    c = _whole("max_concurrency", max_concurrency, *CONCURRENCY_RANGE)
    return measure_batch(llm, make_prompts(n), max_concurrency=c, on_progress=on_progress)


def _rate(result: BatchResult) -> str:
    """'4.2 answers/s', or '1.1 answers/s, incomplete: 4 of 12 answered' when some failed."""
    if not result.complete:
        return (f"{result.throughput_rps:.1f} answers/s, incomplete: "
                f"{result.n_ok} of {len(result.requests)} answered")
    return f"{result.throughput_rps:.1f} answers/s"


def _latency(result: BatchResult) -> str:
    if not result.n_ok:
        return "no successful request to time"
    return f"latency p50 {result.p50_latency_s:.2f} s, p95 {result.p95_latency_s:.2f} s"


def summary(result: BatchResult) -> str:
    """One line of numbers for a batch (lesson 03): makespan, answers per second counting only
    answered requests (flagged incomplete when some failed) next to the error count, tokens/s and
    latency of the successful requests."""
    return (f"{len(result.requests)} requests at max_concurrency={result.max_concurrency}: "
            f"makespan {result.makespan_s:.2f} s · {_rate(result)} · errors {result.n_errors} · "
            f"{result.tokens_per_s:.0f} tokens/s · {_latency(result)}")


def table(results: dict[int, BatchResult]) -> str:
    """One row per max_concurrency (lesson 03): makespan, answered/sent, errors (429s among
    them), answers per second counting only answered requests, and p95 latency of the answered
    requests. A run that left prompts unanswered is marked incomplete: its answers/s is not the
    whole job's rate, so it must not be compared with a complete run's."""
    if not results:
        raise ValueError("results must hold at least one run, e.g. {4: measure_batch(...)}")
    lines = ["max_concurrency  makespan  answered  errors (429)  answers/s  p95 latency"]
    for c in sorted(results):
        r = results[c]
        p95 = f"{r.p95_latency_s:.2f} s" if r.n_ok else "–"
        flag = "  incomplete" if not r.complete else ""
        lines.append(f"{c:>15}  {r.makespan_s:>6.2f} s  {r.n_ok:>3} / {len(r.requests):<3}  "
                     f"{r.n_errors:>6} ({r.n_rate_limited:>2})  {r.throughput_rps:>9.1f}  {p95:>11}{flag}")
    if not all(r.complete for r in results.values()):
        lines.append("answers/s counts answered requests only. An incomplete run left prompts unanswered: "
                     "its answers/s is not the rate of the whole job, so don't compare it with a complete run.")
    return "\n".join(lines)


def figure_png(fig) -> bytes:
    """A matplotlib figure as PNG bytes (lesson 03); the figure is closed, so Jupyter won't show it twice."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def timeline(result: BatchResult, title: str | None = None, predicted=None):
    """`plots.gantt` (one bar per request, legend beside the bars) with the time
    axis starting at 0 (lesson 03). Returns (fig, ax)."""
    fig, ax = plots.gantt(result, title=title, predicted=predicted)
    ax.set_xlim(left=0)
    return fig, ax


class BatchLab(ThreadedWidget):
    """The batch lab (lesson 03): pick how many prompts and max_concurrency, click Run,
    watch the progress bar, then read the numbers and the timeline of every request.

    A thin skin over `run_batch`; the run happens in a worker thread so the page stays live,
    and the Run button is disabled until it ends (`helpers.ui.ThreadedWidget`). `server=`
    (a `start_simulator()` result) adds the server's own count of requests in flight at peak.
    `.result` holds the last BatchResult; `.wait()` blocks until a run ends and returns it.
    """

    def __init__(self, llm, server=None, n_prompts: int = 16, max_concurrency: int = 4):
        import ipywidgets as w

        n = _whole("n_prompts", n_prompts, *PROMPT_RANGE)
        c = _whole("max_concurrency", max_concurrency, *CONCURRENCY_RANGE)
        self.llm, self.server, self.result = llm, server, None
        wide = {"description_width": "initial"}
        lo_n, hi_n = PROMPT_RANGE
        lo_c, hi_c = CONCURRENCY_RANGE
        # Number boxes, not sliders: a box's label is its accessible name (ipywidgets 8 gives a
        # slider's handle none), and a keyboard can type any value in range.
        box = w.Layout(width="190px")
        self.n_prompts = w.BoundedIntText(value=n, min=lo_n, max=hi_n, description="prompts", style=wide,
                                          layout=box, tooltip=f"how many prompts, {lo_n} to {hi_n}")
        self.max_concurrency = w.BoundedIntText(value=c, min=lo_c, max=hi_c, description="max_concurrency",
                                                style=wide, layout=w.Layout(width="240px"),
                                                tooltip=f"requests in flight at most, {lo_c} to {hi_c}")
        self.button = w.Button(description="Run batch", button_style="primary", icon="play")
        self.progress = w.IntProgress(value=0, min=0, max=n, description=f"done 0/{n}", style=wide)
        self.numbers = w.HTML("Click <b>Run batch</b>.")
        self.timeline = w.Output()
        self.button.on_click(self.timeline.capture()(self._on_click))
        super().__init__(w.VBox([w.HBox([self.n_prompts, self.max_concurrency, self.button]),
                                 self.progress, self.numbers, self.timeline]), [self.button], self.timeline)

    def _on_click(self, _button=None) -> None:
        if self.running:
            return
        n, c = self.n_prompts.value, self.max_concurrency.value
        self.progress.max, self.progress.value, self.progress.bar_style = n, 0, ""
        self.progress.description = f"done 0/{n}"
        self.numbers.value = f"Running {n} prompts at max_concurrency={c} …"
        self.start(self._work, n, c)

    def _on_progress(self, done: int, _index: int) -> None:
        self.progress.value = max(self.progress.value, done)
        self.progress.description = f"done {self.progress.value}/{self.progress.max}"

    def _work(self, n: int, c: int) -> None:
        if self.server is not None:
            self.server.reset_stats()
        result = run_batch(self.llm, n, c, on_progress=self._on_progress)
        peak = f" · server peak in flight {self.server.stats()['peak_in_flight']}" if self.server else ""
        self.progress.value, self.progress.bar_style = n, "success"
        self.progress.description = f"done {n}/{n}"
        self.numbers.value = summary(result) + peak
        self.result = result
        self._draw(result)

    def on_error(self, line: str) -> None:
        """A failed run shows in the lab as one line; the lab stays usable."""
        self.progress.bar_style = "danger"
        self.numbers.value = f"The run failed: {html.escape(line)}"

    def _draw(self, result: BatchResult) -> None:
        from IPython.display import Image

        fig, _ = timeline(result)
        self.timeline.outputs = ()
        self.timeline.append_display_data(Image(figure_png(fig)))

    def wait(self, timeout_s: float = 120) -> BatchResult | None:
        """Block until the current run ends (for scripts and tests); returns `.result`."""
        super().wait(timeout_s)
        return self.result
