"""Find the knee of a throughput-latency curve from the data, and say what it found (lesson 04b).

The rule, stated once and used everywhere (the lesson prints `RULE`):

    A step from setting k to a later setting j *pays* when throughput rises by more than
    `tol` (10 %) AND by at least as large a fraction as the latency it costs:
        T_j / T_k - 1 > tol   and   T_j / T_k - 1 >= L_j / L_k - 1
    The knee is the first setting from which no later setting pays.

Comparing against *every* later setting, not just the next one, keeps one noisy point from
ending the climb early. Three outcomes, each with its own sentence:
- a knee inside the range ("knee at 16: ...");
- no knee yet: the last setting is still worth reaching ("still rising at 32: no knee in this range");
- no gain at all: nothing beyond the first setting pays ("flat from the first setting").
Pure functions on plain numbers, tested on hand-made curves.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

TOL = 0.10
RULE = ("knee = the first setting from which no later setting pays, where a step pays when "
        "throughput rises by more than 10 % and by at least as large a fraction as latency rises")


@dataclass(frozen=True)
class Knee:
    """What `find_knee` found (lesson 04b).

    index: position of the knee in the sorted points, or None when the curve has none in range.
    kind: "knee", "still_rising", "flat" or "too_few".
    verdict: one sentence computed from the numbers (used as a plot title).
    """

    index: int | None
    kind: str
    setting: float | None
    throughput: float | None
    verdict: str


def _pct(x: float, sign: bool = False) -> str:
    """0.1 -> "10 %", with sign=True "+10 %" (the course writes a space before %)."""
    return f"{round(100 * x):+d} %" if sign else f"{round(100 * x)} %"


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def _pays(t_k: float, l_k: float, t_j: float, l_j: float, tol: float) -> bool:
    gain = t_j / t_k - 1 if t_k > 0 else math.inf
    cost = l_j / l_k - 1 if l_k > 0 else math.inf
    return gain > tol and gain >= cost


def find_knee(settings, throughputs, latencies, what: str = "setting", unit: str = "requests/s",
              tol: float = TOL) -> Knee:
    """The knee of one curve by `RULE` (lesson 04b).

    settings: max_concurrency or request rate, one per point; throughputs: answers/s (or
    tokens/s); latencies: a latency per point (p50 E2E, say). Points with a NaN or a throughput
    of 0 are left out. `what` names the setting in the verdict ("max_concurrency", "rate").
    """
    pts = sorted((float(s), float(t), float(la)) for s, t, la in zip(settings, throughputs, latencies)
                 if math.isfinite(t) and math.isfinite(la) and t > 0 and la > 0)
    if len(pts) < 3:
        return Knee(None, "too_few", None, None,
                    f"too few points to find a knee ({len(pts)} usable; it takes at least 3)")
    xs, ts, ls = zip(*pts)
    n = len(pts)
    k = next(i for i in range(n) if not any(_pays(ts[i], ls[i], ts[j], ls[j], tol) for j in range(i + 1, n)))
    top = max(range(n), key=lambda i: ts[i])
    if k == n - 1:
        gain = ts[-1] / ts[-2] - 1
        return Knee(None, "still_rising", None, None,
                    f"no knee up to {what}={_fmt(xs[-1])}: throughput still rose {_pct(gain, True)} from "
                    f"{_fmt(xs[-2])} to {_fmt(xs[-1])} while p50 latency changed {_pct(ls[-1] / ls[-2] - 1, True)}")
    if k == 0:
        return Knee(None, "flat", None, None,
                    f"no knee: from {what}={_fmt(xs[0])} to {_fmt(xs[-1])}, no step raised throughput by more "
                    f"than {_pct(tol)} at a fair latency cost (best {ts[top]:.3g} {unit} at {_fmt(xs[top])})")
    change, rise = ts[-1] / ts[k] - 1, ls[-1] / ls[k] - 1
    # by the rule, the step from the knee to the last point does not pay: either throughput rose
    # by no more than `tol`, or it rose by a smaller fraction than latency did
    if change > tol:
        past = (f"throughput grew {_pct(change, True)}, less than p50 latency did ({_pct(rise, True)}, "
                f"{ls[-1] / ls[k]:.1f}×)")
    else:
        past = (f"throughput changed {_pct(change, True)} (not more than {_pct(tol)}) while p50 latency "
                f"changed {_pct(rise, True)}")
    return Knee(k, "knee", xs[k], ts[k],
                f"knee at {what}={_fmt(xs[k])}: {ts[k]:.3g} {unit}, {ts[k] / ts[0]:.1f}× the first point; "
                f"from there to {_fmt(xs[-1])}, {past}")


def compare_prediction(guess, knee: Knee, what: str = "max_concurrency") -> str:
    """Your predicted knee beside the one found in the data (lesson 04b)."""
    if guess is None or guess == "no guess":
        return f"no prediction given; the data: {knee.verdict}"
    if knee.kind != "knee":
        return f"you predicted a knee at {what}={guess}; this run found none: {knee.verdict}"
    if float(guess) == knee.setting:
        return f"you predicted {what}={guess}: the data agree ({knee.verdict})"
    side = "below" if float(guess) < knee.setting else "above"
    return f"you predicted {what}={guess}, {side} the knee the data show at {_fmt(knee.setting)}"


def littles_law(in_flight: float, arrival_rps: float, latency_s: float) -> tuple[float, float]:
    """Little's law, L = λ × W (lesson 04b): returns (λ × W, measured L / (λ × W))."""
    predicted = arrival_rps * latency_s
    return predicted, (in_flight / predicted if predicted > 0 else float("nan"))


def safe_concurrency(rpm: float | None, tpm: float | None, tokens_per_request: float, latency_s: float) -> int:
    """The most requests you may keep in flight under an RPM / TPM limit (lesson 04b).

    The allowed rate is the smaller of rpm / 60 and tpm / 60 / tokens_per_request (requests/s);
    by Little's law, in flight = rate × latency; round down, at least 1.
    """
    rates = [r for r in ((rpm / 60 if rpm else None),
                         (tpm / 60 / tokens_per_request if tpm and tokens_per_request > 0 else None)) if r]
    if not rates or not latency_s > 0:
        raise ValueError("need at least one limit (rpm or tpm) and a latency > 0 s")
    return max(1, math.floor(min(rates) * latency_s))


def burst_verdict(rate: float, p95_constant_s: float, p95_poisson_s: float, late_s: float = 0.0,
                  n: int = 20) -> str:
    """Constant vs Poisson arrivals at the same rate (lesson 04b), from their p95 E2E latencies.
    late_s: how late the later of the two runs sent a request; past 0.1 s of the p95 the client, not
    the schedule, shaped the tail, and the verdict says so. n: answers per run (under 20, a p95 is
    about the slowest one, and the verdict says that too)."""
    ratio = p95_poisson_s / p95_constant_s if p95_constant_s > 0 else float("nan")
    if not math.isfinite(ratio):
        return "no p95 to compare (no successful request in one of the runs)"
    if abs(ratio - 1) <= TOL:
        how = f"within {_pct(TOL)} of each other"
    else:
        how = f"{ratio:.2f}× the constant schedule's ({'higher' if ratio > 1 else 'lower'})"
    out = (f"at {rate:.3g} requests/s: p95 latency {p95_constant_s:.2f} s with constant gaps, "
           f"{p95_poisson_s:.2f} s with Poisson gaps: {how}")
    if n < 20:
        out += f" (from {n} answers each: a p95 that is really the slowest one)"
    if late_s > 0.1 * min(p95_constant_s, p95_poisson_s):
        out += (f"; but your client sent some requests up to {late_s:.2f} s after their time (a busy CPU), "
                "so this run can't tell the schedules apart: rerun the cell")
    return out
