"""Benchmark the real local model (SmolLM2-135M in llama.cpp via xllamacpp).

(a) Fidelity: does going through ``ChatOpenAI.stream`` cost anything compared
    with reading llama.cpp's SSE stream directly with httpx? Same prompts,
    interleaved (A B / B A), same server, same run.
(b) Capacity: batch throughput at max_concurrency 1, 2, 4, 8 against a server
    with 1 slot and one with 4 slots (8 prompts, 48 tokens, temperature 0).
(c) Threads: one stream with 1 vs 2 CPU threads (why default_threads() leaves
    a core free).

Run:  .venv/bin/python benchmarks/bench_local.py      (about 1-2 minutes)
Prints markdown tables. Prompt caching is off on the server, so every request
does its full prefill and repeated prompts are not flattered. Both clients send
``Connection: close``: llama.cpp closes the socket after every streamed
response even though it advertises keep-alive, and a client that reuses that
socket at once sometimes gets "Server disconnected without sending a response".
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import time

import httpx

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from langchain_openai import ChatOpenAI  # noqa: E402

from helpers.backends.local_model import default_threads, start_local_server  # noqa: E402

STREAM_PROMPTS = ["Write a short story about a robot who learns to paint.",
                  "Explain how a bicycle works to a child.",
                  "Describe a busy market in the morning.",
                  "Write a letter to a friend about your summer holiday."]
BATCH_PROMPTS = [f"Write a short story about {x}." for x in
                 ("a lighthouse keeper", "a lost cat", "a brave mouse", "an old clock",
                  "a tiny dragon", "a sleepy owl", "a rainy city", "a kind robot")]
NO_REUSE = {"Connection": "close"}


def llm_for(srv, max_tokens: int) -> ChatOpenAI:
    return ChatOpenAI(base_url=srv.base_url, model=srv.model, api_key="not-needed",
                      timeout=120, max_retries=0, stream_usage=True,
                      temperature=0, max_completion_tokens=max_tokens,
                      default_headers=NO_REUSE)


def via_langchain(llm: ChatOpenAI, prompt: str) -> tuple[float, float, int]:
    """(ttft_s, total_s, completion_tokens) for one ChatOpenAI.stream call."""
    start = time.perf_counter()
    first = None
    whole = None
    for chunk in llm.stream(prompt):
        if chunk.content and first is None:
            first = time.perf_counter()
        whole = chunk if whole is None else whole + chunk
    end = time.perf_counter()
    return first - start, end - start, whole.usage_metadata["output_tokens"]


def via_httpx(client: httpx.Client, srv, prompt: str, max_tokens: int) -> tuple[float, float, int]:
    """The same request, read straight off the SSE stream with httpx."""
    body = {"model": srv.model, "messages": [{"role": "user", "content": prompt}],
            "stream": True, "stream_options": {"include_usage": True},
            "temperature": 0, "max_completion_tokens": max_tokens}
    start = time.perf_counter()
    first = None
    tokens = 0
    with client.stream("POST", f"{srv.base_url}/chat/completions", json=body) as resp:
        for line in resp.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            event = json.loads(line[6:])
            if event.get("usage"):
                tokens = event["usage"]["completion_tokens"]
            for choice in event["choices"]:
                if choice["delta"].get("content") and first is None:
                    first = time.perf_counter()
    end = time.perf_counter()
    return first - start, end - start, tokens


def decode_rate(ttft: float, total: float, tokens: int) -> float:
    """Tokens/s after the first token (how Artificial Analysis counts it)."""
    return (tokens - 1) / (total - ttft)


def fidelity(rounds: int = 3, max_tokens: int = 96) -> None:
    srv = start_local_server(n_parallel=4)
    llm = llm_for(srv, max_tokens)
    rows = {"ChatOpenAI.stream": [], "httpx SSE": []}
    with httpx.Client(timeout=120, headers=NO_REUSE) as client:
        via_httpx(client, srv, "Hello!", 8)  # warm-up
        llm.invoke("Hello!")
        for r in range(rounds):
            for i, prompt in enumerate(STREAM_PROMPTS):
                order = ["lc", "raw"] if (r + i) % 2 == 0 else ["raw", "lc"]
                for who in order:
                    if who == "lc":
                        rows["ChatOpenAI.stream"].append(via_langchain(llm, prompt))
                    else:
                        rows["httpx SSE"].append(via_httpx(client, srv, prompt, max_tokens))
    print(f"\n### (a) ChatOpenAI.stream vs direct httpx SSE  (n_parallel={srv.n_parallel}, "
          f"n_threads={srv.n_threads}, {len(STREAM_PROMPTS)} prompts x {rounds} rounds, "
          f"max {max_tokens} tokens)\n")
    print("| client | median TTFT ms | median decode tok/s | median total s | tokens |")
    print("|---|---|---|---|---|")
    for name, runs in rows.items():
        ttft = statistics.median(t for t, _, _ in runs)
        rate = statistics.median(decode_rate(*x) for x in runs)
        total = statistics.median(x[1] for x in runs)
        print(f"| {name} | {ttft * 1000:.0f} | {rate:.1f} | {total:.2f} | {sum(x[2] for x in runs)} |")
    # Each prompt ran back to back on both clients, so compare within pairs:
    # that cancels out slow spells caused by other programs on the machine.
    pairs = list(zip(rows["ChatOpenAI.stream"], rows["httpx SSE"]))
    rate = statistics.median(decode_rate(*lc) / decode_rate(*raw) for lc, raw in pairs)
    ttft = statistics.median(raw[0] / lc[0] for lc, raw in pairs)
    total = statistics.median(raw[1] / lc[1] for lc, raw in pairs)
    print(f"\nmedian paired ratio ChatOpenAI/httpx (1.0 = no overhead, goal >= 0.95): "
          f"decode tok/s {rate:.3f}, TTFT speed {ttft:.3f}, total speed {total:.3f}")


def capacity(max_tokens: int = 48) -> None:
    print(f"\n### (b) batch throughput: {len(BATCH_PROMPTS)} prompts, max {max_tokens} tokens, "
          f"temperature 0, n_threads={default_threads()}\n")
    print("| n_parallel (slots) | max_concurrency | wall s | requests/s | completion tok/s | speedup |")
    print("|---|---|---|---|---|---|")
    for n_parallel in (1, 4):
        srv = start_local_server(n_parallel=n_parallel)
        llm = llm_for(srv, max_tokens)
        llm.invoke("Hello!")  # warm-up
        base = None
        for mc in (1, 2, 4, 8):
            start = time.perf_counter()
            out = llm.batch(BATCH_PROMPTS, config={"max_concurrency": mc})
            wall = time.perf_counter() - start
            tokens = sum(m.usage_metadata["output_tokens"] for m in out)
            base = base or tokens / wall
            print(f"| {n_parallel} | {mc} | {wall:.2f} | {len(out) / wall:.2f} | "
                  f"{tokens / wall:.1f} | {tokens / wall / base:.2f}x |")
        srv.stop()


def threads(max_tokens: int = 96) -> None:
    print(f"\n### (c) one stream, 1 vs 2 CPU threads (machine has {os.cpu_count()} cores; "
          f"load avg {os.getloadavg()[0]:.2f})\n")
    print("| n_threads | median TTFT ms | median decode tok/s |")
    print("|---|---|---|")
    for n in (1, 2):
        srv = start_local_server(n_parallel=1, n_threads=n)
        llm = llm_for(srv, max_tokens)
        llm.invoke("Hello!")
        runs = [via_langchain(llm, p) for p in STREAM_PROMPTS[:3]]
        print(f"| {n} | {statistics.median(r[0] for r in runs) * 1000:.0f} | "
              f"{statistics.median(decode_rate(*r) for r in runs):.1f} |")
        srv.stop()


if __name__ == "__main__":
    began = time.perf_counter()
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")
    fidelity()
    capacity()
    threads()
    print(f"\n(total benchmark time {time.perf_counter() - began:.0f} s)")
