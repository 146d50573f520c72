"""The figure of lesson 03's real-model slots experiment (`server_batching.local_slots_sweep`):
median tokens/s against max_concurrency, one panel per n_parallel, with the two reference lines
("no gain" and "ideal batching") computed from the same run."""
from __future__ import annotations

from typing import TYPE_CHECKING

from .. import plots

if TYPE_CHECKING:
    from .server_batching import SlotsSweep


def _ideal(sweep: SlotsSweep, n_par: int, c: int) -> float:
    """Ideal batching: the tokens/s at the smallest max_concurrency, times how many more requests
    the slots can decode together (an upper bound, computed from this run)."""
    c0 = min(cc for p, cc in sweep.runs if p == n_par)
    return sweep.median(n_par, c0) * min(c, n_par) / min(c0, n_par)


def slots_figure(sweep: SlotsSweep):
    """One panel per n_parallel, on one shared y-axis (lesson 03): median tokens/s against
    max_concurrency with the min-max range of the repeats, and two reference lines computed from
    the same run: no gain (one request at a time) and ideal batching. Returns (fig, axes)."""
    n_pars = sorted({p for p, _ in sweep.runs})
    fig, axes = plots.new_figure(figsize=(4.6 * len(n_pars) + 0.6, 4), ncols=len(n_pars))
    axes = list(axes) if len(n_pars) > 1 else [axes]
    for a in axes[1:]:
        a.sharey(axes[0])
    for a, n_par in zip(axes, n_pars):
        cs = sorted(c for p, c in sweep.runs if p == n_par)
        med = [sweep.median(n_par, c) for c in cs]
        lo = [m - min(sweep.tokens_per_s(n_par, c)) for m, c in zip(med, cs)]
        hi = [max(sweep.tokens_per_s(n_par, c)) - m for m, c in zip(med, cs)]
        ideal = [_ideal(sweep, n_par, c) for c in cs]
        same = ideal == [med[0]] * len(cs)
        a.plot(cs, [med[0]] * len(cs), ":", color="black", label=f"no gain: tokens/s of {cs[0]} in flight"
               + (" (1 slot: no batching is possible)" if same else ""))
        if not same:
            a.plot(cs, ideal, "--", color=plots.MODE_COLORS["predicted"],
                   label=f"ideal batching: x min(in flight, {n_par})")
        for c in cs:
            a.plot([c] * sweep.repeats, sweep.tokens_per_s(n_par, c), ".", color=plots.MODE_COLORS["batch"],
                   alpha=0.4)
        a.errorbar(cs, med, yerr=[lo, hi], fmt="o-", capsize=4, color=plots.MODE_COLORS["batch"],
                   label=f"{plots.MEASURED}: median, min-max")
        a.set_xscale("log", base=2)
        a.set_xticks(cs, [str(c) for c in cs])
        a.set(xlabel="max_concurrency (requests in flight)",
              title=f"n_parallel={n_par} slot{'s' * (n_par != 1)}")
        a.legend(fontsize="small", loc="upper left")
    axes[0].set_ylabel("tokens/s, all requests together")
    top = max(max(_ideal(sweep, p, c), *sweep.tokens_per_s(p, c)) for p, c in sweep.runs)
    axes[0].set_ylim(0, 1.35 * top)
    fig.suptitle(f"Tokens/s against max_concurrency\nreal SmolLM2 on this CPU, "
                 f"{sweep.repeats} repeats of {sweep.n_prompts} prompts each")
    plots.summarize(fig, "; ".join(plots.trend_verdict(
        sorted(c for p, c in sweep.runs if p == n_par),
        [sweep.median(n_par, c) for c in sorted(c for p, c in sweep.runs if p == n_par)],
        f"with {n_par} slot{'s' * (n_par != 1)}, median tokens/s") for n_par in n_pars) + ".")
    return fig, axes
