"""Capacity lab benchmark (lesson 04b): measured knee and max goodput against the latency model.

    .venv/bin/python benchmarks/bench_capacity.py                  # sim at real speed, about a minute
    .venv/bin/python benchmarks/bench_capacity.py --time-scale 0.5 --png /tmp/capacity.png

Runs the lab's profiles through ChatOpenAI against a fresh simulator (rate limits off, so the
server's slots are the only limit): synchronous, the concurrency sweep and the constant-rate
sweep. The same requests (token counts from usage, the server's own jitter per prompt) are
then predicted by `helpers/llm_server/latency.py`: `predict_batch` for the closed loop, a
`SlotScheduler` fed the same arrival times for the open loop. Printed side by side, as ratios:
answers/s and p50 E2E per point, the knee found by the same rule, and max goodput for the
same SLO.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from helpers.backends import chat_model  # noqa: E402
from helpers.backends.simulator import start_simulator  # noqa: E402
from helpers.lessons import capacity  # noqa: E402
from helpers.llm_server import latency  # noqa: E402

MAX_TOKENS = 32


def jobs_for(point: capacity.Point, prof: latency.Profile, seed: int) -> list[latency.Job]:
    """The point's requests as latency-model jobs: its token counts and the server's jitter."""
    texts = capacity.prompts(len(point.records))
    jobs = []
    for r in sorted(point.records, key=lambda r: r.index):
        text = texts[r.index]
        jobs.append(latency.Job(_prompt_tokens(text), r.n_out, latency.jitter_factor(prof, seed, text)))
    return jobs


def _prompt_tokens(text: str) -> int:
    from helpers.llm_server import text as sim_text
    return sim_text.count_prompt_tokens([{"role": "user", "content": text}])


def summary(ends, sends, firsts, n_out, slo) -> tuple[float, float, float]:
    """(answers/s, p50 E2E, goodput/s) from per-request times."""
    window = max(ends) - min(sends)
    e2e = np.array(ends) - np.array(sends)
    ttft = np.array(firsts) - np.array(sends)
    tpot = [(e - f) / (n - 1) if n > 1 else 0.0 for e, f, n in zip(ends, firsts, n_out)]
    met = sum(t <= slo.ttft_max_s and p <= slo.tpot_max_s for t, p in zip(ttft, tpot))
    return len(ends) / window, float(np.median(e2e)), met / window


def predict_closed(point, prof, seed, slo):
    jobs = jobs_for(point, prof, seed)
    pred = latency.predict_batch(prof, jobs, max_concurrency=int(point.setting))
    return summary([p.end_s for p in pred], [p.sent_s for p in pred], [p.first_token_s for p in pred],
                   [j.completion_tokens for j in jobs], slo)


def predict_open(point, prof, seed, slo):
    jobs = jobs_for(point, prof, seed)
    sched = latency.SlotScheduler(prof)
    for i, (t, job) in enumerate(zip(point.scheduled_s, jobs)):
        sched.arrive(i, t, job)
    while len(sched.finished) < len(jobs):
        sched.advance(sched.next_event_s())
    return summary([sched.finished[i] for i in range(len(jobs))], list(point.scheduled_s),
                   [sched.first[i] for i in range(len(jobs))], [j.completion_tokens for j in jobs], slo)


def measured(point, slo):
    return point.throughput_rps, point.p("E2E"), point.goodput(slo).goodput_rps


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--time-scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--png", default="/tmp/capacity_bench.png")
    a = ap.parse_args()
    server = start_simulator(time_scale=a.time_scale, seed=a.seed, rpm=0, tpm=0)
    prof = latency.Profile(**server.config()["profile"])
    llm = chat_model(server=server, timeout=30, max_tokens=MAX_TOKENS, max_retries=0)
    plan = capacity.LabPlan("sim", MAX_TOKENS, float("nan"), float("nan"), 8, (2, 4, 8, 16, 32),
                            {2: 4, 4: 8, 8: 16, 16: 32, 32: 64}, seconds_per_rate=2.1 * a.time_scale)
    print(f"simulator profile {prof.name}, {prof.slots} slots, time scale {a.time_scale}, {os.cpu_count()} CPUs")
    sync = capacity.synchronous(llm, plan.n_sync)
    sweep = {1: sync} | capacity.concurrency_sweep(llm, plan.concurrencies, plan.n_for)
    r_high = max(p.throughput_rps for p in sweep.values())
    rates = capacity.rate_sweep(llm, plan.rates(sync.throughput_rps, r_high), plan.seconds_per_rate)
    slo = capacity.slo_from(sync)
    pred_c = {c: predict_closed(p, prof, a.seed, slo) for c, p in sweep.items()}
    pred_r = {r: predict_open(p, prof, a.seed, slo) for r, p in rates.items()}

    print(f"\nSLO: {slo}\n")
    print("| point | answers/s measured | predicted | ratio | p50 E2E measured (s) | predicted | ratio |"
          " goodput/s measured | predicted |")
    print("|---|---|---|---|---|---|---|---|---|")
    for label, m, p in ([(sweep[c].label(), measured(sweep[c], slo), pred_c[c]) for c in sweep]
                        + [(rates[r].label(), measured(rates[r], slo), pred_r[r]) for r in rates]):
        print(f"| {label} | {m[0]:.2f} | {p[0]:.2f} | {m[0] / p[0]:.2f} | {m[1]:.3f} | {p[1]:.3f} | "
              f"{m[1] / p[1]:.2f} | {m[2]:.2f} | {p[2]:.2f} |")

    knee_m, knee_p = capacity.knee_of(sweep), capacity.find_knee(
        list(pred_c), [v[0] for v in pred_c.values()], [v[1] for v in pred_c.values()], "max_concurrency")
    rk_m = capacity.knee_of(rates, "rate")
    rk_p = capacity.find_knee(list(pred_r), [v[0] for v in pred_r.values()], [v[1] for v in pred_r.values()], "rate")
    best_m, g_m = capacity.max_goodput([*sweep.values(), *rates.values()], slo)
    best_p = max([*pred_c.items(), *pred_r.items()], key=lambda kv: kv[1][2])
    print("\n| | measured (this run) | predicted (latency model) |\n|---|---|---|")
    print(f"| knee, concurrency sweep | {knee_m.verdict} | {knee_p.verdict} |")
    print(f"| knee, constant rates | {rk_m.verdict} | {rk_p.verdict} |")
    print(f"| max goodput | {g_m:.2f}/s at {best_m.label()} | {best_p[1][2]:.2f}/s at setting {best_p[0]:g} |")

    fig, _ = capacity.curve(sweep, knee_m, rates, rk_m, backend=f"sim ×{a.time_scale}",
                            predicted={c: (v[0], v[1]) for c, v in pred_c.items()})
    fig.savefig(a.png, dpi=100)
    print(f"\nplot: {a.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
