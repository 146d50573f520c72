"""Checking request bodies: every bad input becomes a 4xx with a clear message.

Bodies larger than the limit are refused with 413 before they are read whole.
Unknown fields are ignored (clients send many optional ones).
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from starlette.requests import ClientDisconnect, Request

from . import structured

ROLES = {"system", "developer", "user", "assistant", "tool", "function"}


class BadRequest(Exception):
    def __init__(self, message: str, param: str | None = None, status: int = 400,
                 code: str | None = "invalid_request"):
        super().__init__(message)
        self.message, self.param, self.status, self.code = message, param, status, code


async def read_json_body(request: Request, limit: int) -> dict:
    """The body as a JSON object; 413 if larger than `limit` bytes, 400 if not JSON."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):  # not "²", not "-1"
            raise BadRequest("Content-Length must be a whole number")
        if len(declared) > 15 or int(declared) > limit:  # int() of 5000 digits raises
            raise BadRequest(f"Request body too large: at most {limit} bytes", status=413,
                             code="request_too_large")
    chunks, size = [], 0
    try:
        async for part in request.stream():
            size += len(part)
            if size > limit:
                raise BadRequest(f"Request body too large: at most {limit} bytes", status=413,
                                 code="request_too_large")
            chunks.append(part)
    except ClientDisconnect:
        raise BadRequest("client disconnected while sending the body") from None
    raw = b"".join(chunks)
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise BadRequest("The body is not valid JSON.") from None
    if (b"\\u" in raw or b"\xed" in raw) and _has_lone_surrogate(body):
        raise BadRequest("The body contains a lone UTF-16 surrogate (e.g. \\ud800): send valid Unicode text.")
    if not isinstance(body, dict):
        raise BadRequest("The body must be a JSON object.")
    return body


def _has_lone_surrogate(body: object) -> bool:
    """True if a string in the parsed body holds a lone surrogate (it could not be
    encoded as UTF-8 later, e.g. in an error message or a hash)."""
    try:
        json.dumps(body, ensure_ascii=False).encode("utf-8")
        return False
    except UnicodeEncodeError:
        return True


def _int(body: dict, name: str, lo: int, hi: int) -> int | None:
    v = body.get(name)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise BadRequest(f"'{name}' must be an integer from {lo} to {hi}, got {json.dumps(v)[:40]}", name)
    return v


def _model(body: dict, models: dict) -> str:
    m = body.get("model")
    if not isinstance(m, str) or not m:
        raise BadRequest("'model' is required and must be a string", "model")
    if m not in models:
        raise BadRequest(f"The model '{m[:60]}' does not exist. Available: {', '.join(models)}",
                         "model", status=404, code="model_not_found")
    return m


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: list
    stream: bool
    include_usage: bool
    max_tokens: int | None
    temperature: float
    seed: int | None
    stop: list
    output: structured.OutputSpec | None = None  # tools / tool_choice / response_format


def parse_chat(body: dict, models: dict) -> ChatRequest:
    """Validate a /v1/chat/completions body (BadRequest names the bad field)."""
    model = _model(body, models)
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        raise BadRequest("'messages' must be a non-empty list", "messages")
    for i, m in enumerate(msgs):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or m["role"] not in ROLES:
            raise BadRequest(f"messages[{i}] must be an object with a 'role' of {sorted(ROLES)}", f"messages[{i}]")
        c = m.get("content")
        if not (c is None or isinstance(c, str) or isinstance(c, list)) or isinstance(c, list) and not all(
                isinstance(p, dict) and isinstance(p.get("text", ""), str) for p in c):
            raise BadRequest(f"messages[{i}].content must be a string or a list of parts "
                             "like {\"type\": \"text\", \"text\": \"...\"}", f"messages[{i}].content")
    stream = body.get("stream", False)
    if not isinstance(stream, bool) and stream is not None:
        raise BadRequest("'stream' must be true or false", "stream")
    opts = body.get("stream_options") or {}
    if not isinstance(opts, dict):
        raise BadRequest("'stream_options' must be an object", "stream_options")
    n = _int(body, "n", 1, 128)
    if n not in (None, 1):
        raise BadRequest("This simulator supports only n=1", "n")
    mt = _int(body, "max_completion_tokens", 1, 100_000)
    mt = mt if mt is not None else _int(body, "max_tokens", 1, 100_000)
    temp = body.get("temperature", 0.0)
    temp = 0.0 if temp is None else temp
    if isinstance(temp, bool) or not isinstance(temp, (int, float)) or not 0 <= temp <= 2:
        raise BadRequest("'temperature' must be a number from 0 to 2", "temperature")
    stop = body.get("stop")
    stop = [] if stop is None else [stop] if isinstance(stop, str) else stop
    if not isinstance(stop, list) or len(stop) > 4 or not all(isinstance(s, str) for s in stop):
        raise BadRequest("'stop' must be a string or a list of up to 4 strings", "stop")
    try:
        output = structured.parse(body)
    except structured.SchemaError as e:
        raise BadRequest(e.message, e.param, code=e.code) from None
    return ChatRequest(model, msgs, bool(stream), bool(opts.get("include_usage")), mt,
                       float(temp), _int(body, "seed", -2**63, 2**63 - 1), stop, output)


@dataclass(frozen=True)
class EmbeddingsRequest:
    model: str
    inputs: list
    dimensions: int
    encoding_format: str


def parse_embeddings(body: dict, models: dict) -> EmbeddingsRequest:
    """Validate a /v1/embeddings body: input is a string, a list of strings or token lists."""
    model = _model(body, models)
    inp = body.get("input")
    if isinstance(inp, str):
        inp = [inp]
    if not isinstance(inp, list) or not inp or len(inp) > 2048:
        raise BadRequest("'input' must be a string or a non-empty list of at most 2048 items", "input")
    if all(isinstance(x, int) and not isinstance(x, bool) for x in inp):
        inp = [" ".join(map(str, inp))]
    texts = []
    for x in inp:
        if isinstance(x, list) and all(isinstance(t, int) and not isinstance(t, bool) for t in x):
            x = " ".join(map(str, x))
        if not isinstance(x, str) or not x:
            raise BadRequest("each 'input' item must be a non-empty string", "input")
        texts.append(x)
    fmt = body.get("encoding_format", "float") or "float"
    if fmt not in ("float", "base64"):
        raise BadRequest("'encoding_format' must be 'float' or 'base64'", "encoding_format")
    return EmbeddingsRequest(model, texts, _int(body, "dimensions", 1, 4096) or 256, fmt)
