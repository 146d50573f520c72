"""The capacity lab's figures (lesson 04b): the throughput-latency curve with its knee.

Functions take the lab's `Point`s and return `(fig, ax)`; titles are computed from the data
(`capacity_knee.find_knee`'s verdict), never typed in.
"""
from __future__ import annotations

import textwrap

import numpy as np

from ..plots.style import MEASURED, PALETTE, PREDICTED, new_figure
from ..plots.summary import summarize
from .capacity_knee import Knee


def _wrap(text: str, width: int = 78) -> str:
    return "\n".join(textwrap.wrap(text, width))


def _series(ax, points: dict, marker: str, ls: str, color: str, label: str, fmt) -> None:
    xs = sorted(points)
    thr = [points[x].throughput_rps for x in xs]
    p50 = np.array([points[x].p("E2E") for x in xs])
    p95 = np.array([points[x].p("E2E", 95) for x in xs])
    ax.plot(thr, p50, marker=marker, ls=ls, color=color, label=f"{label}: p50 E2E, {MEASURED}")
    ax.vlines(thr, p50, p95, color=color, alpha=0.5, lw=2, label=f"{label}: p50 up to p95")
    for x, t, y in zip(xs, thr, p50):
        ax.annotate(fmt(x), (t, y), textcoords="offset points", xytext=(4, -11), fontsize=8, color=color)


def curve(sweep: dict, knee: Knee, rates: dict | None = None, rate_knee: Knee | None = None,
          guess=None, backend: str = "", predicted: dict | None = None):
    """Latency (p50 E2E, with a line up to p95) against throughput (answers/s), one marker per
    setting (lesson 04b). sweep: {max_concurrency: Point}; rates: {rate: Point} from the
    constant-rate sweep, drawn in a second style. The knee found by the rule is ringed; a
    guessed knee, if any, gets a dotted line. predicted: {setting: (answers/s, p50 s)} from the
    latency model, drawn dashed. The title is the knee verdict."""
    fig, ax = new_figure(figsize=(8.5, 5))
    _series(ax, sweep, "o", "-", PALETTE[2], "max_concurrency sweep", lambda x: f"c={x:g}")
    if rates:
        _series(ax, rates, "s", "--", PALETTE[0], "constant rate", lambda x: f"{x:.3g}/s")
    if predicted:
        xs = sorted(predicted)
        ax.plot([predicted[x][0] for x in xs], [predicted[x][1] for x in xs], "k--", lw=1,
                label=f"max_concurrency sweep: p50 E2E, {PREDICTED}")
    if knee.kind == "knee":
        k = sweep[knee.setting]
        ax.plot([k.throughput_rps], [k.p("E2E")], "o", ms=16, mfc="none", mec="black", mew=1.5,
                label=f"knee by the rule (max_concurrency={knee.setting:g})")
    if guess not in (None, "no guess") and guess in sweep:
        ax.axvline(sweep[guess].throughput_rps, color=PALETTE[4], ls=":",
                   label=f"your guess (max_concurrency={guess}): its throughput")
    ax.set_xlabel("throughput (answers/s)")
    ax.set_ylabel("latency per request, end to end (s)")
    if backend:
        ax.text(0.99, 0.01, f"backend={backend}", transform=ax.transAxes, ha="right", va="bottom", fontsize=8)
    ax.set_ylim(bottom=0)
    ax.set_xlim(left=0)
    ax.legend(fontsize=8, loc="upper left")
    title = f"Concurrency sweep: {knee.verdict}"
    if rate_knee is not None:
        title += f". Constant rates: {rate_knee.verdict}"
    ax.set_title(_wrap(title, 95), fontsize=9)
    summarize(fig, title + ".")
    return fig, ax
