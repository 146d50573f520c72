"""Bad input: the simulator answers every request below 500 and in OpenAI's error
shape, and the helpers refuse bad arguments with one clear ValueError/CourseError.

Property-based (hypothesis) against the ASGI app in-process
(httpx.ASGITransport, time scale 0.001): JSON of random shapes and types, huge
numbers, any Unicode (lone surrogates too), deep nesting, random query strings,
headers, methods and paths. Oversized bodies: 413 before the body is read whole,
shown in-process and on a real server with raw sockets.
"""
import asyncio
import json
import math
import socket
import time
from types import SimpleNamespace
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers.llm_server.app import create_app

FUZZ = settings(max_examples=300, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
ROUTES = ["/v1/chat/completions", "/v1/embeddings", "/v1/models", "/health", "/v1/sim/stats",
          "/v1/sim/stats/reset", "/v1/sim/config"]
DELIBERATE_FAULTS = ("stall", "500", "drop", "hold")  # tested in test_server.py / test_reliability.py


def error_shape(body) -> bool:
    err = body.get("error") if isinstance(body, dict) else None
    return (isinstance(err, dict) and isinstance(err.get("message"), str) and err["message"] != ""
            and isinstance(err.get("type"), str) and "param" in err and "code" in err)


class InProcess:
    """One app and one event loop for all examples (the app's events bind to a loop)."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.app = create_app(time_scale=0.001)
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://sim")

    def request(self, method: str, url: str, **kw) -> httpx.Response:
        return self.loop.run_until_complete(asyncio.wait_for(self.client.request(method, url, **kw), 20))

    def close(self):
        self.loop.run_until_complete(self.client.aclose())
        self.loop.close()


@pytest.fixture(scope="module")
def asgi():
    s = InProcess()
    yield s
    s.close()


def check(r: httpx.Response, method: str = "POST") -> None:
    """Below 500; a 4xx has OpenAI's error shape; a 200 chat answer is complete."""
    assert r.status_code < 500, r.text[:300]
    if method == "HEAD":
        return
    if r.status_code >= 400:
        assert error_shape(r.json()), r.text[:300]
        if r.status_code == 429:
            assert int(r.headers["retry-after"]) >= 1
    elif r.headers.get("content-type", "").startswith("text/event-stream"):
        assert r.text.endswith("data: [DONE]\n\n"), r.text[-200:]
    else:
        r.json()


# ------------------------------------------------------------ strategies ----

LONE_SURROGATES = st.sampled_from(["\ud800", "a\udfffb", "\udc00\ud800"])
scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(), st.sampled_from([2**63, -2**63 - 1, 10**30, 2**53 + 1, 0, -1]),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
)
json_values = st.recursive(scalars, lambda kids: st.lists(kids, max_size=4)
                           | st.dictionaries(st.text(max_size=10), kids, max_size=4), max_leaves=12)
# valid requests ...
text_in = st.text(max_size=60) | st.sampled_from(["Explain streaming", "Explain batch in 300 words", "a haiku",
                                                   "Explain latency in detail", "in one sentence"])
valid_message = st.fixed_dictionaries({
    "role": st.sampled_from(["user", "system", "assistant", "developer", "tool"]),
    "content": text_in | st.none() | st.lists(st.fixed_dictionaries({"type": st.just("text"), "text": text_in}),
                                              min_size=1, max_size=2)})
valid_chat = st.fixed_dictionaries(
    {"model": st.sampled_from(["sim", "instant", "hosted-small", "local-cpu"]),
     "messages": st.lists(valid_message, min_size=1, max_size=3)},
    optional={"stream": st.booleans(), "stream_options": st.fixed_dictionaries({"include_usage": st.booleans()}),
              "max_tokens": st.integers(1, 300), "max_completion_tokens": st.integers(1, 300),
              "temperature": st.floats(0, 2), "n": st.just(1), "seed": st.integers(-2**63, 2**63 - 1),
              "stop": st.text(min_size=1, max_size=5) | st.lists(st.text(min_size=1, max_size=5), max_size=4),
              "user": st.text(max_size=20), "tools": json_values, "logprobs": st.booleans()})
CHAT_FIELDS = ["model", "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens",
               "temperature", "n", "seed", "stop", "user", "tools"]


def with_bad_message(body, i, key, value):
    msgs = [dict(m) for m in body["messages"]]
    msgs[i % len(msgs)][key] = value
    return {**body, "messages": msgs}


# ... then the same with one or two fields (or one message field) set to anything at all
chat_body = st.one_of(
    valid_chat,
    st.builds(lambda b, m: {**b, **m}, valid_chat, st.dictionaries(st.sampled_from(CHAT_FIELDS), json_values,
                                                                   min_size=1, max_size=2)),
    st.builds(with_bad_message, valid_chat, st.integers(0, 2), st.sampled_from(["role", "content", "name"]),
              json_values | st.lists(json_values, max_size=2)),
    st.builds(lambda b, k, s: {**b, k: s}, valid_chat, st.sampled_from(["model", "user", "stop"]), LONE_SURROGATES),
    json_values,
)
valid_embed = st.fixed_dictionaries(
    {"model": st.sampled_from(["sim", "hosted-small"]),
     "input": text_in.filter(bool)
     | st.lists(text_in.filter(bool) | st.lists(st.integers(0, 9), min_size=1, max_size=4),
                                              min_size=1, max_size=4)},
    optional={"dimensions": st.integers(1, 4096), "encoding_format": st.sampled_from(["float", "base64"])})
embed_body = st.one_of(
    valid_embed,
    st.builds(lambda b, m: {**b, **m}, valid_embed,
              st.dictionaries(st.sampled_from(["model", "input", "dimensions", "encoding_format"]), json_values,
                              min_size=1, max_size=2)),
    st.builds(lambda b, s: {**b, "input": [s]}, valid_embed, LONE_SURROGATES),
    json_values,
)
header_text = st.text(st.characters(min_codepoint=32, max_codepoint=255, exclude_characters="\x7f"), max_size=40)
headers = st.dictionaries(
    st.sampled_from(["authorization", "x-sim-fault", "x-stainless-retry-count", "content-type",
                     "accept", "user-agent", "x-anything", "openai-organization"]),
    header_text | st.sampled_from(["429", "429:2", "429:" + "9" * 5000, "Bearer sk-x", "١٢"]), max_size=4)


def safe_headers(h: dict) -> dict:
    faults = [f.strip().partition(":")[0] for f in h.get("x-sim-fault", "").lower().split(",")]
    if any(f in DELIBERATE_FAULTS for f in faults):
        h = {k: v for k, v in h.items() if k != "x-sim-fault"}
    return {k: v.encode("utf-8") for k, v in h.items()}  # bytes on the wire


def to_bytes(body) -> bytes:
    return json.dumps(body).encode()  # NaN/Infinity/lone surrogates as Python writes them


# ----------------------------------------------------------------- fuzz ----

@FUZZ
@given(body=chat_body, h=headers)
def test_fuzz_chat_completions(asgi, body, h):
    r = asgi.request("POST", "/v1/chat/completions", content=to_bytes(body), headers=safe_headers(h))
    check(r)


@FUZZ
@given(body=embed_body)
def test_fuzz_embeddings(asgi, body):
    check(asgi.request("POST", "/v1/embeddings", content=to_bytes(body)))


@settings(FUZZ, max_examples=150)
@given(raw=st.binary(max_size=300) | st.text(max_size=100).map(lambda t: t.encode("utf-8", "surrogatepass")),
       path=st.sampled_from(["/v1/chat/completions", "/v1/embeddings"]))
def test_fuzz_raw_bytes(asgi, raw, path):
    check(asgi.request("POST", path, content=raw))


@settings(FUZZ, max_examples=200)
@given(method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]),
       path=st.sampled_from(ROUTES) | st.text(max_size=30).map(lambda t: "/" + quote(t, safe="/")),
       params=st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=3), h=headers)
def test_fuzz_routes_query_and_headers(asgi, method, path, params, h):
    body = {"model": "sim", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}
    kw = {"content": to_bytes(body)} if method in ("POST", "PUT", "PATCH") else {}
    r = asgi.request(method, path, params=params, headers=safe_headers(h), **kw)
    check(r, method)


@pytest.mark.parametrize("raw", [
    b'{"model": "sim", "messages": [{"role": [], "content": "hi"}]}',
    b'{"model": "sim", "messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]}',
    b'{"model": "sim", "messages": [{"role": "user", "content": [{"type": "text", "text": null}]}]}',
    b'{"model": "sim", "messages": [{"role": "user", "content": "\\ud800"}]}',
    b'{"model": "\\udfff", "messages": []}',
    '{"model": "sim", "messages": [{"role": "user", "content": "\ud800"}]}'.encode("utf-8", "surrogatepass"),
    b'{"model": "sim", "input": "\\ud800"}',
    b'{"model": "sim", "messages": [{"role": "user", "content": "hi"}], "temperature": NaN}',
    b'{"model": "sim", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1e400}',
    b'{"model": "sim", "messages": [{"role": "user", "content": "hi"}], "seed": ' + b"9" * 5000 + b"}",
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
])
def test_regressions_are_4xx(asgi, raw):
    for path in ("/v1/chat/completions", "/v1/embeddings"):
        r = asgi.request("POST", path, content=raw)
        assert 400 <= r.status_code < 500 and error_shape(r.json()), r.text[:200]


@pytest.mark.parametrize("value", ["²", "1" * 5000, "-1", " 12", "1e3"])
def test_bad_content_length_headers_are_4xx(asgi, value):
    r = asgi.request("POST", "/v1/chat/completions", content=b"{}",
                     headers={"content-length": value.encode("latin-1")})
    assert 400 <= r.status_code < 500 and error_shape(r.json())


# ------------------------------------------------------------------ 413 ----

def test_declared_50mb_body_is_refused_without_reading_it(asgi):
    pulled = []

    async def endless():  # a client that would send forever, slowly
        while True:
            pulled.append(1)
            yield b"x" * 1024
            await asyncio.sleep(0.01)

    r = asgi.request("POST", "/v1/chat/completions", content=endless(),
                     headers={"content-length": str(50 * 2**20)})
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"
    assert len(pulled) <= 1  # refused on the header, body never read


def test_chunked_body_over_the_limit_is_refused_as_it_streams(asgi):
    pulled = []

    async def endless():
        while True:
            pulled.append(1)
            yield b"x" * 65536

    r = asgi.request("POST", "/v1/chat/completions", content=endless())  # chunked: no length
    assert r.status_code == 413 and error_shape(r.json())
    assert len(pulled) <= 1_000_000 // 65536 + 2  # stopped right after the limit


def _http_response(s: socket.socket, timeout: float) -> tuple[int, dict, float]:
    s.settimeout(timeout)
    t0, data = time.perf_counter(), b""
    while b"\r\n\r\n" not in data:
        data += s.recv(65536) or b"EOF"
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    hdrs = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    while len(body) < int(hdrs.get("content-length", 0)):
        body += s.recv(65536)
    return int(lines[0].split()[1]), json.loads(body), time.perf_counter() - t0


def _connect(sim) -> socket.socket:
    host, port = sim.base_url.split("//")[1].split("/")[0].rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=5)


def test_real_server_413_on_declared_length_with_a_tiny_body(sim):
    with _connect(sim) as s:
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: sim\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 52428800\r\n\r\n" + b'{"model": "sim"')  # and then nothing more
        status, body, wait_s = _http_response(s, timeout=5)
    assert status == 413 and body["error"]["code"] == "request_too_large" and wait_s < 5


def test_real_server_413_on_an_unfinished_chunked_body(sim):
    with _connect(sim) as s:
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: sim\r\nContent-Type: application/json\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"x" * 65536
        for _ in range(20):  # 1.3 MB, never terminated: the server must not wait for the end
            s.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
        status, body, _ = _http_response(s, timeout=5)
    assert status == 413 and error_shape(body)
    assert httpx.get(sim.base_url + "/models", timeout=5).status_code == 200  # still serving


# --------------------------------------------------------- helper args ----

@pytest.fixture(scope="module")
def llm():
    from helpers import chat_model
    # a model that would fail loudly (connection refused) if a bad argument got through
    return chat_model(server=SimpleNamespace(base_url="http://127.0.0.1:9/v1"), timeout=1, max_retries=0)


def _profile():
    from helpers import get_profile
    return get_profile("hosted-small", 0.1)


def _job(*a):
    from helpers import Job
    return Job(*a)


BAD_CALLS = {
    "measure_batch concurrency 0": lambda h, m: h.measure_batch(m, ["a"], 0),
    "measure_batch concurrency -2": lambda h, m: h.measure_batch(m, ["a"], -2),
    "measure_batch concurrency 1.5": lambda h, m: h.measure_batch(m, ["a"], 1.5),
    "measure_batch concurrency '4'": lambda h, m: h.measure_batch(m, ["a"], "4"),
    "measure_batch empty list": lambda h, m: h.measure_batch(m, [], 2),
    "measure_batch a string": lambda h, m: h.measure_batch(m, "Explain", 2),
    "measure_batch non-string prompt": lambda h, m: h.measure_batch(m, ["ok", 3], 2),
    "measure_batch blank prompt": lambda h, m: h.measure_batch(m, ["ok", "  "], 2),
    "measure_batch no model": lambda h, m: h.measure_batch(None, ["a"], 2),
    "ameasure_batch concurrency 0": lambda h, m: asyncio.run(h.ameasure_batch(m, ["a"], 0)),
    "ameasure_batch empty list": lambda h, m: asyncio.run(h.ameasure_batch(m, [], 2)),
    "ameasure_batch non-string prompt": lambda h, m: asyncio.run(h.ameasure_batch(m, [None], 2)),
    "measure_stream non-string": lambda h, m: h.measure_stream(m, 42),
    "measure_stream empty": lambda h, m: h.measure_stream(m, ""),
    "measure_stream swapped": lambda h, m: h.measure_stream("Explain", m),
    "measure_invoke None": lambda h, m: h.measure_invoke(m, None),
    "measure_invoke model name": lambda h, m: h.measure_invoke("gpt-4o-mini", "hi"),
    "predict_batch concurrency 0": lambda h, m: h.predict_batch(_profile(), [_job(5, 5)], 0),
    "predict_batch concurrency True": lambda h, m: h.predict_batch(_profile(), [_job(5, 5)], True),
    "predict_batch no jobs": lambda h, m: h.predict_batch(_profile(), [], 2),
    "predict_batch not a Job": lambda h, m: h.predict_batch(_profile(), [(5, 5)], 2),
    "predict_batch negative tokens": lambda h, m: h.predict_batch(_profile(), [_job(-1, 5)], 2),
    "predict_batch speed 0": lambda h, m: h.predict_batch(_profile(), [_job(5, 5, 0)], 2),
    "predict_batch profile name": lambda h, m: h.predict_batch("hosted-small", [_job(5, 5)], 2),
    "get_profile unknown": lambda h, m: h.get_profile("gpt-5"),
    "get_profile scale 0": lambda h, m: h.get_profile("hosted-small", 0),
    "get_profile scale -1": lambda h, m: h.get_profile("hosted-small", -1),
    "get_profile scale str": lambda h, m: h.get_profile("hosted-small", "fast"),
    "get_profile scale nan": lambda h, m: h.get_profile("hosted-small", math.nan),
    "get_profile scale inf": lambda h, m: h.get_profile("hosted-small", math.inf),
    "start_simulator profile": lambda h, m: h.start_simulator("gpt-5"),
    "start_simulator scale 0": lambda h, m: h.start_simulator(time_scale=0),
    "start_simulator scale str": lambda h, m: h.start_simulator(time_scale="fast"),
    "start_simulator scale inf": lambda h, m: h.start_simulator(time_scale=math.inf),
    "start_simulator seed str": lambda h, m: h.start_simulator(seed="x"),
    "start_simulator slots 0": lambda h, m: h.start_simulator(time_scale=0.1, slots=0),
    "start_simulator queue -1": lambda h, m: h.start_simulator(time_scale=0.1, queue_limit=-1),
    "start_simulator rpm -5": lambda h, m: h.start_simulator(time_scale=0.1, rpm=-5),
    "start_simulator unknown option": lambda h, m: h.start_simulator(time_scale=0.1, nonsense=1),
    "chat_model unknown backend": lambda h, m: h.chat_model(backend="gpt"),
    "chat_model timeout 0": lambda h, m: h.chat_model(timeout=0),
    "chat_model timeout str": lambda h, m: h.chat_model(timeout="soon"),
    "chat_model timeout nan": lambda h, m: h.chat_model(timeout=math.nan),
    "chat_model retries -1": lambda h, m: h.chat_model(max_retries=-1),
    "chat_model retries 1.5": lambda h, m: h.chat_model(max_retries=1.5),
    "resolve_backend unknown": lambda h, m: h.resolve_backend("gpt"),
    "resolve_backend not a str": lambda h, m: h.resolve_backend(5),
}


@pytest.mark.parametrize("name", list(BAD_CALLS))
def test_helpers_refuse_bad_arguments_clearly(sim_env, llm, name):
    import helpers
    from helpers import CourseError

    t0 = time.perf_counter()
    with pytest.raises((ValueError, CourseError)) as e:
        BAD_CALLS[name](helpers, llm)
    msg = str(e.value)
    assert "\n" not in msg and 15 < len(msg) < 400, msg
    # says what to pass instead
    assert any(w in msg for w in ("must", "use one of", "choose one of", "comes first", "e.g.")), msg
    assert time.perf_counter() - t0 < 25


def test_chat_model_api_key_on_sim_names_the_caller(sim_env):
    from helpers import chat_model

    llm = chat_model(api_key="student-7", timeout=5, max_retries=0)
    assert llm.openai_api_key.get_secret_value() == "student-7"
