"""Reading a Batch API input file line by line, as OpenAI validates it.

Each line of the JSONL file is one request:
    {"custom_id": "q-1", "method": "POST", "url": "/v1/chat/completions", "body": {"model": ..., ...}}

Two kinds of problems, as at OpenAI:
- a problem with the FILE fails the whole batch at validation (status `failed`, the
  reasons in `errors.data`, one per line, with its line number): a line that is not a
  JSON object, a missing or duplicate `custom_id`, a method other than POST, a `url`
  other than the batch's endpoint, a missing, unknown or mixed `model`, an empty file;
- a problem with one request's BODY (a bad parameter) does not stop the others: that
  request gets a 400 in the batch's error file (`check_body`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from .validate import BadRequest, parse_chat, parse_embeddings

ENDPOINTS = ("/v1/chat/completions", "/v1/embeddings")
MAX_REPORTED = 100  # file errors listed in `errors.data` (the rest are summed up in one more entry)


@dataclass(frozen=True)
class Line:
    """One valid request line: its number in the file (1-based), custom_id and body."""

    number: int
    custom_id: str
    body: dict


def count_lines(data: bytes) -> int:
    """Non-blank lines in the file (the requests it holds)."""
    return sum(1 for raw in data.split(b"\n") if raw.strip())


def read_lines(data: bytes, endpoint: str, models: dict) -> tuple[list[Line], list[dict], str | None]:
    """(lines, file errors, model). The batch fails at validation if there is any file error;
    each error is {"code", "line", "message", "param"} (OpenAI's BatchError)."""
    lines: list[Line] = []
    errors: list[dict] = []
    seen: set[str] = set()
    model: str | None = None

    def bad(number: int, code: str, message: str, param: str | None = None) -> None:
        errors.append({"code": code, "line": number, "message": message, "param": param})

    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except (ValueError, RecursionError):
            bad(number, "invalid_json_line", "This line is not valid JSON: each line must be one JSON object.")
            continue
        if not isinstance(obj, dict):
            bad(number, "invalid_json_line", "Each line must be a JSON object with custom_id, method, url and body.")
            continue
        cid = obj.get("custom_id")
        if not isinstance(cid, str) or not cid:
            bad(number, "missing_required_parameter", "Each line needs a 'custom_id': a non-empty string.",
                "custom_id")
            continue
        if cid in seen:
            bad(number, "duplicate_custom_id", "The custom_id for this request is a duplicate of another "
                f"request ({cid[:64]!r}). The custom_id parameter must be unique for each request in a batch.",
                "custom_id")
            continue
        seen.add(cid)
        if obj.get("method") != "POST":
            bad(number, "invalid_method", "The 'method' of each request must be 'POST'.", "method")
            continue
        if obj.get("url") != endpoint:
            bad(number, "invalid_url", f"The url {str(obj.get('url'))[:60]!r} does not match the batch's "
                f"endpoint {endpoint!r}: every line must use the batch's endpoint.", "url")
            continue
        body = obj.get("body")
        if not isinstance(body, dict):
            bad(number, "invalid_request", "The 'body' of each request must be a JSON object.", "body")
            continue
        m = body.get("model")
        if not isinstance(m, str) or not m:
            bad(number, "missing_required_parameter", "Each request body needs a 'model'.", "body.model")
            continue
        if m not in models:
            bad(number, "model_not_found", f"The model {m[:60]!r} does not exist. Available: {', '.join(models)}",
                "body.model")
            continue
        if model is None:
            model = m
        elif m != model:
            bad(number, "mismatched_model", f"The model {m[:60]!r} differs from {model!r} on an earlier line: "
                "all requests in a batch must use the same model.", "body.model")
            continue
        lines.append(Line(number, cid, body))
    if not lines and not errors:
        bad(0, "empty_file", "The input file has no requests: one JSON line per request.")
        errors[-1]["line"] = None
    if len(errors) > MAX_REPORTED:
        extra = len(errors) - MAX_REPORTED
        errors = errors[:MAX_REPORTED] + [{"code": "too_many_errors", "line": None, "param": None,
                                           "message": f"{extra} more lines have errors."}]
    return lines, errors, model


def check_body(endpoint: str, body: dict, models: dict):
    """The request parsed (validate.ChatRequest or EmbeddingsRequest), or BadRequest for this line only."""
    if endpoint == "/v1/embeddings":
        return parse_embeddings(body, models)
    if body.get("stream"):
        raise BadRequest("'stream' is not supported in a batch: the results come in the output file.", "stream")
    return parse_chat(body, models)
