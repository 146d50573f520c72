"""The capacity lab's load profiles (lesson 04b): GuideLLM-style runs through the real client.

Every request is one `llm.stream(...)` timed by `helpers.metrics_live.stream_record`, so each
point carries per-request TTFT, TPOT and E2E (`helpers.metrics`). The profiles:

- `synchronous(llm, n)`: one request at a time (max_concurrency=1);
- `concurrency_sweep(llm, concurrencies, n_for)`: closed loop, c requests always in flight, for each c;
- `rate_run(llm, rate, n, kind)`: open loop, requests *sent on a schedule* whatever the server
  does: "constant" (every 1/rate s) or "poisson" (random gaps with mean 1/rate, seeded);
- `rate_sweep(llm, rates, seconds_per_rate)`: constant rates, e.g. from the synchronous rate to the peak.

Caps on every run (`MAX_REQUESTS`, `MAX_SECONDS`, `MAX_IN_FLIGHT`); bad settings raise one line.
The plan, knee widget and OpenAI cost gate are in `capacity_plan`; figures in `capacity_plots`;
the knee rule and Little's law in `capacity_knee`.
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ..errors import BackendError
from ..metrics import SLO, RequestRecord, goodput, metric_percentiles
from ..metrics_live import stream_record
from .capacity_knee import RULE, Knee, compare_prediction, find_knee, littles_law, safe_concurrency

__all__ = ["MAX_REQUESTS", "MAX_SECONDS", "MAX_IN_FLIGHT", "Point", "prompts", "arrival_times", "run_point",
           "rate_run", "synchronous", "concurrency_sweep", "rate_sweep", "knee_of", "max_goodput", "table",
           "littles_table", "slo_from", "RULE", "Knee", "find_knee", "compare_prediction", "littles_law",
           "safe_concurrency", "SLO"]

MAX_REQUESTS = 300     # per run (one point); more is refused
MAX_SECONDS = 60.0     # per run: after this no request starts, and open streams are cut
MAX_IN_FLIGHT = 64     # the open-loop client's threads: arrivals beyond wait on your side (and say so)
TOPICS = ["batching", "streaming", "latency", "throughput", "rate limits", "retries", "tokens", "RAG",
          "embeddings", "timeouts", "caching", "queues"]


def prompts(n: int) -> list[str]:
    """`n` short, different questions (lesson 04b)."""
    return [f"In one sentence: what is {TOPICS[i % len(TOPICS)]}? (question {i + 1})" for i in range(n)]


def _whole(name: str, value, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
        extra = " (that is the cap: a run this size would be slow, and costly on a paid API)" if \
            isinstance(value, (int, np.integer)) and value > hi else ""
        raise ValueError(f"{name} must be a whole number from {lo} to {hi}, got {value!r}{extra}")
    return int(value)


def _rate(rate) -> float:
    if isinstance(rate, bool) or not isinstance(rate, (int, float, np.floating)) or not 0 < rate < 10_000:
        raise ValueError(f"rate must be a number of requests per second > 0 (and < 10000), got {rate!r}")
    return float(rate)


def arrival_times(rate: float, n: int, kind: str = "constant", seed: int = 0) -> list[float]:
    """When each of `n` requests is sent, in seconds from the start (lesson 04b).

    constant: every 1/rate s. poisson: independent exponential gaps with mean 1/rate (a Poisson
    process, as GuideLLM's "poisson" profile), from `seed`: the same seed gives the same schedule.
    """
    rate, n = _rate(rate), _whole("n", n, 1, MAX_REQUESTS)
    if kind == "constant":
        return [i / rate for i in range(n)]
    if kind == "poisson":
        gaps = np.random.default_rng(seed).exponential(1 / rate, n - 1)
        return [0.0, *np.cumsum(gaps).tolist()]
    raise ValueError(f"kind must be 'constant' or 'poisson', got {kind!r}")


@dataclass(frozen=True)
class Point:
    """One load profile at one setting (lesson 04b): every request's record and the run's window.

    profile: "synchronous", "concurrency", "constant" or "poisson"; setting: max_concurrency, or
    the request rate in requests/s. scheduled_s: when each request was due (open loop only).
    n_skipped: requests never sent because the time cap was reached.
    """

    profile: str
    setting: float
    records: tuple[RequestRecord, ...]
    window_s: float
    scheduled_s: tuple[float, ...] = ()
    n_skipped: int = 0

    @property
    def ok(self) -> list[RequestRecord]:
        return [r for r in self.records if r.ok]

    @property
    def throughput_rps(self) -> float:
        """Successful answers per second of the window."""
        return len(self.ok) / self.window_s if self.window_s > 0 else float("nan")

    @property
    def tokens_per_s(self) -> float:
        """Output tokens (usage) or chunks of the successful answers per second of the window."""
        return sum(r.n_out for r in self.ok) / self.window_s if self.window_s > 0 else float("nan")

    def p(self, metric: str, q: int = 50) -> float:
        """Percentile q (50, 95 or 99) of "TTFT", "TPOT", "ITL" or "E2E", in seconds."""
        return getattr(metric_percentiles(self.records)[metric], f"p{q}")

    @property
    def mean_e2e_s(self) -> float:
        return float(np.mean([r.e2e_s for r in self.ok])) if self.ok else float("nan")

    @property
    def in_flight_sending(self) -> float:
        """Requests in flight, averaged over the steady part of sending (one mean latency after
        the first send, up to the last send), counted from the stamps on a grid of 500 instants."""
        if len(self.records) < 2:
            return float("nan")
        sent = np.array([r.sent_s for r in self.records])
        end = np.array([r.end_s for r in self.records])
        start = sent.min() + np.mean(end - sent)
        grid = np.linspace(start if start < sent.max() else sent.min(), sent.max(), 500)
        return float(np.mean([(sent <= t).sum() - (end <= t).sum() for t in grid]))

    @property
    def max_late_s(self) -> float:
        """Open loop: how late the latest request left your machine (0 for closed loop)."""
        return max((r.sent_s - s for r, s in zip(self.records, self.scheduled_s)), default=0.0)

    def goodput(self, slo: SLO):
        return goodput(self.records, slo, self.window_s)

    def label(self) -> str:
        return (f"max_concurrency={self.setting:g}" if self.profile in ("synchronous", "concurrency")
                else f"{self.profile} {self.setting:.3g} req/s")

    def __str__(self) -> str:
        failed = len(self.records) - len(self.ok)
        parts = [f"{self.label()}: {len(self.ok)}/{len(self.records)} answered in {self.window_s:.2f} s",
                 f"{self.throughput_rps:.2f} answers/s", f"p50 E2E {self.p('E2E'):.2f} s",
                 f"p95 E2E {self.p('E2E', 95):.2f} s", f"p50 TTFT {self.p('TTFT'):.2f} s"]
        if failed:
            parts.append(f"{failed} failed ({self.records[[r.ok for r in self.records].index(False)].error})")
        if self.n_skipped:
            parts.append(f"{self.n_skipped} not sent (time cap)")
        if self.max_late_s > 0.05 * max(self.window_s, 1e-9):
            parts.append(f"sent up to {self.max_late_s:.2f} s late (your client fell behind its own schedule)")
        return " · ".join(parts)


_reached: set[tuple] = set()


def preflight(llm) -> None:
    """One request first: an unreachable server or a rejected key gives one clear line (lesson 04b)."""
    key = (id(llm), getattr(llm, "openai_api_base", None))
    if key in _reached:
        return
    rec = stream_record(llm, "Say hello.")
    if not rec.ok:
        where = getattr(llm, "openai_api_base", None) or "the server"
        raise BackendError(f"The capacity lab cannot use {where}: {rec.error}. Is the server running "
                           "(LLM_BASE_URL), or use LLM_BACKEND=sim to run offline.")
    _reached.add(key)


def run_point(llm, profile: str, setting: float, n: int, schedule_s: list[float] | None = None,
              max_seconds: float = MAX_SECONDS, progress: bool = True, seed_text: int = 0) -> Point:
    """Run one point (lesson 04b): closed loop (`setting` requests always in flight) when
    `schedule_s` is None, else open loop (request i sent at schedule_s[i], up to `MAX_IN_FLIGHT`
    at once). Caps: n <= MAX_REQUESTS, and nothing starts after `max_seconds`. A tqdm bar
    counts answers as they land; the finished point is printed as one line."""
    n = _whole("n", n, 1, MAX_REQUESTS)
    if not 0 < max_seconds <= 600:
        raise ValueError(f"max_seconds must be between 0 and 600, got {max_seconds!r}")
    preflight(llm)
    texts = prompts(n + seed_text)[seed_text:]
    workers = _whole("max_concurrency", int(setting), 1, MAX_IN_FLIGHT) if schedule_s is None else MAX_IN_FLIGHT
    bar = _bar(n, profile, setting) if progress else None
    lock, skipped = threading.Lock(), [0]
    t0 = time.perf_counter()
    deadline = t0 + max_seconds

    def one(i: int) -> RequestRecord | None:
        if time.perf_counter() > deadline:
            with lock:
                skipped[0] += 1
            return None
        rec = stream_record(llm, texts[i], t0=t0, index=i, deadline=deadline)
        if bar is not None:
            with lock:
                bar.update(1)
        return rec

    with ThreadPoolExecutor(max_workers=min(workers, n)) as pool:
        if schedule_s is None:
            futures = [pool.submit(one, i) for i in range(n)]
        else:
            futures = []
            for i, due in enumerate(schedule_s[:n]):
                time.sleep(max(0.0, t0 + due - time.perf_counter()))
                futures.append(pool.submit(one, i))
        done = [f.result() for f in futures]
    if bar is not None:
        bar.close()
    records = tuple(r for r in done if r is not None)
    window = (max(r.end_s for r in records) - min(r.sent_s for r in records)) if records else 0.0
    sched = tuple(s for s, r in zip(schedule_s or [], done) if r is not None)
    point = Point(profile, float(setting), records, window, sched, skipped[0])
    if progress:
        print(point, flush=True)
    return point


def _bar(n: int, profile: str, setting: float):
    from tqdm.auto import tqdm

    desc = f"max_concurrency={setting:g}" if profile in ("synchronous", "concurrency") else f"{profile} {setting:.3g}/s"
    return tqdm(total=n, desc=desc, unit="answer")


def rate_run(llm, rate: float, n: int, kind: str = "constant", seed: int = 0, **kw) -> Point:
    """Open loop (lesson 04b): send `n` requests at `rate` per second, on a constant or Poisson schedule."""
    return run_point(llm, kind, _rate(rate), n, arrival_times(rate, n, kind, seed), **kw)


def synchronous(llm, n: int, **kw) -> Point:
    """One request at a time (GuideLLM's "synchronous"): the single-user baseline (lesson 04b)."""
    return run_point(llm, "synchronous", 1, n, **kw)


def concurrency_sweep(llm, concurrencies, n_for, **kw) -> dict[int, Point]:
    """Closed loop at each max_concurrency (lesson 04b); n_for(c) requests per point."""
    if not concurrencies:
        raise ValueError("concurrencies must list at least one max_concurrency, e.g. (1, 2, 4)")
    return {int(c): run_point(llm, "concurrency", c, n_for(c), **kw) for c in concurrencies}


def rate_sweep(llm, rates, seconds_per_rate: float, kind: str = "constant", seed: int = 0,
               **kw) -> dict[float, Point]:
    """Open loop at each rate for about `seconds_per_rate` of sending (lesson 04b)."""
    out = {}
    for r in rates:
        n = max(4, round(_rate(r) * seconds_per_rate))
        if n > MAX_REQUESTS:
            raise ValueError(f"{r:.3g} requests/s for {seconds_per_rate} s is {n} requests, more than the cap "
                             f"of {MAX_REQUESTS}: lower the rate or the seconds")
        out[r] = rate_run(llm, r, n, kind, seed, **kw)
    return out


def knee_of(points: dict, what: str = "max_concurrency") -> Knee:
    """`find_knee` on a sweep: throughput (answers/s) against p50 E2E latency (lesson 04b)."""
    xs = sorted(points)
    return find_knee(xs, [points[x].throughput_rps for x in xs], [points[x].p("E2E") for x in xs], what)


def slo_from(baseline: Point, ttft_x: float = 2.0, tpot_x: float = 1.5) -> SLO:
    """An SLO relative to one request alone (lesson 04b): TTFT within ttft_x times, and TPOT
    within tpot_x times, the baseline's p50. Works on any backend, at any speed."""
    return SLO(ttft_max_s=ttft_x * baseline.p("TTFT"), tpot_max_s=tpot_x * baseline.p("TPOT"))


def max_goodput(points: list[Point], slo: SLO) -> tuple[Point, float]:
    """The point with the most requests/s meeting `slo`, and that goodput (lesson 04b)."""
    best = max(points, key=lambda p: np.nan_to_num(p.goodput(slo).goodput_rps))
    return best, best.goodput(slo).goodput_rps


def table(points: list[Point], slo: SLO | None = None) -> str:
    """One row per point (lesson 04b): answers/s, tokens/s, p50/p95 E2E, p50 TTFT/TPOT, goodput."""
    rows = [f"{'point':<28}{'answers/s':>10}{'tok/s':>8}{'p50 E2E':>9}{'p95 E2E':>9}{'p50 TTFT':>10}"
            f"{'p50 TPOT':>10}" + (f"{'met SLO':>9}{'goodput/s':>11}" if slo else "")]
    for p in points:
        row = (f"{p.label():<28}{p.throughput_rps:>10.2f}{p.tokens_per_s:>8.0f}{p.p('E2E'):>8.2f}s"
               f"{p.p('E2E', 95):>8.2f}s{p.p('TTFT'):>9.3f}s{p.p('TPOT') * 1000:>8.1f}ms")
        if slo:
            g = p.goodput(slo)
            row += f"{round(100 * g.share):>7} %{g.goodput_rps:>11.2f}"
        rows.append(row)
    return "\n".join(rows)


def littles_table(points: list[Point]) -> str:
    """Little's law on each point (lesson 04b): in flight L against λ × W, both from the run.

    Closed loop: L is the setting (c requests kept in flight) and λ the measured answers/s.
    Open loop: λ is the rate you set, and L is counted from the stamps while sending (`in_flight_sending`).
    W = mean E2E of the answers. So each row sets one side from a setting, the other from a measurement."""
    rows = [f"{'point':<28}{'in flight L':>12}{'λ (req/s)':>11}{'W (s)':>8}{'λ × W':>8}{'L / (λ×W)':>11}"]
    for p in points:
        closed = p.profile in ("synchronous", "concurrency")
        in_flight, lam = (p.setting, p.throughput_rps) if closed else (p.in_flight_sending, p.setting)
        pred, ratio = littles_law(in_flight, lam, p.mean_e2e_s)
        rows.append(f"{p.label():<28}{in_flight:>12.2f}{lam:>11.2f}{p.mean_e2e_s:>8.3f}"
                    f"{pred:>8.2f}{ratio:>11.2f}")
    return "\n".join(rows)
