"""Rate limits in the capacity lab (lesson 04b): read OpenAI's `x-ratelimit-*` headers through
ChatOpenAI, derive a safe max_concurrency with Little's law, and check it against a simulator.

`ChatOpenAI(include_response_headers=True)` keeps the HTTP headers of each answer in
`reply.response_metadata["headers"]` (langchain_openai/chat_models/base.py, `_generate`:
`generation_info = {"headers": dict(raw_response.headers)}`; for a stream, on the first chunk).
The course's `chat_model` turns it on for the simulator.
"""
from __future__ import annotations

import os
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ..backends.simulator import start_simulator
from .capacity_run import MAX_REQUESTS, MAX_SECONDS, _whole

RPM, TPM, MAX_TOKENS = 150, 24_000, 200
FAST_FORWARD = 0.05   # the limited simulator runs 20× faster than LLM_SIM_TIME_SCALE says
PROMPT = "Explain rate limits in detail."


def limited_simulator():
    """A simulator with small limits (RPM, TPM) that runs 20× fast-forward, so its one-minute
    window passes in 3 s at real speed. Measure latency on its clock (÷ its `time_scale`), and
    Little's law gives the same numbers at any speed."""
    scale = float(os.environ.get("LLM_SIM_TIME_SCALE", 1.0)) * FAST_FORWARD
    return start_simulator(time_scale=scale, rpm=RPM, tpm=TPM)


def rate_headers(reply) -> dict[str, str]:
    """The `x-ratelimit-*` headers of one answer (an AIMessage or a stream's first chunk)."""
    headers = (getattr(reply, "response_metadata", None) or {}).get("headers") or {}
    return {k: v for k, v in sorted(headers.items()) if k.startswith("x-ratelimit")}


def limits_from(headers: dict, tokens_per_request: int, latency_s: float) -> dict:
    """What the exercise needs, from the headers and your run: rpm, tpm, tokens_per_request, latency_s
    (latency in the simulator's own seconds, the clock its per-minute limits use)."""
    missing = [h for h in ("x-ratelimit-limit-requests", "x-ratelimit-limit-tokens") if h not in headers]
    if missing:
        raise ValueError(f"this answer has no {' or '.join(missing)} header: this server sends no limits to read")
    return {"rpm": int(headers["x-ratelimit-limit-requests"]), "tpm": int(headers["x-ratelimit-limit-tokens"]),
            "tokens_per_request": int(tokens_per_request), "latency_s": round(float(latency_s), 4)}


@dataclass(frozen=True)
class LimitRun:
    """One closed-loop run against the limited simulator: how many answered, how many got a 429."""

    max_concurrency: int
    n_sent: int
    n_ok: int
    n_429: int
    seconds: float

    def __str__(self) -> str:
        return (f"max_concurrency={self.max_concurrency}: {self.n_ok} answered, {self.n_429} rate-limited (429) "
                f"of {self.n_sent} sent, {self.n_sent / self.seconds:.1f} requests/s sent")


def run_at(llm, max_concurrency: int, n: int) -> LimitRun:
    """Send `n` invokes with `max_concurrency` in flight and count the 429s (lesson 04b).
    Capped like every lab run: at most MAX_REQUESTS, and none starts after MAX_SECONDS."""
    c = _whole("max_concurrency", max_concurrency, 1, 64)
    n = _whole("n", n, 1, MAX_REQUESTS)
    t0 = time.perf_counter()

    def one(_i: int) -> str:
        if time.perf_counter() - t0 > MAX_SECONDS:
            return "skipped"
        try:
            llm.invoke(PROMPT)
            return "ok"
        except Exception as err:  # noqa: BLE001 -- counted, shown as a count
            return "429" if "RateLimit" in type(err).__name__ else type(err).__name__

    with ThreadPoolExecutor(max_workers=c) as pool:
        outcomes = Counter(pool.map(one, range(n)))
    return LimitRun(c, n - outcomes["skipped"], outcomes["ok"], outcomes["429"], time.perf_counter() - t0)


def limited_model(server, key: str = "capacity-limits"):
    """A model on the limited simulator: answers up to MAX_TOKENS long, no retries (a 429 shows)."""
    from ..backends import chat_model

    return chat_model(server=server, api_key=key, max_tokens=MAX_TOKENS, max_retries=0, timeout=30)


def limits_verdict(runs: list[LimitRun], limit_rps: float, per_window: int, window_s: float) -> str:
    """What the runs at the safe value and at twice it show (lesson 04b), computed from their counts.
    limit_rps: the requests/s the binding limit allows on the server's clock in real seconds
    (`per_window` requests per `window_s`). A run that sent no faster than that cannot meet the limit,
    so its lack of 429s shows nothing, and the verdict says so."""
    safe, double = runs
    parts = [f"{safe.max_concurrency} in flight got {safe.n_429} 429s of {safe.n_sent}"]
    rate = double.n_sent / double.seconds if double.seconds > 0 else 0.0
    if double.n_429:
        parts.append(f"twice the safe value ({double.max_concurrency} in flight) got {double.n_429} 429s of "
                     f"{double.n_sent}, sending {rate:.0f} requests/s against the limit's {limit_rps:.0f}/s")
    elif rate <= limit_rps:
        parts.append(f"this run sent too slowly to reach the limit: {rate:.0f} requests/s at "
                     f"{double.max_concurrency} in flight vs the limit's {limit_rps:.0f}/s, "
                     "so it shows nothing about the limit")
    else:
        parts.append(f"twice the safe value sent {rate:.0f} requests/s, above the limit's {limit_rps:.0f}/s, "
                     f"yet no window of {window_s:.2f} s held more than {per_window} of its requests: no 429")
    return "; ".join(parts)


def check_against_limits(server, safe: int, limits: dict) -> list[LimitRun]:
    """Measure how fast this client sends at twice `safe`, then run at `safe` and at twice it, each
    with its own API key (its own fresh window), and print a verdict computed from the runs.

    The probe sends half a window's worth on a fresh key (no 429 is possible), so its rate is what
    the client can send at twice `safe`. Each run then sends 1.3 windows' worth of what the limits
    allow when the client can outrun the limit, else 1.3 windows' worth of what the client can
    send (more would take longer and show nothing more)."""
    safe = _whole("safe", safe, 1, 32)
    per_window = min(limits["rpm"], limits["tpm"] // limits["tokens_per_request"])
    window_s = 60 * server.time_scale            # the limit's one minute, in real seconds
    limit_rps = per_window / window_s
    probe = run_at(limited_model(server, f"probe-{time.monotonic_ns()}"), 2 * safe,
                   max(2 * safe, min(per_window // 2, 4 * 2 * safe)))
    client_rps = probe.n_sent / probe.seconds
    print(f"this client sent {client_rps:.0f} requests/s with {2 * safe} in flight (a short probe on its own key); "
          f"the limit allows {limit_rps:.0f}/s ({per_window} requests per {window_s:.2f} s window)", flush=True)
    n = round(1.3 * per_window) if client_rps > limit_rps else round(1.3 * window_s * client_rps)
    n = min(MAX_REQUESTS, max(2 * safe, n))
    runs = []
    for c in (safe, 2 * safe):
        runs.append(run_at(limited_model(server, f"check-{c}-{time.monotonic_ns()}"), c, n))
        print(runs[-1], flush=True)
    print(limits_verdict(runs, limit_rps, per_window, window_s))
    return runs
