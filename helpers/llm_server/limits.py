"""Per-API-key rate limits (requests/min and tokens/min) and server counters.

Sliding one-minute windows (the minute shrinks with the time scale), as
providers describe their limits. Pure bookkeeping: time is passed in.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass
class KeyWindow:
    """The requests one key made in the last window: (time, tokens) pairs."""

    events: deque = field(default_factory=deque)

    def trim(self, now: float, window_s: float) -> None:
        while self.events and self.events[0][0] <= now - window_s:
            self.events.popleft()


class RateLimiter:
    """Decides whether a key may start a request now, or how long it must wait."""

    def __init__(self, rpm: int | None, tpm: int | None, window_s: float = 60.0):
        self.rpm, self.tpm, self.window_s = rpm, tpm, window_s
        self.keys: dict[str, KeyWindow] = {}

    def check(self, key: str, now: float, tokens: int) -> tuple[str, float] | None:
        """None if allowed (and recorded); else (which limit, seconds to wait)."""
        w = self.keys.setdefault(key, KeyWindow())
        w.trim(now, self.window_s)
        if self.rpm is not None and len(w.events) >= self.rpm:
            return "requests", w.events[0][0] + self.window_s - now
        if self.tpm is not None:
            used = sum(t for _, t in w.events)
            if used + tokens > self.tpm:
                if tokens > self.tpm:
                    return "tokens", self.window_s
                # wait until enough old requests leave the window
                free, wait = self.tpm - used - tokens, 0.0
                for t0, tk in w.events:
                    free += tk
                    wait = t0 + self.window_s - now
                    if free >= 0:
                        break
                return "tokens", wait
        w.events.append((now, tokens))
        return None


# One row shape for the whole server and for each API key (or student): the same
# names, counted by the same call (`Simulator.count`), so they always agree.
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


def new_row() -> dict:
    return dict.fromkeys(ROW_FIELDS, 0)


def new_counters() -> dict:
    """The server's counters, as `/v1/sim/stats` reports them (plus queue and slots)."""
    return {**new_row(), "peak_queue_depth": 0, "by_key": {}}


def with_aliases(row: dict) -> dict:
    """A copy of a row with the older names filled from the new ones."""
    return {**row, **{old: row.get(new, 0) for old, new in ALIASES.items()}}
