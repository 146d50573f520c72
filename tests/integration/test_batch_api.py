"""The simulator's Files + Batches API through the official `openai` SDK, over real loopback HTTP.

Each test waits for events (a batch's status, a held request showing in /v1/sim/stats),
never for a clock: `hold:NAME:N` pauses a batch after exactly N requests, `expire:N`
ends its window after exactly N, so cancel and expiry land at the same point on a busy machine.
"""
import json
import random
import threading

import httpx
import openai
import pytest
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.waiting import wait_for

from helpers.llm_server.app import create_app
from helpers.llm_server.latency import Job, SlotScheduler, get_profile, low_priority_slots

SCALE = 0.05
FINAL = ("completed", "failed", "expired", "cancelled")
CHAT = "/v1/chat/completions"


class Server:
    """The simulator app in a uvicorn thread, on a free loopback port."""

    def __init__(self, **kw):
        self.app = create_app(time_scale=SCALE, seed=0, **kw)
        self.uv = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=0, log_level="warning"))
        self.thread = threading.Thread(target=self.uv.run, daemon=True)
        self.thread.start()
        wait_for("the server to listen", lambda: self.uv.started)
        self.url = f"http://127.0.0.1:{self.uv.servers[0].sockets[0].getsockname()[1]}/v1"
        self.client = openai.OpenAI(base_url=self.url, api_key="sk-local-test", max_retries=0, timeout=30)

    def stop(self):
        self.uv.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def srv():
    s = Server()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def small():
    """Tiny caps and a short window (one simulated hour = 0.5 s x 0.05)."""
    s = Server(file_limits={"max_file_bytes": 4000, "max_total_bytes": 10_000, "max_batch_lines": 5,
                            "hour_s": 0.5})
    yield s
    s.stop()


def line(i, model="sim", url=CHAT, **body):
    return {"custom_id": f"q-{i}", "method": "POST", "url": url,
            "body": {"model": model, "messages": [{"role": "user", "content": f"Question number {i}?"}],
                     "max_tokens": 20, **body}}


def jsonl(rows) -> bytes:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows).encode()


def submit(s, rows, fault=None, endpoint=CHAT, **kw):
    f = s.client.files.create(file=("in.jsonl", jsonl(rows)), purpose="batch")
    headers = {"X-Sim-Fault": fault} if fault else None
    return s.client.batches.create(input_file_id=f.id, endpoint=endpoint, completion_window="24h",
                                   extra_headers=headers, **kw)


def until(s, batch_id, statuses=FINAL, timeout_s=60):
    return wait_for(f"batch {batch_id} to reach {statuses}",
                    lambda: (b := s.client.batches.retrieve(batch_id)).status in statuses and b, timeout_s)


def read(s, file_id) -> list[dict]:
    return [json.loads(x) for x in s.client.files.content(file_id).text.splitlines()] if file_id else []


def test_happy_path_lifecycle_output_shape_and_usage(srv):
    b = submit(srv, [line(i) for i in range(12)], metadata={"run": "nightly"})
    assert b.status == "validating" and b.request_counts.total == 0 and b.metadata == {"run": "nightly"}
    b = until(srv, b.id)
    assert b.status == "completed", b
    assert (b.request_counts.total, b.request_counts.completed, b.request_counts.failed) == (12, 12, 0)
    assert b.created_at <= b.in_progress_at <= b.finalizing_at <= b.completed_at <= b.expires_at
    assert b.expires_at - b.created_at == 12  # the 24 h window: 24 x 10 s x time scale 0.05
    assert b.error_file_id is None and b.errors is None and b.model == "sim"
    rows = read(srv, b.output_file_id)
    assert sorted(r["custom_id"] for r in rows) == sorted(f"q-{i}" for i in range(12))
    for r in rows:
        assert r["error"] is None and r["response"]["status_code"] == 200
        body = r["response"]["body"]
        assert body["object"] == "chat.completion" and body["choices"][0]["message"]["content"]
        u = body["usage"]
        assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"] and u["completion_tokens"] <= 20
    assert b.usage.input_tokens == sum(r["response"]["body"]["usage"]["prompt_tokens"] for r in rows)
    assert b.usage.output_tokens == sum(r["response"]["body"]["usage"]["completion_tokens"] for r in rows)
    out = srv.client.files.retrieve(b.output_file_id)
    assert out.purpose == "batch_output" and out.bytes > 0
    assert b.id in [x.id for x in srv.client.batches.list(limit=100)]


def test_results_match_by_custom_id_after_shuffle_and_equal_interactive_answers(srv):
    rows = [line(i) for i in range(10)]
    random.Random(3).shuffle(rows)
    b = until(srv, submit(srv, rows).id)
    got = {r["custom_id"]: r["response"]["body"]["choices"][0]["message"]["content"]
           for r in read(srv, b.output_file_id)}
    for r in rows[:4]:  # the same request, asked interactively, gets the same answer
        ans = srv.client.chat.completions.create(**r["body"])
        assert got[r["custom_id"]] == ans.choices[0].message.content


def test_embeddings_batch(srv):
    rows = [{"custom_id": f"e{i}", "method": "POST", "url": "/v1/embeddings",
             "body": {"model": "sim", "input": f"text {i}", "dimensions": 8}} for i in range(3)]
    b = until(srv, submit(srv, rows, endpoint="/v1/embeddings").id)
    assert b.status == "completed"
    assert all(len(r["response"]["body"]["data"][0]["embedding"]) == 8 for r in read(srv, b.output_file_id))


@pytest.mark.parametrize("bad, code, number", [
    ("{not json", "invalid_json_line", 2),
    ('["a list"]', "invalid_json_line", 2),
    (line(0), "duplicate_custom_id", 2),
    ({**line(9), "url": "/v1/embeddings"}, "invalid_url", 2),
    ({**line(9), "method": "GET"}, "invalid_method", 2),
    ({**line(9), "custom_id": ""}, "missing_required_parameter", 2),
    (line(9, model="gpt-nope"), "model_not_found", 2),
    (line(9, model="hosted-large"), "mismatched_model", 2),
])
def test_a_bad_file_fails_the_batch_at_validation_with_the_line_and_reason(srv, bad, code, number):
    b = until(srv, submit(srv, [line(0), bad, line(1)]).id)
    assert b.status == "failed" and b.failed_at and b.in_progress_at is None
    assert [(e.code, e.line) for e in b.errors.data] == [(code, number)]
    assert b.output_file_id is None and b.request_counts.completed == 0


def test_an_empty_file_fails_at_validation(srv):
    f = srv.client.files.create(file=("in.jsonl", b"\n\n"), purpose="batch")
    b = until(srv, srv.client.batches.create(input_file_id=f.id, endpoint=CHAT, completion_window="24h").id)
    assert b.status == "failed" and b.errors.data[0].code == "empty_file"


def test_bad_request_bodies_go_to_the_error_file_and_the_rest_completes(srv):
    rows = [line(0), line(1, temperature=5), line(2, stream=True), line(3)]
    b = until(srv, submit(srv, rows).id)
    assert b.status == "completed"
    assert (b.request_counts.completed, b.request_counts.failed, b.request_counts.total) == (2, 2, 4)
    errs = {r["custom_id"]: r["response"] for r in read(srv, b.error_file_id)}
    assert set(errs) == {"q-1", "q-2"} and all(e["status_code"] == 400 for e in errs.values())
    assert errs["q-1"]["body"]["error"]["param"] == "temperature"
    assert {r["custom_id"] for r in read(srv, b.output_file_id)} == {"q-0", "q-3"}


def held(s, name):
    return httpx.get(s.url + "/sim/stats", timeout=5).json()["held"].get(name, 0)


def test_cancel_mid_run_keeps_the_finished_results(srv):
    b = submit(srv, [line(i) for i in range(10)], fault="hold:c1:3")
    wait_for("the batch to pause after 3 requests", lambda: held(srv, "c1"))
    assert srv.client.batches.retrieve(b.id).request_counts.completed == 3
    c = srv.client.batches.cancel(b.id)
    assert c.status == "cancelling" and c.cancelling_at
    b = until(srv, b.id)
    assert b.status == "cancelled" and b.cancelled_at and b.request_counts.completed == 3
    assert len(read(srv, b.output_file_id)) == 3
    assert held(srv, "c1") == 0
    with pytest.raises(openai.BadRequestError, match="cancelled"):
        srv.client.batches.cancel(b.id)


def test_a_held_batch_goes_on_when_released(srv):
    b = submit(srv, [line(i) for i in range(4)], fault="hold:r1:2")
    wait_for("the pause", lambda: held(srv, "r1"))
    assert srv.client.batches.retrieve(b.id).status == "in_progress"
    httpx.post(srv.url + "/sim/release", json={"name": "r1"}, timeout=5)
    assert until(srv, b.id).request_counts.completed == 4


def test_expiry_after_n_requests_puts_the_rest_in_the_error_file(srv):
    b = until(srv, submit(srv, [line(i) for i in range(6)], fault="expire:2").id)
    assert b.status == "expired" and b.expired_at
    assert (b.request_counts.completed, b.request_counts.failed) == (2, 4)
    assert len(read(srv, b.output_file_id)) == 2
    errs = read(srv, b.error_file_id)
    assert len(errs) == 4 and all(e["error"]["code"] == "batch_expired" and e["response"] is None for e in errs)


def test_a_batch_the_provider_never_starts_expires_at_its_window(small):
    b = submit(small, [line(0)], fault="wait:30")  # starts after 30 simulated hours: past the 24 h window
    assert b.expires_at - b.created_at <= 1  # 24 x 0.5 s x 0.05 = 0.6 s
    b = until(small, b.id)
    assert b.status == "expired" and b.request_counts.completed == 0 and b.request_counts.failed == 1


def test_caps_and_bad_requests_are_4xx_in_openai_shape(small):
    c = small.client
    with pytest.raises(openai.APIStatusError) as e:
        c.files.create(file=("big.jsonl", b"x" * 5000), purpose="batch")
    assert e.value.status_code == 413 and e.value.body["code"] == "file_too_large"
    f = c.files.create(file=("six.jsonl", jsonl([line(i) for i in range(6)])), purpose="batch")
    with pytest.raises(openai.BadRequestError, match="at most 5"):
        c.batches.create(input_file_id=f.id, endpoint=CHAT, completion_window="24h")
    for bad in ({"endpoint": "/v1/moderations"}, {"completion_window": "48h"}, {"metadata": {"k": 1}}):
        args = {"input_file_id": f.id, "endpoint": CHAT, "completion_window": "24h", **bad}
        with pytest.raises(openai.BadRequestError):
            c.batches.create(**args)
    with pytest.raises(openai.NotFoundError):
        c.batches.create(input_file_id="file-nope", endpoint=CHAT, completion_window="24h")
    with pytest.raises(openai.BadRequestError, match="purpose"):
        c.files.create(file=("a.jsonl", b"{}"), purpose="fine-tune")
    ids = [c.files.create(file=(f"{i}.jsonl", b"y" * 3000), purpose="batch").id for i in range(2)]
    with pytest.raises(openai.BadRequestError) as e:  # 1 file of ~1 KB + 2 x 3000 + 3000 > 10,000
        c.files.create(file=("one-more.jsonl", b"y" * 3500), purpose="batch")
    assert e.value.body["code"] == "storage_limit_exceeded"
    for fid in ids + [f.id]:
        assert c.files.delete(fid).deleted
    with pytest.raises(openai.NotFoundError):
        c.files.retrieve(ids[0])
    assert c.files.create(file=("fits-now.jsonl", b"y" * 3500), purpose="batch").bytes == 3500


def test_low_priority_work_never_delays_an_interactive_admission():
    p = get_profile("hosted-small", 0.1).__class__(**{**get_profile("hosted-small", 0.1).to_dict(), "slots": 4})
    s = SlotScheduler(p)
    for i in range(10):
        s.arrive(f"low{i}", 0.0, Job(10, 50), low=True)
    assert s.active == low_priority_slots(p) == 2  # half the slots: two stay free for interactive work
    for i in range(3):
        s.arrive(f"i{i}", 0.01, Job(10, 50))
    assert {"i0", "i1"} <= set(s.admitted) and "i2" in s.queue
    s.advance(s.next_event_s())
    while "i2" not in s.admitted:
        s.advance(s.next_event_s())
    later_lows = [r for r in s.admitted if r.startswith("low") and s.admitted[r] > 0.0]
    assert all(s.admitted[r] >= s.admitted["i2"] for r in later_lows)


_LINE = st.one_of(
    st.binary(max_size=60),
    st.builds(lambda d: json.dumps(d).encode(), st.dictionaries(
        st.sampled_from(["custom_id", "method", "url", "body", "x"]),
        st.one_of(st.none(), st.integers(), st.text(max_size=8), st.sampled_from(["POST", CHAT, "sim"]),
                  st.fixed_dictionaries({"model": st.sampled_from(["sim", "nope", 3]),
                                         "messages": st.sampled_from([[], [{"role": "user", "content": "hi"}],
                                                                      "x"]),
                                         "max_tokens": st.sampled_from([1, 5, 0, -1, "x"])})),
        max_size=5)))


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(_LINE, max_size=6), st.sampled_from([b"\n", b"\r\n"]))
def test_fuzz_jsonl_upload_and_batch_never_5xx(srv, lines, sep):
    data = sep.join(lines)
    r = httpx.post(srv.url + "/files", files={"file": ("f.jsonl", data)}, data={"purpose": "batch"},
                   headers={"Authorization": "Bearer sk-local-test"}, timeout=10)
    assert r.status_code == 200, r.text
    fid = r.json()["id"]
    r = httpx.post(srv.url + "/batches", json={"input_file_id": fid, "endpoint": CHAT, "completion_window": "24h"},
                   headers={"Authorization": "Bearer sk-local-test"}, timeout=10)
    assert r.status_code == 200, r.text
    b = until(srv, r.json()["id"], timeout_s=30)
    assert b.status in ("completed", "failed")
    srv.client.files.delete(fid)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.binary(max_size=300), st.sampled_from(["multipart/form-data; boundary=abc", "multipart/form-data",
                                                 "text/plain", "multipart/form-data; boundary=\"\""]))
def test_fuzz_raw_multipart_bodies_are_4xx_not_5xx(srv, body, ctype):
    r = httpx.post(srv.url + "/files", content=b"--abc\r\n" + body, headers={"content-type": ctype}, timeout=10)
    assert r.status_code < 500 and "error" in r.json() or r.status_code == 200



def test_files_and_batches_belong_to_their_key(srv):
    b = until(srv, submit(srv, [line(0)]).id)
    other = openai.OpenAI(base_url=srv.url, api_key="sk-another-learner", max_retries=0, timeout=30)
    for call in (lambda: other.batches.retrieve(b.id), lambda: other.files.content(b.output_file_id),
                 lambda: other.files.delete(b.input_file_id), lambda: other.batches.cancel(b.id)):
        with pytest.raises(openai.NotFoundError):
            call()
    assert b.id not in [x.id for x in other.batches.list()] and not list(other.files.list())
    assert srv.client.files.retrieve(b.input_file_id).id == b.input_file_id


def test_a_bug_while_running_fails_the_batch_instead_of_hanging(srv, monkeypatch):
    from helpers.llm_server import batch_run

    def broken(*args):
        raise RuntimeError("boom")
    monkeypatch.setattr(batch_run, "read_lines", broken)
    b = until(srv, submit(srv, [line(0)]).id)
    assert b.status == "failed" and b.errors.data[0].code == "server_error"


class _Retriever:
    def invoke(self, q):
        from langchain_core.documents import Document
        return [Document(page_content=f"Facts about {q}", metadata={"source": "faq.md"})]


def test_lesson_helpers_build_match_and_bill_through_the_sdk(srv):
    from helpers.lessons import batch_api, pricing

    price = pricing.Price("m", 1.0, 0.5, 2.0, 0.5)
    target = batch_api.BatchTarget(srv.client, "sim", "the course simulator", 0.02, 30, {})
    reqs = batch_api.build_requests(["How long is the warranty?", "Can I return it?"], _Retriever(), "sim", 20)
    assert "Facts about How long" in json.dumps(reqs[0].body["messages"]) and reqs[0].body["max_tokens"] == 20
    up = srv.client.files.create(file=("e.jsonl", batch_api.to_jsonl(reqs)), purpose="batch")
    job = batch_api.poll(target, srv.client.batches.create(input_file_id=up.id, endpoint=CHAT,
                                                           completion_window="24h").id)
    rows, errors = batch_api.download(target, job)
    answers = batch_api.match(reqs, list(reversed(rows)))
    for req, ans in zip(reqs, answers):
        assert ans == srv.client.chat.completions.create(**req.body).choices[0].message.content
    n_in, n_out, usd = batch_api.usage_bill(rows, price)
    assert (n_in, n_out) == (job.usage.input_tokens, job.usage.output_tokens) and errors == []
    assert usd == pytest.approx((n_in * 1.0 + n_out * 2.0) / 1e6 * 0.5)
    assert batch_api.match(reqs, []) == [None, None]


def test_on_openai_nothing_is_sent_without_a_typed_yes(srv):
    from helpers.errors import CourseError
    from helpers.lessons import batch_api, pricing

    price = pricing.Price("m", 1.0, 0.5, 2.0, 0.5)
    real = batch_api.BatchTarget(srv.client, "sim", "OpenAI", 60, 600, {})
    reqs = batch_api.build_requests(["Q?"], _Retriever(), "sim", 10)
    with pytest.raises(CourseError, match="Not sent"):
        batch_api.confirm_spend(real, reqs, price, ask=lambda prompt: "y")
    assert batch_api.confirm_spend(real, reqs, price, ask=lambda prompt: " YES ") > 0


def test_interactive_requests_never_queue_behind_a_running_batch():
    s = Server(slots=4)  # batches together may hold 2 of the 4 slots
    try:
        bs = [submit(s, [line(i, max_tokens=400) for i in range(100)]) for _ in range(2)]  # 2 x 2 offered
        wait_for("both batches running", lambda: all(s.client.batches.retrieve(b.id).status == "in_progress"
                                                     for b in bs))
        wait_for("batch work in two slots", lambda: httpx.get(s.url + "/sim/stats").json()["busy_slots"] == 2)
        for _ in range(3):
            raw = s.client.chat.completions.with_raw_response.create(**line(0)["body"])
            assert float(raw.headers["x-sim-queue-ms"]) == 0.0
        assert httpx.get(s.url + "/sim/stats").json()["busy_slots"] <= 2
        for b in bs:
            assert s.client.batches.retrieve(b.id).status == "in_progress"
            s.client.batches.cancel(b.id)
            assert until(s, b.id).status == "cancelled"
    finally:
        s.stop()
