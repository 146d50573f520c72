"""A class of 30 on one classroom server: do the per-student limits protect the room?

    .venv/bin/python benchmarks/classroom_load.py            # two runs, well under a minute
    .venv/bin/python benchmarks/classroom_load.py --once     # only the run with the defaults
    .venv/bin/python benchmarks/classroom_load.py --screenshot artifacts/class30.png
    .venv/bin/python benchmarks/classroom_load.py --hostile   # quiet room vs hostile room only

One server (`python -m helpers.llm_server --class-token ... --slots 16`, classroom
defaults: 60 requests/min, 40,000 tokens/min and 8 in flight per student), and 30
students at once, each with its own key `TOKEN:name` and its own ChatOpenAI
(max_retries=0), running the batch lesson's workload: 12 one-sentence prompts with
`batch(max_concurrency=4)`. Three "greedy" students send 60 prompts with
max_concurrency=32 instead.

It prints a per-student table (requests, ok, 429s, p50/p95 latency of the answers)
and totals, then runs the same class once more without the in-flight cap, to show
what the cap buys the well-behaved students. Exit status 1 if a well-behaved student
saw a 429 or any request failed for another reason.

Then the hostile room (issue 16): the 30 students, all well-behaved, once alone (a
quiet room) and once beside one hostile student ("mallory", from another address,
127.0.0.2) who holds 500 slow connections (half trickle a request head, half a body,
one byte every 2 s; each one the server closes is reopened 2 s later) and sends
embeddings requests at 10 per second, half oversized (2048 inputs x 4096 dimensions,
a 400) and half the largest allowed (128 x 1024). It prints the well-behaved
students' p50/p95 in both rooms, side by side. Goal: within 1.25x, no errors.
(A student flooding tiny requests as fast as their laptop can is not modelled: the
per-student limits answer those with cheap 429s, but an HTTP server cannot refuse
work it has not read.)
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from langchain_openai import ChatOpenAI

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from helpers.lessons.batch_lab import make_prompts  # noqa: E402
from helpers.timing import BatchResult, measure_batch  # noqa: E402

TOKEN, DASH = "bench-class-token", "bench-dashboard-token"


def start_server(time_scale: float, slots: int, extra: list[str]) -> tuple[subprocess.Popen, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLM_")}
    env |= {"LLM_CLASS_TOKEN": TOKEN, "LLM_DASHBOARD_TOKEN": DASH}   # not on argv (ps)
    proc = subprocess.Popen([sys.executable, "-m", "helpers.llm_server", "--port", "0",
                             "--slots", str(slots), "--time-scale", str(time_scale), *extra],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    url = proc.stdout.readline().strip()
    if not url.startswith("http"):
        proc.kill()
        sys.exit("the classroom server did not start")
    return proc, url


def student(url: str, name: str, n_prompts: int, concurrency: int) -> BatchResult:
    llm = ChatOpenAI(base_url=url, api_key=f"{TOKEN}:{name}", model="sim", temperature=0,
                     timeout=120, max_retries=0)
    prompts = [f"{p} [{name}]" for p in make_prompts(n_prompts, mixed=False)]
    return measure_batch(llm, prompts, max_concurrency=concurrency)


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def run_class(url: str, n_students: int, n_greedy: int, screenshot: str | None) -> dict[str, BatchResult]:
    names = [f"greedy{i + 1}" for i in range(n_greedy)] + \
            [f"student{i + 1:02d}" for i in range(n_students - n_greedy)]
    shot = threading.Thread(target=take_screenshot, args=(url, screenshot), daemon=True) if screenshot else None
    if shot:
        shot.start()
    with ThreadPoolExecutor(len(names)) as pool:
        futs = {n: pool.submit(student, url, n, 60 if n.startswith("greedy") else 12,
                               32 if n.startswith("greedy") else 4) for n in names}
        results = {n: f.result() for n, f in futs.items()}
    if shot:
        shot.join(timeout=30)
    return results


def take_screenshot(url: str, path: str) -> None:
    """The dashboard as the room would see it, a little while into the run."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium",
                              args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                                    "--no-first-run", "--disable-background-networking",
                                    "--disable-component-update", "--disable-sync"])
        page = b.new_page(viewport={"width": 1920, "height": 1080})
        page.goto(url[:-3] + "/dashboard#token=" + DASH)
        page.wait_for_selector("#students table", timeout=20_000)
        time.sleep(2.5)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=path)
        b.close()


def report(title: str, results: dict[str, BatchResult], room: dict) -> tuple[bool, dict]:
    print(f"\n## {title}\n")
    print("| student | requests | ok | 429s | other errors | p50 (s) | p95 (s) | server 429s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    server_429 = {s["name"]: s["rejected_429"] for s in room["students"]}
    ok, group = True, {"well-behaved": [], "greedy": []}
    tot = dict(requests=0, ok=0, r429=0, other=0)
    for name, r in results.items():
        lat = [q.latency_s for q in r.requests if q.ok]
        n_ok, n429 = sum(q.ok for q in r.requests), r.n_rate_limited
        other = r.n_errors - n429
        greedy = name.startswith("greedy")
        group["greedy" if greedy else "well-behaved"] += lat
        for k, v in (("requests", len(r.requests)), ("ok", n_ok), ("r429", n429), ("other", other)):
            tot[k] += v
        flag = ""
        if other or (n429 and not greedy):
            ok, flag = False, "  <-- FAIL"
        print(f"| {name} | {len(r.requests)} | {n_ok} | {n429} | {other} | {pct(lat, .5):.2f} | "
              f"{pct(lat, .95):.2f} | {server_429.get(name, 0)} |{flag}")
    print(f"| **total** | {tot['requests']} | {tot['ok']} | {tot['r429']} | {tot['other']} | | | "
          f"{room['totals']['rejected_429']} |")
    wb = group["well-behaved"]
    summary = {"wb_p50": pct(wb, .5), "wb_p95": pct(wb, .95), "peak_in_flight": room["totals"]["peak_in_flight"],
               "peak_queue": room["totals"]["peak_queue_depth"], "greedy_ok": len(group["greedy"])}
    print(f"\nwell-behaved answers: p50 {summary['wb_p50']:.2f} s, p95 {summary['wb_p95']:.2f} s | "
          f"greedy answers: {summary['greedy_ok']} | server peak in flight {summary['peak_in_flight']}, "
          f"peak queue {summary['peak_queue']} | 429s only for greedy students: {'yes' if ok else 'NO'}")
    return ok, summary


def one_run(title: str, args, extra: list[str]) -> tuple[bool, dict, float]:
    proc, url = start_server(args.time_scale, args.slots, extra)
    try:
        t0 = time.perf_counter()
        results = run_class(url, args.students, args.greedy, args.screenshot if not extra else None)
        wall = time.perf_counter() - t0
        room = httpx.get(url + "/sim/classroom", headers={"Authorization": f"Bearer {DASH}"}, timeout=10).json()
    finally:
        proc.terminate()
        proc.wait(timeout=5)
    ok, summary = report(f"{title} ({wall:.1f} s wall, time scale {args.time_scale})", results, room)
    return ok, summary, wall


# ---------------------------------------------------------------- the hostile room

async def hostile(url: str, n_slow: int, seconds: float, source: str = "127.0.0.2") -> dict:
    """One hostile student (see the module docstring); returns what happened to them."""
    host, port = url.split("//")[1].split("/")[0].rsplit(":", 1)
    st = dict.fromkeys(["opened", "closed_by_server", "refused", "emb_200", "emb_400", "emb_429", "emb_other"], 0)
    stop = asyncio.get_running_loop().time() + seconds

    async def slow(i: int) -> None:
        head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
        if i % 2:   # a whole head (with her key), then a body that never ends
            head += (f"Authorization: Bearer {TOKEN}:mallory\r\nContent-Type: application/json\r\n"
                     "Content-Length: 100000\r\n\r\n{").encode()
        while asyncio.get_running_loop().time() < stop:
            try:
                r, w = await asyncio.open_connection(host, int(port), local_addr=(source, 0))
                st["opened"] += 1
                w.write(head)
                while asyncio.get_running_loop().time() < stop:
                    try:
                        if await asyncio.wait_for(r.read(1), 2.0) == b"":
                            st["closed_by_server"] += 1
                            break
                    except TimeoutError:
                        w.write(b"a" if i % 2 else b"X")   # one more byte, never the end
                w.close()
            except (ConnectionError, OSError):
                st["refused"] += 1
            await asyncio.sleep(2.0)

    async def embeddings(c: httpx.AsyncClient) -> None:
        big = {"model": "sim", "input": ["a b"] * 2048, "dimensions": 4096}
        largest = {"model": "sim", "input": ["a b c d"] * 128, "dimensions": 1024}
        n = 0
        while asyncio.get_running_loop().time() < stop:
            n += 1
            try:
                r = await c.post("/embeddings", json=big if n % 2 else largest)
                k = {200: "emb_200", 400: "emb_400", 429: "emb_429"}.get(r.status_code, "emb_other")
                st[k] += 1
            except httpx.HTTPError:
                st["emb_other"] += 1
            await asyncio.sleep(0.1)   # 10 a second

    async def report() -> None:   # the parent stops this process and reads the last line
        while asyncio.get_running_loop().time() < stop:
            print(json.dumps(st), flush=True)
            await asyncio.sleep(1.0)

    transport = httpx.AsyncHTTPTransport(local_address=source)
    async with httpx.AsyncClient(base_url=url, transport=transport, timeout=60,   # her second name
                                 headers={"Authorization": f"Bearer {TOKEN}:mallory2"}) as c:
        await c.get("/models")   # her API connection first (then kept alive)
        await asyncio.gather(*[slow(i) for i in range(n_slow)], embeddings(c), report())
    return st


def hostile_process(url: str, n_slow: int, seconds: float) -> subprocess.Popen:
    """The hostile student in their own process (as on their own laptop)."""
    return subprocess.Popen([sys.executable, __file__, "--hostile-client", url, str(n_slow), str(seconds)],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)


def well_behaved(results: dict[str, BatchResult]) -> dict:
    lat = [q.latency_s for r in results.values() for q in r.requests if q.ok]
    errors = sum(r.n_errors for r in results.values())
    return {"p50": pct(lat, .5), "p95": pct(lat, .95), "ok": len(lat), "errors": errors}


def hostile_room(args) -> bool:
    """Quiet, hostile, hostile, quiet (so a machine that gets busier or quieter during the
    run does not favour either room); each room's latencies are pooled over its two runs."""
    runs = []
    for room in ("quiet", "hostile", "hostile", "quiet"):
        proc, url = start_server(args.time_scale, args.slots, [])
        bad = None
        try:
            if room == "hostile":
                bad = hostile_process(url, 500, 600)
                root = url[:-3]
                # wait until mallory holds her connections (the server's own count)
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    names = httpx.get(url + "/sim/classroom/names", timeout=10,
                                      headers={"Authorization": f"Bearer {DASH}"}).json()["names"]
                    if any(n["name"] == "mallory" for n in names):
                        break
                    time.sleep(0.2)
                time.sleep(3)   # her 500 connections are open or refused by now
                httpx.get(root + "/health", timeout=10)
            t0 = time.perf_counter()
            results = run_class(url, args.students, 0, None)
            wall = time.perf_counter() - t0
        finally:
            if bad:
                bad.terminate()
                out, _ = bad.communicate(timeout=30)
            proc.terminate()
            proc.wait(timeout=15)
        runs.append((room, results, wall, json.loads(out.strip().splitlines()[-1]) if bad and out.strip() else {}))
    rows = {}
    for room in ("quiet", "hostile"):
        mine = [r for r in runs if r[0] == room]
        pooled = {f"{i}-{n}": br for i, r in enumerate(mine) for n, br in r[1].items()}
        rows[room] = {**well_behaved(pooled), "wall": sum(r[2] for r in mine)}
        rows[room]["mallory"] = {k: sum(r[3].get(k, 0) for r in mine) for k in (mine[0][3] or {})}
    q, h = rows["quiet"], rows["hostile"]
    print(f"\n## quiet room vs hostile room ({args.students} well-behaved students, {args.slots} slots, "
          f"time scale {args.time_scale}; two runs of each room, order quiet-hostile-hostile-quiet)\n")
    print("| room | answers | errors | p50 (s) | p95 (s) | wall (s) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in (("quiet", q), ("hostile: + mallory", h)):
        print(f"| {name} | {r['ok']} | {r['errors']} | {r['p50']:.2f} | {r['p95']:.2f} | {r['wall']:.1f} |")
    r50, r95 = h["p50"] / q["p50"], h["p95"] / q["p95"]
    print(f"| hostile / quiet | | | {r50:.2f}x | {r95:.2f}x | |")
    m = h.get("mallory", {})
    print(f"\nmallory: {m.get('opened', 0)} connections opened, {m.get('closed_by_server', 0)} closed by the "
          f"server's deadlines, {m.get('refused', 0)} refused; embeddings: {m.get('emb_400', 0)} x 400 (too big), "
          f"{m.get('emb_200', 0)} x 200, {m.get('emb_429', 0)} x 429, {m.get('emb_other', 0)} other")
    ok = h["errors"] == 0 and q["errors"] == 0 and r50 <= 1.25 and r95 <= 1.25
    print(f"goal (within 1.25x, no errors for the well-behaved): {'met' if ok else 'NOT MET'}")
    return ok


def main() -> int:
    if len(sys.argv) == 5 and sys.argv[1] == "--hostile-client":
        asyncio.run(hostile(sys.argv[2], int(sys.argv[3]), float(sys.argv[4])))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--students", type=int, default=30)
    ap.add_argument("--greedy", type=int, default=3)
    ap.add_argument("--slots", type=int, default=16)
    ap.add_argument("--time-scale", type=float, default=0.25)
    ap.add_argument("--once", action="store_true", help="skip the run without the in-flight cap")
    ap.add_argument("--screenshot", help="save the dashboard (needs /usr/bin/chromium) to this PNG")
    ap.add_argument("--hostile", action="store_true", help="only the quiet room vs the hostile room")
    args = ap.parse_args()
    if args.hostile:
        return 0 if hostile_room(args) else 1
    ok, capped, _ = one_run("classroom defaults: 60 rpm, 40k tpm, 8 in flight per student", args, [])
    if not args.once:
        ok2, free, _ = one_run("same class, no in-flight cap (--max-inflight-per-student 0)", args,
                               ["--max-inflight-per-student", "0"])
        ok = ok and ok2
        print(f"\n## what the cap buys the well-behaved students\n\n"
              f"p50 {free['wb_p50']:.2f} s -> {capped['wb_p50']:.2f} s, p95 {free['wb_p95']:.2f} s -> "
              f"{capped['wb_p95']:.2f} s, server peak in flight {free['peak_in_flight']} -> "
              f"{capped['peak_in_flight']} (no cap -> cap of 8)")
    ok = hostile_room(args) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
