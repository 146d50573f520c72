"""Lesson 06's chat page in a real browser (Playwright + Debian's Chromium), against the real app.

Type a question: the first text is painted while the model is still held mid-answer (so before
completion), sources show, and the browser's TTFT is below its total. Stop and closing the page
each make the simulator count a cancelled request with no token written after it. A model answer
that contains `<img src=x onerror=...>` (from a tiny fake OpenAI-compatible server) shows as text.

Needs /usr/bin/chromium (Debian package `chromium`); skipped without it.
"""
from __future__ import annotations

import json
import os
import socket
import threading

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.responses import StreamingResponse
from starlette.routing import Route
from support.browser import CHROMIUM, CHROMIUM_ARGS
from support.waiting import wait_for

from helpers.chat_app import start_chat_app

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                reason=f"no {CHROMIUM} (apt-get install -y chromium)")
INJECTION = '<img src=x onerror="window.pwned=1">'


@pytest.fixture(scope="module")
def app(sim):
    return start_chat_app(server=sim, deadline_s=30, timeout_s=30)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()




def open_page(browser, url):
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    return page, errors


def run_state(page):
    return page.evaluate("() => window.lastRun && {status: window.lastRun.status, ttft: window.lastRun.ttft_ms, "
                         "total: window.lastRun.total_ms}")


def release(sim, name):
    httpx.post(sim.base_url + "/sim/release", json={"name": name}, timeout=5)


def test_answer_streams_into_the_page_before_it_is_complete(app, sim, browser):
    page, errors = open_page(browser, app.url + "?fault=hold:page:3")
    page.fill("#question", "How long is the return window?")
    page.click("#send")
    assert page.text_content("#status") in ("thinking…", "answering…")
    wait_for("text painted while the model is held mid-answer",
             lambda: page.text_content("#answer").strip() and sim.stats()["held"].get("page"))
    assert run_state(page)["status"] == "running" and page.is_enabled("#stop")
    assert page.locator("#sources li").count() >= 1 and "returns.md" in page.text_content("#sources")
    release(sim, "page")
    state = wait_for("the answer to finish",
                     lambda: (run_state(page) or {}).get("status") == "done" and run_state(page))
    assert 0 < state["ttft"] < state["total"]
    assert "browser: first text at" in page.text_content("#timing") and page.is_enabled("#send")
    assert not errors
    page.close()


@pytest.mark.parametrize("how", ["stop", "close"])
def test_stop_or_closing_the_page_cancels_the_model_call(app, sim, browser, how):
    name = f"leave-{how}"
    page, _ = open_page(browser, app.url + f"?fault=hold:{name}:3")
    page.click("#send")
    wait_for("text while held", lambda: page.text_content("#answer").strip() and sim.stats()["held"].get(name))
    before = sim.stats()
    if how == "stop":
        page.click("#stop")
        wait_for("the page to say stopped", lambda: (run_state(page) or {}).get("status") == "stopped")
    else:
        page.close()
    after = wait_for("the simulator to count a cancel",
                     lambda: (s := sim.stats())["cancelled"] > before["cancelled"] and s)
    assert after["tokens_after_disconnect"] == before["tokens_after_disconnect"]   # generation stopped
    assert name not in after["held"]
    if how == "stop":
        assert page.is_enabled("#send") and not page.is_enabled("#stop")
        page.close()


def test_too_long_a_question_shows_the_apps_message(app, browser):
    page, _ = open_page(browser, app.url)
    page.fill("#question", "x" * 600)
    page.click("#send")
    wait_for("the 413 message", lambda: "limit is" in page.text_content("#error"))
    assert (run_state(page) or {}).get("status") == "rejected" and page.is_enabled("#send")
    page.close()


# ---- a planted injection in the model's answer -------------------------------------------------

def _chunk(delta, finish=None):
    body = {"id": "fake-1", "object": "chat.completion.chunk", "created": 0, "model": "fake",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return f"data: {json.dumps(body)}\n\n"


async def fake_chat(request):
    async def body():
        for piece in [{"role": "assistant", "content": ""}, {"content": "Here you go: "},
                      {"content": INJECTION}, {"content": " <b>bold?</b>"}]:
            yield _chunk(piece)
        yield _chunk({}, "stop")
        yield "data: [DONE]\n\n"
    return StreamingResponse(body(), media_type="text/event-stream")


@pytest.fixture(scope="module")
def fake_llm():
    """A tiny OpenAI-compatible server whose every answer carries an HTML injection."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(Starlette(routes=[Route("/v1/chat/completions", fake_chat,
                                                                   methods=["POST"])]),
                                           host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for("the fake server", lambda: server.started, 20)
    yield f"http://127.0.0.1:{port}/v1"
    server.should_exit = True
    thread.join(10)


def test_html_in_the_model_answer_shows_as_text(sim, browser, fake_llm, monkeypatch):
    monkeypatch.setenv("LLM_BACKEND", "compatible")
    monkeypatch.setenv("LLM_BASE_URL", fake_llm)
    monkeypatch.setenv("LLM_MODEL", "fake")
    monkeypatch.setenv("CHAT_APP_EMBED_URL", sim.base_url)   # retrieval on the simulator
    app = start_chat_app(deadline_s=30, timeout_s=30)
    page, errors = open_page(browser, app.url)
    page.click("#send")
    wait_for("the answer", lambda: (run_state(page) or {}).get("status") == "done")
    assert INJECTION in page.text_content("#answer")
    assert page.locator("#answer img, #answer b").count() == 0
    assert page.evaluate("() => window.pwned") is None and not errors
    page.close()
