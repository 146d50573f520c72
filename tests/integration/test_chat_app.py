"""Lesson 06's chat app (helpers/chat_app) over real loopback HTTP, against the simulator.

The event stream: sources, then text deltas, then one final event with usage and timings;
4xx JSON for bad input; one error event (never a hang, never a key) for each simulated fault;
a client that leaves makes the simulator count a cancelled request, while the naive endpoint
lets the model finish. Tests wait for events and counters (holds via X-Sim-Fault), never the clock.
"""
from __future__ import annotations

import re
import subprocess
import sys
import threading
import time

import httpx
import openai
import pytest
from support.waiting import wait_for

from helpers.chat_app import parse_sse, start_chat_app
from helpers.chat_app.app import MAX_QUESTION_CHARS
from helpers.chat_app.events import error_event, sse

QUESTION = "How long is the return window?"
DEADLINE_S = 4.0


@pytest.fixture(scope="module")
def app(sim):
    return start_chat_app(server=sim, deadline_s=DEADLINE_S, timeout_s=30)




def ask(app, question=QUESTION, fault=None, path="api/chat"):
    body = {"question": question, **({"fault": fault} if fault else {})}
    return httpx.post(app.url + path, json=body, timeout=60)


# ---- pure parts -------------------------------------------------------------------------------

def test_sse_round_trip():
    body = (sse("sources", {"sources": []}) + sse("delta", {"text": "a\nb"}) + sse("done", {"x": 1})).decode()
    assert parse_sse(body) == [("sources", {"sources": []}), ("delta", {"text": "a\nb"}), ("done", {"x": 1})]


def test_error_lines_never_repeat_the_exception_text():
    key = "sk-test-proj-ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    req = httpx.Request("POST", "http://x/v1/chat/completions")
    resp = httpx.Response(401, request=req)
    errors = [openai.AuthenticationError(f"Incorrect API key provided: {key}", response=resp, body=None),
              openai.InternalServerError(f"boom {key}", response=httpx.Response(500, request=req), body=None),
              openai.APIConnectionError(message=f"to {key}", request=req), RuntimeError(key), TimeoutError()]
    kinds = set()
    for exc in errors:
        kind, message = error_event(exc, 3.0)
        kinds.add(kind)
        assert key not in message and "sk-" not in message and "\n" not in message
    assert kinds == {"auth", "upstream_error", "dropped", "internal", "timeout"}


# ---- the event stream ----------------------------------------------------------------------------

def test_events_come_in_order_with_usage_and_timings(app):
    r = ask(app)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["cache-control"].startswith("no-cache") and r.headers["x-accel-buffering"] == "no"
    events = parse_sse(r.text)
    names = [n for n, _ in events]
    assert names[0] == "sources" and names[-1] == "done" and set(names[1:-1]) == {"delta"}, names
    assert [s["source"] for s in events[0][1]["sources"]] and "returns.md" in r.text
    done = events[-1][1]
    assert done["usage"]["output_tokens"] > 0 and done["usage"]["input_tokens"] > 0
    assert done["cost_usd"] > 0 and done["price_model"]
    t = done["timings"]
    assert 0 < t["sources_s"] <= t["model_start_s"] <= t["ttft_s"] <= t["total_s"]
    assert 0 < t["model_ttft_s"] <= t["ttft_s"]


@pytest.mark.parametrize("body, status, words", [
    ({"question": ""}, 400, "Type a question"),
    ({"question": "   "}, 400, "Type a question"),
    ({"question": 42}, 400, "Type a question"),
    ({"question": "x" * (MAX_QUESTION_CHARS + 1)}, 413, f"limit is {MAX_QUESTION_CHARS}"),
])
def test_bad_input_gets_a_4xx_with_one_clear_line(app, sim, body, status, words):
    before = sim.stats()["attempts"]
    r = httpx.post(app.url + "api/chat", json=body, timeout=10)
    assert r.status_code == status and words in r.json()["error"]["message"]
    assert sim.stats()["attempts"] == before   # nothing was sent to the model


def test_not_json_gets_a_400(app):
    r = httpx.post(app.url + "api/chat", content=b"question=hi", timeout=10)
    assert r.status_code == 400 and "JSON" in r.json()["error"]["message"]


@pytest.mark.parametrize("fault, kind", [("429", "rate_limited"), ("500", "upstream_error"),
                                         ("drop", "dropped"), ("stall", "timeout")])
def test_each_fault_ends_in_one_error_event(app, sim, fault, kind):
    before, t0 = sim.stats(), time.perf_counter()
    r = ask(app, fault=fault)
    events = parse_sse(r.text)
    assert events[0][0] == "sources" and events[-1][0] == "error", [n for n, _ in events]
    assert [n for n, _ in events].count("error") == 1 and "done" not in r.text
    assert events[-1][1]["kind"] == kind
    assert "sim-no-key" not in r.text and "Bearer" not in r.text
    if fault == "stall":   # the total deadline, not a per-read timeout (timeout_s=30 here)
        assert time.perf_counter() - t0 < 30
        wait_for("the stalled upstream request to be cancelled",
                 lambda: sim.stats()["cancelled"] > before["cancelled"]
                 and sim.stats()["in_flight"] == before["in_flight"])


def _read_until_first_delta(client, url, body):
    with client.stream("POST", url, json=body) as resp:
        seen = ""
        for text in resp.iter_text():
            seen += text
            if "event: delta" in seen:
                return seen
    return seen


def test_leaving_mid_answer_cancels_the_model_call(app, sim):
    before, app_before = sim.stats(), app.stats()
    with httpx.Client(timeout=30) as client:   # the model is held after 3 tokens: still writing
        seen = _read_until_first_delta(client, app.url + "api/chat", {"question": QUESTION, "fault": "hold:leave:3"})
    assert "event: sources" in seen
    wait_for("the simulator to count a cancel", lambda: sim.stats()["cancelled"] > before["cancelled"])
    wait_for("the app to count a cancel", lambda: app.stats()["cancelled"] > app_before["cancelled"])
    after = sim.stats()
    assert after["completed"] - before["completed"] == 1   # only the question's embedding request
    assert after["tokens_after_disconnect"] == before["tokens_after_disconnect"]
    assert sim.stats()["held"] == {}


def test_the_naive_endpoint_lets_the_model_finish(app, sim):
    before, app_before = sim.stats(), app.stats()
    with httpx.Client(timeout=30) as client:
        _read_until_first_delta(client, app.url + "api/chat_naive", {"question": QUESTION, "fault": "hold:naive:3"})
    wait_for("the model call to be held", lambda: sim.stats()["held"].get("naive"))
    httpx.post(sim.base_url + "/sim/release", json={"name": "naive"}, timeout=5)
    wait_for("the naive producer to finish", lambda: app.stats()["naive_finished"] > app_before["naive_finished"])
    after = sim.stats()
    assert after["cancelled"] == before["cancelled"]           # nobody told the model
    assert after["completed"] - before["completed"] == 2       # embedding + the whole answer


def _stream_in_thread(url, body, received):
    def run():
        with httpx.Client(timeout=60) as client, client.stream("POST", url, json=body) as resp:
            for text in resp.iter_text():
                received.append(text)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_a_buffering_proxy_holds_everything_until_the_end(app, sim):
    received: list[str] = []
    t = _stream_in_thread(app.url + "proxy/api/chat?bare=1", {"question": QUESTION, "fault": "hold:buf:3"}, received)
    wait_for("the model call to be held after 3 tokens", lambda: sim.stats()["held"].get("buf"))
    time.sleep(0.3)   # the three tokens reach the proxy (and stay there)
    assert "".join(received) == ""
    httpx.post(sim.base_url + "/sim/release", json={"name": "buf"}, timeout=5)
    t.join(30)
    names = [n for n, _ in parse_sse("".join(received))]
    assert names[0] == "sources" and names[-1] == "done"


def test_x_accel_buffering_no_gets_through_the_same_proxy(app, sim):
    received: list[str] = []
    t = _stream_in_thread(app.url + "proxy/api/chat", {"question": QUESTION, "fault": "hold:pass:3"}, received)
    wait_for("the first text through the proxy while the model is held",
             lambda: "event: delta" in "".join(received) and sim.stats()["held"].get("pass"))
    httpx.post(sim.base_url + "/sim/release", json={"name": "pass"}, timeout=5)
    t.join(30)
    assert parse_sse("".join(received))[-1][0] == "done"


def test_the_page_has_no_cdn_and_no_innerhtml(app):
    html = httpx.get(app.url, timeout=10).text
    assert "<script src" not in html and "https://" not in html
    assert not re.search(r"\.(innerHTML|outerHTML)\s*\+?=|insertAdjacentHTML|document\.write", html)
    assert "textContent" in html and "AbortController" in html and "performance.now()" in html


def test_start_is_idempotent(app, sim):
    assert start_chat_app(server=sim, deadline_s=DEADLINE_S, timeout_s=30) is app


def test_cli_rejects_bad_options():
    r = subprocess.run([sys.executable, "-m", "helpers.chat_app", "--deadline", "0"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and "must be positive" in r.stderr


def test_public_names_have_docstrings_naming_lesson_06():
    import inspect

    from helpers import chat_app
    from helpers.chat_app import crowd, events
    names = [(chat_app, n) for n in chat_app.__all__]
    names += [(m, n) for m in (crowd, events) for n, obj in vars(m).items() if not n.startswith("_")
              and getattr(obj, "__module__", None) == m.__name__ and (inspect.isfunction(obj) or inspect.isclass(obj))]
    for module, name in names:
        doc = getattr(module, name).__doc__ or ""
        assert "lesson 06" in doc.lower(), f"{module.__name__}.{name}"


def test_a_per_user_cap_turns_the_extra_request_away(sim):
    capped = start_chat_app(server=sim, deadline_s=DEADLINE_S, timeout_s=30, per_user_cap=1)
    received: list[str] = []
    body = {"question": QUESTION, "fault": "hold:cap:3"}
    with httpx.Client(timeout=30) as client:
        t = threading.Thread(target=lambda: received.append(
            client.post(capped.url + "api/chat", json=body, headers={"X-User": "ann"}).text), daemon=True)
        t.start()
        wait_for("ann's first answer to be held", lambda: sim.stats()["held"].get("cap"))
        second = client.post(capped.url + "api/chat", json={"question": QUESTION}, headers={"X-User": "ann"})
        other = client.post(capped.url + "api/chat", json={"question": QUESTION}, headers={"X-User": "bob"})
        httpx.post(sim.base_url + "/sim/release", json={"name": "cap"}, timeout=5)
        t.join(30)
        again = client.post(capped.url + "api/chat", json={"question": QUESTION}, headers={"X-User": "ann"})
    assert second.status_code == 429 and "in progress" in second.json()["error"]["message"]
    assert parse_sse(other.text)[-1][0] == "done" and parse_sse(received[0])[-1][0] == "done"
    assert again.status_code == 200   # the slot came back when the first answer ended


def test_a_blank_guess_prints_no_guess_not_an_empty_slot():
    from helpers.chat_app import crowd
    from helpers.quiz import ____

    assert crowd.guessed(____) == "no guess" and crowd.guessed(None) == "no guess"
    assert crowd.guessed(0.5, "{:.0%}") == "50%" and crowd.guessed(3, "{:g}x") == "3x"
    with pytest.raises(ValueError, match="must be a number"):
        crowd.guessed("fast")
