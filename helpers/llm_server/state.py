"""The state of one simulator process: its engines (one per model), rate limiter,
held requests and counters.

The counters have one row shape, for the whole server and for each API key (or
student), counted by one call (`Simulator.count`) and zeroed by one call
(`Simulator.reset`), so they always agree.
"""
from __future__ import annotations

import asyncio
import itertools
import math
import time
from dataclasses import dataclass

from . import latency
from .limits import RateLimiter
from .metrics import ServerMetrics

EMBED_NUMBERS_PER_MIN = 1_000_000   # embeddings' numbers returned per key per minute (embed.py)
MAX_KEYS = 2000   # per-key rows kept; beyond this, the longest-idle rows with nothing in flight go

# Every attempt the server accepted for work ends as exactly one of
# rejected_429, failed_5xx, broken, completed or cancelled, or is still in flight:
#   attempts == rejected_429 + failed_5xx + broken + completed + cancelled + in_flight
# (except while a `deaf` request writes on after its client left: it is counted as
# cancelled at once and stays in flight until it has finished writing).
ROW_FIELDS = (
    "attempts",          # requests received (each retry is one more), with a valid body
    "rejected_429",      # answered 429: rate limit, full queue, or X-Sim-Fault: 429
    "failed_5xx",        # answered 5xx (X-Sim-Fault: 500)
    "broken",            # streams the server broke off mid-answer (X-Sim-Fault: drop)
    "completed",         # whole answers delivered
    "cancelled",         # the client went away before the end
    "in_flight",         # received and not finished yet (queued, held or running)
    "peak_in_flight",
    "prompt_tokens", "completion_tokens",
    "cancelled_tokens",          # tokens written for requests whose client went away
    "tokens_after_disconnect",   # ...of those, written after the server saw the disconnect
)
# Older names, kept as read-only copies in /v1/sim/stats for code written before
# the row had one shape: requests_total = attempts, errors_5xx = failed_5xx.
ALIASES = {"requests_total": "attempts", "errors_5xx": "failed_5xx"}


def new_row(in_flight: int = 0) -> dict:
    """A zeroed row; `in_flight` requests still running keep being counted."""
    return {**dict.fromkeys(ROW_FIELDS, 0), "in_flight": in_flight, "peak_in_flight": in_flight}


def new_counters() -> dict:
    """The server's counters, as `/v1/sim/stats` reports them (plus queue and slots)."""
    return {**new_row(), "peak_queue_depth": 0, "by_key": {}}


def with_aliases(row: dict) -> dict:
    """A copy of a row with the older names filled from the new ones."""
    return {**row, **{old: row.get(new, 0) for old, new in ALIASES.items()}}


@dataclass
class SimConfig:
    profile: latency.Profile
    seed: int = 0
    max_body_bytes: int = 1_000_000


class Engine:
    """One simulated model: a SlotScheduler on the real clock, plus a wake-up signal."""

    def __init__(self, profile: latency.Profile, t0: float):
        self.sched = latency.SlotScheduler(profile)
        self.t0 = t0
        self._changed = asyncio.Event()

    def now(self) -> float:
        return time.perf_counter() - self.t0

    def poke(self) -> None:
        """Wake every waiting request: the state changed."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_until(self, t: float) -> None:
        """Sleep until time t or until the state changes, whichever is first."""
        delay = t - self.now()
        if delay <= 0:
            return
        # Not asyncio.wait_for: on Python < 3.12 it swallows a cancel that arrives as the
        # event fires, and a dropped client's request then ran on to the end in its slot.
        waiter = asyncio.ensure_future(self._changed.wait())
        try:
            await asyncio.wait({waiter}, timeout=None if math.isinf(delay) else delay)
        finally:
            waiter.cancel()


class Simulator:
    """The state of one simulator process: engines, limits, counters."""

    def __init__(self, cfg: SimConfig):
        self.cfg = cfg
        self.t0 = time.perf_counter()
        self.models = {"sim": cfg.profile.name, **{n: n for n in latency.PROFILES}}
        self.engines: dict[str, Engine] = {}
        p = cfg.profile
        self.limiter = RateLimiter(p.rpm_limit, p.tpm_limit, 60.0 * p.time_scale)
        # embeddings' output (numbers returned) per key and minute: see embed.py
        self.embed_out = RateLimiter(None, EMBED_NUMBERS_PER_MIN, 60.0 * p.time_scale)
        self.last_used: dict[str, float] = {}   # key -> when it last counted (for pruning)
        self.stats = new_counters()
        self.before_reset: dict[str, int] = {}  # server-wide counts reset() zeroed (for /metrics)
        self.metrics = ServerMetrics(self)       # GET /metrics reads the counts above (metrics.py)
        self.ids = itertools.count(1)
        self.holds: dict[str, asyncio.Event] = {}   # hold:NAME -> its release signal
        self.held: dict[str, int] = {}              # hold:NAME -> requests waiting now

    async def hold(self, name: str) -> None:
        """Wait until POST /v1/sim/release names `name` (X-Sim-Fault: hold:NAME)."""
        event = self.holds.setdefault(name, asyncio.Event())
        self.held[name] = self.held.get(name, 0) + 1
        try:
            await event.wait()
        finally:
            self.held[name] -= 1
            if not self.held[name]:
                del self.held[name]

    def release(self, name: str) -> int:
        """Let every request held under `name` go on; returns how many there were."""
        n = self.held.get(name, 0)
        event = self.holds.pop(name, None)
        if event is not None:
            event.set()
        return n

    def engine(self, model: str) -> Engine:
        name = self.models[model]
        if name not in self.engines:
            prof = self.cfg.profile if name == self.cfg.profile.name else \
                latency.get_profile(name, self.cfg.profile.time_scale)
            self.engines[name] = Engine(prof, self.t0)
        return self.engines[name]

    def count(self, key: str, field: str, n: int = 1) -> None:
        """Add n to one counter, for the whole server and for the caller's row alike."""
        field = ALIASES.get(field, field)
        rows = self.stats["by_key"]
        if key not in rows and len(rows) >= MAX_KEYS:
            self.prune()
        per = rows.setdefault(key, new_row())
        self.last_used[key] = time.monotonic()
        for row in (self.stats, per):
            row[field] += n
            if field == "in_flight":
                row["peak_in_flight"] = max(row["peak_in_flight"], row["in_flight"])

    def prune(self, keep: int = MAX_KEYS * 3 // 4) -> None:
        """Drop the longest-idle per-key rows (nothing in flight) down to `keep` rows,
        with their rate-limit windows: the table cannot grow without bound."""
        rows = self.stats["by_key"]
        idle = sorted((t, k) for k, t in self.last_used.items() if not rows.get(k, {}).get("in_flight"))
        for _, k in idle[:max(0, len(rows) - keep)]:
            self.forget(k)

    def forget(self, key: str) -> None:
        """Remove everything kept for one key (its row, its rate-limit windows)."""
        self.stats["by_key"].pop(key, None)
        self.last_used.pop(key, None)
        self.limiter.forget(key)
        self.embed_out.forget(key)

    def reset(self, key: str | None = None, keep_keys: bool = False) -> None:
        """Zero one key's row (`key`) or every counter (None), keeping what is in flight.
        A full reset drops the rows of keys with nothing in flight, unless `keep_keys`."""
        rows = self.stats["by_key"]
        if key is not None:
            if key in rows:
                rows[key] = new_row(rows[key].get("in_flight", 0))
            return
        for f in ROW_FIELDS:  # /metrics keeps counting from where this reset leaves it
            self.before_reset[f] = self.before_reset.get(f, 0) + self.stats[f]
        fresh = new_counters()
        fresh["in_flight"] = fresh["peak_in_flight"] = self.stats["in_flight"]
        fresh["by_key"] = {k: new_row(v.get("in_flight", 0)) for k, v in rows.items()
                           if keep_keys or v.get("in_flight")}
        self.stats = fresh

    def snapshot(self) -> dict:
        queued = sum(len(e.sched.queue) for e in self.engines.values())
        busy = sum(e.sched.active for e in self.engines.values())
        by_key = {k: with_aliases(v) for k, v in self.stats["by_key"].items()}
        return {**with_aliases(self.stats), "by_key": by_key, "queue_depth": queued,
                "busy_slots": busy, "held": dict(self.held)}
