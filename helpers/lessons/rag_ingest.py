"""Lesson 05's ingestion, batch work: embedding the chunks in requests of `chunk_size` texts,
`max_concurrency` requests in flight, timed, swept and plotted. Times are `time.perf_counter()` seconds.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass

from langchain_core.runnables import RunnableLambda

from .run_progress import progress_bar


@dataclass(frozen=True)
class IngestionRun:
    """Embedding `n_texts` chunks, `chunk_size` texts per request, `max_concurrency` requests at once (lesson 05)."""

    chunk_size: int
    max_concurrency: int
    n_texts: int
    n_requests: int
    total_s: float

    @property
    def chunks_per_s(self) -> float:
        """Throughput: chunks embedded per second."""
        return self.n_texts / self.total_s

    def __str__(self) -> str:
        return (f"chunk_size={self.chunk_size:<3} max_concurrency={self.max_concurrency:<3} "
                f"{self.n_requests:>3} requests in {self.total_s:6.2f} s: {self.chunks_per_s:7.1f} document chunks/s")


def embed_in_groups(emb, texts: list[str], chunk_size: int, max_concurrency: int, callbacks=None) -> list:
    """Embed `texts`, `chunk_size` texts per request, `max_concurrency` requests in flight (lesson 05,
    which writes this function in a cell first; a test keeps the two copies the same).
    Returns one vector per text, in order. `callbacks` (e.g. a progress bar) see one run per request."""
    groups = [texts[i:i + chunk_size] for i in range(0, len(texts), chunk_size)]
    embed_group = RunnableLambda(lambda group: emb.embed_documents(group, chunk_size=chunk_size))
    per_group = embed_group.batch(groups, config={"max_concurrency": max_concurrency, "callbacks": callbacks})
    return [vector for vectors in per_group for vector in vectors]


def measure_ingestion(emb, texts: list[str], chunk_size: int, max_concurrency: int,
                      progress: bool = False) -> IngestionRun:
    """Time `embed_in_groups(emb, texts, chunk_size, max_concurrency)` (lesson 05).

    With max_concurrency=1 this is exactly `emb.embed_documents(texts, chunk_size=chunk_size)`;
    above 1, the requests go out side by side through `Runnable.batch` (threads).
    progress=True shows a bar named by the setting, one step per request, while it runs.
    """
    n_requests = -(-len(texts) // chunk_size)
    with ExitStack() as stack:
        callbacks = None
        if progress:
            desc = f"texts/request={chunk_size}, max_concurrency={max_concurrency}"
            callbacks = [stack.enter_context(progress_bar(n_requests, desc, unit="request"))]
        t0 = time.perf_counter()
        vectors = embed_in_groups(emb, texts, chunk_size, max_concurrency, callbacks)
        total_s = time.perf_counter() - t0
    if len(vectors) != len(texts):
        raise RuntimeError("the embeddings server returned fewer vectors than texts")
    return IngestionRun(chunk_size, max_concurrency, len(texts), n_requests, total_s)


def guess_line(guess, measured: float, what: str, unit: str = "x") -> str:
    """Your guess beside the measurement (lesson 05); a guess left as `____` prints "no guess"."""
    from ..quiz import _is_blank

    if guess is None or _is_blank(guess):
        return f"no guess (replace ____ to compare) | measured {what}: {measured:.1f}{unit}"
    if isinstance(guess, bool) or not isinstance(guess, (int, float)):
        raise ValueError(f"the guess must be a number, e.g. 5, got {guess!r:.40}")
    return f"you guessed {guess:g}{unit} | measured {what}: {measured:.1f}{unit}"


def same_work_note(runs: list[IngestionRun]) -> str:
    """Which runs of the sweep did the same work, how far apart they landed, and whether the step from
    fewer in flight is bigger than that (lesson 05, deep-dive A). Computed from the runs only.

    A run with max_concurrency >= its number of requests sends all of them at once, so two such
    runs of one chunk_size do the same work: their spread is a rough measure of run-to-run noise."""
    notes = []
    for size in sorted({r.chunk_size for r in runs}):
        line = sorted((r for r in runs if r.chunk_size == size), key=lambda r: r.max_concurrency)
        n_req = line[0].n_requests
        alike = [r for r in line if r.max_concurrency >= n_req]
        if len(alike) < 2:
            continue
        rates = [r.chunks_per_s for r in alike]
        noise = max(rates) / min(rates) - 1
        names = " and ".join(str(r.max_concurrency) for r in alike)
        each = "both" if len(alike) == 2 else "all"
        note = (f"chunk_size={size} makes {n_req} request{'s' if n_req > 1 else ''}, so max_concurrency {names} "
                f"{each} send {'them' if n_req > 1 else 'it'} at once: the same work, {round(100 * noise)} % apart "
                f"(a rough measure of run-to-run noise)")
        fewer = [r for r in line if r.max_concurrency < n_req]
        if fewer:
            step = sum(rates) / len(rates) / fewer[0].chunks_per_s - 1
            how = "more than twice that noise" if abs(step) > 2 * noise else "not clearly more than that noise"
            note += (f"; from max_concurrency={fewer[0].max_concurrency} to all at once, chunks/s changed "
                     f"{round(100 * step):+d} %: {how}")
        notes.append(note)
    return "\n".join(notes) or "no two runs here did the same work, so this sweep gives no measure of its noise"


def ingestion_sweep(emb, texts: list[str], chunk_sizes=(1, 8, 64), concurrencies=(1, 4, 16),
                    on_run: Callable[[IngestionRun], None] | None = None,
                    progress: bool = False) -> list[IngestionRun]:
    """`measure_ingestion` for every chunk_size x max_concurrency; on_run(run) after each one (lesson 05).
    progress=True shows each run's bar while it runs."""
    runs = []
    for size in chunk_sizes:
        for conc in concurrencies:
            runs.append(measure_ingestion(emb, texts, size, conc, progress))
            if on_run:
                on_run(runs[-1])
    return runs


def plot_ingestion(runs: list[IngestionRun], backend: str = ""):
    """Chunks/s against max_concurrency, one line per chunk_size (lesson 05). Returns (fig, ax)."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    from ..plots import MEASURED, PALETTE, style_axes, summarize, trend_verdict

    fig, ax = plt.subplots(figsize=(8, 4.2), constrained_layout=True)
    words = []
    for i, size in enumerate(sorted({r.chunk_size for r in runs})):
        line = sorted((r for r in runs if r.chunk_size == size), key=lambda r: r.max_concurrency)
        ax.plot([r.max_concurrency for r in line], [r.chunks_per_s for r in line],
                marker="osD^v"[i % 5], ls=["-", "--", ":", "-."][i % 4], lw=2, ms=7,
                color=PALETTE[[4, 5, 6, 0][i % 4]],
                label=f"chunk_size={size} ({line[0].n_requests} requests)")
        words.append(trend_verdict([r.max_concurrency for r in line], [r.chunks_per_s for r in line],
                                   f"chunk_size={size}: chunks/s"))
    concs = sorted({r.max_concurrency for r in runs})
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks(concs, [str(c) for c in concs])
    style_axes(ax)
    ax.grid(alpha=0.3, which="both")
    ax.set(xlabel="max_concurrency (requests in flight)", ylabel="throughput (document chunks/s, log scale)",
           title=f"Ingestion throughput vs requests in flight, by texts per request "
                 f"({runs[0].n_texts} document chunks)")
    ax.legend(title=MEASURED + (f", {backend}" if backend else ""), fontsize="small", loc="lower right")
    summarize(fig, "; ".join(words) + ".")
    return fig, ax
