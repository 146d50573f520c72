"""Errors in OpenAI's JSON shape: {"error": {"message", "type", "param", "code"}}.

`error` builds any of them (400 bad body, 401 key, 404 route, 413 body too large,
500...); `rate_limited` is the 429 with the retry-after headers the OpenAI SDK
reads, and counts it; `http_error` turns Starlette's own errors (404, 405) into
the same shape.
"""
from __future__ import annotations

import math

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response


def error(status: int, message: str, type_: str = "invalid_request_error",
          code: str | None = None, param: str | None = None, headers: dict | None = None) -> JSONResponse:
    """An error in OpenAI's JSON shape."""
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


def rate_limited(sim, key: str, message: str, wait_s: float) -> Response:
    """A 429 that says how long to wait (retry-after, retry-after-ms), counted for `key`
    on `sim` (a state.Simulator)."""
    sim.count(key, "rejected_429")
    wait_s = max(wait_s, 0.001)
    headers = {"retry-after": str(max(1, math.ceil(wait_s))), "retry-after-ms": str(int(wait_s * 1000) + 1)}
    return error(429, f"{message}. Please try again in {wait_s:.2f}s.", "requests",
                 "rate_limit_exceeded", headers=headers)


async def http_error(request: Request, exc: HTTPException) -> Response:
    """Starlette's HTTP errors (unknown route, wrong method) in OpenAI's shape."""
    return error(exc.status_code, f"{request.method} {request.url.path}: {exc.detail}",
                 code="not_found" if exc.status_code == 404 else None)
