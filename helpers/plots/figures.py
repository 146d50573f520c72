"""Figures made from this run's measurements (lessons 01-05).

Each function takes result dataclasses from `helpers.timing` and returns
`(fig, ax)`; none calls `plt.show()` (Jupyter shows the figure for you).
invoke, stream and batch keep one colour each across the course; colours come
from a colour-blind-safe palette, and line styles or markers differ too.
Predictions from the latency model are dashed lines labelled as predictions.
"""
from __future__ import annotations

import numpy as np

from ..timing import BatchResult, InvokeResult, StreamResult
from .style import MEASURED, MODE_COLORS, PREDICTED, new_figure
from .summary import summarize


def visible_text(invoke: InvokeResult, stream: StreamResult, backend: str = ""):
    """Characters on screen vs time: invoke jumps at the end, stream grows from TTFT (lesson 02)."""
    fig, ax = new_figure()
    n = len(invoke.text)
    ax.step([0, invoke.total_s, invoke.total_s * 1.02], [0, n, n], where="post",
            color=MODE_COLORS["invoke"], lw=2.5, label=f"invoke: all at {invoke.total_s:.2f} s")
    chars = np.cumsum([len(t) for t in stream.chunk_texts])
    ax.step([0, *stream.chunk_times_s], [0, *chars], where="post", color=MODE_COLORS["stream"],
            lw=2.5, ls="--", label=f"stream: first text at {stream.ttft_s:.2f} s, done at {stream.total_s:.2f} s")
    ax.axvline(stream.ttft_s, color=MODE_COLORS["stream"], ls=":", lw=1)
    ax.set(xlabel="time since request (s)", ylabel="characters visible to the user")
    ax.set_title("Characters on screen over time: invoke vs stream" + (f" ({backend})" if backend else "")
                 + "\n" + _wrap(stream_verdict(invoke.total_s, stream.ttft_s, stream.total_s), 85), fontsize=10)
    ax.legend(loc="upper left")
    summarize(fig, stream_verdict(invoke.total_s, stream.ttft_s, stream.total_s) + ".")
    return fig, ax


def gantt(batch: BatchResult, title: str | None = None, predicted=None):
    """One bar per request, from start to end; failed requests hatched (lesson 03)."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    n = len(batch.requests)
    fig, ax = new_figure(figsize=(8, min(7.0, 1.6 + 0.18 * n)))
    for r in batch.requests:
        ax.barh(r.index, r.latency_s, left=r.start_s, height=0.7,
                color=MODE_COLORS["batch"] if r.ok else "white",
                edgecolor=MODE_COLORS["batch"], hatch=None if r.ok else "xx")
    handles = [Patch(color=MODE_COLORS["batch"], label=MEASURED)]
    if batch.n_errors:
        handles.append(Patch(facecolor="white", edgecolor=MODE_COLORS["batch"], hatch="xx", label="failed"))
    if predicted:
        for p in predicted:
            ax.plot([p.sent_s, p.end_s], [p.index, p.index], color="black", ls="--", lw=1)
        handles.append(Line2D([], [], color="black", ls="--", lw=1, label=PREDICTED))
    ax.axvline(batch.first_result_s, color="black", lw=1.5, ls=":")
    handles.append(Line2D([], [], color="black", ls=":", lw=1.5,
                          label=f"first answer usable at {batch.first_result_s:.2f} s"))
    ax.invert_yaxis()
    ax.set(xlabel="time since batch started (s)", ylabel="request #",
           title=title or f"{n} requests, max_concurrency={batch.max_concurrency}: "
                          f"{batch.makespan_s:.2f} s in all")
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    summarize(fig, f"{n} requests at max_concurrency={batch.max_concurrency}: the first answer was usable at "
                   f"{batch.first_result_s:.2f} s, all were done at {batch.makespan_s:.2f} s"
                   + (f"; {batch.n_errors} failed." if batch.n_errors else "; none failed."))
    return fig, ax


def concurrency_sweep(results: dict[int, BatchResult], predicted: dict[int, tuple[float, float]] | None = None,
                      backend: str = ""):
    """Throughput and p95 latency against max_concurrency, measured and predicted (lesson 03).

    predicted maps concurrency -> (throughput_rps, p95_latency_s) from the latency model.
    """
    fig, (a1, a2) = new_figure(figsize=(10, 4), ncols=2)
    cs = sorted(results)
    a1.plot(cs, [results[c].throughput_rps for c in cs], "o-", color=MODE_COLORS["batch"], label=MEASURED)
    a2.plot(cs, [results[c].p95_latency_s for c in cs], "s-", color=MODE_COLORS["batch"], label=MEASURED)
    if predicted:
        pc = sorted(predicted)
        a1.plot(pc, [predicted[c][0] for c in pc], "--", color="black", label=PREDICTED)
        a2.plot(pc, [predicted[c][1] for c in pc], "--", color="black", label=PREDICTED)
    for a in (a1, a2):
        a.set_xscale("log", base=2)
        a.set_xticks(cs, [str(c) for c in cs])
        a.set_xlabel("max_concurrency (requests in flight)")
        a.legend()
    a1.set_ylabel("throughput (requests/s)")
    a1.set_title(_wrap(trend_verdict(cs, [results[c].throughput_rps for c in cs], "measured throughput"), 52),
                 fontsize=9.5)
    a2.set_ylabel("p95 latency per request (s)")
    a2.set_title(_wrap(trend_verdict(cs, [results[c].p95_latency_s for c in cs], "measured p95 latency"), 52),
                 fontsize=9.5)
    fig.suptitle("Throughput and latency vs max_concurrency" + (f" ({backend})" if backend else ""))
    summarize(fig, trend_verdict(cs, [results[c].throughput_rps for c in cs], "measured throughput") + "; "
              + trend_verdict(cs, [results[c].p95_latency_s for c in cs], "measured p95 latency") + ".")
    return fig, (a1, a2)


# ---- verdicts computed from the data (titles never state a conclusion typed in advance) ----

def _wrap(text: str, width: int) -> str:
    import textwrap
    return "\n".join(textwrap.wrap(text, width))


def _pct(fraction: float) -> str:
    return f"{round(100 * fraction)} %"


def stream_verdict(invoke_total_s: float, stream_ttft_s: float, stream_total_s: float) -> str:
    """One sentence comparing one invoke with one stream, from their times (lesson 02).

    One run of each has no spread, so it reports the numbers and never says "the same".
    """
    first = (f"stream showed text after {stream_ttft_s:.2f} s, invoke after {invoke_total_s:.2f} s"
             + (f" ({invoke_total_s / stream_ttft_s:.0f}× later)" if 0 < stream_ttft_s < invoke_total_s else ""))
    diff = (stream_total_s - invoke_total_s) / invoke_total_s if invoke_total_s > 0 else 0.0
    end = ("less than 1 % apart from invoke" if abs(diff) < 0.01 else
           f"{_pct(abs(diff))} {'later' if diff > 0 else 'sooner'} than invoke")
    return f"{first}; stream finished at {stream_total_s:.2f} s, {end}"


def trend_verdict(xs, ys, what: str = "throughput", tol: float = 0.10) -> str:
    """Describe how ys changed along xs, computed from the numbers (lesson 03).

    For example "throughput rose 3.1× from 1 to 8, then stayed within 10 % of its peak up to 32",
    "... then fell 13 % below its peak by 32", or "throughput stayed within 10 % from 1 to 32".
    tol is the change treated as noise (10 %). Points that are not finite (NaN) are left out.
    """
    pts = sorted((x, y) for x, y in zip(xs, ys) if np.isfinite(y))
    if len(pts) < 2:
        return f"{what}: too few measurements to describe a trend"
    xs, ys = [f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}" for x, _ in pts], [y for _, y in pts]
    peak, lo, n = max(ys), min(ys), len(pts) - 1
    if peak <= lo * (1 + tol):
        return f"{what} stayed within {_pct(tol)} from {xs[0]} to {xs[n]}"
    knee = next(i for i, y in enumerate(ys) if y >= (1 - tol) * peak)
    worst, end = 1 - min(ys[knee:]) / peak, 1 - ys[n] / peak
    if knee == 0:
        start = f"{what} was within {_pct(tol)} of its peak at {xs[0]}"
    else:
        rise = f"{ys[knee] / ys[0]:.1f}×" if ys[0] > 0 else f"from 0 to {ys[knee]:.3g}"
        start = f"{what} rose {rise} from {xs[0]} to {xs[knee]}"
        dips = [xs[i + 1] for i in range(knee) if ys[i + 1] < ys[i] * (1 - tol)]
        if dips:
            start += f" (not steadily: it dipped at {', '.join(dips)})"
        if knee == n:
            return f"{start}, and was still rising at the largest setting"
    if worst < tol:
        return f"{start}, then stayed within {_pct(tol)} of its peak up to {xs[n]}"
    if end >= tol:
        return f"{start}, then fell {_pct(end)} below its peak by {xs[n]}"
    return f"{start}, then dipped up to {_pct(worst)} below its peak and ended within {_pct(tol)} of it"
