"""Simulator benchmark: fidelity, capacity and client overhead, as ratios from one run.

    .venv/bin/python benchmarks/bench_sim.py            # about a minute on 2 cores

(a) fidelity: measured / predicted (latency model) for TTFT, total latency and
    batch makespan at max_concurrency 1, 4, 16, 64 through real ChatOpenAI clients.
(b) capacity: aggregate streamed tokens/s through ChatOpenAI at 1 and 64
    concurrent streams with zero delay (profile "instant"), as a ratio to a bare
    minimal SSE endpoint (benchmarks/bare_sse.py) measured in the same run.
(c) overhead: ms per ChatOpenAI.invoke against the zero-delay simulator,
    beside a raw httpx POST to the same server.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from langchain_openai import ChatOpenAI

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from helpers.backends.simulator import start_simulator  # noqa: E402
from helpers.llm_server import latency, text  # noqa: E402
from helpers.timing import measure_batch, measure_invoke, measure_stream  # noqa: E402


def model(url: str, **kw) -> ChatOpenAI:
    return ChatOpenAI(base_url=url, api_key="bench", model="sim", timeout=60, max_retries=0,
                      stream_usage=True, temperature=0, **kw)


def job_for(prompt: str, prof: latency.Profile, seed: int, completion_tokens: int) -> latency.Job:
    msgs = [{"role": "user", "content": prompt}]
    return latency.Job(text.count_prompt_tokens(msgs), completion_tokens,
                       latency.jitter_factor(prof, seed, prompt))


def fidelity() -> None:
    srv = start_simulator("hosted-small", time_scale=1.0, seed=0)
    prof = latency.get_profile(srv.profile, srv.time_scale)
    llm = model(srv.base_url)
    measure_invoke(llm, "warm up")
    print("## (a) fidelity: measured / predicted (hosted-small profile, real time)\n")
    print("| measurement | measured (s) | predicted (s) | ratio |\n|---|---|---|---|")
    p = "Explain streaming"
    s = measure_stream(llm, p)
    pred = latency.predict_single(prof, job_for(p, prof, srv.seed, s.completion_tokens))
    print(f"| TTFT, one stream | {s.ttft_s:.3f} | {pred.ttft_s:.3f} | {s.ttft_s / pred.ttft_s:.3f} |")
    i = measure_invoke(llm, p)
    print(f"| total, one invoke | {i.total_s:.3f} | {pred.latency_s:.3f} | {i.total_s / pred.latency_s:.3f} |")
    for c in (1, 4, 16, 64):
        prompts = [f"Explain batch processing, case {k}" for k in range(max(8, c))]
        b = measure_batch(llm, prompts, c)
        assert b.n_errors == 0, [r.error for r in b.requests if not r.ok][:2]
        jobs = [job_for(q, prof, srv.seed, r.completion_tokens) for q, r in zip(prompts, b.requests)]
        pm = latency.makespan_s(latency.predict_batch(prof, jobs, c))
        print(f"| batch makespan, {len(prompts)} prompts, max_concurrency={c} | {b.makespan_s:.3f} | {pm:.3f} "
              f"| {b.makespan_s / pm:.3f} |")


def stream_rate(url: str, n_streams: int, per_stream: int) -> float:
    """Aggregate completion tokens/s of n_streams concurrent ChatOpenAI streams."""
    llm = model(url)

    def one(k: int) -> int:
        n = 0
        for _ in range(per_stream):
            for c in llm.stream(f"Explain streaming {k}"):
                n += 1 if c.content else 0
        return n

    with ThreadPoolExecutor(n_streams) as ex:
        list(ex.map(one, range(n_streams)))  # warm-up connections
        t0 = time.perf_counter()
        tokens = sum(ex.map(one, range(n_streams)))
    return tokens / (time.perf_counter() - t0)


def capacity() -> None:
    srv = start_simulator("instant", time_scale=1.0, seed=0)
    bare = subprocess.Popen([sys.executable, str(ROOT / "benchmarks" / "bare_sse.py")],
                            stdout=subprocess.PIPE, text=True)
    bare_url = bare.stdout.readline().strip()
    try:
        print("\n## (b) capacity: streamed tokens/s through ChatOpenAI, zero delay\n")
        print("| concurrent streams | simulator tok/s | bare SSE tok/s | ratio |\n|---|---|---|---|")
        for n, per in ((1, 20), (64, 2)):
            sim_r, bare_r = [], []
            for _ in range(2):  # interleave to share the machine's noise fairly
                sim_r.append(stream_rate(srv.base_url, n, per))
                bare_r.append(stream_rate(bare_url, n, per))
            s, b = statistics.median(sim_r), statistics.median(bare_r)
            print(f"| {n} | {s:,.0f} | {b:,.0f} | {s / b:.2f} |")
    finally:
        bare.terminate()


def overhead() -> None:
    srv = start_simulator("instant", time_scale=1.0, seed=0)
    llm = model(srv.base_url, max_tokens=5)
    body = {"model": "sim", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    with httpx.Client() as h:
        for _ in range(20):
            llm.invoke("hi"), h.post(srv.base_url + "/chat/completions", json=body)
        lc, raw = [], []
        for _ in range(200):
            t0 = time.perf_counter()
            llm.invoke("hi")
            lc.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            h.post(srv.base_url + "/chat/completions", json=body)
            raw.append(time.perf_counter() - t0)
    a, b = statistics.median(lc) * 1000, statistics.median(raw) * 1000
    print("\n## (c) per-request overhead, zero-delay simulator (median of 200)\n")
    print("| ChatOpenAI.invoke | raw httpx POST | difference |\n|---|---|---|")
    print(f"| {a:.2f} ms | {b:.2f} ms | {a - b:.2f} ms |")


if __name__ == "__main__":
    os.environ.setdefault("COURSE_PROGRESS", "off")
    fidelity()
    capacity()
    overhead()
