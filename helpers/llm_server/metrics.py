"""GET /metrics: the simulator as a glass box, in Prometheus text with vLLM's metric names
(lesson 04b, "The server's view: /metrics"; the names are listed in the README).

Who owns which number (one source of truth each):

* **state.py owns every count**: prompt and generation tokens, requests completed,
  cancelled and broken (`Simulator.count`). The counters here are *read* from its
  server-wide row at scrape time, plus what `POST /v1/sim/stats/reset` zeroed
  (`Simulator.before_reset`), so on /metrics they never go down, as Prometheus expects.
* **This module owns only what state.py does not keep**: each request's times (the
  histograms) and how many finished answers were cut by max_tokens (finished_reason
  "length"; "stop" is the rest of state's `completed`).
* The gauges are the engines' scheduler state at scrape time, as /health reports it.

Times are seconds on the simulator's own clock (`Engine.now()`, real time): with
time_scale 0.1 every delay is ten times shorter, here exactly as the client sees it.
Each app has its own `CollectorRegistry` (never the global one), so several
simulators can run in one process.
"""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response

from .errors import error

MODEL_NAME = "sim"   # vLLM labels every series with the first served model name; ours is "sim"
ENGINE = "0"         # vLLM's `engine` label (the data-parallel engine index); the simulator has one
LABELS = ("model_name", "engine")
NO_STORE = {"cache-control": "no-store"}

# Buckets as vLLM's vllm/v1/metrics/loggers.py + buckets.py define them (seconds).
TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
                7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0)
TOKEN_STEP_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0,
                      7.5, 10.0, 20.0, 40.0, 80.0)
REQUEST_BUCKETS = (0.1, 0.2, 0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0,
                   50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0)
# vLLM's FinishReason strings (vllm/v1/engine/__init__.py); every label is shown, zeros too.
FINISHED_REASONS = ("stop", "length", "abort", "error", "repetition")


class RequestTimes:
    """One request's times on the engine clock; it reports them to the histograms."""

    def __init__(self, metrics: ServerMetrics, t_arrived: float):
        self.m, self.t_arrived = metrics, t_arrived
        self.queue_s = 0.0
        self.t_first: float | None = None
        self.t_last: float | None = None

    def tokens(self, now: float) -> None:
        """New tokens are out (one engine step, however many tokens it made): the first
        step gives TTFT, each later one an inter-token latency, as vLLM observes them."""
        if self.t_first is None:
            self.t_first = now
            self.m.ttft.observe(now - self.t_arrived)
        else:
            self.m.itl.observe(now - self.t_last)
        self.t_last = now

    def finished(self, now: float, n_tokens: int, finish: str) -> None:
        """The whole answer is out (not for a client that hung up: that is an abort)."""
        self.m.e2e.observe(now - self.t_arrived)
        self.m.queue.observe(self.queue_s)
        if n_tokens > 1 and self.t_first is not None:
            self.m.tpot.observe((self.t_last - self.t_first) / (n_tokens - 1))
        if finish == "length":
            self.m.length += 1


class ServerMetrics:
    """The Prometheus view of one Simulator: its own registry, histograms, derived counters."""

    def __init__(self, sim):
        self.sim = sim
        self.length = 0   # finished answers cut by max_tokens (the rest of `completed` is "stop")
        self.registry = CollectorRegistry(auto_describe=True)

        def hist(name: str, doc: str, buckets) -> Histogram:
            h = Histogram(name, doc, LABELS, registry=self.registry, buckets=buckets)
            return h.labels(MODEL_NAME, ENGINE)

        self.ttft = hist("vllm:time_to_first_token_seconds",
                         "Histogram of time to first token in seconds.", TTFT_BUCKETS)
        self.itl = hist("vllm:inter_token_latency_seconds",
                        "Histogram of inter-token latency in seconds.", TOKEN_STEP_BUCKETS)
        self.tpot = hist("vllm:request_time_per_output_token_seconds",
                         "Histogram of time_per_output_token_seconds per request.", TOKEN_STEP_BUCKETS)
        self.e2e = hist("vllm:e2e_request_latency_seconds",
                        "Histogram of e2e request latency in seconds.", REQUEST_BUCKETS)
        self.queue = hist("vllm:request_queue_time_seconds",
                          "Histogram of time spent in WAITING phase for request.", REQUEST_BUCKETS)
        self.registry.register(_FromState(self))

    def start(self, t_arrived: float) -> RequestTimes:
        return RequestTimes(self, t_arrived)

    def lifetime(self, field: str) -> int:
        """A server-wide count since the server started (state.py's, across resets)."""
        return self.sim.stats[field] + self.sim.before_reset.get(field, 0)

    def text(self) -> bytes:
        return generate_latest(self.registry)


class _FromState:
    """A collector that reads the counts and gauges from state.py when /metrics is scraped."""

    def __init__(self, metrics: ServerMetrics):
        self.m = metrics

    def describe(self):
        return []  # computed at scrape time; nothing to check at registration

    def collect(self):
        m, lv = self.m, [MODEL_NAME, ENGINE]
        snap = m.sim.snapshot()
        for name, doc, value in (
                ("vllm:num_requests_running", "Number of requests in model execution batches.",
                 snap["busy_slots"]),
                ("vllm:num_requests_waiting", "Number of requests waiting to be processed.",
                 snap["queue_depth"])):
            g = GaugeMetricFamily(name, doc, labels=LABELS)
            g.add_metric(lv, value)
            yield g
        for name, doc, field in (
                ("vllm:prompt_tokens", "Number of prefill tokens processed.", "prompt_tokens"),
                ("vllm:generation_tokens", "Number of generation tokens processed.", "completion_tokens")):
            c = CounterMetricFamily(name, doc, labels=LABELS)
            c.add_metric(lv, m.lifetime(field))
            yield c
        by_reason = {"stop": m.lifetime("completed") - m.length, "length": m.length,
                     "abort": m.lifetime("cancelled"), "error": m.lifetime("broken")}
        c = CounterMetricFamily("vllm:request_success", "Count of successfully processed requests.",
                                labels=(*LABELS, "finished_reason"))
        for reason in FINISHED_REASONS:
            c.add_metric([*lv, reason], by_reason.get(reason, 0))
        yield c


def _refusal(request: Request) -> Response | None:
    """Classroom mode: classroom.ClassroomGate checks the key of a /metrics request as it does
    for /v1 (401, failed-login limits) and names the caller. /metrics shows the whole room's
    numbers, so, like the dashboard's data, only the instructor reads it; a student's own
    numbers are at GET /v1/sim/stats. Without a class token the server is personal and open."""
    if getattr(request.app.state, "classroom", None) is None:
        return None
    from .classroom import INSTRUCTOR  # here: classroom imports state, which imports this module
    if request.scope.get("classroom.student") != INSTRUCTOR:
        return error(403, "On a classroom server only the instructor's dashboard token can read /metrics "
                          "(it shows the whole room); your own numbers are at /v1/sim/stats.",
                     "permission_error", code="instructor_only", headers=NO_STORE)
    return None


async def metrics_route(request: Request) -> Response:
    """GET /metrics: Prometheus text (no-store: every scrape is the numbers of now)."""
    refused = _refusal(request)
    if refused is not None:
        return refused
    return Response(request.app.state.sim.metrics.text(), headers=NO_STORE,
                    media_type=CONTENT_TYPE_LATEST)
