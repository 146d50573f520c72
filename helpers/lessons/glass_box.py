"""The server's own view of a run, from its GET /metrics (lesson 04b, "The server's view").

    glass = run_both_sides(n=8, max_concurrency=4)   # read /metrics, run 8 streams, read it again
    show_buckets(glass)                              # the TTFT histogram's buckets that filled
    side_by_side(glass)                              # client vs server: TTFT, tokens, requests

It reads vLLM's metric names (`vllm:time_to_first_token_seconds`, `vllm:generation_tokens_total`,
`vllm:request_success_total`, ...), which the course's simulator also serves, so the same cell
works against a real vLLM server (LLM_BACKEND=compatible). Everything is a difference of two
scrapes: a server's counters count from when it started, and on a shared server they include
other clients' requests. Parsing is prometheus_client's own text parser.

A histogram keeps counts per bucket, not the values, so its p50 is an estimate: the bucket
holding the middle request, interpolated linearly inside it (what PromQL's histogram_quantile
does). It can sit anywhere in that bucket; sum/count gives the exact mean.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families

from ..backends import Backend, resolve_backend
from ..metrics import RequestRecord, percentiles

TTFT = "vllm:time_to_first_token_seconds"
GENERATION = "vllm:generation_tokens_total"
PROMPT = "vllm:prompt_tokens_total"
SUCCESS = "vllm:request_success_total"
FINISHED_OK = ("stop", "length")   # finished answers; "abort" is a client that left, "error" a failure


def metrics_url(base_url: str) -> str:
    """Where a server publishes /metrics: its root, not under /v1 (vLLM, the simulator)."""
    root = base_url.rstrip("/")
    return (root[:-3] if root.endswith("/v1") else root) + "/metrics"


@dataclass(frozen=True)
class Scrape:
    """One read of /metrics: every sample as (name, labels, value)."""

    url: str
    samples: tuple[tuple[str, dict, float], ...]
    model: str | None = None   # the model the course talks to: series of other models are left out

    def values(self, name: str, **labels: str) -> list[tuple[dict, float]]:
        out = [(lab, v) for n, lab, v in self.samples if n == name
               and all(lab.get(k) == want for k, want in labels.items())]
        mine = [(lab, v) for lab, v in out if lab.get("model_name") == self.model]
        return mine or out   # a server whose model_name is another alias: take every series

    def total(self, name: str, **labels: str) -> float:
        return sum(v for _, v in self.values(name, **labels))


def parse(text: str, url: str = "", model: str | None = None) -> Scrape:
    samples = tuple((s.name, dict(s.labels), float(s.value))
                    for fam in text_string_to_metric_families(text) for s in fam.samples)
    return Scrape(url, samples, model)


def read_metrics(backend: Backend | None = None, timeout_s: float = 5.0) -> Scrape | None:
    """Scrape the backend's /metrics. Where there is none, print one line saying so and return None."""
    b = backend or resolve_backend()
    if b.name == "openai":
        print("OpenAI publishes no server metrics: only the client's view is available.")
        return None
    url = metrics_url(b.base_url)
    try:
        r = httpx.get(url, timeout=timeout_s, headers={"Authorization": f"Bearer {b.api_key}"})
    except httpx.HTTPError as e:
        print(f"Could not read {url} ({type(e).__name__}): only the client's view is available.")
        return None
    if r.status_code in (401, 403):
        print(f"{url} answered {r.status_code}: this server lets only its operator read its metrics "
              "(on a classroom server, the instructor).")
        return None
    if r.status_code != 200:
        print(f"{url} answered HTTP {r.status_code}: this server publishes no Prometheus metrics there.")
        return None
    try:
        scrape = parse(r.text, url, b.model)
    except ValueError:
        print(f"{url} is not Prometheus text: this server publishes no metrics there.")
        return None
    if not any(n.startswith("vllm:") for n, _, _ in scrape.samples):
        print(f"{url} has metrics, but none under vLLM's names (vllm:...): nothing to compare.")
        return None
    return scrape


@dataclass(frozen=True)
class HistogramDelta:
    """What one histogram gained between two scrapes: cumulative counts per upper bound."""

    bounds: tuple[float, ...]     # upper bounds, ascending, ending with +inf
    cumulative: tuple[float, ...]
    count: float
    sum: float

    @property
    def mean(self) -> float:
        return self.sum / self.count if self.count else math.nan

    def quantile(self, q: float) -> tuple[float, float, float]:
        """(estimate, bucket's lower bound, upper bound), as PromQL's histogram_quantile:
        linear inside the bucket that holds rank q*count. NaN when empty."""
        if not self.count:
            return math.nan, math.nan, math.nan
        rank = q * self.count
        lower, below = 0.0, 0.0
        for upper, cum in zip(self.bounds, self.cumulative):
            if cum >= rank and cum > below:
                if math.isinf(upper):   # beyond the last finite bound: the bound is all we know
                    return lower, lower, upper
                return lower + (upper - lower) * (rank - below) / (cum - below), lower, upper
            lower, below = upper, cum
        return math.nan, math.nan, math.nan


def histogram_delta(before: Scrape | None, after: Scrape, name: str) -> HistogramDelta:
    """`name`'s histogram gained between the scrapes (before=None: since the server started)."""
    def buckets(s: Scrape | None) -> dict[float, float]:
        out: dict[float, float] = {}
        for lab, v in (s.values(name + "_bucket") if s else []):
            le = float(lab["le"])
            out[le] = out.get(le, 0.0) + v
        return out

    a, b = buckets(after), buckets(before)
    bounds = tuple(sorted(a))
    cum = tuple(a[x] - b.get(x, 0.0) for x in bounds)
    gained = [after.total(name + suffix) - (before.total(name + suffix) if before else 0.0)
              for suffix in ("_count", "_sum")]
    return HistogramDelta(bounds, cum, gained[0], gained[1])


def gained(before: Scrape | None, after: Scrape, name: str, **labels: str) -> float:
    return after.total(name, **labels) - (before.total(name, **labels) if before else 0.0)


@dataclass(frozen=True)
class GlassRun:
    """One run seen from both sides: the client's records and /metrics before and after."""

    records: tuple[RequestRecord, ...]
    before: Scrape
    after: Scrape


def run_both_sides(n: int = 8, max_concurrency: int = 4, max_tokens: int = 24, *,
                   llm=None, backend: Backend | None = None) -> GlassRun | None:
    """Read /metrics, stream n prompts through the course's ChatOpenAI, read /metrics again.
    On a server without vLLM-style /metrics: one line saying so, nothing sent, None."""
    from ..backends import chat_model
    from ..metrics_live import run_streams

    b = backend or resolve_backend()
    before = read_metrics(b)
    if before is None:
        return None
    llm = llm or chat_model(backend=b, max_tokens=max_tokens)
    run = run_streams(llm, [f"Explain batching, case {i}" for i in range(n)], max_concurrency=max_concurrency)
    after = read_metrics(b)
    if after is None:
        return None
    ok = sum(r.ok for r in run.records)
    print(f"{ok} of {len(run.records)} streams finished, {max_concurrency} at a time; /metrics read before and after.")
    return GlassRun(tuple(run.records), before, after)


def show_buckets(glass: GlassRun | None, name: str = TTFT) -> None:
    """The buckets of one histogram that this run filled: upper bound, requests in it, cumulative."""
    if glass is None:
        print("No server metrics on this backend: nothing to show.")
        return
    h = histogram_delta(glass.before, glass.after, name)
    print(f"{name} (this run: {h.count:g} observations, sum {h.sum:.3f} s)")
    print(f"{'le (upper bound)':>18} {'in bucket':>10} {'cumulative':>11}")
    below = 0.0
    for le, cum in zip(h.bounds, h.cumulative):
        if cum > below:
            print(f"{'+Inf' if math.isinf(le) else f'{le:g} s':>18} {cum - below:>10g} {cum:>11g}")
        below = cum


def compare(records: Sequence[RequestRecord], before: Scrape | None, after: Scrape) -> dict:
    """The client's and the server's numbers for one run, and their ratios (server / client)."""
    ok = [r for r in records if r.ok]
    client_ttft = percentiles([r.ttft_s for r in ok if r.ttft_s is not None], "TTFT")
    usage = [r.usage_tokens for r in ok]
    ttft = histogram_delta(before, after, TTFT)
    p50, lo, hi = ttft.quantile(0.5)
    server_ok = sum(gained(before, after, SUCCESS, finished_reason=r) for r in FINISHED_OK)
    out = {
        "client_requests": len(ok), "server_requests": server_ok,
        "client_ttft_p50_s": client_ttft.p50, "server_ttft_p50_s": p50, "server_ttft_bucket_s": (lo, hi),
        "client_ttft_mean_s": (sum(r.ttft_s for r in ok if r.ttft_s is not None) / client_ttft.n
                               if client_ttft.n else math.nan),
        "server_ttft_mean_s": ttft.mean, "server_ttft_count": ttft.count,
        "client_usage_tokens": sum(usage) if ok and None not in usage else None,
        "server_generation_tokens": gained(before, after, GENERATION),
    }
    out["ratio_ttft_p50"] = _ratio(p50, client_ttft.p50)
    out["ratio_ttft_mean"] = _ratio(ttft.mean, out["client_ttft_mean_s"])
    out["ratio_tokens"] = _ratio(out["server_generation_tokens"], out["client_usage_tokens"])
    out["ratio_requests"] = _ratio(server_ok, len(ok))
    return out


def _ratio(a, b) -> float:
    return a / b if a is not None and b and not math.isnan(a) and not math.isnan(b) else math.nan


def _fmt(x, unit: str = "") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x * 1000:.0f} ms" if unit == "s" else f"{x:g}"


def side_by_side(glass: GlassRun | None) -> dict | None:
    """Print the client's view beside the server's for one run; return compare()'s numbers."""
    if glass is None:
        print("Client's view only on this backend: the server publishes no metrics to set beside it.")
        return None
    records, before, after = glass.records, glass.before, glass.after
    c = compare(records, before, after)
    lo, hi = c["server_ttft_bucket_s"]
    rows = [
        ("TTFT p50", _fmt(c["client_ttft_p50_s"], "s"),
         f"{_fmt(c['server_ttft_p50_s'], 's')} (bucket {_fmt(lo, 's')}-{_fmt(hi, 's')})", c["ratio_ttft_p50"]),
        ("TTFT mean", _fmt(c["client_ttft_mean_s"], "s"), f"{_fmt(c['server_ttft_mean_s'], 's')} (sum/count)",
         c["ratio_ttft_mean"]),
        ("output tokens", f"{_fmt(c['client_usage_tokens'])} (usage)",
         f"{_fmt(c['server_generation_tokens'])} (generation_tokens)", c["ratio_tokens"]),
        ("requests finished", _fmt(c["client_requests"]), f"{_fmt(c['server_requests'])} (request_success)",
         c["ratio_requests"]),
    ]
    print(f"{'':18} {'client':>12}   {'server (/metrics)':<34} server/client")
    for name, cl, sv, ratio in rows:
        print(f"{name:18} {cl:>12}   {sv:<34} {_fmt(round(ratio, 3)) if not math.isnan(ratio) else 'n/a'}")
    print(verdict(c))
    return c


def verdict(c: dict) -> str:
    """What the comparison showed, in words computed from it."""
    extra_req = c["server_requests"] - c["client_requests"]
    tokens = c["client_usage_tokens"]
    extra_tok = None if tokens is None else c["server_generation_tokens"] - tokens
    if extra_req == 0 and extra_tok == 0:
        counts = "The server counted exactly the requests and tokens this client received."
    else:
        tok = "" if extra_tok is None else f" and {extra_tok:+g} tokens"
        counts = (f"The server counted {extra_req:+g} requests{tok} beside this client's: other clients "
                  "of the same server, or requests that ended differently on each side.")
    gap = c["client_ttft_mean_s"] - c["server_ttft_mean_s"]
    if math.isnan(gap):
        return counts
    if gap >= 0:
        why = ("the server starts its clock when the request reaches it and stops it when the first "
               "token leaves, so the network and the client's own work are outside it.")
    else:
        why = "its histogram also holds requests this client did not make."
    return (f"{counts} Mean TTFT on the server is {abs(gap) * 1000:.1f} ms "
            f"{'below' if gap >= 0 else 'above'} the client's: {why}")
