"""Load and fault figures for the simulator, as markdown tables.

    .venv/bin/python benchmarks/load_faults.py          # about a minute on 2 cores

(a) load: 256 concurrent streaming requests (raw httpx, one event loop) against the
    default profile (hosted-small: 16 slots, queue 256) with per-key limits off, and
    again with queue_limit=64 so that the queue overflows into 429s. Every request
    must end as a complete answer or an OpenAI-shaped 429 with Retry-After:
    sent = completed + 429, no 5xx, none lost. Server RSS (psutil) at baseline
    (after a warm-up), peak (sampled during the run) and after.
(b) faults: 100 clients that drop mid-stream (and 20 that give up while queued),
    then the server's own counters once they settle; a simulator SIGKILLed under a
    Jupyter kernel and picked up by the next cell; an unreachable backend.

tests/integration/test_reliability.py uses the same functions and asserts on the counts.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import os

from support.loadgen import cell_text, kill_and_restart, run_drops, run_load, unreachable  # the tests' code


def main() -> None:
    from helpers.backends.simulator import start_simulator, stop_simulators

    scale = 0.1
    print(f"# Simulator load and faults (hosted-small, time scale {scale}, {os.cpu_count()} CPUs)\n")
    print("## Load: 256 concurrent streams (max_tokens 64)\n")
    print("| run | sent | completed | 429 | 5xx | other | lost | p50 (s) | p95 (s) | wall (s) "
          "| server peak in flight / queued | RSS baseline / peak / after (MB) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    runs = [("queue 256, limits off (warm-up: one run of 256)", dict(rpm=0, tpm=0), {"warmup": 256}),
            ("same server, next run", dict(rpm=0, tpm=0), {"warmup": 0}),
            ("queue 64: overflow (max_tokens 200)", dict(rpm=0, tpm=0, queue_limit=64),
             {"max_tokens": 200, "warmup": 64}),
            ("default limits (rpm 600/key), 256 distinct keys", {}, {"distinct_keys": True})]
    for name, cli, kw in runs:
        srv = start_simulator(time_scale=scale, seed=0, **cli)
        r = run_load(srv, **kw)
        print(f"| {name} | {r.sent} | {r.completed} | {r.rate_limited} | {r.errors_5xx} | "
              f"{len(r.other)} | {r.lost} | {r.pct(50):.2f} | {r.pct(95):.2f} | {r.wall_s:.1f} | "
              f"{r.server_after['peak_in_flight']} / {r.server_after['peak_queue_depth']} | "
              f"{r.rss_baseline_mb:.1f} / {r.rss_peak_mb:.1f} / {r.rss_after_mb:.1f} |")

    print("\n## Faults\n")
    print("| fault | figure |\n|---|---|")
    srv = start_simulator(time_scale=scale, seed=0, rpm=0, tpm=0)
    d = run_drops(srv)
    h = d["health"]
    print(f"| 100 clients drop after 3 SSE lines + 20 give up while queued | settled in {d['settle_s']:.2f} s: "
          f"busy_slots {h['busy_slots']}, queue_depth {h['queue_depth']}, in_flight {h['in_flight']}, "
          f"cancelled {d['cancelled']}/{d['requests_total']}, completed {d['completed']}, 5xx {d['errors_5xx']} |")
    k = kill_and_restart()
    c4 = cell_text(k["cells"][3], "stderr").strip()
    c5 = cell_text(k["cells"][4]).strip()
    print(f"| SIGKILL simulator under a kernel: cell 4 | {k['per_cell_s'][3]:.1f} s, "
          f"{len(c4.splitlines())} line: `{c4}` |")
    print(f"| cell 5 (run again) | {k['per_cell_s'][4]:.2f} s: `{c5}` (whole notebook {k['total_s']:.1f} s) |")
    u = unreachable()
    for which, label in (("check", "chat_model() at 127.0.0.1:9 (reachability check)"),
                         ("invoke", "chat_model(check=False).invoke (SDK's 2 retries)")):
        if which in u:
            s, typ, line = u[which]
            print(f"| {label} | {s:.2f} s, {typ}: `{line}` |")
    stop_simulators()


if __name__ == "__main__":
    main()
