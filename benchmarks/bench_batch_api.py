"""Does a Batch API batch slow interactive traffic on the same simulator? Printed as a markdown table.

    .venv/bin/python benchmarks/bench_batch_api.py        # about a minute on 2 cores

One simulator (hosted-small: 16 slots, time scale 0.1, rate limits off) in its own process.
Four interactive clients stream short answers back to back (raw httpx, one event loop) and
record each answer's TTFT (send -> first text chunk) and E2E, in three phases of the same run:
  idle    no batch;
  batch   while a 1,000-line batch runs (checked: `in_progress` from start to end of the phase);
  idle    again, after the batch is cancelled.
The batch runs at LOW priority (helpers/llm_server/latency.py: after every waiting interactive
request, in at most half the slots), so interactive TTFT should not change: goal p50 and p95
ratios (batch / idle) <= 1.10. The batch still shares the decoder (continuous batching), so
interactive E2E is printed too: that one is expected to grow.
"""
from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
SCALE, CLIENTS, PHASE_S, LINES = 0.1, 4, 6.0, 1000
SERVER = ("import sys, uvicorn; from helpers.llm_server.app import create_app; "
          "app = create_app('hosted-small', {scale}, 0, file_limits={{'hour_s': 1000.0}}, rpm_limit=None, "
          "tpm_limit=None); uvicorn.run(app, host='127.0.0.1', port={port}, log_level='warning')")


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q / 100 * (len(xs) - 1))))]


async def interactive(url: str, seconds: float) -> tuple[list[float], list[float], list[float]]:
    """CLIENTS streams back to back for `seconds`: (TTFTs, E2Es, server queue waits) in seconds."""
    ttft, e2e, queue = [], [], []
    body = {"model": "sim", "stream": True, "max_tokens": 32,
            "messages": [{"role": "user", "content": "How do I reset the lamp?"}]}
    end = time.perf_counter() + seconds

    async def client(c: httpx.AsyncClient) -> None:
        while time.perf_counter() < end:
            t0, first = time.perf_counter(), None
            async with c.stream("POST", url + "/chat/completions", json=body) as r:
                assert r.status_code == 200, r.status_code
                queue.append(float(r.headers["x-sim-queue-ms"]) / 1000)
                async for line in r.aiter_lines():
                    if first is None and line.startswith("data: {") and '"content": "' in line \
                            and '"content": ""' not in line:
                        first = time.perf_counter()
            ttft.append(first - t0)
            e2e.append(time.perf_counter() - t0)

    async with httpx.AsyncClient(timeout=30) as c:
        await asyncio.gather(*(client(c) for _ in range(CLIENTS)))
    return ttft, e2e, queue


def batch_file() -> bytes:
    return "".join(json.dumps({"custom_id": f"b{i}", "method": "POST", "url": "/v1/chat/completions", "body": {
        "model": "sim", "max_tokens": 64, "messages": [{"role": "user", "content": f"Summarise ticket {i}"}]}}) + "\n"
        for i in range(LINES)).encode()


def main() -> None:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", SERVER.format(scale=SCALE, port=port)], cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        for _ in range(200):
            try:
                httpx.get(url + "/models", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        asyncio.run(interactive(url, 1.0))  # warm-up
        phases = {"idle (before)": asyncio.run(interactive(url, PHASE_S))}
        up = httpx.post(url + "/files", files={"file": ("b.jsonl", batch_file())}, data={"purpose": "batch"}).json()
        b = httpx.post(url + "/batches", json={"input_file_id": up["id"], "endpoint": "/v1/chat/completions",
                                               "completion_window": "24h"}).json()
        while httpx.get(f"{url}/batches/{b['id']}").json()["status"] != "in_progress":
            time.sleep(0.02)
        before = httpx.get(f"{url}/batches/{b['id']}").json()["request_counts"]["completed"]
        phases[f"{LINES}-line batch running"] = asyncio.run(interactive(url, PHASE_S))
        after = httpx.get(f"{url}/batches/{b['id']}").json()
        assert after["status"] == "in_progress", f"the batch ended during the phase: {after['status']}"
        httpx.post(f"{url}/batches/{b['id']}/cancel")
        while httpx.get(f"{url}/batches/{b['id']}").json()["status"] != "cancelled":
            time.sleep(0.02)
        phases["idle (after)"] = asyncio.run(interactive(url, PHASE_S))
    finally:
        proc.terminate()
        proc.wait(10)

    print(f"# Interactive traffic with and without a Batch API batch (hosted-small, 16 slots, time scale {SCALE}, "
          f"{CLIENTS} streaming clients, {os.cpu_count()} CPUs)\n")
    print("| phase | answers | TTFT p50 (ms) | TTFT p95 (ms) | E2E p50 (ms) | E2E p95 (ms) "
          "| server queue wait max (ms) |")
    print("|---|---|---|---|---|---|---|")
    for name, (ttft, e2e, queue) in phases.items():
        print(f"| {name} | {len(ttft)} | {pct(ttft, 50) * 1000:.1f} | {pct(ttft, 95) * 1000:.1f} | "
              f"{pct(e2e, 50) * 1000:.1f} | {pct(e2e, 95) * 1000:.1f} | {max(queue) * 1000:.1f} |")
    idle = [phases["idle (before)"][i] + phases["idle (after)"][i] for i in range(2)]
    busy = phases[f"{LINES}-line batch running"]
    print(f"\nThe batch finished {after['request_counts']['completed'] - before} of its requests during its "
          f"{PHASE_S:g} s phase (status in_progress throughout), then was cancelled.\n")
    print("| ratio: batch running / idle (both idle phases pooled) | p50 | p95 | goal |")
    print("|---|---|---|---|")
    for label, i in (("TTFT", 0), ("E2E", 1)):
        r50, r95 = pct(busy[i], 50) / pct(idle[i], 50), pct(busy[i], 95) / pct(idle[i], 95)
        goal = ("<= 1.10: " + ("met" if max(r50, r95) <= 1.10 else "NOT met")) if label == "TTFT" else \
            "none (the batch shares the decoder)"
        print(f"| {label} | {r50:.3f} | {r95:.3f} | {goal} |")
    print(f"\nmean TTFT idle {statistics.mean(idle[0]) * 1000:.1f} ms, with the batch "
          f"{statistics.mean(busy[0]) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
