"""Per-API-key rate limits (requests/min and tokens/min).

Sliding one-minute windows (the minute shrinks with the time scale), as
providers describe their limits. Pure bookkeeping: time is passed in.
The server's counters are in state.py.
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

