"""The field's serving vocabulary, drawn and worded from this run's streams (lesson 04).

    one = stream_record(llm, prompt)          # helpers.metrics_live
    print(describe(one)); fig, ax = timeline(one, backend="sim")
    run = run_streams(llm, prompts, max_concurrency=4)
    print(summary(run))                       # p50/p95/p99 with the sample-size caveat, tok/s two ways

Numbers come from `helpers.metrics` (TTFT, ITL, TPOT, E2E as vLLM, GuideLLM and the
OpenTelemetry GenAI conventions define them); this module only words and draws them.
"""
from __future__ import annotations

import statistics

import matplotlib.pyplot as plt

from ..metrics import (
    RequestRecord,
    aggregate_tokens_per_s,
    mean_itl_s,
    mean_tpot_s,
    metric_percentiles,
    peak_in_flight,
    sample_caveat,
)
from ..metrics_live import StreamRun
from ..plots import PALETTE, style_axes, summarize


def _ms(s: float | None) -> str:
    if s is None:
        return "n/a"
    return f"{s * 1000:.1f} ms" if s < 0.1 else f"{s * 1000:.0f} ms"


def _counted(r: RequestRecord) -> str:
    how = "from the server's usage" if r.unit == "tokens" else "no usage sent, so output chunks are counted"
    return f"n = {r.n_out} {r.unit} ({how}; {len(r.piece_times_s)} chunks carried output)"


def describe(r: RequestRecord) -> str:
    """One stream's numbers in the field's words, each with its formula (lesson 04)."""
    if not r.ok:
        return f"this request failed ({r.error}): no TPOT, and it counts against goodput"
    if r.ttft_s is None:
        return f"no output arrived in {r.e2e_s:.2f} s: no TTFT, no TPOT"
    gaps = r.itl_s
    lines = [_counted(r),
             f"TTFT  {_ms(r.ttft_s)}   request sent -> first output",
             f"E2E   {_ms(r.e2e_s)}   request sent -> stream ended"]
    if gaps:
        lines.append(f"ITL   {len(gaps)} gaps between output chunks: min {_ms(min(gaps))}, "
                     f"median {_ms(statistics.median(gaps))}, max {_ms(max(gaps))}")
    if r.tpot_s is not None:
        lines.append(f"TPOT  {_ms(r.tpot_s)}   (E2E - TTFT) / (n - 1) = "
                     f"({_ms(r.e2e_s)} - {_ms(r.ttft_s)}) / {r.n_out - 1}")
        lines.append(f"this user's speed: 1 / TPOT = {r.tokens_per_s:.0f} {r.unit}/s")
    else:
        lines.append("TPOT  none: it needs at least 2 output tokens")
    return "\n".join(lines)


def _span(ax, x0: float, x1: float, y: float, label: str, color: str, right: bool = False) -> None:
    ax.annotate("", (x0, y), (x1, y), arrowprops={"arrowstyle": "<->", "color": color, "lw": 1.5})
    ax.text(x1 if right else (x0 + x1) / 2, y + 0.08, label, ha="right" if right else "center",
            va="bottom", fontsize=9, color=color)


def timeline(r: RequestRecord, backend: str = ""):
    """One measured stream on a time axis (lesson 04): top, each output chunk's arrival with
    TTFT, E2E and the decode span; below, every ITL gap beside the request's TPOT. Returns (fig, ax)."""
    if r.ttft_s is None or len(r.piece_times_s) < 2:
        raise ValueError("a timeline needs a stream with at least 2 output chunks; stream a longer answer")
    fig, ax = plt.subplots(2, 1, figsize=(9, 5.6), sharex=True, height_ratios=[1.2, 1], constrained_layout=True)
    style_axes(ax)
    top, low = ax
    arrivals = [t - r.sent_s for t in r.piece_times_s]
    ttft, e2e = r.ttft_s, r.e2e_s
    top.vlines(arrivals, 0, 0.5, color=PALETTE[1], lw=1)
    top.plot([0], [0.25], marker=">", color=PALETTE[3], ms=9)
    top.text(0.005 * e2e, 0.55, "request sent", fontsize=8, color="0.3")
    top.plot([e2e], [0.25], marker="|", color=PALETTE[2], ms=18, mew=2)
    top.text(e2e, -0.12, "stream ended", fontsize=8, color="0.3", ha="right", va="top")
    _span(top, 0, ttft, 0.85, f"TTFT {_ms(ttft)}", PALETTE[0])
    _span(top, ttft, e2e, 1.3, f"E2E - TTFT = (n - 1) x TPOT = {r.n_out - 1} x {_ms(r.tpot_s)}",
          PALETTE[4], right=True)
    _span(top, 0, e2e, 1.8, f"E2E {_ms(e2e)}", PALETTE[2])
    top.set_ylim(-0.4, 2.2)
    top.set_yticks([0.25], [f"{len(arrivals)} output\nchunks"])
    top.grid(False, axis="y")
    gaps = r.itl_s
    low.bar(arrivals[1:], [g * 1000 for g in gaps], width=[-g for g in gaps], align="edge",
            color=PALETTE[1], edgecolor="white", lw=0.3, label=f"ITL: each of the {len(gaps)} gaps between chunks")
    if r.tpot_s is not None:
        low.axhline(r.tpot_s * 1000, color=PALETTE[4], ls="--",
                    label=f"TPOT {_ms(r.tpot_s)} (n = {r.n_out} {r.unit})")
    low.set_ylabel("gap (ms)")
    low.set_xlabel("time since the request was sent (s)")
    low.legend(loc="upper left", fontsize=8, frameon=False)
    where = f", backend={backend}" if backend else ""
    top.set_title(f"One measured stream: where TTFT, ITL, TPOT and E2E sit (this run{where})")
    tpot = f", TPOT {_ms(r.tpot_s)}" if r.tpot_s is not None else ""
    summarize(fig, f"{len(arrivals)} chunks: TTFT {_ms(ttft)}, E2E {_ms(e2e)}{tpot}; the gaps between chunks "
                   f"ran from {_ms(min(gaps))} to {_ms(max(gaps))}.")
    return fig, ax


def _caveats(pcts) -> list[str]:
    """The percentile caveats, one line per sample count (TTFT, TPOT and E2E usually share one)."""
    groups: dict[tuple[int, tuple[int, ...]], list[str]] = {}
    for p in pcts.values():
        if p.weak():
            groups.setdefault((p.n, tuple(p.weak())), []).append(p.name)
    return [sample_caveat(names, n, weak) for (n, weak), names in groups.items()]


def summary(run: StreamRun) -> str:
    """A run of many streams as a serving benchmark reports it (lesson 04): p50/p95/p99 with
    their sample counts and caveats, mean ITL beside mean TPOT, one user's tok/s beside the server's."""
    recs, unit = run.records, run.unit
    ok = [r for r in recs if r.ok]
    lines = [f"{len(recs)} requests ({len(ok)} ok, {run.n_failed} failed), at most {peak_in_flight(recs)} in flight "
             f"at once (max_concurrency={run.max_concurrency}), over {run.window_s:.2f} s; counted in {unit}"]
    if run.n_skipped:
        lines.append(f"{run.n_skipped} prompts were never sent: the time cap was reached")
    pcts = metric_percentiles(recs)
    lines.append(f"{'':6}{'p50':>9}{'p95':>9}{'p99':>9}   samples")
    for name, p in pcts.items():
        lines.append(f"{name:6}" + "".join(f"{_ms(v):>9}" for v in (p.p50, p.p95, p.p99)) + f"   {p.n}")
    lines += _caveats(pcts)
    lines.append(f"mean ITL {_ms(mean_itl_s(recs))} (every gap counts: long answers weigh more); "
                 f"mean TPOT {_ms(mean_tpot_s(recs))} (every request counts once)")
    users = [r.tokens_per_s for r in ok if r.tokens_per_s]
    if users:
        lines.append(f"one user's speed (1 / TPOT, median over requests): {statistics.median(users):.0f} {unit}/s; "
                     f"the server's aggregate: {aggregate_tokens_per_s(recs):.0f} {unit}/s "
                     f"(every successful request's output / the {run.window_s:.2f} s window)")
    return "\n".join(lines)
