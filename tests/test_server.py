"""The simulator over real loopback HTTP: the openai SDK and ChatOpenAI as clients."""
import asyncio
import base64
import json
import struct
import time

import httpx
import openai
import pytest
from langchain_openai import ChatOpenAI

from helpers.simulator import start_simulator

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


def test_async_api(sim):
    m = lc(sim)

    async def go():
        a = await m.ainvoke("Explain invoke")
        parts = [c.content async for c in m.astream("Explain invoke")]
        sim.reset_stats()
        outs = await m.abatch([f"Explain latency {i}" for i in range(12)])
        return a, parts, outs

    a, parts, outs = asyncio.run(go())
    assert a.content and len(parts) > 5 and len(outs) == 12
    assert sim.stats()["peak_in_flight"] == 12  # abatch's default concurrency is unbounded


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
    assert st["rejected_429"] == 2 and st["completed"] == 1


def test_permanent_429_raises_rate_limit_error(sim):
    m = lc(sim, max_retries=0, default_headers={"X-Sim-Fault": "429"})
    with pytest.raises(openai.RateLimitError):
        m.invoke("hi")


def test_rate_limit_per_key_with_retry_after():
    srv = start_simulator(time_scale=0.05, seed=0, rpm=2)
    h = {"Authorization": "Bearer k1"}
    codes = [httpx.post(srv.base_url + "/chat/completions", headers=h, json={"model": "sim", "messages": PROMPT, "max_tokens": 2})
             for _ in range(3)]
    assert [r.status_code for r in codes] == [200, 200, 429]
    r = codes[-1]
    assert float(r.headers["retry-after-ms"]) > 0 and int(r.headers["retry-after"]) >= 1
    assert r.json()["error"]["code"] == "rate_limit_exceeded"
    other = httpx.post(srv.base_url + "/chat/completions", headers={"Authorization": "Bearer k2"},
                       json={"model": "sim", "messages": PROMPT, "max_tokens": 2})
    assert other.status_code == 200  # limits are per key


def test_disconnect_mid_stream_frees_the_slot():
    srv = start_simulator(time_scale=0.05, seed=0, slots=1)
    srv.reset_stats()
    body = {"model": "sim", "messages": PROMPT, "stream": True, "max_tokens": 200}
    with httpx.stream("POST", srv.base_url + "/chat/completions", json=body, timeout=10) as r:
        for i, _ in enumerate(r.iter_lines()):
            if i > 4:
                break
    deadline = time.time() + 3
    while time.time() < deadline and srv.stats()["busy_slots"]:
        time.sleep(0.02)
    st = srv.stats()
    assert st["busy_slots"] == 0 and st["in_flight"] == 0 and st["cancelled"] == 1
    assert st["completion_tokens"] < 100


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
    dot = lambda a, b: sum(x * y for x, y in zip(a, b))
    assert dot(v[0], v[1]) > dot(v[0], v[2])
    assert v[0] == client.embeddings.create(model="sim", input=texts[0]).data[0].embedding
    raw = httpx.post(sim.base_url + "/embeddings", json={"model": "sim", "input": "a", "encoding_format": "base64"}).json()
    assert len(struct.unpack("<256f", base64.b64decode(raw["data"][0]["embedding"]))) == 256
    assert httpx.post(sim.base_url + "/embeddings", json={"model": "sim", "input": []}).status_code == 400
