"""Per-API-key rate limits (requests/min and tokens/min).

Sliding one-minute windows (the minute shrinks with the time scale), as
providers describe their limits. Pure bookkeeping: time is passed in.
The server's counters are in state.py.

`RateLimiter.headers` gives OpenAI's six `x-ratelimit-*` response headers for one key
(OpenAI's rate-limit guide, "Rate limits in headers"): limit, remaining and reset, for
requests and for tokens; reset as a Go-style duration ("1s", "6m0s", "12ms"), the time
until the window is empty again. A limit that is off (None) sends no headers for it.
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

    PRUNE_ABOVE = 1000   # keys; beyond this, windows that have emptied are dropped

    def prune(self, now: float) -> None:
        """Drop the keys with nothing left in their window (they would start afresh anyway)."""
        for k in list(self.keys):
            w = self.keys[k]
            w.trim(now, self.window_s)
            if not w.events:
                del self.keys[k]

    def forget(self, key: str) -> None:
        self.keys.pop(key, None)

    def check(self, key: str, now: float, tokens: int) -> tuple[str, float] | None:
        """None if allowed (and recorded); else (which limit, seconds to wait)."""
        if key not in self.keys and len(self.keys) >= getattr(self, "_prune_at", self.PRUNE_ABOVE):
            self.prune(now)   # amortised: next time only when the table has doubled again
            self._prune_at = max(self.PRUNE_ABOVE, 2 * len(self.keys))
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


    def headers(self, key: str, now: float) -> dict[str, str]:
        """OpenAI's `x-ratelimit-*` headers for `key` at time `now` (lesson 04b): the limits,
        what is left in the current window, and how long until the window is empty."""
        w = self.keys.setdefault(key, KeyWindow())
        w.trim(now, self.window_s)
        reset = go_duration(w.events[-1][0] + self.window_s - now) if w.events else "0s"
        out: dict[str, str] = {}
        if self.rpm is not None:
            out |= {"x-ratelimit-limit-requests": str(self.rpm),
                    "x-ratelimit-remaining-requests": str(max(0, self.rpm - len(w.events))),
                    "x-ratelimit-reset-requests": reset}
        if self.tpm is not None:
            used = sum(t for _, t in w.events)
            out |= {"x-ratelimit-limit-tokens": str(self.tpm),
                    "x-ratelimit-remaining-tokens": str(max(0, self.tpm - used)),
                    "x-ratelimit-reset-tokens": reset}
        return out


def go_duration(seconds: float) -> str:
    """A duration the way OpenAI's reset headers write it (Go's time.Duration):
    0.012 -> "12ms", 1 -> "1s", 1.5 -> "1.5s", 360 -> "6m0s", 3725 -> "1h2m5s"."""
    whole_ms = round(max(0.0, seconds) * 1000)
    if whole_ms < 1000:
        return f"{whole_ms}ms" if whole_ms else "0s"
    hours, rest = divmod(whole_ms, 3_600_000)
    minutes, ms = divmod(rest, 60_000)
    secs = f"{ms / 1000:.3f}".rstrip("0").rstrip(".")
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"
