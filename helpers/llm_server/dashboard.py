"""The instructor's view of a classroom server (see classroom.py).

`Window` keeps the moving window of recent requests (tokens/s, answers/s,
latency percentiles, who was limited just now); `view` is what
GET /v1/sim/classroom answers; `Page` is the /dashboard page itself, which holds
no data and polls that route with the instructor's token, served with a
Content-Security-Policy that allows only its own inline script and style.
"""
from __future__ import annotations

import hashlib
import re
import statistics
import time
from base64 import b64encode
from collections import deque
from pathlib import Path

from starlette.responses import HTMLResponse

WINDOW_S = 5.0              # the dashboard's moving window (seconds of real time)
HTML_FILE = Path(__file__).with_name("dashboard.html")
# On every answer that carries classroom data or keys: never cached, never referred.
NO_STORE = {"cache-control": "no-store", "referrer-policy": "no-referrer",
            "x-content-type-options": "nosniff"}


class Window:
    """Recent requests, for the dashboard's rates and latencies."""

    def __init__(self, sim):
        self.sim = sim
        self.done: deque = deque()      # (t_end, name, status, latency_s) of recent requests
        self.samples: deque = deque()   # (t, total completion tokens)
        self.t0 = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self.t0

    def sample(self) -> None:
        t, total = self.now(), self.sim.stats["completion_tokens"]
        if self.samples and total < self.samples[-1][1]:
            self.samples.clear()  # the counters were reset
        self.samples.append((t, total))
        while len(self.samples) > 2 and self.samples[1][0] <= t - WINDOW_S:
            self.samples.popleft()
        while self.done and self.done[0][0] <= t - 60.0:
            self.done.popleft()

    def finished(self, name: str, status: int, latency_s: float) -> None:
        self.done.append((self.now(), name, status, latency_s))
        self.sample()

    def clear(self) -> None:
        self.done.clear()
        self.samples.clear()

    def window(self) -> dict:
        self.sample()
        t = self.now()
        (t_a, tok_a), (t_b, tok_b) = self.samples[0], self.samples[-1]
        tps = (tok_b - tok_a) / (t_b - t_a) if t_b - t_a >= 0.5 else None
        recent = [d for d in self.done if d[0] > t - WINDOW_S]
        lat = sorted(d[3] for d in recent if d[2] == 200)
        pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] if lat else None  # noqa: E731
        span = min(WINDOW_S, max(t, 1e-9))
        return {"window_s": WINDOW_S, "tokens_per_s": tps,
                "answers_per_s": sum(d[2] == 200 for d in recent) / span,
                "p50_latency_s": statistics.median(lat) if lat else None,
                "p95_latency_s": pct(0.95),
                "rejected_429_last_minute": sum(d[2] == 429 for d in self.done),
                "limited_now": sorted({d[1] for d in self.done if d[2] == 429 and d[0] > t - 10.0})}


def view(sim, room: dict, limits: dict, recent: Window, hide: str) -> dict:
    """GET /v1/sim/classroom: the room, its limits, the moving window, totals and one
    line per student (natural order: bob2 before bob10). The `hide` row (the
    instructor's) shows only once it has sent requests."""
    snap = sim.snapshot()
    win = recent.window()
    limited = set(win.pop("limited_now"))
    students = []
    natural = lambda kv: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", kv[0])]  # noqa: E731
    for name, per in sorted(sim.stats["by_key"].items(), key=natural):
        if name == hide and not per.get("attempts"):
            continue
        students.append({"name": name, "requests": per.get("attempts", 0),
                         "completed": per.get("completed", 0),
                         "in_flight": per.get("in_flight", 0),
                         "completion_tokens": per.get("completion_tokens", 0),
                         "rejected_429": per.get("rejected_429", 0),
                         "limited_now": name in limited})
    return {"room": room, "limits": limits, **win,
            "totals": {k: snap[k] for k in ("requests_total", "completed", "rejected_429",
                                             "errors_5xx", "cancelled", "completion_tokens",
                                             "peak_in_flight", "peak_queue_depth")},
            "students": students}


class Page:
    """The dashboard page and its Content-Security-Policy (hashes of its inline script and style)."""

    def __init__(self):
        self.html = HTML_FILE.read_text(encoding="utf-8")

        def h(tag: str) -> str:
            body = re.search(rf"<{tag}>(.*?)</{tag}>", self.html, re.S).group(1)
            return "'sha256-" + b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        self.csp = (f"default-src 'none'; script-src {h('script')}; style-src {h('style')}; "
                    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
                    "frame-ancestors 'none'")

    def response(self) -> HTMLResponse:
        return HTMLResponse(self.html, headers={**NO_STORE, "content-security-policy": self.csp,
                                                "x-frame-options": "DENY"})
