"""Size lesson 06's slow cells to the backend's measured speed (lesson 06).

On `sim` the crowd cells send a few seconds of traffic each and finish in seconds; on the local
model one answer takes seconds by itself, so the same traffic takes over a minute. These helpers
estimate a cell's time from what the lesson already measured (one user alone: W, and how many
answers run at once: slots), pick how much fits a budget, and say so in one printed line:

    plan = sizing.plan_crowd(capacity_per_min, w_alone, slots, backend=backend.name)
    print(plan)      # e.g. "local, 1 slot, W alone 3.8 s: 3 users a rate (not 4) ... two cells"

The estimate replays the very arrival times `run_crowd` will use (same seeds) through a queue
with `slots` servers that each take W per answer: a lower bound, since W grows under load.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass

from .crowd import AppAnswer, poisson_arrivals

TRAFFIC_S = 3.0      # seconds of arrivals per rate on a fast backend (the lesson's default)
MIN_USERS = 4


def queue_finish_s(arrivals: list[float], service_s: float, slots: int) -> float:
    """When the last request ends, if each takes service_s and `slots` run at once, first come first served."""
    if not arrivals:
        return 0.0
    free = [0.0] * slots
    for t in sorted(arrivals):
        start = max(heapq.heappop(free), t)
        heapq.heappush(free, start + service_s)
    return max(free)


def crowd_seconds(users_per_min: float, n_users: int, w_s: float, slots: int, seed: int = 0,
                  burst: int = 0) -> float:
    """Estimated seconds of one `run_crowd(users_per_min, n_users, seed, burst=burst)` (lesson 06)."""
    return queue_finish_s(poisson_arrivals(users_per_min, n_users, seed) + [0.0] * burst, w_s, slots)


def users_for(rate_per_min: float, traffic_s: float = TRAFFIC_S, min_users: int = MIN_USERS) -> int:
    """Enough users for `traffic_s` seconds of arrivals at this rate, and at least min_users."""
    return max(min_users, round(rate_per_min / 60 * traffic_s))


@dataclass(frozen=True)
class CrowdPlan:
    """Which (users_per_min, n_users) run in which cell (steps[0]: the first cell, steps[1]: the
    next one, maybe empty), with each step's estimated seconds and one line saying why."""

    steps: tuple[tuple[tuple[float, int], ...], ...]
    estimates_s: tuple[float, ...]
    note: str

    def __str__(self) -> str:
        return self.note


def plan_crowd(capacity_per_min: float, w_alone_s: float, slots: int, factors=(0.5, 1.0, 1.5),
               budget_s: float = 25.0, backend: str = "") -> CrowdPlan:
    """Users per rate and the split over two cells so each stays near `budget_s` (lesson 06).

    The lesson's rule (a few seconds of traffic, at least 4 users) is kept when all rates fit one
    cell. Otherwise the rates are split over two cells, and if a cell still overflows, each rate
    gets 3 users. Seeds are the rates' positions (0, 1, 2), as the lesson's loop uses them."""
    if not (capacity_per_min > 0 and w_alone_s > 0 and isinstance(slots, int) and slots >= 1):
        raise ValueError("capacity_per_min and w_alone_s must be > 0 and slots a whole number >= 1")
    rates = [f * capacity_per_min for f in factors]
    where = f"{backend + ', ' if backend else ''}{slots} slot{'s' * (slots != 1)}, W alone {w_alone_s:.1f} s"
    for min_users in (MIN_USERS, 3):
        ns = [users_for(r, min_users=min_users) for r in rates]
        secs = [crowd_seconds(r, n, w_alone_s, slots, seed=i) for i, (r, n) in enumerate(zip(rates, ns))]
        steps = _split(secs, budget_s)
        if all(sum(secs[i] for i in s) <= budget_s for s in steps) or min_users == 3:
            break
    cells = tuple(tuple((rates[i], ns[i]) for i in s) for s in steps)
    est = tuple(sum(secs[i] for i in s) for s in steps)
    users = f"{', '.join(str(n) for n in ns)} users at {', '.join(f'{r:.0f}' for r in rates)} users/min"
    if len(steps) == 1 or not steps[1]:
        note = f"{where}: {users}, about {est[0]:.0f} s in all, so every rate runs in this cell"
    else:
        fewer = "" if min_users == MIN_USERS else f" (3 users a rate, not {MIN_USERS}, to stay near it)"
        note = (f"{where}: {users} would take about {sum(est):.0f} s, over the {budget_s:.0f} s budget of a "
                f"cell{fewer}; so {len(cells[0])} rate{'s' * (len(cells[0]) != 1)} here (about {est[0]:.0f} s) "
                f"and the rest in the next cell (about {est[1]:.0f} s)")
        if max(est) > budget_s:
            note += "; still over the budget: the smallest useful crowd needs that long at this speed"
    return CrowdPlan(cells if len(cells) == 2 else cells + ((),), est if len(est) == 2 else est + (0.0,), note)


def _split(secs: list[float], budget_s: float) -> list[list[int]]:
    """All in one cell if it fits, else the first rates that fit (at least one) and the rest."""
    if sum(secs) <= budget_s:
        return [list(range(len(secs))), []]
    first, total = [], 0.0
    for i, s in enumerate(secs):
        if first and total + s > budget_s:
            break
        first.append(i)
        total += s
    return [first, [i for i in range(len(secs)) if i not in first]]


def plan_burst(capacity_per_min: float, w_alone_s: float, slots: int, burst: int,
               budget_s: float = 25.0, backend: str = "") -> tuple[int, str]:
    """Users for the burst experiment's runs (one cell each: no cap, then a cap of 1 per user)."""
    rate = 0.5 * capacity_per_min
    where = f"{backend + ', ' if backend else ''}{slots} slot{'s' * (slots != 1)}, W alone {w_alone_s:.1f} s"
    n = users_for(rate)
    secs = crowd_seconds(rate, n, w_alone_s, slots, seed=7, burst=burst)
    if secs <= budget_s:
        return n, f"{where}: {n} users at {rate:.0f} users/min and a burst of {burst}, about {secs:.0f} s a run"
    small = max(2, min(n, 3))
    small_s = crowd_seconds(rate, small, w_alone_s, slots, seed=7, burst=burst)
    line = (f"{where}: {n} users and a burst of {burst} would take about {secs:.0f} s a run; using {small} users "
            f"(about {small_s:.0f} s a run)")
    if small_s > budget_s:
        line += f", still over the {budget_s:.0f} s budget: fewer users would leave no one to compare"
    return small, line


def fit_routes(first: AppAnswer, routes: dict, max_tokens: int = 200, budget_s: float = 25.0,
               backend: str = "", keep=("proxy, headers stripped", "proxy, X-Accel-Buffering: no")):
    """The buffering demo's routes (lesson 06): all of them if one long answer each fits the
    budget, else only `keep` (the two the comparison needs). The question stays the long one: a
    short answer arrives almost at once after its prompt is read, and would hide the buffering.
    Estimated from `first` (section 1's answer): its time to first text, plus max_tokens at the
    rate the app wrote that answer. Returns (routes, one line saying why)."""
    out = (first.server.get("usage") or {}).get("output_tokens") or 0
    writing_s = first.latency_s - (first.wait_s or 0.0)
    where = backend + ": " if backend else ""
    if not (out and writing_s > 0):
        return dict(routes), f"{where}all {len(routes)} routes (no token count to size them from)"
    rate = out / writing_s
    long_s = (first.wait_s or 0.0) + max_tokens / rate
    said = (f"{where}section 1's answer came at {rate:.0f} tokens/s, so a long answer takes about "
            f"{long_s:.1f} s (up to {max_tokens} tokens; an estimate)")
    if len(routes) * long_s <= budget_s:
        return dict(routes), f"{said}: all {len(routes)} routes, about {len(routes) * long_s:.0f} s"
    kept = {k: v for k, v in routes.items() if k in keep}
    line = (f"{said}: {len(routes)} routes would take about {len(routes) * long_s:.0f} s, over the "
            f"{budget_s:.0f} s budget; asking through the {len(kept)} proxy routes the comparison needs "
            f"(about {len(kept) * long_s:.0f} s)")
    if len(kept) * long_s > budget_s:
        line += ", still over the budget at this speed"
    return kept, line
