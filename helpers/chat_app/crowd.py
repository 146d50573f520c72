"""Lesson 06: measure the chat app from the client's side -- one user, or a crowd.

    a = measure_app(app.url, "How long is the return window?")   # -> AppAnswer (one user)
    run = await run_crowd(app.url, users_per_min=600, n_users=40)  # -> CrowdRun (Poisson arrivals)

Every stamp is `time.perf_counter()` seconds since one start, taken in this process when the
bytes arrive (an httpx SSE client: what a browser gets, before it paints).
"""
from __future__ import annotations

import asyncio
import math
import random
import time
from dataclasses import dataclass, field

import httpx
import numpy as np

from .events import parse_sse

QUESTIONS = ("How long is the return window?", "What does LumenCare+ cost?",
             "Which Wi-Fi band does the lamp need?", "How do I reset the lamp?",
             "When do firmware updates install?", "How long is the warranty on the Lumen Pro?")


@dataclass(frozen=True)
class AppAnswer:
    """One answer through the app, seen by the client (lesson 06). Times in seconds since t0:
    start_s (sent), sources_s, ttft_s (first text), end_s. server: the app's final event (or {})."""

    start_s: float
    sources_s: float | None
    ttft_s: float | None
    end_s: float
    status: str                  # "done", "error:<kind>", "http <code>" or "broken"
    text: str = ""
    server: dict = field(default_factory=dict, repr=False)
    user: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "done"

    @property
    def latency_s(self) -> float:
        return self.end_s - self.start_s

    @property
    def wait_s(self) -> float | None:
        """Time to first text, from this user's own click."""
        return None if self.ttft_s is None else self.ttft_s - self.start_s


def guessed(guess, fmt: str = "{:g}") -> str:
    """Your guess as text for a printed comparison (lesson 06): "no guess" while it is still `____`."""
    from ..quiz import _is_blank

    if guess is None or _is_blank(guess):
        return "no guess"
    if isinstance(guess, bool) or not isinstance(guess, (int, float)):
        raise ValueError(f"the guess must be a number, e.g. 0.5, got {guess!r:.40}")
    return fmt.format(guess)


def _answer(t0, start, sources, first, body, status_code, user="") -> AppAnswer:
    end = time.perf_counter() - t0
    if status_code != 200:
        return AppAnswer(start, None, None, end, f"http {status_code}", user=user)
    events = parse_sse(body)
    last = events[-1] if events else ("", {})
    status = "done" if last[0] == "done" else f"error:{last[1].get('kind')}" if last[0] == "error" else "broken"
    text = "".join(d["text"] for n, d in events if n == "delta")
    return AppAnswer(start, sources, first, end, status, text, last[1] if last[0] == "done" else {}, user)


def measure_app(url: str, question: str, path: str = "api/chat", fault: str | None = None,
                timeout_s: float = 120.0) -> AppAnswer:
    """Ask the app once and stamp the sources, the first text and the end (lesson 06)."""
    body = {"question": question, **({"fault": fault} if fault else {})}
    seen, sources, first = "", None, None
    # Build the client before the clock starts: httpx.Client() loads the CA bundle for TLS
    # (httpx/_config.py, create_ssl_context), 40-110 ms of CPU that an app's user never waits for.
    with httpx.Client(timeout=timeout_s) as client:
        t0 = time.perf_counter()
        with client.stream("POST", url + path, json=body) as resp:
            for text in resp.iter_text():
                now = time.perf_counter() - t0
                seen += text
                sources = sources if sources is not None or "event: sources" not in seen else now
                first = first if first is not None or "event: delta" not in seen else now
            return _answer(t0, 0.0, sources, first, seen, resp.status_code)


async def _one(client, url, question, t0, start, user) -> AppAnswer:
    await asyncio.sleep(max(0.0, start - (time.perf_counter() - t0)))
    sent = time.perf_counter() - t0
    seen, sources, first = "", None, None
    try:
        async with client.stream("POST", url + "api/chat", json={"question": question},
                                 headers={"X-User": user}) as resp:
            async for text in resp.aiter_text():
                now = time.perf_counter() - t0
                seen += text
                sources = sources if sources is not None or "event: sources" not in seen else now
                first = first if first is not None or "event: delta" not in seen else now
            return _answer(t0, sent, sources, first, seen, resp.status_code, user)
    except httpx.HTTPError:
        return AppAnswer(sent, sources, first, time.perf_counter() - t0, "broken", user=user)


def poisson_arrivals(users_per_min: float, n: int, seed: int = 0) -> list[float]:
    """n arrival times (s): gaps drawn from an exponential distribution with mean 60/users_per_min,
    so users come at random, independently, at that average rate (a Poisson process; lesson 06)."""
    rng = random.Random(seed)
    t, out = 0.0, []
    for _ in range(n):
        t += rng.expovariate(users_per_min / 60.0)
        out.append(t)
    return out


@dataclass(frozen=True)
class CrowdRun:
    """n users arriving at random at `users_per_min` (lesson 06), as the clients saw it.
    heavy: the answers of one extra user who sent a burst at the start (not in the percentiles)."""

    users_per_min: float
    answers: tuple[AppAnswer, ...]
    heavy: tuple[AppAnswer, ...] = ()

    @property
    def n_ok(self) -> int:
        return sum(a.ok for a in self.answers)

    def ttft_percentile_s(self, q: float) -> float:
        """Percentile q of time to first text (successful answers only)."""
        waits = [a.wait_s for a in self.answers if a.ok and a.wait_s is not None]
        return float(np.percentile(waits, q)) if waits else math.nan

    @property
    def mean_latency_s(self) -> float:
        return float(np.mean([a.latency_s for a in self.answers]))

    @property
    def duration_s(self) -> float:
        return max(a.end_s for a in self.answers) - min(a.start_s for a in self.answers)

    @property
    def arrival_rate_per_s(self) -> float:
        """The rate the users really came at: n / (last arrival - first arrival) x (n-1)/n."""
        starts = sorted(a.start_s for a in self.answers)
        return (len(starts) - 1) / (starts[-1] - starts[0]) if len(starts) > 1 and starts[-1] > starts[0] else math.nan

    @property
    def mean_in_flight(self) -> float:
        """Requests in flight, averaged over the arrival window (first to last arrival): each
        request adds the part of its own interval that falls inside the window."""
        lo = min(a.start_s for a in self.answers)
        hi = max(a.start_s for a in self.answers)
        if hi <= lo:
            return math.nan
        return sum(max(0.0, min(a.end_s, hi) - max(a.start_s, lo)) for a in self.answers) / (hi - lo)

    @property
    def littles_law_in_flight(self) -> float:
        """Little's law: in flight = arrival rate x mean time in the system."""
        return self.arrival_rate_per_s * self.mean_latency_s

    def __str__(self) -> str:
        return (f"{self.users_per_min:6.0f} users/min: {self.n_ok}/{len(self.answers)} answered, TTFT p50 "
                f"{self.ttft_percentile_s(50):.2f} s, p95 {self.ttft_percentile_s(95):.2f} s, p99 "
                f"{self.ttft_percentile_s(99):.2f} s; in flight {self.mean_in_flight:.1f} measured, "
                f"{self.littles_law_in_flight:.1f} by Little's law")


async def run_crowd(url: str, users_per_min: float, n_users: int, seed: int = 0,
                    questions=QUESTIONS, timeout_s: float = 120.0, burst: int = 0,
                    progress: str = "") -> CrowdRun:
    """Send n_users questions to the app at Poisson arrival times; wait for every answer (lesson 06).
    Each user has a name of its own (header X-User). burst: one more user ("heavy") sends this many
    questions at once at the start, like a script or many open tabs. progress: a name for a live
    bar (tqdm.auto) that moves as each answer ends. In a notebook: `await run_crowd(...)`."""
    if not users_per_min > 0 or not (isinstance(n_users, int) and n_users >= 2):
        raise ValueError("users_per_min must be > 0 and n_users a whole number >= 2")
    starts = poisson_arrivals(users_per_min, n_users, seed)
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(timeout=timeout_s, limits=limits) as client:
        t0 = time.perf_counter()
        jobs = [_one(client, url, questions[i % len(questions)], t0, s, f"user-{i}") for i, s in enumerate(starts)]
        jobs += [_one(client, url, questions[i % len(questions)], t0, 0.0, "heavy") for i in range(burst)]
        bar = None
        if progress:
            from tqdm.auto import tqdm
            bar = tqdm(total=len(jobs), desc=progress, unit="answer")

        async def counted(job):
            answer = await job
            if bar is not None:
                bar.update(1)
            return answer

        answers = await asyncio.gather(*(counted(j) for j in jobs))
        if bar is not None:
            bar.close()
    return CrowdRun(users_per_min, tuple(answers[:n_users]), tuple(answers[n_users:]))


def plot_crowd(runs: list[CrowdRun], target_s: float | None = None, backend: str = ""):
    """p50 / p95 / p99 time to first text against users per minute (lesson 06). Returns (fig, ax)."""
    import matplotlib.pyplot as plt

    from ..plots import MEASURED, PALETTE, style_axes, summarize, trend_verdict

    fig, ax = plt.subplots(figsize=(8, 4.2), constrained_layout=True)
    x = [r.users_per_min for r in runs]
    for i, (q, style) in enumerate([(50, "-"), (95, "--"), (99, ":")]):
        ax.plot(x, [r.ttft_percentile_s(q) for r in runs], marker="os^"[i], ls=style, lw=2,
                color=PALETTE[i], label=f"p{q}")
    if target_s:
        ax.axhline(target_s, color="grey", lw=1, ls="-.", label=f"target {target_s:.2f} s")
    ax.set(xlabel="users per minute (Poisson arrivals)", ylabel="time to first text at the client (s)",
           title="How does the tail of the wait grow with traffic?")
    style_axes(ax)
    ax.legend(title=MEASURED + (f", {backend}" if backend else ""), fontsize="small")
    summarize(fig, "users per minute against the time to first text: "
              + "; ".join(trend_verdict(x, [r.ttft_percentile_s(q) for r in runs], f"p{q}") for q in (50, 95))
              + (f"; target {target_s:.2f} s" if target_s else "") + ".")
    return fig, ax


# ---- leaving mid-answer ------------------------------------------------------------------------

@dataclass(frozen=True)
class LeaveResult:
    """One user who left after the first text (lesson 06), and what the simulator did about it.

    deltas_read: text pieces the client had read when it hung up. Upstream counters are the
    simulator's changes during the run: cancelled / completed chat requests, and tokens written
    in all (completion_tokens) and after it saw the disconnect (tokens_after_disconnect)."""

    path: str
    deltas_read: int
    cancelled: int
    completed: int
    tokens_written: int
    tokens_after_disconnect: int


def leave_after_first_text(app, sim, question: str, path: str = "api/chat",
                           settle=None, timeout_s: float = 60.0) -> LeaveResult:
    """Ask through `path`, hang up at the first text, then wait until the model's request has
    ended (cancelled or completed) and read the simulator's counters (lesson 06).
    settle(): an extra condition to wait for (e.g. the naive producer finished)."""
    before = sim.stats()
    deltas, seen = 0, ""
    with httpx.Client(timeout=timeout_s) as client, \
            client.stream("POST", app.url + path, json={"question": question}) as resp:
        for text in resp.iter_text():
            seen += text
            deltas = seen.count("event: delta")
            if deltas:
                break
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:   # wait for the request to end upstream, not for a clock
        now = sim.stats()
        ended = (now["cancelled"] - before["cancelled"]) + (now["completed"] - before["completed"]) >= 2
        if ended and now["in_flight"] <= before["in_flight"] and (settle is None or settle()):
            break
        time.sleep(0.02)
    d = {k: now[k] - before[k] for k in ("cancelled", "completed", "completion_tokens", "tokens_after_disconnect")}
    return LeaveResult(path, deltas, d["cancelled"], d["completed"] - 1,   # -1: the question's embedding
                       d["completion_tokens"], d["tokens_after_disconnect"])
