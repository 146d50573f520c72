"""Per-request faults for lessons and tests, from the header `X-Sim-Fault`.

`stall` (never answers), `429` / `500` (always), `429:N` / `500:N` (only the
first N attempts, counted with the OpenAI SDK's `x-stainless-retry-count`),
`drop` (a stream that breaks off after a few tokens),
`deaf` (ignores a client that hangs up: writes the answer to the end, as some
servers have done, e.g. ggml-org/llama.cpp#24496),
`hold:NAME` (waits on arrival, counted in flight but not yet queued, until
POST /v1/sim/release names it) and `hold:NAME:N` (pauses at exactly N tokens,
keeping its slot, until released). Tests use holds to wait for events, not the clock.
Several may be listed, comma-separated: `deaf` goes with any other one.
"""
from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from .errors import error, rate_limited


@dataclass(frozen=True)
class Hold:
    """X-Sim-Fault: hold:NAME (on arrival) or hold:NAME:N (at exactly N tokens)."""

    name: str
    after_tokens: int | None = None


def faults_for(request: Request) -> tuple[str | Hold | None, bool]:
    """(the fault this attempt should show, deaf?) from X-Sim-Fault. Several faults
    may be listed, comma-separated: `deaf` goes with any other one (e.g. "deaf,hold:x:3")."""
    parts = [p.strip() for p in request.headers.get("x-sim-fault", "").lower().split(",")]
    others = [p for p in parts if p and p != "deaf"]
    attempt = request.headers.get("x-stainless-retry-count", "0")
    return parse_fault(others[0] if others else "", attempt), "deaf" in parts


def parse_fault(spec: str, attempt: str = "0") -> str | Hold | None:
    if not spec:
        return None
    if spec.startswith("hold:"):
        name, _, n = spec[5:].partition(":")
        return Hold(name, int(n) if n.isdigit() else None) if name else None
    kind, _, n = spec.partition(":")
    if n:
        try:
            return kind if int(attempt) < int(n) else None
        except ValueError:
            return None
    return kind


def fault_response(sim, key: str, fault: str) -> Response:
    """The answer of X-Sim-Fault: 429 or 500, counted for `key` on `sim` (a state.Simulator)."""
    if fault == "429":
        return rate_limited(sim, key, "Rate limit reached (simulated by X-Sim-Fault)", 1.0 * sim.cfg.profile.time_scale)
    sim.count(key, "failed_5xx")
    return error(500, "The server had an error (simulated by X-Sim-Fault)", "server_error")
