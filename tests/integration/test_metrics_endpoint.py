"""The simulator's GET /metrics: vLLM's names in Prometheus text, read with prometheus_client's
own parser; counts exact after real ChatOpenAI requests, one source of truth with /v1/sim/stats,
classroom access rules, no-store. Simulators run in this process (each app has its own registry)."""
import operator
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import reduce

import httpx
import pytest
import uvicorn
from langchain_openai import ChatOpenAI
from prometheus_client.parser import text_string_to_metric_families

from helpers.backends import Backend
from helpers.lessons import glass_box
from helpers.llm_server import classroom
from helpers.llm_server.__main__ import parse_args
from helpers.llm_server.app import create_app
from helpers.llm_server.metrics import REQUEST_BUCKETS, TOKEN_STEP_BUCKETS, TTFT_BUCKETS
from tests.support.waiting import wait_for

PROMPT = [{"role": "user", "content": "Explain streaming"}]
HISTOGRAMS = {"vllm:time_to_first_token_seconds": TTFT_BUCKETS,
              "vllm:inter_token_latency_seconds": TOKEN_STEP_BUCKETS,
              "vllm:request_time_per_output_token_seconds": TOKEN_STEP_BUCKETS,
              "vllm:e2e_request_latency_seconds": REQUEST_BUCKETS,
              "vllm:request_queue_time_seconds": REQUEST_BUCKETS}


@contextmanager
def serving(app):
    """Serve `app` on loopback from a thread of this process; yield its root URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    wait_for("the server to listen", lambda: server.started, 20)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        t.join(10)


def scrape(root: str, key: str | None = None) -> dict:
    """{sample name: {frozenset(labels without model/engine): value}} via prometheus_client's parser."""
    r = httpx.get(root + "/metrics", headers={"Authorization": f"Bearer {key}"} if key else {}, timeout=10)
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store", r.text[:200]
    out: dict = {}
    for fam in text_string_to_metric_families(r.text):
        for s in fam.samples:
            assert s.labels.get("model_name") == "sim" and s.labels.get("engine") == "0", s
            rest = frozenset((k, v) for k, v in s.labels.items() if k not in ("model_name", "engine"))
            out.setdefault(s.name, {})[rest] = s.value
    return out


def one(m: dict, name: str, **labels) -> float:
    return m[name][frozenset(labels.items())]


def lc(root: str, **kw) -> ChatOpenAI:
    return ChatOpenAI(base_url=root + "/v1", api_key="k", model="sim", temperature=0, max_retries=0,
                      timeout=20, stream_usage=True, **kw)


def test_counts_are_exact_and_one_source_with_sim_stats():
    app = create_app(time_scale=0.05, seed=3)
    with serving(app) as root:
        llm = lc(root)
        msgs = [reduce(operator.add, llm.stream(f"Explain batching, take {i}")) for i in range(4)]
        msgs += [lc(root, max_tokens=3).invoke("Explain streaming"), llm.invoke("hi")]
        m = scrape(root)
        stats = httpx.get(root + "/v1/sim/stats").json()
    gen = sum(x.usage_metadata["output_tokens"] for x in msgs)
    prompt = sum(x.usage_metadata["input_tokens"] for x in msgs)
    reasons = [x.response_metadata.get("finish_reason") for x in msgs]
    assert one(m, "vllm:generation_tokens_total") == gen == stats["completion_tokens"]
    assert one(m, "vllm:prompt_tokens_total") == prompt == stats["prompt_tokens"]
    for reason in ("stop", "length"):
        assert one(m, "vllm:request_success_total", finished_reason=reason) == reasons.count(reason)
    assert reasons.count("length") >= 1  # the max_tokens=3 answer
    assert one(m, "vllm:request_success_total", finished_reason="abort") == 0
    n = len(msgs)
    for name in ("vllm:time_to_first_token_seconds", "vllm:e2e_request_latency_seconds",
                 "vllm:request_queue_time_seconds"):
        assert one(m, name + "_count") == n, name
    assert one(m, "vllm:request_time_per_output_token_seconds_count") == \
        sum(x.usage_metadata["output_tokens"] > 1 for x in msgs)
    assert one(m, "vllm:num_requests_running") == one(m, "vllm:num_requests_waiting") == 0


def test_histograms_use_vllms_buckets_and_observe_every_request():
    app = create_app(time_scale=0.05, seed=4)
    with serving(app) as root:
        list(lc(root).stream("Explain streaming in detail"))
        m = scrape(root)
    for name, bounds in HISTOGRAMS.items():
        by_le = sorted((float(dict(k)["le"]), v) for k, v in m[name + "_bucket"].items())
        assert [le for le, _ in by_le] == [*bounds, float("inf")], name
        counts = [v for _, v in by_le]
        assert counts == sorted(counts) and counts[-1] == one(m, name + "_count"), name
    assert one(m, "vllm:time_to_first_token_seconds_count") == 1
    assert one(m, "vllm:time_to_first_token_seconds_sum") > 0
    assert one(m, "vllm:inter_token_latency_seconds_count") >= 1   # >= 1 engine step after the first


def test_two_simulators_in_one_process_keep_their_own_numbers():
    a, b = create_app(time_scale=0.05, seed=5), create_app(time_scale=0.05, seed=6)
    with serving(a) as ra, serving(b) as rb:
        lc(ra).invoke("one")
        lc(ra).invoke("two")
        lc(rb).invoke("three")
        ma, mb = scrape(ra), scrape(rb)
    assert one(ma, "vllm:e2e_request_latency_seconds_count") == 2
    assert one(mb, "vllm:e2e_request_latency_seconds_count") == 1


def test_gauges_and_a_reset_that_never_makes_counters_go_down():
    app = create_app(time_scale=0.05, seed=7, slots=1)
    body = {"model": "sim", "messages": PROMPT, "max_tokens": 8}
    with serving(app) as root, ThreadPoolExecutor(2) as pool:
        first = pool.submit(httpx.post, root + "/v1/chat/completions", json=body, timeout=20,
                            headers={"X-Sim-Fault": "hold:g:2"})  # keeps its slot at 2 tokens
        wait_for("one running", lambda: one(scrape(root), "vllm:num_requests_running") == 1)
        second = pool.submit(httpx.post, root + "/v1/chat/completions", json=body, timeout=20)
        wait_for("one waiting", lambda: one(scrape(root), "vllm:num_requests_waiting") == 1)
        httpx.post(root + "/v1/sim/release", json={"name": "g"})
        assert first.result().status_code == second.result().status_code == 200
        before = scrape(root)
        httpx.post(root + "/v1/sim/stats/reset", json={})
        after = scrape(root)
        assert httpx.get(root + "/v1/sim/stats").json()["completion_tokens"] == 0
    assert one(before, "vllm:request_queue_time_seconds_count") == 2
    for name in ("vllm:generation_tokens_total", "vllm:prompt_tokens_total"):
        assert after[name] == before[name] and one(after, name) > 0


def test_a_client_that_hangs_up_is_an_abort_not_a_success():
    app = create_app(time_scale=0.05, seed=8)
    body = {"model": "sim", "messages": PROMPT, "max_tokens": 50, "stream": True}
    with serving(app) as root:
        with httpx.stream("POST", root + "/v1/chat/completions", json=body, timeout=20,
                          headers={"X-Sim-Fault": "hold:bye:2"}) as r:
            next(line for line in r.iter_lines() if '"content": "' in line and '""' not in line)
        wait_for("the abort", lambda: one(scrape(root), "vllm:request_success_total",
                                          finished_reason="abort") == 1)
        m = scrape(root)
    assert one(m, "vllm:request_success_total", finished_reason="stop") == 0
    assert one(m, "vllm:e2e_request_latency_seconds_count") == 0
    assert one(m, "vllm:time_to_first_token_seconds_count") == 1   # it had its first token


def test_classroom_mode_lets_only_the_instructor_read_metrics():
    app = create_app(time_scale=0.05, seed=9)
    args = parse_args(["--class-token", "class-tok-42", "--dashboard-token", "dash-tok-99"])
    assert classroom.check_args(args) is None
    classroom.enable(app, args)
    with serving(app) as root:
        httpx.post(root + "/v1/chat/completions", json={"model": "sim", "messages": PROMPT, "max_tokens": 2},
                   headers={"Authorization": "Bearer class-tok-42:alice"}, timeout=20)
        get = [httpx.get(root + "/metrics", headers=h, timeout=10) for h in
               ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Bearer class-tok-42:alice"})]
        m = scrape(root, "dash-tok-99")
    assert [r.status_code for r in get] == [401, 401, 403]
    assert all(r.headers["cache-control"] == "no-store" for r in get)
    assert "class-tok-42" not in "".join(r.text for r in get)
    assert get[2].json()["error"]["code"] == "instructor_only"
    assert one(m, "vllm:request_success_total", finished_reason="length") == 1


def test_glass_box_side_by_side_counts_exactly_and_the_server_ttft_is_inside_the_clients(capsys):
    app = create_app(time_scale=0.05, seed=10)
    with serving(app) as root:
        b = Backend("sim", root + "/v1", "sim", "k")
        glass = glass_box.run_both_sides(6, max_concurrency=3, llm=lc(root, max_tokens=12), backend=b)
        glass_box.show_buckets(glass)
        c = glass_box.side_by_side(glass)
    assert c["client_requests"] == c["server_requests"] == 6 == c["server_ttft_count"]
    assert c["client_usage_tokens"] == c["server_generation_tokens"] > 0
    assert c["ratio_tokens"] == c["ratio_requests"] == 1.0
    # each server interval (arrival -> first token out) lies inside the client's (sent -> first token in)
    assert c["server_ttft_mean_s"] <= c["client_ttft_mean_s"]
    lo, hi = c["server_ttft_bucket_s"]
    assert lo <= c["server_ttft_p50_s"] <= hi
    out = capsys.readouterr().out
    assert "TTFT p50" in out and "exactly the requests and tokens" in out and "below the client's" in out


def test_glass_box_says_so_in_one_line_where_there_are_no_metrics(capsys):
    assert glass_box.read_metrics(Backend("openai", "https://api.openai.com/v1", "gpt-4o-mini", "x")) is None
    app = create_app(time_scale=0.05, seed=11)
    with serving(app) as root:
        assert glass_box.read_metrics(Backend("compatible", root + "/elsewhere/v1", "sim", "k")) is None
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 2 and "OpenAI" in out[0] and "HTTP 404" in out[1]
    assert glass_box.side_by_side(None) is None and glass_box.show_buckets(None) is None
    assert len(capsys.readouterr().out.strip().splitlines()) == 2


@pytest.mark.parametrize("q,expected", [(0.5, (0.25 + 0.25 * 1 / 4, 0.25, 0.5)), (1.0, (0.5, 0.25, 0.5))])
def test_histogram_quantile_interpolates_inside_the_bucket_like_promql(q, expected):
    h = glass_box.HistogramDelta(bounds=(0.1, 0.25, 0.5, float("inf")), cumulative=(0, 2, 6, 6), count=6, sum=2.0)
    # rank 3 of 6 falls in (0.25, 0.5], which holds requests 3-6: one of its four is below the rank
    assert h.quantile(q) == pytest.approx(expected)
