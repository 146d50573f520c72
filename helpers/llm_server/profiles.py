"""The simulator's named profiles: the numbers of one simulated model/server (lessons 02-04).

`latency.py` holds the formulas that use them and re-exports these names, so
`from helpers.llm_server.latency import Profile, get_profile` keeps working.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace


@dataclass(frozen=True)
class Profile:
    """The numbers of one simulated model/server (all times in seconds)."""

    name: str
    description: str
    overhead_s: float            # network + scheduling before prefill starts
    prefill_tokens_per_s: float  # prompt tokens read per second
    tokens_per_s: float          # decode rate of one request running alone
    batch_slowdown: float        # per extra active request: rate /= 1 + k*(n-1)
    slots: int                   # requests the server runs at once
    queue_limit: int             # waiting requests before 429
    rpm_limit: int | None        # requests per minute per API key (None: no limit)
    tpm_limit: int | None        # tokens per minute per API key (None: no limit)
    jitter: float                # relative spread of per-request speed (0: none)
    default_max_tokens: int      # cap on answer length when the request sets none
    time_scale: float = 1.0      # all delays multiplied by this (tests use < 1)

    def __post_init__(self) -> None:
        """Refuse settings that would make a server hang or refuse everything."""
        def whole(v) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        if not (whole(self.slots) and self.slots >= 1):
            raise ValueError(f"slots must be a whole number >= 1 (e.g. 4), got {self.slots!r}")
        if not (whole(self.queue_limit) and self.queue_limit >= 0):
            raise ValueError(f"queue_limit must be a whole number >= 0 (e.g. 8), got {self.queue_limit!r}")
        for name in ("rpm_limit", "tpm_limit"):
            v = getattr(self, name)
            if v is not None and not (whole(v) and v >= 1):
                raise ValueError(f"{name} must be a whole number >= 1, or None/0 for no limit, got {v!r}")

    def scaled(self, time_scale: float) -> Profile:
        """The same profile with every delay multiplied by `time_scale`."""
        if isinstance(time_scale, bool) or not isinstance(time_scale, (int, float)) or \
                not (0 < time_scale < math.inf):
            raise ValueError(f"time_scale must be a positive number (e.g. 1 or 0.1), got {time_scale!r}")
        return replace(
            self,
            overhead_s=self.overhead_s * time_scale,
            prefill_tokens_per_s=self.prefill_tokens_per_s / time_scale,
            tokens_per_s=self.tokens_per_s / time_scale,
            time_scale=self.time_scale * time_scale,
        )

    def to_dict(self) -> dict:
        return asdict(self)


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in [
        Profile("hosted-small", "a fast hosted small model (GPT-4o-mini class)",
                overhead_s=0.35, prefill_tokens_per_s=8000, tokens_per_s=90,
                batch_slowdown=0.04, slots=16, queue_limit=256, rpm_limit=600,
                tpm_limit=200_000, jitter=0.05, default_max_tokens=256),
        Profile("hosted-large", "a large hosted model: slower first token, slower tokens",
                overhead_s=0.8, prefill_tokens_per_s=3000, tokens_per_s=40,
                batch_slowdown=0.03, slots=8, queue_limit=128, rpm_limit=300,
                tpm_limit=100_000, jitter=0.05, default_max_tokens=256),
        Profile("reasoning", "a reasoning model: it 'thinks' before the first visible token",
                overhead_s=15.0, prefill_tokens_per_s=3000, tokens_per_s=120,
                batch_slowdown=0.03, slots=8, queue_limit=128, rpm_limit=120,
                tpm_limit=100_000, jitter=0.05, default_max_tokens=256),
        Profile("local-cpu", "a small model on a laptop CPU: 2 slots, and they slow each other a lot",
                overhead_s=0.02, prefill_tokens_per_s=400, tokens_per_s=25,
                batch_slowdown=0.6, slots=2, queue_limit=64, rpm_limit=None,
                tpm_limit=None, jitter=0.05, default_max_tokens=256),
        Profile("instant", "no delays at all: for measuring overhead and capacity",
                overhead_s=0.0, prefill_tokens_per_s=math.inf, tokens_per_s=math.inf,
                batch_slowdown=0.0, slots=100_000, queue_limit=100_000, rpm_limit=None,
                tpm_limit=None, jitter=0.0, default_max_tokens=256),
    ]
}
DEFAULT_PROFILE = "hosted-small"


def get_profile(name: str, time_scale: float = 1.0) -> Profile:
    """The named profile, scaled in time. Unknown names raise a clear ValueError."""
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}: choose one of {', '.join(PROFILES)}")
    return PROFILES[name].scaled(time_scale)
