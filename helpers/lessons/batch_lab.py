"""The batch lab and the concurrency sweep (lesson 03).

Everything here is a thin layer over `helpers.timing.measure_batch`, which runs
`model.batch(prompts, config={"max_concurrency": n})` and times every request:

- `make_prompts(n)`, `uneven_prompts()`: prompts to send.
- `run_batch(llm, n_prompts, max_concurrency)`: the plain function behind the lab.
- `BatchLab(llm)`: sliders, a Run button, a progress bar, the numbers and a timeline.
- `sweep(...)`, `predict_sweep(...)`, `ratios(...)`: throughput and p95 latency against
  max_concurrency, measured and predicted by the latency model.
- `compare_first_result(...)`, `first_result_chart(...)`: `batch` vs `batch_as_completed`.
"""
from __future__ import annotations

import html
import io
import threading
from collections.abc import Callable

import matplotlib.pyplot as plt
import numpy as np

from .. import plots
from ..llm_server.latency import Job, Profile, jitter_factor, makespan_s, predict_batch
from ..timing import BatchResult, measure_batch
from ..ui import ThreadedWidget

PROMPT_RANGE = (4, 64)        # the lab's "prompts" slider
CONCURRENCY_RANGE = (1, 32)   # the lab's "max_concurrency" slider
TOPICS = ["batching", "streaming", "latency", "throughput", "rate limits", "retries",
          "tokens", "RAG", "embeddings", "timeouts", "caching", "concurrency"]


def _whole(name: str, value, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
        raise ValueError(f"{name} must be a whole number from {lo} to {hi}, got {value!r}")
    return int(value)


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
    """'4.2 answers/s', or 'goodput 1.1 answers/s (4 of 12 answered)' when some failed."""
    n = len(result.requests)
    if result.n_errors:
        return f"goodput {result.goodput_rps:.1f} answers/s ({result.n_ok} of {n} answered)"
    return f"{result.throughput_rps:.1f} answers/s"


def _latency(result: BatchResult) -> str:
    if not result.n_ok:
        return "no successful request to time"
    return f"latency p50 {result.p50_latency_s:.2f} s, p95 {result.p95_latency_s:.2f} s"


def summary(result: BatchResult) -> str:
    """One line of numbers for a batch (lesson 03): makespan, successful answers per second
    (goodput, when some requests failed) next to the error count, tokens/s and latency of the
    successful requests."""
    return (f"{len(result.requests)} requests at max_concurrency={result.max_concurrency}: "
            f"makespan {result.makespan_s:.2f} s · {_rate(result)} · errors {result.n_errors} · "
            f"{result.tokens_per_s:.0f} tokens/s · {_latency(result)}")


def table(results: dict[int, BatchResult]) -> str:
    """One row per max_concurrency (lesson 03): makespan, answered/sent, errors (429s among
    them), successful answers per second (goodput) and p95 latency of the successful requests."""
    if not results:
        raise ValueError("results must hold at least one run, e.g. {4: measure_batch(...)}")
    lines = ["max_concurrency  makespan  answered  errors (429)  answers/s  p95 latency"]
    for c in sorted(results):
        r = results[c]
        p95 = f"{r.p95_latency_s:.2f} s" if r.n_ok else "–"
        lines.append(f"{c:>15}  {r.makespan_s:>6.2f} s  {r.n_ok:>3} / {len(r.requests):<3}  "
                     f"{r.n_errors:>6} ({r.n_rate_limited:>2})  {r.throughput_rps:>9.1f}  {p95:>11}")
    if any(r.n_errors for r in results.values()):
        lines.append("answers/s counts successful requests only (goodput): a request turned away "
                     "is not an answer, however fast.")
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
        self.n_prompts = w.IntSlider(value=n, min=lo_n, max=hi_n, description="prompts", style=wide)
        self.max_concurrency = w.IntSlider(value=c, min=lo_c, max=hi_c, description="max_concurrency",
                                          style=wide)
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


# ---- the sweep: throughput and p95 latency against max_concurrency ---------------------------

def sweep(llm, prompts: list[str], concurrencies=(1, 2, 4, 8, 16, 32),
          progress: bool = False) -> dict[int, BatchResult]:
    """Run the same prompts once per max_concurrency value (lesson 03): {c: BatchResult}.
    progress=True shows a tqdm bar of the requests done."""
    if not concurrencies:
        raise ValueError("concurrencies must list at least one max_concurrency, e.g. (1, 2, 4)")
    cs = [_whole("max_concurrency", c, 1, 10_000) for c in concurrencies]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(prompts) * len(cs), desc="sweep (requests)")
    lock = threading.Lock()

    def tick(_done: int, _index: int) -> None:
        with lock:
            bar.update(1)

    try:
        return {c: measure_batch(llm, prompts, max_concurrency=c, on_progress=tick if bar else None)
                for c in cs}
    finally:
        if bar is not None:
            bar.close()


def server_profile(server) -> Profile:
    """The exact latency profile a running simulator uses, including overrides such as
    slots=4 and its time scale (lesson 03)."""
    return Profile(**server.config()["profile"])


def jobs_for(result: BatchResult, prompts: list[str], server) -> list[Job]:
    """One latency-model Job per request, from the token counts measured in `result`
    and the simulator's reproducible speed factor for each prompt (lesson 03)."""
    if len(prompts) != len(result.requests):
        raise ValueError(f"{len(prompts)} prompts but {len(result.requests)} requests in the result")
    profile = server_profile(server)
    jobs = []
    for prompt, out, req in zip(prompts, result.outputs, result.requests):
        usage = getattr(out, "usage_metadata", None) or {}
        if not req.ok or "input_tokens" not in usage:
            raise ValueError(f"request {req.index} has no token counts ({req.error}): predict from a clean run")
        jobs.append(Job(usage["input_tokens"], usage["output_tokens"],
                        jitter_factor(profile, server.seed, prompt)))
    return jobs


def predict_sweep(server, results: dict[int, BatchResult], prompts: list[str]) -> dict[int, tuple[float, float]]:
    """The latency model's (throughput_rps, p95_latency_s) for each max_concurrency in
    `results`, for the same requests on the same server (lesson 03)."""
    profile = server_profile(server)
    jobs = jobs_for(next(iter(results.values())), prompts, server)
    out = {}
    for c in results:
        preds = predict_batch(profile, jobs, c)
        out[c] = (len(jobs) / makespan_s(preds), float(np.percentile([p.latency_s for p in preds], 95)))
    return out


def plateau(results: dict[int, BatchResult], within: float = 0.10) -> int:
    """The smallest max_concurrency whose answers/s is within `within` (10 %) of the best
    measured in `results` (lesson 03): where throughput stopped rising, in this run."""
    if not results:
        raise ValueError("results must hold at least one run, e.g. batch_lab.sweep(...)")
    best = max(r.throughput_rps for r in results.values())
    return min(c for c, r in results.items() if r.throughput_rps >= (1 - within) * best)


def sweep_verdict(results: dict[int, BatchResult], within: float = 0.10) -> str:
    """What the sweep measured, in words computed from `results` (lesson 03), e.g.
    "throughput rose 3.9x from max_concurrency 1 to 4, then changed by less than 10 % up to 32"."""
    cs = sorted(results)
    rps = {c: results[c].throughput_rps for c in cs}
    knee, first, last = plateau(results, within), cs[0], cs[-1]
    if knee == first:
        words = f"throughput stayed within {within * 100:.0f} % of its best from max_concurrency {first} on"
    else:
        words = f"throughput rose {rps[knee] / rps[first]:.1f}x from max_concurrency {first} to {knee}"
    after = [rps[c] / rps[knee] - 1 for c in cs if c > knee]
    if knee != first and not after:
        words += ", the last setting measured: it may rise further"
    elif after and max(abs(a) for a in after) < within:
        words += f", then changed by less than {within * 100:.0f} % up to {last}"
    elif after:
        words += (f", then changed by {after[-1] * 100:+.0f} % by {last} "
                  f"(at most {max(after, key=abs) * 100:+.0f} % on the way)")
    p95 = {c: results[c].p95_latency_s for c in cs}
    words += (f"; p95 latency {p95[first]:.2f} s at {first}, {p95[knee]:.2f} s at {knee}, "
              f"{p95[last]:.2f} s at {last}")
    errors = sum(r.n_errors for r in results.values())
    return words + (f"; {errors} failed requests (not counted as answers)" if errors else "")


def compare_guess(guess, measured: float, what: str, unit: str = "") -> str:
    """Your guess beside the measurement (lesson 03): "you guessed 8, measured 4 (...)".
    A guess still left as `____` says so instead."""
    from ..quiz import _Blank

    if isinstance(guess, _Blank) or guess is None:
        return f"no guess typed (replace ____ to compare) | measured {what}: {measured:g}{unit}"
    if isinstance(guess, bool) or not isinstance(guess, (int, float, np.integer, np.floating)):
        raise ValueError(f"the guess must be a number, e.g. 4, got {guess!r:.40}")
    return f"you guessed {guess:g}{unit} | measured {what}: {measured:g}{unit}"


def ratios(results: dict[int, BatchResult], predicted: dict[int, tuple[float, float]]) -> str:
    """A small table of measured / predicted answers per second and p95 latency (lesson 03).

    On the simulator this is a self-consistency check: the simulator runs this very latency
    model, so a ratio near 1.00 says the server does what its model says, not that the model
    is right about real servers."""
    lines = ["max_concurrency  answers/s meas/pred  p95 latency meas/pred  errors"]
    for c in sorted(results):
        rps, p95 = predicted[c]
        lines.append(f"{c:>15}  {results[c].throughput_rps / rps:>19.2f}  "
                     f"{results[c].p95_latency_s / p95:>21.2f}  {results[c].n_errors:>6}")
    return "\n".join(lines)


# ---- batch vs batch_as_completed ------------------------------------------------------------

def compare_first_result(llm, prompts: list[str], max_concurrency: int) -> tuple[BatchResult, BatchResult]:
    """The same prompts through `batch` and then `batch_as_completed` (lesson 03).
    Returns (batch_result, as_completed_result); compare their `.first_result_s`."""
    return (measure_batch(llm, prompts, max_concurrency=max_concurrency),
            measure_batch(llm, prompts, max_concurrency=max_concurrency, as_completed=True))


def first_result_verdict(batch: BatchResult, as_completed: BatchResult) -> str:
    """When the first answer was usable with each call, computed from the two runs (lesson 03)."""
    a, b = as_completed.first_result_s, batch.first_result_s
    if a < b:
        how = f"{b / a:.1f}x sooner" if a > 0 else "sooner"
        return f"first answer usable: batch_as_completed at {a:.2f} s, {how} than batch ({b:.2f} s)"
    return f"first answer usable: batch at {b:.2f} s, batch_as_completed at {a:.2f} s (no sooner)"


def first_result_chart(batch: BatchResult, as_completed: BatchResult):
    """Bars: when your code can use the first answer (filled) and when all answers are done
    (outline), for `batch` and `batch_as_completed` (lesson 03). Returns (fig, ax)."""
    fig, ax = plt.subplots(figsize=(8, 2.8), constrained_layout=True)
    plots.style_axes(ax, grid="x")
    rows = [("batch", batch, plots.MODE_COLORS["batch"]),
            ("batch_as_completed", as_completed, plots.MODE_COLORS["other"])]
    for y, (_, r, colour) in enumerate(rows):
        ax.barh(y, r.makespan_s, height=0.55, color="white", edgecolor=colour, lw=1.5)
        ax.barh(y, r.first_result_s, height=0.55, color=colour)
        ax.text(r.makespan_s, y, f"  first answer {r.first_result_s:.2f} s, all done {r.makespan_s:.2f} s",
                va="center", ha="left")
    ax.barh([0], [0], color="grey", label="first answer usable")
    ax.barh([0], [0], color="white", edgecolor="grey", label="all answers done")
    ax.set_yticks([0, 1], [row[0] for row in rows])
    ax.set_xlim(0, 1.75 * max(batch.makespan_s, as_completed.makespan_s))
    ax.set_ylim(1.5, -1.1)
    ax.set(xlabel="time since the call (s)", title=first_result_verdict(batch, as_completed))
    ax.legend(loc="upper right", fontsize="small", ncols=2)
    return fig, ax
