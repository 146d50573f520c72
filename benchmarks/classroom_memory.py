"""Memory after 20,000 distinct names: do the server's per-key tables stay bounded?

    .venv/bin/python benchmarks/classroom_memory.py            # about a minute or two
    .venv/bin/python benchmarks/classroom_memory.py --names 5000

Two servers, one after the other (time scale 0.01, so answers are quick):

* open mode (no class token): every request carries a different API key, as a
  script looping over made-up keys would. Each key gets a counter row and rate-limit
  windows; the server keeps at most state.MAX_KEYS rows and prunes idle ones.
* classroom mode: every request carries a different name `TOKEN:nameN` from this
  machine (127.0.0.1 has no per-address cap): at most 500 names are let in, the rest
  get 403 and leave nothing behind.

For each it prints the server's resident memory (RSS) after a warm-up of 500
requests from one key (the baseline) and after the distinct names, side by side,
with the per-key rows the server holds. Exit status 1 if the growth is above the
stated bound (BOUND_MB).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
TOKEN, DASH = "mem-class-token", "mem-dash-token"
BOUND_MB = 15.0   # growth allowed after the names, over the warmed-up baseline
CHAT = {"model": "sim", "messages": [{"role": "user", "content": "Explain batching"}], "max_tokens": 1}


def start(classroom: bool) -> tuple[subprocess.Popen, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLM_")}
    if classroom:
        env |= {"LLM_CLASS_TOKEN": TOKEN, "LLM_DASHBOARD_TOKEN": DASH}
    proc = subprocess.Popen([sys.executable, "-m", "helpers.llm_server", "--port", "0", "--time-scale", "0.01",
                             "--slots", "64", "--queue-limit", "1000", "--rpm", "0", "--tpm", "0"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    url = proc.stdout.readline().strip()
    if not url.startswith("http"):
        proc.kill()
        sys.exit("the server did not start")
    return proc, url


async def send(url: str, keys: list[str], concurrency: int = 32) -> dict[int, int]:
    codes: dict[int, int] = {}
    todo = iter(keys)
    async with httpx.AsyncClient(base_url=url, timeout=60,
                                 limits=httpx.Limits(max_connections=concurrency)) as c:
        async def worker():
            for k in todo:
                r = await c.post("/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {k}"})
                codes[r.status_code] = codes.get(r.status_code, 0) + 1
        await asyncio.gather(*[worker() for _ in range(concurrency)])
    return codes


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


def rows(url: str, classroom: bool) -> int:
    h = {"Authorization": f"Bearer {DASH}"} if classroom else {}
    if classroom:
        return len(httpx.get(url + "/sim/classroom/names", headers=h, timeout=10).json()["names"])
    return len(httpx.get(url + "/sim/stats", headers=h, timeout=10).json()["by_key"])


def one(classroom: bool, n: int) -> dict:
    proc, url = start(classroom)
    try:
        prefix = f"{TOKEN}:" if classroom else "sk-made-up-"
        asyncio.run(send(url, [prefix + "warmup"] * 500))
        base = rss_mb(proc.pid)
        codes = asyncio.run(send(url, [f"{prefix}name{i}" for i in range(n)]))
        after = rss_mb(proc.pid)
        return {"mode": "classroom" if classroom else "open", "baseline": base, "after": after,
                "rows": rows(url, classroom), "codes": codes}
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--names", type=int, default=20_000)
    args = ap.parse_args()
    print(f"| mode | RSS baseline (MB) | RSS after {args.names:,} names (MB) | growth (MB) | bound (MB) "
          "| rows kept | answers |")
    print("|---|---:|---:|---:|---:|---:|---|")
    ok = True
    for classroom in (False, True):
        r = one(classroom, args.names)
        growth = r["after"] - r["baseline"]
        ok &= growth <= BOUND_MB
        codes = ", ".join(f"{n:,}x {c}" for c, n in sorted(r["codes"].items()))
        print(f"| {r['mode']} | {r['baseline']:.1f} | {r['after']:.1f} | {growth:+.1f} | {BOUND_MB:.0f} "
              f"| {r['rows']:,} | {codes} |", flush=True)
    print("\nwithin the bound" if ok else "\nABOVE THE BOUND")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
