"""Lesson 06's chat app: what does the app cost on top of the model? Printed, not a test.

    .venv/bin/python benchmarks/bench_chat_app.py [--time-scale 1.0] [--users 64] [--repeats 5]

Same simulator, same prompts, same run, measured at the client with httpx:
  direct: the RAG prompt the app would send (system message with the retrieved context +
          question), streamed straight from the simulator's /v1/chat/completions;
  app:    the question through POST /api/chat (retrieval, LangChain astream, SSE).
Rows:
  1 user, TTFT: median client TTFT through the app / direct (goal <= 1.10). Shown twice: with the
                app's retrieval (an embeddings request the direct path does not make) and without
                it (client TTFT minus the app's own sources_s stamp).
  N users, throughput: completion tokens per second with N users at once, app / direct (goal >= 0.8).
  app to client (ms): lesson 06's gap, the client's first text minus the app's "first text sent"
                stamp, measured with the clock started before httpx.Client() is built (how
                measure_app did it: the client's CA-bundle load counted as wait) and after (now),
                alternating, side by side. `--gap-only` prints just this row.
Runs alternate (direct, app, direct, app, ...) so drift hits both alike.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from helpers import rag  # noqa: E402
from helpers.backends import SIM_KEY  # noqa: E402
from helpers.backends.simulator import start_simulator  # noqa: E402
from helpers.chat_app import crowd as app_crowd  # noqa: E402
from helpers.chat_app import start_chat_app  # noqa: E402
from helpers.chat_app.crowd import QUESTIONS  # noqa: E402
from helpers.chat_app.support import EMBED_URL_ENV, build_support_bot  # noqa: E402

MAX_TOKENS = 200


def rag_messages(bot, question: str) -> list[dict]:
    docs = bot.retriever.invoke(question)
    system = rag.SYSTEM.format(context=rag.format_docs(docs))
    return [{"role": "system", "content": system}, {"role": "user", "content": question}]


async def direct_once(client, sim, messages) -> tuple[float, float, int]:
    body = {"model": "sim", "messages": messages, "stream": True, "max_tokens": MAX_TOKENS, "temperature": 0,
            "stream_options": {"include_usage": True}}
    t0, ttft, tokens = time.perf_counter(), None, 0
    async with client.stream("POST", sim.base_url + "/chat/completions", json=body,
                             headers={"Authorization": f"Bearer {SIM_KEY}"}) as resp:
        async for line in resp.aiter_lines():
            if not line.startswith("data: {"):
                continue
            data = json.loads(line[6:])
            if data.get("usage"):
                tokens = data["usage"]["completion_tokens"]
            if ttft is None and data["choices"] and data["choices"][0]["delta"].get("content"):
                ttft = time.perf_counter() - t0
    return ttft, time.perf_counter() - t0, tokens


async def app_once(client, app, question) -> tuple[float, float, int, float]:
    t0, ttft, seen = time.perf_counter(), None, ""
    async with client.stream("POST", app.url + "api/chat", json={"question": question}) as resp:
        async for text in resp.aiter_text():
            seen += text
            if ttft is None and "event: delta" in seen:
                ttft = time.perf_counter() - t0
    total = time.perf_counter() - t0
    done = json.loads(seen.rsplit("event: done\ndata: ", 1)[1].split("\n", 1)[0])
    return ttft, total, done["usage"]["output_tokens"], done["timings"]["sources_s"]


async def crowd(fn, n: int) -> float:
    t0 = time.perf_counter()
    results = await asyncio.gather(*(fn(i) for i in range(n)))
    return sum(r[2] for r in results) / (time.perf_counter() - t0)


def gap_ms(url: str, clock_before_client: bool) -> float:
    """Lesson 06's "app to client" gap for one answer, in ms; clock_before_client: start the
    clock before building the httpx client, as measure_app once did."""
    if not clock_before_client:
        x = app_crowd.measure_app(url, QUESTIONS[0])
        return (x.wait_s - x.server["timings"]["ttft_s"]) * 1000
    t0, seen, first = time.perf_counter(), "", None
    with httpx.Client(timeout=600) as client, client.stream("POST", url + "api/chat",
                                                            json={"question": QUESTIONS[0]}) as resp:
        for text in resp.iter_text():
            seen += text
            if first is None and "event: delta" in seen:
                first = time.perf_counter() - t0
    done = json.loads(seen.rsplit("event: done\ndata: ", 1)[1].split("\n", 1)[0])
    return (first - done["timings"]["ttft_s"]) * 1000


def print_gap(app, repeats: int) -> None:
    gap_ms(app.url, False)   # warm-up
    before, after = [], []
    for _ in range(repeats):   # alternate, so load drift hits both alike
        before.append(gap_ms(app.url, True))
        after.append(gap_ms(app.url, False))
    fmt = " ".join
    print(f"app to client (ms, median of {repeats}): clock before httpx.Client() {statistics.median(before):.1f} "
          f"[{fmt(f'{v:.0f}' for v in before)}] | clock after it (measure_app now) {statistics.median(after):.1f} "
          f"[{fmt(f'{v:.1f}' for v in after)}]")


async def main(a) -> None:
    sim = start_simulator(time_scale=a.time_scale, seed=0)
    if a.gap_only:
        print_gap(start_chat_app(server=sim, max_tokens=MAX_TOKENS, deadline_s=600, timeout_s=600), a.repeats)
        return
    os.environ[EMBED_URL_ENV] = sim.base_url
    os.environ.update(LLM_BACKEND="compatible", LLM_BASE_URL=sim.base_url, LLM_MODEL="sim", LLM_API_KEY=SIM_KEY)
    bot = build_support_bot(max_tokens=MAX_TOKENS)
    app = start_chat_app(server=sim, max_tokens=MAX_TOKENS, deadline_s=600, timeout_s=600)
    q = QUESTIONS[0]
    msgs = {question: rag_messages(bot, question) for question in QUESTIONS}
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(timeout=600, limits=limits) as client:
        await direct_once(client, sim, msgs[q])       # warm-up both paths
        await app_once(client, app, q)
        d_ttft, a_ttft, a_no_retrieval = [], [], []
        for _ in range(a.repeats):
            d_ttft.append((await direct_once(client, sim, msgs[q]))[0])
            t, _, _, sources_s = await app_once(client, app, q)
            a_ttft.append(t)
            a_no_retrieval.append(t - sources_s)
        d_tps, a_tps = [], []
        for _ in range(2):
            d_tps.append(await crowd(lambda i: direct_once(client, sim, msgs[QUESTIONS[i % len(QUESTIONS)]]), a.users))
            a_tps.append(await crowd(lambda i: app_once(client, app, QUESTIONS[i % len(QUESTIONS)]), a.users))
    med = statistics.median
    rows = [("TTFT, 1 user (s), with retrieval", med(a_ttft), med(d_ttft), "<= 1.10"),
            ("TTFT, 1 user (s), app minus its retrieval", med(a_no_retrieval), med(d_ttft), "<= 1.10"),
            (f"throughput, {a.users} users (tokens/s)", med(a_tps), med(d_tps), ">= 0.80")]
    print(f"simulator profile {sim.profile}, time scale {a.time_scale}, {a.repeats} repeats (median), "
          f"max_tokens={MAX_TOKENS}, {os.cpu_count()} CPUs")
    print(f"| {'measure':<44} | {'app':>9} | {'direct':>9} | {'app/direct':>10} | goal    |")
    print(f"|{'-' * 46}|{'-' * 11}|{'-' * 11}|{'-' * 12}|---------|")
    for name, app_v, direct_v, goal in rows:
        print(f"| {name:<44} | {app_v:9.3f} | {direct_v:9.3f} | {app_v / direct_v:10.2f} | {goal} |")
    print_gap(app, a.repeats)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--time-scale", type=float, default=1.0)
    ap.add_argument("--users", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--gap-only", action="store_true", help="print only lesson 06's app-to-client gap row")
    asyncio.run(main(ap.parse_args()))
