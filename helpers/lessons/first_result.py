"""Lesson 03's `batch` vs `batch_as_completed`: the same prompts through both, when the
first answer was usable with each, in words and as a chart.
"""
from __future__ import annotations

import matplotlib.pyplot as plt

from .. import plots
from ..timing import BatchResult, measure_batch
from .sweep import progress_bar


def compare_first_result(llm, prompts: list[str], max_concurrency: int,
                         progress: bool = False) -> tuple[BatchResult, BatchResult]:
    """The same prompts through `batch` and then `batch_as_completed` (lesson 03).
    Returns (batch_result, as_completed_result); compare their `.first_result_s`.
    progress=True shows one named tqdm bar per run while it goes."""
    runs = []
    for as_completed in (False, True):
        name = "batch_as_completed" if as_completed else "batch"
        if not progress:
            runs.append(measure_batch(llm, prompts, max_concurrency=max_concurrency, as_completed=as_completed))
            continue
        with progress_bar(len(prompts), f"{name}, max_concurrency={max_concurrency}") as tick:
            runs.append(measure_batch(llm, prompts, max_concurrency=max_concurrency, as_completed=as_completed,
                                      on_progress=tick))
    return runs[0], runs[1]


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
    plots.summarize(fig, first_result_verdict(batch, as_completed) + f"; all done: batch at {batch.makespan_s:.2f} s, "
                         f"batch_as_completed at {as_completed.makespan_s:.2f} s.")
    return fig, ax
