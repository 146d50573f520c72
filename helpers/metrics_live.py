"""Measure real streams into `RequestRecord`s: one call, or N prompts in parallel (lesson 04).

    rec = stream_record(llm, "Explain streaming")           # one llm.stream(...), timed
    run = run_streams(llm, prompts, max_concurrency=4)      # N streams, at most 4 in flight
    goodput(run.records, SLO(ttft_max_s=1.0, tpot_max_s=0.05))

Each stream is `llm.stream(prompt)`, with `stream_usage=True` when the model has that setting
(`ChatOpenAI`: usage then arrives in one last chunk, so token counts are the server's own).
Output pieces are told apart from empty chunks by `is_output` (see `helpers.metrics`).
"""
from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from .metrics import RequestRecord, count_unit, window_s

MAX_REQUESTS = 200      # default caps for one run: requests ...
MAX_SECONDS = 120.0     # ... and seconds


def is_output(chunk: Any) -> bool:
    """True when a streamed chunk carries model output (lesson 04).

    Text; a tool call's name or argument delta (`AIMessageChunk.tool_call_chunks`); a JSON
    delta (text content, or a non-empty partial dict from a JSON parser). The role-only first
    chunk and the usage-only last chunk carry none.
    """
    if isinstance(chunk, str):
        return bool(chunk)
    if isinstance(chunk, dict):
        return bool(chunk)
    if not hasattr(chunk, "content") and getattr(chunk, "model_fields_set", None):
        return True  # a partial pydantic object: with_structured_output(Model, method="function_calling").stream()
    content = getattr(chunk, "content", None)
    if isinstance(content, str) and content:
        return True
    if isinstance(content, list) and any(
            (isinstance(b, str) and b) or (isinstance(b, dict) and (b.get("text") or b.get("args")))
            for b in content):
        return True
    return any(tc.get("args") or tc.get("name") for tc in getattr(chunk, "tool_call_chunks", None) or ())


def _text(chunk: Any) -> str:
    if isinstance(chunk, str):
        return chunk
    content = getattr(chunk, "content", "")
    return content if isinstance(content, str) else ""


def _usage_tokens(msg: Any) -> int | None:
    usage = getattr(msg, "usage_metadata", None) or {}
    return usage.get("output_tokens")


def _stream_kwargs(llm: Any) -> dict:
    target = getattr(llm, "bound", llm)
    fields = getattr(type(target), "model_fields", {})
    return {"stream_usage": True} if "stream_usage" in fields else {}


def _one_line(err: BaseException) -> str:
    return f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"[:200]


def stream_record(llm, prompt: Any, *, t0: float | None = None, index: int = 0,
                  deadline: float | None = None) -> RequestRecord:
    """Stream one `llm.stream(prompt)` and return its `RequestRecord` (lesson 04).

    t0: the run's start (`time.perf_counter()`), so many records share one clock; default now.
    deadline: a `perf_counter()` time after which the stream is cut (the record is then not ok).
    An error while streaming is kept in the record (ok=False), never raised.
    """
    if not hasattr(llm, "stream"):
        raise ValueError(f"llm must be a chat model (e.g. llm = chat_model()) or a chain, got {llm!r:.40}")
    if not (isinstance(prompt, str) and prompt.strip()) and not (isinstance(prompt, (list, dict)) and prompt):
        raise ValueError(f"prompt must be a non-empty string, got {prompt!r:.40}")
    t0 = time.perf_counter() if t0 is None else t0
    sent = time.perf_counter() - t0
    pieces, texts, full, ok, error = [], [], None, True, None
    try:
        stream = llm.stream(prompt, **_stream_kwargs(llm))
        try:
            for chunk in stream:
                t = time.perf_counter()
                if not isinstance(chunk, (str, dict)):
                    full = chunk if full is None else full + chunk
                if is_output(chunk):
                    pieces.append(t - t0)
                    texts.append(_text(chunk))
                if deadline is not None and t > deadline:
                    ok, error = False, "cut at the run's time cap"
                    break
        finally:
            close = getattr(stream, "close", None)
            if close:
                close()
    except Exception as err:  # noqa: BLE001 - a failed request is a measurement, kept in the record
        ok, error = False, _one_line(err)
    return RequestRecord(sent, tuple(pieces), time.perf_counter() - t0, ok, _usage_tokens(full),
                         error, index, "".join(texts))


@dataclass(frozen=True)
class StreamRun:
    """N streams run together (lesson 04): every record, the settings, and what the caps left out."""

    records: tuple[RequestRecord, ...]
    max_concurrency: int
    n_skipped: int = 0           # prompts never sent because the time cap was reached

    @property
    def window_s(self) -> float:
        return window_s(self.records)

    @property
    def unit(self) -> str:
        return count_unit(self.records)

    @property
    def n_failed(self) -> int:
        return sum(not r.ok for r in self.records)


def _check_run(prompts: Any, max_concurrency: Any, max_requests: Any, max_seconds: Any) -> list:
    for name, v in (("max_concurrency", max_concurrency), ("max_requests", max_requests)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a whole number >= 1, got {v!r}")
    if isinstance(max_seconds, bool) or not isinstance(max_seconds, (int, float)) or not max_seconds > 0:
        raise ValueError(f"max_seconds must be a number of seconds > 0, got {max_seconds!r}")
    if not isinstance(prompts, (list, tuple)) or not prompts:
        raise ValueError("prompts must be a non-empty list of strings")
    if len(prompts) > max_requests:
        raise ValueError(f"{len(prompts)} prompts is more than max_requests={max_requests}: "
                         f"send fewer, or raise max_requests if you mean it")
    return list(prompts)


def run_streams(llm, prompts: Sequence[Any], max_concurrency: int, *, max_requests: int = MAX_REQUESTS,
                max_seconds: float = MAX_SECONDS) -> StreamRun:
    """Stream every prompt, at most `max_concurrency` at once (threads), on one clock (lesson 04).

    Caps: more than max_requests prompts is refused; after max_seconds no new request
    starts (counted in n_skipped) and streams still running are cut (recorded as failed).
    """
    prompts = _check_run(prompts, max_concurrency, max_requests, max_seconds)
    t0 = time.perf_counter()
    deadline = t0 + max_seconds
    lock, skipped = threading.Lock(), [0]

    def one(i: int) -> RequestRecord | None:
        if time.perf_counter() > deadline:
            with lock:
                skipped[0] += 1
            return None
        return stream_record(llm, prompts[i], t0=t0, index=i, deadline=deadline)

    with ThreadPoolExecutor(max_workers=min(max_concurrency, len(prompts))) as pool:
        done = list(pool.map(one, range(len(prompts))))
    return StreamRun(tuple(r for r in done if r is not None), max_concurrency, skipped[0])
