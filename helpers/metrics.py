"""The field's serving metrics on one streamed request: TTFT, ITL, TPOT, E2E, goodput (lesson 04).

Definitions follow the tools a learner will meet:

- **TTFT** (time to first token): request sent -> first piece of *output* arrives.
  vLLM's `vllm bench serve`, GuideLLM and OpenTelemetry's `gen_ai.server.time_to_first_token`.
  Output means text, a tool call's name or argument delta, or a JSON delta: never the empty
  first chunk that carries only the message's role (NVIDIA's AIPerf skips it the same way).
- **ITL** (inter-token latency): *every* gap between two output pieces, one value per gap
  (vLLM's `itl` list). Pooled over many requests, long answers weigh more.
- **TPOT** (time per output token): (E2E - TTFT) / (n - 1), one value per request
  (vLLM; OTel's `gen_ai.server.time_per_output_token`: "per output token generated after the
  first token"). None when n < 2. Averaged, every request weighs the same: so mean ITL and
  mean TPOT can differ, and both are shown (`mean_itl_s`, `mean_tpot_s`).
- **E2E**: request sent -> stream ended (vLLM's request latency).
- Names differ between tools: GuideLLM's per-request `inter_token_latency_ms` is (last - first
  token) / (n - 1), close to vLLM's TPOT, and its `time_per_output_token_ms` counts from the
  request's start, so it includes TTFT (guidellm `schemas/request_stats.py`).
- **Per-request tok/s** = 1 / TPOT, one user's reading speed; **aggregate tok/s** = every
  successful request's output over the window, the server's throughput. They are different
  numbers and are never mixed.
- **Goodput** (vLLM's `--goodput`): requests per second that met every SLO; failed requests
  count in the total and never meet it.

n is the output token count from the server's usage when known, otherwise the number of output
chunks; `unit` says which ("tokens" or "chunks"), so every label can say what it counted.
Seconds are `time.perf_counter()` stamps since one start. Pure functions: no client, no UI.
Measuring a real stream is `helpers.metrics_live`.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RequestRecord:
    """One streamed request (lesson 04): when it was sent, when each output piece arrived, when it ended.

    piece_times_s: arrival of every chunk that carried output (empty chunks are left out).
    usage_tokens: output tokens reported by the server's usage, None when it sent none.
    """

    sent_s: float
    piece_times_s: tuple[float, ...]
    end_s: float
    ok: bool = True
    usage_tokens: int | None = None
    error: str | None = None
    index: int = 0
    text: str = ""

    @property
    def n_out(self) -> int:
        """Output count: usage tokens when known, else the output chunks."""
        return self.usage_tokens if self.usage_tokens is not None else len(self.piece_times_s)

    @property
    def unit(self) -> str:
        """What `n_out` counts: "tokens" (from usage) or "chunks"."""
        return "tokens" if self.usage_tokens is not None else "chunks"

    @property
    def ttft_s(self) -> float | None:
        """Time to first output (None when no output arrived)."""
        return self.piece_times_s[0] - self.sent_s if self.piece_times_s else None

    @property
    def e2e_s(self) -> float:
        """Sent to stream end."""
        return self.end_s - self.sent_s

    @property
    def itl_s(self) -> tuple[float, ...]:
        """Every gap between consecutive output pieces (n pieces -> n - 1 gaps)."""
        t = self.piece_times_s
        return tuple(b - a for a, b in zip(t, t[1:]))

    @property
    def tpot_s(self) -> float | None:
        """(E2E - TTFT) / (n - 1) for a successful request with n >= 2, else None."""
        if not self.ok or self.ttft_s is None or self.n_out < 2:
            return None
        return (self.e2e_s - self.ttft_s) / (self.n_out - 1)

    @property
    def tokens_per_s(self) -> float | None:
        """One user's speed after the first output: 1 / TPOT (per request, in `unit`/s)."""
        tpot = self.tpot_s
        return 1 / tpot if tpot else None


def _values(records: Sequence[RequestRecord], name: str) -> list[float]:
    vals = [getattr(r, name) for r in records if r.ok]
    return [v for v in vals if v is not None]


def count_unit(records: Sequence[RequestRecord]) -> str:
    """"tokens" when every successful record counted tokens from usage, else "chunks"."""
    ok = [r for r in records if r.ok]
    return "tokens" if ok and all(r.unit == "tokens" for r in ok) else "chunks"


def window_s(records: Sequence[RequestRecord]) -> float:
    """The run's window: the first request sent to the last one ended (0 when empty)."""
    return max(r.end_s for r in records) - min(r.sent_s for r in records) if records else 0.0


def peak_in_flight(records: Sequence[RequestRecord]) -> int:
    """The most requests open at one moment (sent and not yet ended), read off the records."""
    events = sorted([(r.sent_s, 1) for r in records] + [(r.end_s, -1) for r in records])
    peak = now = 0
    for _, step in events:
        now += step
        peak = max(peak, now)
    return peak


def aggregate_tokens_per_s(records: Sequence[RequestRecord], window: float | None = None) -> float:
    """The server's throughput: successful requests' output / the window (in `count_unit`/s)."""
    w = window_s(records) if window is None else window
    total = sum(r.n_out for r in records if r.ok)
    return total / w if w > 0 else float("nan")


def mean_itl_s(records: Sequence[RequestRecord]) -> float:
    """Mean of every ITL gap pooled over the successful requests: weighs by token (vLLM's mean ITL)."""
    gaps = [g for r in records if r.ok for g in r.itl_s]
    return float(np.mean(gaps)) if gaps else float("nan")


def mean_tpot_s(records: Sequence[RequestRecord]) -> float:
    """Mean of the per-request TPOTs: weighs by request (vLLM's mean TPOT)."""
    vals = _values(records, "tpot_s")
    return float(np.mean(vals)) if vals else float("nan")


def min_samples(q: float) -> int:
    """How many samples a q-th percentile needs before it is more than the single worst one.

    With fewer than 100 / (100 - q) samples, the top (100 - q) % holds less than one sample,
    so the percentile is read off the maximum: p99 needs 100, p95 needs 20, p50 needs 2.
    """
    if not (isinstance(q, (int, float)) and 0 < q < 100):
        raise ValueError(f"q must be a percentile between 0 and 100, got {q!r}")
    return math.ceil(100 / (100 - q) - 1e-9)


@dataclass(frozen=True)
class Percentiles:
    """p50 / p95 / p99 of one metric, with the sample count they come from (lesson 04)."""

    name: str
    n: int
    p50: float
    p95: float
    p99: float

    def weak(self) -> list[int]:
        """The percentiles (95, 99) this sample count cannot support yet."""
        return [q for q in (95, 99) if self.n < min_samples(q)]

    def caveat(self) -> str:
        """Which of these percentiles the sample count cannot support yet ('' when all can)."""
        return sample_caveat([self.name], self.n, self.weak())


def sample_caveat(names: Sequence[str], n: int, weak: Sequence[int]) -> str:
    """One line saying which percentiles of which metrics come from too few samples ('' if none)."""
    if not weak:
        return ""
    which = " and ".join(f"p{q}" for q in weak)
    needs = " and ".join(f"p{q} needs at least {min_samples(q)}" for q in weak)
    verb = "come" if len(weak) > 1 or len(names) > 1 else "comes"
    return (f"{which} of {', '.join(names)} {verb} from only {n} samples ({needs}): "
            f"read {'them' if len(weak) > 1 or len(names) > 1 else 'it'} as the worst one or two, not a percentile")


def percentiles(values: Sequence[float], name: str = "value") -> Percentiles:
    """p50, p95 and p99 (numpy's linear interpolation, as vLLM reports them) and the count."""
    vals = [float(v) for v in values if v is not None and not math.isnan(v)]
    if not vals:
        return Percentiles(name, 0, float("nan"), float("nan"), float("nan"))
    p50, p95, p99 = (float(x) for x in np.percentile(vals, [50, 95, 99]))
    return Percentiles(name, len(vals), p50, p95, p99)


def metric_percentiles(records: Sequence[RequestRecord]) -> dict[str, Percentiles]:
    """Percentiles of TTFT, TPOT, ITL (every gap) and E2E over the successful requests."""
    gaps = [g for r in records if r.ok for g in r.itl_s]
    return {"TTFT": percentiles(_values(records, "ttft_s"), "TTFT"),
            "TPOT": percentiles(_values(records, "tpot_s"), "TPOT"),
            "ITL": percentiles(gaps, "ITL"),
            "E2E": percentiles(_values(records, "e2e_s"), "E2E")}


@dataclass(frozen=True)
class SLO:
    """A service-level objective: first output within ttft_max_s and TPOT within tpot_max_s."""

    ttft_max_s: float = 1.0
    tpot_max_s: float = 0.05

    def __post_init__(self):
        for name in ("ttft_max_s", "tpot_max_s"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
                raise ValueError(f"{name} must be a number of seconds > 0, got {v!r}")

    def met_by(self, r: RequestRecord) -> bool:
        """Succeeded, had output, TTFT and TPOT within limits (one output: no TPOT to miss, as in vLLM)."""
        if not r.ok or r.ttft_s is None or r.ttft_s > self.ttft_max_s:
            return False
        return r.tpot_s is None or r.tpot_s <= self.tpot_max_s

    def __str__(self) -> str:
        return f"TTFT <= {self.ttft_max_s * 1000:.0f} ms and TPOT <= {self.tpot_max_s * 1000:.0f} ms"


@dataclass(frozen=True)
class Goodput:
    """How many requests met the SLO, as a share and per second of the window (lesson 04)."""

    slo: SLO
    n_requests: int
    n_met: int
    n_failed: int
    window_s: float

    @property
    def share(self) -> float:
        return self.n_met / self.n_requests if self.n_requests else float("nan")

    @property
    def goodput_rps(self) -> float:
        return self.n_met / self.window_s if self.window_s > 0 else float("nan")

    def __str__(self) -> str:
        return (f"goodput for {self.slo}: {self.n_met} of {self.n_requests} requests met it "
                f"({self.share:.0%}; {self.n_failed} failed), {self.goodput_rps:.2f} requests/s "
                f"over {self.window_s:.2f} s")


def goodput(records: Sequence[RequestRecord], slo: SLO | None = None, window: float | None = None) -> Goodput:
    """Goodput for `slo` (default TTFT <= 1 s, TPOT <= 50 ms): failed requests count against it."""
    slo = slo or SLO()
    w = window_s(records) if window is None else window
    return Goodput(slo, len(records), sum(slo.met_by(r) for r in records),
                   sum(not r.ok for r in records), w)
