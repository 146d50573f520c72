"""Reliability under load and faults: the simulator over real loopback HTTP.

The same functions (tests/support/loadgen.py) print the figures in benchmarks/load_faults.py. Timings on a
shared 2-core machine are noisy, so these tests assert outcomes and counts: every
request ends as a complete answer or an OpenAI-shaped 429, nothing is lost, the
server's counters come back to zero, and a fault ends in one line, not a hang.
"""
import asyncio
import time

import httpx
import pytest
from support.loadgen import cell_text, kernel_env, kill_and_restart, run_cells, run_load

from helpers.backends.simulator import start_simulator

SCALE = 0.1  # the course's test time scale


def test_256_concurrent_streams_all_complete_and_memory_returns():
    srv = start_simulator(time_scale=SCALE, seed=0, rpm=0, tpm=0)  # limits off: the point is load
    r = run_load(srv, n=256, max_tokens=128, warmup=256)  # baseline after one full-size warm-up run
    assert (r.sent, r.completed, r.rate_limited, r.errors_5xx, r.other) == (256, 256, 0, 0, [])
    assert r.lost == 0
    st = r.server_after
    assert st["completed"] == 256 and st["requests_total"] == 256 and st["errors_5xx"] == 0
    assert (st["in_flight"], st["busy_slots"], st["queue_depth"]) == (0, 0, 0)
    assert st["peak_in_flight"] > 16 and st["peak_queue_depth"] > 0  # it was saturated: requests queued
    assert r.pct(50) <= r.pct(95) < 60
    # RSS: the peak may rise, but it comes back near the warmed-up baseline (no leak per request)
    assert r.rss_after_mb <= r.rss_baseline_mb + 15, (r.rss_baseline_mb, r.rss_peak_mb, r.rss_after_mb)
    print(f"\nload: p50 {r.pct(50):.2f}s p95 {r.pct(95):.2f}s, peak in flight {st['peak_in_flight']}, "
          f"RSS {r.rss_baseline_mb:.1f}/{r.rss_peak_mb:.1f}/{r.rss_after_mb:.1f} MB")


def test_queue_overflow_gives_openai_429s_and_loses_nothing():
    srv = start_simulator(time_scale=SCALE, seed=0, rpm=0, tpm=0, queue_limit=64)
    r = run_load(srv, n=256, max_tokens=200, warmup=0)
    assert r.errors_5xx == 0 and r.other == [] and r.lost == 0
    assert r.completed + r.rate_limited == r.sent == 256
    assert r.rate_limited > 0 and r.completed >= 16 + 64  # slots + queue always get through
    st = r.server_after
    assert st["rejected_429"] == r.rate_limited and st["completed"] == r.completed
    assert st["peak_queue_depth"] == 64
    assert (st["in_flight"], st["busy_slots"], st["queue_depth"]) == (0, 0, 0)


def test_distinct_keys_under_default_limits():
    """Default profile limits (rpm 600/key): 64 keys at once all get through."""
    srv = start_simulator(time_scale=SCALE, seed=0, slots=16)
    r = run_load(srv, n=64, max_tokens=32, distinct_keys=True, warmup=0)
    assert (r.completed, r.rate_limited, r.errors_5xx, r.lost) == (64, 0, 0, 0)
    assert len(r.server_after["by_key"]) == 64


async def _until(base_url: str, ok, what: str, timeout_s: float = 60.0) -> dict:
    """Poll /v1/sim/stats until ok(stats): waits for events, not for time (the timeout
    only turns a hang into a failure)."""
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=10) as c:
        while True:
            st = (await c.get(base_url + "/sim/stats")).json()
            if ok(st):
                return st
            assert time.monotonic() < deadline, f"waited {timeout_s} s for {what}: {st}"
            await asyncio.sleep(0.01)


async def _drops(base_url: str, n_mid: int, n_queued: int, slots: int) -> dict:
    """n_mid clients read 3 SSE lines, then hang up; n_queued hang up while queued.

    `X-Sim-Fault: hold:drops:3` holds each answer after 3 tokens, so no request can
    finish before its client leaves, and the steps below wait on the server's counters.
    """
    url = base_url + "/chat/completions"
    body = {"model": "sim", "messages": [{"role": "user", "content": "Explain streaming"}],
            "stream": True, "max_tokens": 400}
    hang_up, got_lines = asyncio.Event(), []

    async def mid(client):
        async with client.stream("POST", url, json=body, headers={"X-Sim-Fault": "hold:drops:3"}) as r:
            lines, k = r.aiter_lines(), 0  # (kept open: closing the iterator hangs up)
            while k < 3:
                k += (await anext(lines)).startswith("data: ")
            got_lines.append(k)
            await hang_up.wait()

    async def queued(client):
        async with client.stream("POST", url, json=body):
            raise AssertionError("a queued request got an answer while every slot was held")

    limits = httpx.Limits(max_connections=n_mid + n_queued + 4)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        httpx.post(base_url + "/sim/stats/reset", json={}, timeout=5)
        mids = [asyncio.ensure_future(mid(client)) for _ in range(n_mid)]
        st = await _until(base_url, lambda st: st["held"].get("drops") == slots
                          and st["queue_depth"] == n_mid - slots, "every slot held, the rest queued")
        waiting = [asyncio.ensure_future(queued(client)) for _ in range(n_queued)]
        await _until(base_url, lambda st: st["queue_depth"] == n_mid - slots + n_queued, "more queued")
        for task in waiting:  # these clients give up before any byte
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)
        after_queue = await _until(base_url, lambda st: st["cancelled"] == n_queued
                                   and st["queue_depth"] == n_mid - slots, "queued clients cancelled")
        hang_up.set()  # held clients leave; each next one reads 3 lines and leaves at once
        await asyncio.wait_for(asyncio.gather(*mids), timeout=120)
    final = await _until(base_url, lambda st: st["in_flight"] == 0, "every request gone")
    return {"held_at_start": st, "after_queue": after_queue, "final": final,
            "released": httpx.post(base_url + "/sim/release", json={"name": "drops"}).json()["released"],
            "clients_got_3_lines": sum(k >= 3 for k in got_lines)}


def test_dropped_clients_free_every_slot_and_queue_place():
    srv = start_simulator(time_scale=SCALE, seed=0, rpm=0, tpm=0)
    slots = srv.latency_profile().slots
    d = asyncio.run(_drops(srv.base_url, n_mid=100, n_queued=20, slots=slots))
    assert d["clients_got_3_lines"] == 100
    # the queued clients that hung up left the queue, and nothing else moved
    assert d["after_queue"]["busy_slots"] == slots and d["after_queue"]["completed"] == 0
    f = d["final"]
    assert (f["busy_slots"], f["queue_depth"], f["in_flight"], f["held"]) == (0, 0, 0, {}), f
    # each dropped request is cancelled exactly once and none runs on to the end
    assert f["cancelled"] == f["attempts"] == 120 and f["completed"] == 0, f
    assert f["failed_5xx"] == f["rejected_429"] == 0 and d["released"] == 0
    # each of the 100 read 3 SSE lines: the role line, then at least 2 tokens (the first token may
    # share the role's line or not), so at least 200 tokens were written, all for cancelled requests
    assert f["tokens_after_disconnect"] == 0 and f["cancelled_tokens"] == f["completion_tokens"] >= 200
    assert run_load(srv, n=4, max_tokens=8, warmup=0).completed == 4  # still serving


def test_killed_simulator_is_restarted_by_the_next_cell():
    k = kill_and_restart()
    cells = k["cells"]
    assert "Streaming" in cell_text(cells[1])
    out4 = cell_text(cells[3]).strip()
    assert len(out4.splitlines()) == 1, out4  # one line, no traceback
    assert "running again" in out4 and "run the cell again" in out4
    errors = [o for o in cells[3].outputs if o["output_type"] == "error"]
    assert len(errors) == 1 and len(errors[0]["traceback"]) == 1  # still a failed cell, shown in one line
    assert "Streaming" in cell_text(cells[4])  # works again on the same port
    assert k["per_cell_s"][3] < 20 and k["total_s"] < 60, k["per_cell_s"]


def test_unreachable_server_is_one_line_in_seconds():
    cells = ["from helpers import chat_model\nllm = chat_model(timeout=5)",
             "llm = chat_model(timeout=5, check=False)\nllm.invoke('hi')"]
    env = kernel_env(LLM_BACKEND="compatible", LLM_BASE_URL="http://127.0.0.1:9/v1", LLM_MODEL="any")
    t0 = time.perf_counter()
    nb, per_cell, _ = run_cells(cells, env, raises={0, 1})
    for cell, expect in zip(nb.cells, ("Cannot reach http://127.0.0.1:9/v1", "Could not reach the server")):
        out = cell_text(cell).strip()
        assert len(out.splitlines()) == 1 and expect in out, out
    # refused connection: the check fails at once; invoke after the SDK's 2 retries (~0.5 s + ~1 s backoff)
    assert per_cell[0] < 8 and per_cell[1] < 8, per_cell
    assert time.perf_counter() - t0 < 40


@pytest.mark.parametrize("max_retries", [0, 2])
def test_unreachable_in_process_error_type_and_time(monkeypatch, max_retries):
    import openai

    from helpers import BackendError, chat_model
    from helpers.explain import explain

    monkeypatch.setenv("LLM_BACKEND", "compatible")
    monkeypatch.setenv("LLM_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("LLM_MODEL", "any")
    t0 = time.perf_counter()
    with pytest.raises(BackendError) as e:
        chat_model(timeout=5)
    assert time.perf_counter() - t0 < 6 and "\n" not in explain(e.value)
    llm = chat_model(timeout=5, max_retries=max_retries, check=False)
    t0 = time.perf_counter()
    with pytest.raises(openai.APIConnectionError) as e:
        llm.invoke("hi")
    assert time.perf_counter() - t0 < 8
    assert explain(e.value).startswith("Could not reach the server")


def test_broken_stream_is_not_called_a_restart(sim_env):
    """A stream cut off mid-answer (X-Sim-Fault: drop) while the simulator is fine."""
    import openai

    from helpers import chat_model
    from helpers.explain import explain

    llm = chat_model(default_headers={"X-Sim-Fault": "drop"}, timeout=5, max_retries=0)
    with pytest.raises(openai.APIConnectionError) as e:
        list(llm.stream("Explain streaming"))
    assert explain(e.value) == "The connection to the simulator broke off mid-answer: run the cell again."
