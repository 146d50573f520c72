"""Lesson 06's client-side clock (helpers/chat_app/crowd.py, measure_app).

The "app to client" gap once read 40-150 ms on loopback because the clock started before
`httpx.Client()` was built, and building one loads the CA bundle for TLS (httpx/_config.py,
create_ssl_context). A fake clock and a fake client make that cost exactly 1 s here, so the
test checks where the clock starts without timing anything real.
"""
from __future__ import annotations

import types

import pytest

from helpers.chat_app import crowd
from helpers.chat_app.events import sse


class Clock:
    def __init__(self):
        self.now = 100.0

    def perf_counter(self):
        return self.now


class FakeResponse:
    status_code = 200

    def __init__(self, clock):
        self.clock = clock

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def iter_text(self):
        for event, data in [("sources", {"sources": [], "t_s": 0.01}), ("delta", {"text": "Hi."}),
                            ("done", {"timings": {}})]:
            self.clock.now += 0.01   # each event takes 10 ms to arrive
            yield sse(event, data).decode()


class FakeClient:
    BUILD_S = 1.0   # what building the client costs (loading the CA bundle), made large

    def __init__(self, clock, **kwargs):
        self.clock = clock
        clock.now += self.BUILD_S

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def stream(self, method, url, json=None):
        return FakeResponse(self.clock)


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(crowd, "time", types.SimpleNamespace(perf_counter=c.perf_counter))
    monkeypatch.setattr(crowd.httpx, "Client", lambda **kw: FakeClient(c, **kw))
    return c


def test_measure_app_starts_its_clock_after_the_client_is_built(clock):
    a = crowd.measure_app("http://app/", "How long is the return window?")
    assert a.ok and a.text == "Hi."
    assert a.sources_s == pytest.approx(0.01)
    assert a.wait_s == pytest.approx(0.02)      # not 1.02: building the client is not the user's wait
    assert a.latency_s == pytest.approx(0.03)
