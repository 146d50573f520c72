"""Tests for helpers/stream_widgets.py (lesson 02), against the real simulator over loopback HTTP.

The plain functions (`race`, `stop_stream`) are checked first, then the widgets
are driven by their click handlers: click, wait for the worker thread, assert.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from helpers import chat_model, measure_invoke, start_simulator, stream_widgets  # noqa: E402
from helpers.lessons.stream_widgets import RaceResult, StoppableStream, StopResult, StreamRace  # noqa: E402

PROMPT = "Explain streaming in 300 words."


@pytest.fixture
def llm(monkeypatch):
    monkeypatch.setenv("LLM_BACKEND", "sim")
    monkeypatch.setenv("LLM_SIM_TIME_SCALE", "0.1")
    monkeypatch.delenv("LLM_SIM_PROFILE", raising=False)
    monkeypatch.delenv("LLM_MODEL", raising=False)
    return chat_model(max_tokens=400, timeout=20)


@pytest.fixture
def server(llm):
    srv = start_simulator()
    assert srv.time_scale == 0.1 and srv.base_url == llm.openai_api_base
    return srv


@pytest.fixture
def full_tokens(llm):
    return measure_invoke(llm, PROMPT).completion_tokens


def wait_for(condition, timeout_s=10.0):
    deadline = time.perf_counter() + timeout_s
    while not condition():
        assert time.perf_counter() < deadline, "timed out"
        time.sleep(0.002)


# ---- race ------------------------------------------------------------------------------------

def test_race_stream_shows_text_long_before_invoke_ends(llm, server):
    """Both requests pause at 5 tokens (X-Sim-Fault: hold) until released, so the order of
    events is fixed whatever the CPU load: stream text first, then invoke's whole answer."""
    import threading

    import httpx
    held = chat_model(max_tokens=400, timeout=20, default_headers={"X-Sim-Fault": "hold:race02:5"})
    seen = {"invoke": [], "stream": []}
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("r", stream_widgets.race(
        held, PROMPT, lambda s, t: seen["invoke"].append((s, t)), lambda s, t: seen["stream"].append((s, t)))))
    t.start()
    wait_for(lambda: server.stats()["held"].get("race02") == 2 and len(seen["stream"]) >= 1, 30)
    assert seen["invoke"] == []  # the stream has shown text; invoke has nothing yet
    assert httpx.post(server.base_url + "/sim/release", json={"name": "race02"}).json()["released"] == 2
    t.join(30)
    result = out["r"]
    assert isinstance(result, RaceResult)
    assert result.stream.ttft_s < seen["invoke"][0][1] and result.first_text_speedup > 1
    assert result.invoke.text == result.stream.text == "".join(s for s, _ in seen["stream"])
    assert seen["invoke"] == [(result.invoke.text, result.invoke.total_s)]
    assert len(seen["stream"]) > 100 and seen["stream"][0][1] == result.stream.ttft_s


def test_race_reports_each_side_as_it_finishes(llm):
    finished = []
    result = stream_widgets.race(llm, PROMPT, on_finish=lambda mode, r: finished.append((mode, r)))
    assert dict(finished) == {"invoke": result.invoke, "stream": result.stream}


def test_race_widget_click_fills_both_panels_and_reenables_button(llm):
    w = StreamRace(llm, PROMPT)
    assert w.widget.children[0] is w.button and not w.button.disabled
    w.button.click()
    assert w.button.disabled                       # disabled while the race runs
    w.thread.join(20)
    assert not w.thread.is_alive() and not w.button.disabled
    r = w.result
    assert r.invoke.text == r.stream.text
    for mode in ("invoke", "stream"):
        assert r.invoke.text[-40:] in w.panels[mode].value.replace("&#x27;", "'")
        assert "done at" in w.watches[mode].label.value
    assert f"first text at {r.stream.ttft_s:.2f} s" in w.watches["stream"].label.value
    assert f"done at {r.invoke.total_s:.2f} s" in w.watches["invoke"].label.value
    assert "sooner" in w.summary.value and not w.log.outputs


def test_race_widget_shows_errors_in_one_line_and_reenables(monkeypatch):
    monkeypatch.setenv("LLM_BACKEND", "sim")
    monkeypatch.setenv("LLM_SIM_TIME_SCALE", "0.1")
    broken = chat_model(default_headers={"X-Sim-Fault": "500"}, max_retries=0, timeout=5)
    w = StreamRace(broken, PROMPT)
    w.button.click()
    w.thread.join(20)
    assert not w.button.disabled and w.result is None
    text = "".join(o.get("text", "") for o in w.log.outputs)
    assert text.count("\n") == 1 and "500" in text, text


# ---- stopping --------------------------------------------------------------------------------

def held(name: str, n_tokens: int, **kw):
    """A model whose answers pause at n_tokens on the simulator (X-Sim-Fault: hold) until
    released: the server cannot run ahead of a slow client, whatever the CPU load."""
    return chat_model(max_tokens=400, timeout=20, default_headers={"X-Sim-Fault": f"hold:{name}:{n_tokens}"}, **kw)


def release(server, name: str) -> int:
    import httpx
    return httpx.post(server.base_url + "/sim/release", json={"name": name}, timeout=5).json()["released"]


def after_pause(server, name: str, pieces: list, n: int):
    """should_stop for stop_stream: True once n pieces arrived AND the server has paused at
    its hold, so it has written exactly the hold's tokens when the client hangs up."""
    def stop() -> bool:
        if len(pieces) < n:
            return False
        wait_for(lambda: server.stats()["held"].get(name) == 1)
        return True
    return stop


def test_stop_stream_after_a_few_chunks_saves_tokens_on_the_server(llm, server, full_tokens):
    pieces = []
    r = stream_widgets.stop_stream(held("stop02", 8), PROMPT, should_stop=after_pause(server, "stop02", pieces, 5),
                                   on_text=lambda s, t: pieces.append(s), server=server,
                                   full_tokens=full_tokens)
    assert isinstance(r, StopResult) and r.stream.stopped_early
    assert r.tokens_received == 5 < full_tokens
    assert r.server_cancelled == 1
    assert r.server_tokens == 8 and r.server_after_disconnect == 0  # written, not all read
    assert r.tokens_not_generated == full_tokens - 8
    summary = stream_widgets._stop_summary(r)
    assert "the server wrote 8 (billed, read or not; 0 after it saw you go)" in summary
    assert f"{full_tokens - 8} tokens never generated" in summary and "never billed" not in summary


def test_the_server_really_stopped_generating(llm, server, full_tokens):
    before, pieces = server.stats(), []
    r = stream_widgets.stop_stream(held("stop02b", 8), PROMPT, should_stop=after_pause(server, "stop02b", pieces, 1),
                                   on_text=lambda s, t: pieces.append(s))
    stream_widgets.server_change(server, before)   # waits until the request has left the server
    assert release(server, "stop02b") == 0         # nothing left paused that could write on
    grew = server.stats()["completion_tokens"] - before["completion_tokens"]
    assert r.tokens_received == 1 and grew == 8
    assert r.server_tokens is None                 # no server given: nothing claimed


def test_stop_stream_that_runs_to_the_end(llm, server, full_tokens):
    r = stream_widgets.stop_stream(llm, PROMPT, should_stop=lambda: False, server=server)
    assert not r.stream.stopped_early and r.full_tokens == full_tokens == r.server_tokens
    assert r.server_cancelled == 0 and r.tokens_not_generated == 0
    assert "all" in stream_widgets._stop_summary(r)


def test_stop_button_cancels_mid_way(llm, server, full_tokens):
    slow = held("button02", 10, model="hosted-large")   # pauses at 10 tokens until released
    w = StoppableStream(slow, PROMPT, server=server, full_tokens=full_tokens)
    assert w.stop.disabled and not w.start.disabled
    before = server.stats()["completion_tokens"]
    pieces, show = [], w._add_text
    w._add_text = lambda text, t_s: (pieces.append(text), show(text, t_s))
    w.start.click()
    assert w.start.disabled and not w.stop.disabled
    # the server paused at 10 tokens and the widget has shown all 10: now press Stop
    wait_for(lambda: len(pieces) == 10 and server.stats()["held"].get("button02") == 1)
    w.stop.click()
    assert release(server, "button02") == 1   # the next piece arrives, and the loop sees Stop
    w.thread.join(20)
    r = w.result
    assert r.stream.stopped_early and r.tokens_received == 11 < full_tokens
    assert server.stats()["completion_tokens"] - before == r.server_tokens >= r.tokens_received
    assert f"the server wrote {r.server_tokens}" in w.summary.value
    assert f"{r.tokens_not_generated} tokens never generated" in w.summary.value
    assert "never billed" not in w.summary.value and "billed, read or not" in w.summary.value
    assert not w.start.disabled and w.stop.disabled
    assert w.text and w.text[:20] in w.panel.value


def test_public_names_have_docstrings_naming_lesson_02():
    for name in stream_widgets.__all__:
        assert "lesson 02" in (getattr(stream_widgets, name).__doc__ or "").lower(), name
