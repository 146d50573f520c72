"""The simulator over real loopback HTTP: the openai SDK and ChatOpenAI as clients."""
import asyncio
import base64
import json
import struct
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest
from langchain_openai import ChatOpenAI

from helpers.backends.simulator import start_simulator

PROMPT = [{"role": "user", "content": "Explain streaming"}]


@pytest.fixture
def client(sim):
    return openai.OpenAI(base_url=sim.base_url, api_key="test-key", timeout=10, max_retries=0)


def lc(sim, **kw):
    kw.setdefault("max_retries", 0)
    kw.setdefault("timeout", 10)
    return ChatOpenAI(base_url=sim.base_url, api_key="test-key", model="sim",
                      stream_usage=True, temperature=0, **kw)


def test_json_answer_has_usage_and_is_deterministic(client):
    a = client.chat.completions.create(model="sim", messages=PROMPT)
    b = client.chat.completions.create(model="sim", messages=PROMPT)
    assert a.choices[0].message.content == b.choices[0].message.content
    assert "stream" in a.choices[0].message.content.lower()
    assert a.usage.completion_tokens > 20 and a.usage.prompt_tokens > 0
    assert a.choices[0].finish_reason == "stop"


def test_seed_changes_text_only_with_temperature(client):
    kw = dict(model="sim", messages=[{"role": "user", "content": "Tell me about gardening tools"}])
    t0 = {client.chat.completions.create(seed=s, **kw).choices[0].message.content for s in (1, 2)}
    t1 = {client.chat.completions.create(seed=s, temperature=1, **kw).choices[0].message.content for s in (1, 2)}
    assert len(t0) == 1 and len(t1) == 2


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
def test_token_limits(client, field):
    r = client.chat.completions.create(model="sim", messages=PROMPT, **{field: 7})
    assert r.usage.completion_tokens == 7 and r.choices[0].finish_reason == "length"


def test_stop_sequence(client):
    r = client.chat.completions.create(model="sim", messages=PROMPT, stop=["piece"])
    assert "piece" not in r.choices[0].message.content
    assert r.choices[0].message.content.startswith("Streaming sends the answer")


def test_sse_stream_with_usage(client):
    chunks = list(client.chat.completions.create(model="sim", messages=PROMPT, stream=True,
                                                 stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(chunks) > 10 and chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 10
    whole = client.chat.completions.create(model="sim", messages=PROMPT).choices[0].message.content
    assert text.strip() == whole


def test_chatopenai_invoke_stream_batch(sim):
    m = lc(sim)
    msg = m.invoke("Explain streaming")
    assert msg.usage_metadata["output_tokens"] > 10
    chunks = list(m.stream("Explain streaming"))
    assert len(chunks) > 5
    total = chunks[0]
    for c in chunks[1:]:
        total = total + c
    assert total.content == msg.content and total.usage_metadata["output_tokens"] == msg.usage_metadata["output_tokens"]
    sim.reset_stats()
    outs = m.batch([f"Explain batch {i}" for i in range(9)], config={"max_concurrency": 3})
    assert len(outs) == 9
    st = sim.stats()
    assert st["peak_in_flight"] == 3 and st["requests_total"] == 9


def release(srv, name: str) -> int:
    """Let the requests held by X-Sim-Fault: hold:<name> go on; how many there were."""
    return httpx.post(srv.base_url + "/sim/release", json={"name": name}, timeout=5).json()["released"]


def wait_stats(srv, ok, timeout_s: float = 30.0) -> dict:
    """Poll the counters until ok(stats) holds: waits for an event, not for a time.
    The timeout only turns a hang into a failure."""
    deadline = time.monotonic() + timeout_s
    while True:
        st = srv.stats()
        if ok(st) or time.monotonic() > deadline:
            return st
        time.sleep(0.01)


def test_async_api(sim):
    m = lc(sim)
    held = lc(sim, default_headers={"X-Sim-Fault": "hold:abatch12"})

    async def go():
        a = await m.ainvoke("Explain invoke")
        parts = [c.content async for c in m.astream("Explain invoke")]
        sim.reset_stats()
        batch = asyncio.ensure_future(held.abatch([f"Explain latency {i}" for i in range(12)]))
        # every request waits at the server until released, so all that abatch lets out
        # at once are in flight together, however busy the machine is
        st = await asyncio.to_thread(wait_stats, sim, lambda st: st["held"].get("abatch12", 0) >= 12)
        n = release(sim, "abatch12")
        return a, parts, await batch, st, n

    a, parts, outs, st, n = asyncio.run(go())
    assert a.content and len(parts) > 5 and len(outs) == 12
    assert n == 12 and st["in_flight"] == 12  # abatch's default concurrency is unbounded
    assert sim.stats()["peak_in_flight"] == 12


def test_held_requests_wait_for_release_and_count_in_flight(sim):
    sim.reset_stats()
    with ThreadPoolExecutor(3) as pool:
        futs = [pool.submit(post, sim, {"model": "sim", "messages": PROMPT, "max_tokens": 3},
                            headers={"X-Sim-Fault": "hold:trio"}) for _ in range(3)]
        st = wait_stats(sim, lambda st: st["held"].get("trio") == 3)
        assert st["in_flight"] == 3 and st["completed"] == 0 and not any(f.done() for f in futs)
        assert release(sim, "trio") == 3
        assert [f.result().status_code for f in futs] == [200] * 3
    assert release(sim, "trio") == 0 and sim.stats()["held"] == {}
    assert httpx.post(sim.base_url + "/sim/release", json={}).status_code == 400


def test_streaming_sends_text_before_the_end(sim):
    m = lc(sim)
    t0 = time.perf_counter()
    first = None
    for c in m.stream("Explain streaming"):
        if c.content and first is None:
            first = time.perf_counter() - t0
    total = time.perf_counter() - t0
    assert first < total / 2


def test_429_then_retry_succeeds(sim):
    m = lc(sim, max_retries=2, default_headers={"X-Sim-Fault": "429:2"})
    sim.reset_stats()
    assert m.invoke("Explain retries").content
    st = sim.stats()
    # what went over the wire: 3 attempts, 2 rejected, 1 answer (lesson 01 prints these)
    assert (st["attempts"], st["rejected_429"], st["failed_5xx"], st["completed"]) == (3, 2, 0, 1)
    row = next(iter(st["by_key"].values()))
    assert {k: row[k] for k in ("attempts", "rejected_429", "completed")} == \
        {"attempts": 3, "rejected_429": 2, "completed": 1}  # the same row shape per key


ROW = ("attempts", "rejected_429", "failed_5xx", "broken", "completed", "cancelled", "in_flight")


def test_every_attempt_ends_in_exactly_one_counter(sim):
    """attempts = rejected_429 + failed_5xx + broken + completed + cancelled + in_flight."""
    sim.reset_stats()
    lc(sim, max_retries=2, default_headers={"X-Sim-Fault": "500:1"}).invoke("hi")
    with pytest.raises(openai.RateLimitError):
        lc(sim, max_retries=1, default_headers={"X-Sim-Fault": "429"}).invoke("hi")
    with pytest.raises(openai.APIConnectionError):
        list(lc(sim, default_headers={"X-Sim-Fault": "drop"}).stream("Explain streaming"))
    st = wait_stats(sim, lambda st: st["in_flight"] == 0)
    got = {k: st[k] for k in ROW}
    assert got == {"attempts": 5, "rejected_429": 2, "failed_5xx": 1, "broken": 1, "completed": 1,
                   "cancelled": 0, "in_flight": 0}, got
    assert st["requests_total"] == st["attempts"] and st["errors_5xx"] == st["failed_5xx"]  # old names


def test_role_chunk_goes_out_with_the_first_token():
    """Like vLLM/OpenAI: no early role-only write at admission (one ASGI send holds both)."""
    from helpers.llm_server.app import create_app
    app = create_app(time_scale=0.01)
    body = json.dumps({"model": "sim", "messages": PROMPT, "stream": True}).encode()
    sent, request_done = [], []

    async def receive():
        if not request_done:
            request_done.append(1)
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client stays connected

    async def send(msg):
        sent.append(msg)

    scope = {"type": "http", "method": "POST", "path": "/v1/chat/completions", "headers": [],
             "query_string": b"", "root_path": "", "scheme": "http", "server": ("sim", 80)}
    asyncio.run(asyncio.wait_for(app(scope, receive, send), 20))
    bodies = [m["body"] for m in sent if m["type"] == "http.response.body"]
    first = [json.loads(line[6:]) for line in bodies[0].decode().split("\n\n") if line.startswith("data: {")]
    assert first[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert len(first) >= 2 and first[1]["choices"][0]["delta"]["content"]  # text in the same write
    headers = dict(sent[0]["headers"])
    assert float(headers[b"x-sim-overhead-ms"]) > 0 and b"x-sim-prefill-ms" in headers


def test_overhead_and_prefill_are_reported_apart(client):
    from helpers.llm_server.latency import get_profile
    p = get_profile("hosted-small", 0.05)
    for words in (2, 2000):
        raw = client.chat.completions.with_raw_response.create(
            model="sim", max_tokens=2, messages=[{"role": "user", "content": "word " * words}])
        h, usage = raw.headers, raw.parse().usage
        overhead, prefill = float(h["x-sim-overhead-ms"]) / 1000, float(h["x-sim-prefill-ms"]) / 1000
        assert overhead == pytest.approx(p.overhead_s, rel=0.06)  # the same for any prompt (±jitter)
        assert prefill == pytest.approx(usage.prompt_tokens / p.prefill_tokens_per_s, rel=0.06, abs=1e-4)


def test_permanent_429_raises_rate_limit_error(sim):
    m = lc(sim, max_retries=0, default_headers={"X-Sim-Fault": "429"})
    with pytest.raises(openai.RateLimitError):
        m.invoke("hi")


def test_rate_limit_per_key_with_retry_after():
    srv = start_simulator(time_scale=0.05, seed=0, rpm=2)
    h = {"Authorization": "Bearer k1"}
    body = {"model": "sim", "messages": PROMPT, "max_tokens": 2}
    codes = [httpx.post(srv.base_url + "/chat/completions", headers=h, json=body) for _ in range(3)]
    assert [r.status_code for r in codes] == [200, 200, 429]
    r = codes[-1]
    assert float(r.headers["retry-after-ms"]) > 0 and int(r.headers["retry-after"]) >= 1
    assert r.json()["error"]["code"] == "rate_limit_exceeded"
    other = httpx.post(srv.base_url + "/chat/completions", headers={"Authorization": "Bearer k2"},
                       json={"model": "sim", "messages": PROMPT, "max_tokens": 2})
    assert other.status_code == 200  # limits are per key


def read_then_hang_up(srv, fault: str, n_lines: int = 4, max_tokens: int = 200) -> int:
    """Stream with X-Sim-Fault, read n_lines SSE events, hang up; the content tokens read."""
    body = {"model": "sim", "messages": PROMPT, "stream": True, "max_tokens": max_tokens}
    read = 0
    with httpx.stream("POST", srv.base_url + "/chat/completions", json=body, timeout=10,
                      headers={"X-Sim-Fault": fault}) as r:
        for i, line in enumerate(ln for ln in r.iter_lines() if ln.startswith("data: {")):
            read += bool(json.loads(line[6:])["choices"][0]["delta"].get("content"))
            if i + 1 >= n_lines:
                break
    return read


def test_disconnect_mid_stream_frees_the_slot_and_stops_writing():
    srv = start_simulator(time_scale=0.05, seed=0, slots=1)
    srv.reset_stats()
    # held after 3 tokens, so the client always hangs up before the answer is done
    read = read_then_hang_up(srv, "hold:midway:3")
    st = wait_stats(srv, lambda st: st["in_flight"] == 0)
    assert st["busy_slots"] == 0 and st["cancelled"] == 1 and st["completed"] == 0
    assert release(srv, "midway") == 0  # the cancel ended it: nothing is left to resume
    st = srv.stats()
    assert read == 3 and st["completion_tokens"] == st["cancelled_tokens"] >= 3
    assert st["tokens_after_disconnect"] == 0 and st["completion_tokens"] < 200


def test_a_deaf_server_writes_on_after_the_client_left():
    """X-Sim-Fault: deaf imitates servers that generate on after a disconnect:
    every token is still written (and would be billed); the counters say so."""
    srv = start_simulator(time_scale=0.05, seed=0, slots=1)
    srv.reset_stats()
    read = read_then_hang_up(srv, "deaf,hold:deafway:3")
    wait_stats(srv, lambda st: st["cancelled"] == 1)  # it saw the client go
    assert release(srv, "deafway") == 1               # ... and is still there, writing on
    st = wait_stats(srv, lambda st: st["in_flight"] == 0)
    assert read == 3 and st["completed"] == 0 and st["cancelled"] == 1
    whole = httpx.post(srv.base_url + "/chat/completions", timeout=10, json={
        "model": "sim", "messages": PROMPT, "max_tokens": 200}).json()["usage"]["completion_tokens"]
    assert st["cancelled_tokens"] == st["completion_tokens"] == whole > 3  # the whole answer
    assert 0 < st["tokens_after_disconnect"] <= whole - 3


def test_stall_and_timeout(sim):
    m = lc(sim, timeout=0.5, default_headers={"X-Sim-Fault": "stall"})
    t0 = time.perf_counter()
    with pytest.raises(openai.APITimeoutError):
        m.invoke("hi")
    assert time.perf_counter() - t0 < 3


def test_dropped_stream_raises(sim):
    m = lc(sim, default_headers={"X-Sim-Fault": "drop"})
    with pytest.raises(openai.APIConnectionError):
        list(m.stream("Explain streaming"))


def post(sim, body, **kw):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return httpx.post(sim.base_url + "/chat/completions", content=data, timeout=5, **kw)


@pytest.mark.parametrize("body,status", [
    (b"{not json", 400), (b"[]", 400), ({"model": "sim"}, 400),
    ({"model": "sim", "messages": "hi"}, 400), ({"model": "sim", "messages": [{"role": "x"}]}, 400),
    ({"model": "sim", "messages": PROMPT, "max_tokens": "5"}, 400),
    ({"model": "sim", "messages": PROMPT, "max_tokens": True}, 400),
    ({"model": "sim", "messages": PROMPT, "temperature": 9}, 400),
    ({"model": "sim", "messages": PROMPT, "n": 2}, 400),
    ({"model": "sim", "messages": PROMPT, "stop": [1]}, 400),
    ({"model": "gpt-nope", "messages": PROMPT}, 404),
])
def test_bad_bodies_get_openai_shaped_4xx(sim, body, status):
    r = post(sim, body)
    assert r.status_code == status
    err = r.json()["error"]
    assert err["message"] and "type" in err


def test_oversized_body_is_413(sim):
    r = post(sim, b"x" * 1_100_000)
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"


def test_models_health_and_unknown_routes(sim):
    ids = [m["id"] for m in httpx.get(sim.base_url + "/models").json()["data"]]
    assert "sim" in ids and "hosted-large" in ids
    assert httpx.get(sim.base_url.replace("/v1", "/health")).json()["status"] == "ok"
    r = httpx.get(sim.base_url + "/nope")
    assert r.status_code == 404 and "error" in r.json()


def test_embeddings(sim, client):
    texts = ["refund policy for damaged items", "refund policy for broken items", "the weather on mars"]
    r = client.embeddings.create(model="sim", input=texts)  # the SDK asks for base64
    v = [d.embedding for d in r.data]
    def dot(a, b):
        return sum(x * y for x, y in zip(a, b))

    assert dot(v[0], v[1]) > dot(v[0], v[2])
    assert v[0] == client.embeddings.create(model="sim", input=texts[0]).data[0].embedding
    body = {"model": "sim", "input": "a", "encoding_format": "base64"}
    raw = httpx.post(sim.base_url + "/embeddings", json=body).json()
    assert len(struct.unpack("<256f", base64.b64decode(raw["data"][0]["embedding"]))) == 256
    assert httpx.post(sim.base_url + "/embeddings", json={"model": "sim", "input": []}).status_code == 400


def test_pause_after_keeps_the_slot_at_exactly_n_tokens_whatever_the_clock():
    """The simulator's hold:NAME:N fault: even a late clock tick (a busy CPU) stops at N."""
    from helpers.llm_server.latency import Job, SlotScheduler, get_profile
    p = get_profile("hosted-small", 0.1)
    s = SlotScheduler(p)
    s.arrive("a", 0.0, Job(10, 50))
    s.pause_after("a", 3)
    s.advance(100.0)  # far past the whole answer's time
    assert s.tokens_done("a") == 3 and "a" in s.paused and s.active == 1 and "a" not in s.finished
    s.arrive("b", 100.0, Job(10, 5))
    s.resume("a", 100.0)
    s.advance(200.0)
    assert s.tokens_done("a") == 50 and {"a", "b"} <= set(s.finished) and s.active == 0


def test_lesson01_retry_cell_prints_what_went_over_the_wire(sim_env, capsys):
    """Lesson 01 §8 prints attempts, 429s and answers from the server's own counters
    (it once printed 'answered: 3' for 3 attempts and 1 answer)."""
    from pathlib import Path

    from helpers import chat_model, measure_invoke
    nb = json.loads((Path(__file__).resolve().parents[2] / "notebooks" / "01_invoke.ipynb").read_text())
    cells = {c["id"]: "".join(c["source"]) for c in nb["cells"]}
    ns = {"srv": sim_env, "chat_model": chat_model, "measure_invoke": measure_invoke, "guess_attempts": 1}
    exec(cells["c31"], ns)  # noqa: S102 -- the lesson's own cells
    exec(cells["c32"], ns)  # noqa: S102
    out = capsys.readouterr().out
    assert "received 3 attempts: 2 rejected with 429, 0 failed with 5xx, 1 answered" in out, out
