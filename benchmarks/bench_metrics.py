"""Glass-box benchmark: does the simulator's GET /metrics agree with what the client measured?

    .venv/bin/python benchmarks/bench_metrics.py         # about 30 s on 2 cores

For each setting, one run of N streams through ChatOpenAI (`run_streams`), with /metrics read
before and after it (`helpers.lessons.glass_box`, the code lesson 04b's cell uses). Printed as
ratios, server / client, from that same run:

- TTFT p50: the server's histogram (vLLM's buckets, interpolated as PromQL's
  histogram_quantile does) / the client's own p50. A histogram keeps counts per bucket, not
  values, so this estimate can land anywhere inside the bucket that holds the median: its
  precision is the bucket's width, not the server's clock. So two more columns: whether the
  client's p50 lies inside the server's p50 bucket, and the ratio of the *means*, which the
  histogram's sum/count gives exactly (no bucket error; what remains is the network + client
  time outside the server, always on the client's side).
- tokens: vllm:generation_tokens_total gained / the sum of the streams' usage.
- requests: vllm:request_success_total (stop + length) gained / the client's successes.
Goal: counts exact (1.000); TTFT mean ratio 1.00 +- 0.05.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from langchain_openai import ChatOpenAI

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from helpers.backends import Backend  # noqa: E402
from helpers.backends.simulator import start_simulator  # noqa: E402
from helpers.lessons.glass_box import compare, read_metrics  # noqa: E402
from helpers.metrics_live import run_streams  # noqa: E402

SETTINGS = [  # (profile, time scale, streams, max_concurrency, max_tokens)
    ("hosted-small", 1.0, 24, 1, 16),
    ("hosted-small", 1.0, 48, 8, 16),
    ("hosted-small", 1.0, 48, 24, 16),   # 16 slots: 8 streams wait, and their TTFT holds queue time
    ("hosted-large", 1.0, 24, 8, 16),
    ("hosted-small", 0.1, 48, 8, 16),    # the tests' time scale: TTFT ~36 ms, overhead weighs more
]


def one_run(profile: str, scale: float, n: int, conc: int, max_tokens: int) -> dict:
    srv = start_simulator(profile, time_scale=scale, seed=0)
    b = Backend("sim", srv.base_url, "sim", "bench")
    llm = ChatOpenAI(base_url=srv.base_url, api_key="bench", model="sim", temperature=0, timeout=60,
                     max_retries=0, stream_usage=True, max_tokens=max_tokens)
    llm.invoke("warm up")
    before = read_metrics(b)
    run = run_streams(llm, [f"Explain batching, case {i}" for i in range(n)], max_concurrency=conc)
    after = read_metrics(b)
    return compare(run.records, before, after)


def main() -> None:
    print(f"load average before the run (2 cores here): {os.getloadavg()[0]:.1f}\n")
    print("| profile, time scale | streams, in flight | client TTFT p50 | server p50 (its bucket) "
          "| p50 ratio | client p50 in bucket | mean ratio | tokens ratio | requests ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    for profile, scale, n, conc, max_tokens in SETTINGS:
        c = one_run(profile, scale, n, conc, max_tokens)
        lo, hi = c["server_ttft_bucket_s"]
        inside = lo < c["client_ttft_p50_s"] <= hi
        print(f"| {profile}, {scale:g} | {n}, {conc} | {c['client_ttft_p50_s'] * 1000:.1f} ms "
              f"| {c['server_ttft_p50_s'] * 1000:.1f} ms ({lo * 1000:g}-{hi * 1000:g} ms) "
              f"| {c['ratio_ttft_p50']:.3f} | {'yes' if inside else 'no'} | {c['ratio_ttft_mean']:.3f} "
              f"| {c['ratio_tokens']:.3f} ({c['server_generation_tokens']:g}/{c['client_usage_tokens']}) "
              f"| {c['ratio_requests']:.3f} ({c['server_requests']:g}/{c['client_requests']}) |")


if __name__ == "__main__":
    main()
