"""The two pictures of a comparison of the three modes (lesson 04): first text against
all done, and the waits per mode, medians with min-max bars over the repeats.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..plots import MODE_COLORS, style_axes, summarize
from .compare_results import LOOP, MARKERS, MODES, ModeComparison, Spread, _num


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
    summarize(fig, " | ".join(f"{_name(c, i)}: " + ", ".join(
        f"{LOOP[m.mode]} first text {_num(m.first_text.median)} s, all done {_num(m.all_done.median)} s"
        for m in c.modes) for i, c in enumerate(cmps)) + " (medians).")
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
    summarize(fig, " | ".join(f"{_name(c, i)}: " + ", ".join(
        f"{LOOP[m.mode]} mean wait per answer {_num(m.mean_wait.median)} s" for m in c.modes)
        for i, c in enumerate(cmps)) + " (medians).")
    return fig, (np.array(axes) if len(cmps) > 1 else axes[0])
