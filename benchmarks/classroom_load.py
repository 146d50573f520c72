"""A class of 30 on one classroom server: do the per-student limits protect the room?

    .venv/bin/python benchmarks/classroom_load.py            # two runs, well under a minute
    .venv/bin/python benchmarks/classroom_load.py --once     # only the run with the defaults
    .venv/bin/python benchmarks/classroom_load.py --screenshot artifacts/class30.png

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
"""
from __future__ import annotations

import argparse
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
    proc = subprocess.Popen([sys.executable, "-m", "helpers.llm_server", "--port", "0",
                             "--class-token", TOKEN, "--dashboard-token", DASH, "--slots", str(slots),
                             "--time-scale", str(time_scale), *extra],
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--students", type=int, default=30)
    ap.add_argument("--greedy", type=int, default=3)
    ap.add_argument("--slots", type=int, default=16)
    ap.add_argument("--time-scale", type=float, default=0.25)
    ap.add_argument("--once", action="store_true", help="skip the run without the in-flight cap")
    ap.add_argument("--screenshot", help="save the dashboard (needs /usr/bin/chromium) to this PNG")
    args = ap.parse_args()
    ok, capped, _ = one_run("classroom defaults: 60 rpm, 40k tpm, 8 in flight per student", args, [])
    if not args.once:
        ok2, free, _ = one_run("same class, no in-flight cap (--max-inflight-per-student 0)", args,
                               ["--max-inflight-per-student", "0"])
        ok = ok and ok2
        print(f"\n## what the cap buys the well-behaved students\n\n"
              f"p50 {free['wb_p50']:.2f} s -> {capped['wb_p50']:.2f} s, p95 {free['wb_p95']:.2f} s -> "
              f"{capped['wb_p95']:.2f} s, server peak in flight {free['peak_in_flight']} -> "
              f"{capped['peak_in_flight']} (no cap -> cap of 8)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
