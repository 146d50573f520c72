"""Load, dropped streams and restarts against the simulator: the shared code behind
tests/integration/test_reliability.py and benchmarks/load_faults.py (which prints the figures).

Every function sends traffic only to the simulator on 127.0.0.1, bounded in count and time.
"""
from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PROMPT = "Explain streaming in detail"


# ---------------------------------------------------------------- load ----

@dataclass
class LoadReport:
    sent: int = 0
    completed: int = 0
    rate_limited: int = 0
    errors_5xx: int = 0
    other: list = field(default_factory=list)      # anything else, with a reason
    latencies_s: list = field(default_factory=list)  # of completed requests
    wall_s: float = 0.0
    rss_baseline_mb: float = 0.0
    rss_peak_mb: float = 0.0
    rss_after_mb: float = 0.0
    server_after: dict = field(default_factory=dict)

    @property
    def lost(self) -> int:
        return self.sent - self.completed - self.rate_limited - self.errors_5xx - len(self.other)

    def pct(self, q: float) -> float:
        if not self.latencies_s:
            return float("nan")
        xs = sorted(self.latencies_s)
        return xs[min(len(xs) - 1, int(round(q / 100 * (len(xs) - 1))))]


def openai_error_shape(body: object) -> bool:
    """{"error": {"message": str, "type": str, "param": ..., "code": ...}}"""
    err = body.get("error") if isinstance(body, dict) else None
    return (isinstance(err, dict) and isinstance(err.get("message"), str) and err["message"] != ""
            and isinstance(err.get("type"), str) and "param" in err and "code" in err)


async def one_stream(client: httpx.AsyncClient, url: str, key: str, max_tokens: int) -> tuple[str, float]:
    """One streamed chat completion; returns (outcome, seconds)."""
    body = {"model": "sim", "messages": [{"role": "user", "content": PROMPT}], "stream": True,
            "max_tokens": max_tokens, "stream_options": {"include_usage": True}}
    t0 = time.perf_counter()
    try:
        async with client.stream("POST", url + "/chat/completions", json=body,
                                 headers={"Authorization": f"Bearer {key}"}) as r:
            if r.status_code == 429:
                data = json.loads(await r.aread())
                ok = openai_error_shape(data) and int(r.headers.get("retry-after", "0")) >= 1
                return ("429" if ok else "bad-429"), time.perf_counter() - t0
            if r.status_code >= 500:
                return "5xx", time.perf_counter() - t0
            if r.status_code != 200:
                return f"http-{r.status_code}", time.perf_counter() - t0
            text, finish, usage, done = [], None, None, False
            async for line in r.aiter_lines():
                if not line.startswith("data: "):
                    continue
                if line == "data: [DONE]":
                    done = True
                    continue
                chunk = json.loads(line[6:])
                for ch in chunk.get("choices", []):
                    text.append(ch["delta"].get("content") or "")
                    finish = ch.get("finish_reason") or finish
                usage = chunk.get("usage") or usage
            complete = done and finish in ("stop", "length") and usage and \
                usage["completion_tokens"] > 0 and "".join(text).strip()
            return ("ok" if complete else "incomplete"), time.perf_counter() - t0
    except (httpx.HTTPError, ValueError, KeyError) as e:
        return f"exc-{type(e).__name__}", time.perf_counter() - t0


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


async def wait_idle(base_url: str, timeout_s: float = 10.0) -> dict:
    """Poll /health until nothing is in flight, queued or holding a slot."""
    root = base_url.rsplit("/v1", 1)[0]
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=5) as c:
        while True:
            h = (await c.get(root + "/health")).json()
            if (h["in_flight"], h["busy_slots"], h["queue_depth"]) == (0, 0, 0) or time.monotonic() > deadline:
                return h
            await asyncio.sleep(0.05)


async def _load(base_url: str, n: int, pid: int | None, max_tokens: int, distinct_keys: bool,
                warmup: int) -> LoadReport:
    rep = LoadReport()
    limits = httpx.Limits(max_connections=n + 8, max_keepalive_connections=n + 8)
    async with httpx.AsyncClient(timeout=httpx.Timeout(60.0), limits=limits) as client:
        if warmup:
            await asyncio.gather(*(one_stream(client, base_url, "warm", max_tokens) for _ in range(warmup)))
            await wait_idle(base_url)
            await asyncio.sleep(0.5)
        if pid:
            rep.rss_baseline_mb = rep.rss_peak_mb = rss_mb(pid)
        httpx.post(base_url + "/sim/stats/reset", json={}, timeout=5)
        stop = asyncio.Event()

        async def sample() -> None:
            while not stop.is_set():
                rep.rss_peak_mb = max(rep.rss_peak_mb, rss_mb(pid))
                await asyncio.sleep(0.02)

        sampler = asyncio.ensure_future(sample()) if pid else None
        t0 = time.perf_counter()
        keys = [f"load-{i}" if distinct_keys else "load" for i in range(n)]
        rep.sent = n
        results = await asyncio.wait_for(
            asyncio.gather(*(one_stream(client, base_url, k, max_tokens) for k in keys)), timeout=180)
        rep.wall_s = time.perf_counter() - t0
        stop.set()
        if sampler:
            await sampler
    for outcome, dt in results:
        if outcome == "ok":
            rep.completed += 1
            rep.latencies_s.append(dt)
        elif outcome == "429":
            rep.rate_limited += 1
        elif outcome == "5xx":
            rep.errors_5xx += 1
        else:
            rep.other.append(outcome)
    await wait_idle(base_url)
    rep.server_after = httpx.get(base_url + "/sim/stats", timeout=5).json()
    if pid:
        await asyncio.sleep(1.0)
        rep.rss_after_mb = rss_mb(pid)
    return rep


def run_load(srv, n: int = 256, max_tokens: int = 64, distinct_keys: bool = False,
             warmup: int = 64) -> LoadReport:
    """n concurrent streams against a running SimServer (fresh event loop)."""
    return asyncio.run(_load(srv.base_url, n, srv.pid, max_tokens, distinct_keys, warmup))


# -------------------------------------------------------------- faults ----

async def _drops(base_url: str, n_mid: int, n_queued: int, max_tokens: int) -> dict:
    """n_mid clients read 3 SSE lines then hang up; n_queued give up before any byte."""
    body = {"model": "sim", "messages": [{"role": "user", "content": PROMPT}], "stream": True,
            "max_tokens": max_tokens}
    got_lines = []

    async def mid(client):
        async with client.stream("POST", base_url + "/chat/completions", json=body) as r:
            k = 0
            async for line in r.aiter_lines():
                k += line.startswith("data: ")
                if k >= 3:
                    break
            got_lines.append(k)

    async def queued(client):
        try:
            async with client.stream("POST", base_url + "/chat/completions", json=body,
                                     timeout=httpx.Timeout(60.0, read=0.05)):
                pass
        except httpx.ReadTimeout:
            pass

    limits = httpx.Limits(max_connections=n_mid + n_queued + 4)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        httpx.post(base_url + "/sim/stats/reset", json={}, timeout=5)
        jobs = [mid(client) for _ in range(n_mid)] + [queued(client) for _ in range(n_queued)]
        await asyncio.wait_for(asyncio.gather(*jobs), timeout=60)
    t0 = time.perf_counter()
    health = await wait_idle(base_url, timeout_s=5)
    settle = time.perf_counter() - t0
    stats = httpx.get(base_url + "/sim/stats", timeout=5).json()
    return {"health": health, "settle_s": settle, "cancelled": stats["cancelled"],
            "completed": stats["completed"], "requests_total": stats["requests_total"],
            "errors_5xx": stats["errors_5xx"], "clients_got_3_lines": sum(k >= 3 for k in got_lines)}


def run_drops(srv, n_mid: int = 100, n_queued: int = 20, max_tokens: int = 400) -> dict:
    return asyncio.run(_drops(srv.base_url, n_mid, n_queued, max_tokens))


KILL_CELLS = [
    "from helpers import chat_model\nllm = chat_model(timeout=5)",
    "print(llm.invoke('Explain streaming in one sentence').content[:40])",
    "import os, signal, time\nfrom helpers import start_simulator\n"
    "os.kill(start_simulator().pid, signal.SIGKILL); time.sleep(0.3)",
    "print(llm.invoke('Explain streaming in one sentence').content[:40])",
    "print(llm.invoke('Explain streaming in one sentence').content[:40])",
]


def kernel_env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "OPENAI_"))}
    env.update(LLM_BACKEND="sim", LLM_SIM_TIME_SCALE="0.1", COURSE_PROGRESS="off", MPLBACKEND="Agg",
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.update(extra)
    return env


def run_cells(cells: list[str], env: dict, raises: set[int] = frozenset(), timeout: int = 60):
    """Execute code cells in a fresh python3 kernel; returns (notebook, seconds per cell, total)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    for i, src in enumerate(cells):
        c = nbformat.v4.new_code_cell(src)
        if i in raises:
            c.metadata["tags"] = ["raises-exception"]
        nb.cells.append(c)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT / "notebooks")}})
    per_cell, t_all = [], time.perf_counter()
    with client.setup_kernel(env=env):
        for i, cell in enumerate(nb.cells):
            t = time.perf_counter()
            client.execute_cell(cell, i)
            per_cell.append(time.perf_counter() - t)
    return nb, per_cell, time.perf_counter() - t_all


def cell_text(cell, name: str | None = None) -> str:
    """All text a cell showed (stream `name` only, if given)."""
    out = []
    for o in cell.get("outputs", []):
        if o["output_type"] == "stream" and (name is None or o["name"] == name):
            out.append(o["text"])
        elif name is None and o["output_type"] in ("execute_result", "display_data"):
            out.append(o["data"].get("text/plain", ""))
        elif name is None and o["output_type"] == "error":
            out.append("\n".join(o["traceback"]))
    return "".join(out)


def kill_and_restart() -> dict:
    nb, per_cell, total = run_cells(KILL_CELLS, kernel_env(), raises={3})
    return {"cells": nb.cells, "per_cell_s": per_cell, "total_s": total}


def unreachable() -> dict:
    """Time to a one-line error for LLM_BACKEND=compatible at a closed port."""
    from helpers import backends
    from helpers.explain import explain

    saved = {k: os.environ.get(k) for k in ("LLM_BACKEND", "LLM_BASE_URL", "LLM_MODEL")}
    os.environ.update(LLM_BACKEND="compatible", LLM_BASE_URL="http://127.0.0.1:9/v1", LLM_MODEL="any")
    try:
        res = {}
        t = time.perf_counter()
        try:
            backends.chat_model(timeout=5)
        except Exception as e:  # BackendError from the reachability check
            res["check"] = (time.perf_counter() - t, type(e).__name__, explain(e))
        llm = backends.chat_model(timeout=5, check=False)  # defaults: max_retries=2
        t = time.perf_counter()
        try:
            llm.invoke("hi")
        except Exception as e:  # openai.APIConnectionError after the SDK's retries
            res["invoke"] = (time.perf_counter() - t, type(e).__name__, explain(e))
        return res
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


# ---------------------------------------------------------------- main ----
