"""Lesson 06: the app's event stream, as Server-Sent Events (SSE).

One answer is, in this order:

    event: sources   data: {"sources": [{"source", "title", "snippet"}], "t_s"}
    event: delta     data: {"text"}                      (many)
    event: done      data: {"usage", "cost_usd", "price_model", "timings"}
 or event: error     data: {"kind", "message"}           (instead of done; one line for the page)

`sse(name, data)` writes one event; `parse_sse(text)` reads them back (tests, notebook).
`error_event(exc)` turns any failure into one line that says what happened and what
to do, and never repeats the exception's own text (it can hold URLs or keys).
"""
from __future__ import annotations

import json

import httpx
import openai


def sse(event: str, data: dict) -> bytes:
    """One SSE event (lesson 06): `event: NAME`, one `data:` line of JSON, a blank line."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def parse_sse(text: str) -> list[tuple[str, dict]]:
    """[(event name, data dict)] from an SSE body, complete events only (lesson 06)."""
    out = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        name, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
        if data:
            out.append((name, json.loads("\n".join(data))))
    return out


def error_event(exc: BaseException, deadline_s: float) -> tuple[str, str]:
    """(kind, one-line message) for the page (lesson 06). Never includes str(exc)."""
    if isinstance(exc, TimeoutError):
        return "timeout", (f"No complete answer within {deadline_s:g} s: the model is stalled or "
                           "overloaded. Try again in a minute.")
    if isinstance(exc, openai.RateLimitError):
        return "rate_limited", "The model is busy (HTTP 429, rate limited): wait a few seconds, then ask again."
    if isinstance(exc, openai.AuthenticationError):
        return "auth", "The model's server rejected the app's API key: the app's owner must check it."
    if isinstance(exc, openai.APIStatusError):
        return "upstream_error", (f"The model's server failed (HTTP {exc.status_code}): "
                                  "try again in a moment.")
    if isinstance(exc, openai.APITimeoutError):
        return "timeout", "The model stopped sending: try again in a minute."
    if isinstance(exc, (openai.APIConnectionError, httpx.TransportError)):
        return "dropped", "The connection to the model broke off mid-answer: ask again."
    return "internal", f"The app failed ({type(exc).__name__}): ask again; if it repeats, check the server log."
