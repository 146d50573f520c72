"""Measure invoke, stream and batch with the real client (lessons 01-04).

This module times one call (`measure_invoke`, `measure_stream`); `timing_batch` times a
batch and is re-exported here. The field's serving metrics (ITL, TPOT, goodput) are in
`helpers.metrics`.

Every stamp is `time.perf_counter()` seconds since one start, taken in this
process when the event happens: the measured numbers are what a user of your
app would see, including the network and the client library.

Results are plain frozen dataclasses with the unit in each field name, so
plots and tests can use them directly.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from .metrics_live import is_output
from .timing_batch import BatchResult, RequestTiming, ameasure_batch, measure_batch
from .timing_checks import check_model, check_prompt, usage

__all__ = ["ServerSplit", "InvokeResult", "StreamResult", "measure_invoke", "measure_stream",
           "RequestTiming", "BatchResult", "measure_batch", "ameasure_batch"]


@dataclass(frozen=True)
class ServerSplit:
    """Where the time went on the server (the simulator reports it in headers).

    queue_s: waiting for a free slot. overhead_s: the fixed per-request work
    (the same for any prompt). prefill_s: reading the prompt (grows with its
    length). First token at queue + overhead + prefill. generation_s: writing
    the rest (only for invoke; for a stream, measure it yourself as total - TTFT).
    """

    queue_s: float
    prefill_s: float
    generation_s: float | None = None
    overhead_s: float = 0.0

    @property
    def first_token_s(self) -> float:
        """Server time before the first token: queue + overhead + prefill."""
        return self.queue_s + self.overhead_s + self.prefill_s


@dataclass(frozen=True)
class InvokeResult:
    """One `.invoke()`: nothing is visible until `total_s`."""

    prompt: str
    text: str
    total_s: float
    prompt_tokens: int | None
    completion_tokens: int | None
    server: ServerSplit | None = None


@dataclass(frozen=True)
class StreamResult:
    """One `.stream()`: when each piece of text arrived.

    ttft_s is the time to first output: the first chunk carrying text, a tool
    call's name or arguments, or JSON (`helpers.metrics_live.is_output`). The very
    first chunk often carries nothing, only the message's role. With no output at
    all, ttft_s is the total.
    """

    prompt: str
    text: str
    ttft_s: float
    total_s: float
    chunk_times_s: tuple[float, ...]
    chunk_texts: tuple[str, ...]
    completion_tokens: int | None
    stopped_early: bool = False
    server: ServerSplit | None = None
    prompt_tokens: int | None = None

    @property
    def tokens_per_s(self) -> float:
        """Generation speed after the first token (completion tokens / generating time)."""
        n = self.completion_tokens or len([c for c in self.chunk_texts if c])
        gen = self.total_s - self.ttft_s
        return (n - 1) / gen if n > 1 and gen > 0 else float("nan")


def _server_split(meta: dict | None) -> ServerSplit | None:
    headers = (meta or {}).get("headers") or {}
    try:
        gen = headers.get("x-sim-generation-ms")
        return ServerSplit(float(headers["x-sim-queue-ms"]) / 1000, float(headers["x-sim-prefill-ms"]) / 1000,
                           float(gen) / 1000 if gen is not None else None,
                           float(headers.get("x-sim-overhead-ms", 0)) / 1000)
    except (KeyError, TypeError, ValueError):
        return None


def measure_invoke(model, prompt: str) -> InvokeResult:
    """Time one `model.invoke(prompt)` from call to answer (lesson 01)."""
    check_prompt(prompt)
    check_model(model)
    t0 = time.perf_counter()
    msg = model.invoke(prompt)
    total = time.perf_counter() - t0
    return InvokeResult(prompt, msg.content, total, usage(msg, "input_tokens"),
                        usage(msg, "output_tokens"), _server_split(msg.response_metadata))


def measure_stream(model, prompt: str, on_text: Callable[[str, float], None] | None = None,
                   should_stop: Callable[[], bool] | None = None) -> StreamResult:
    """Time one `model.stream(prompt)`: TTFT, every chunk's arrival, the total (lesson 02).

    Works for a chat model (chunks are messages) and for a chain ending in a
    parser (chunks are strings; token counts are then unknown).

    on_text(text, t_s) is called for each chunk with text, e.g. to show it live.
    should_stop() is asked after each chunk; returning True stops the stream
    early (the connection is closed, so the server stops generating).
    """
    check_prompt(prompt)
    check_model(model)
    times, texts, full, ttft, stopped = [], [], None, None, False
    t0 = time.perf_counter()
    stream = model.stream(prompt)
    try:
        for chunk in stream:
            t = time.perf_counter() - t0
            if not isinstance(chunk, (str, dict)):           # messages add up; text and partial JSON don't
                full = chunk if full is None else full + chunk
            text = chunk if isinstance(chunk, str) else getattr(chunk, "content", "")
            text = text if isinstance(text, str) else ""
            times.append(t)
            texts.append(text)
            if ttft is None and is_output(chunk):
                ttft = t
            if text and on_text:
                on_text(text, t)
            if should_stop and should_stop():
                stopped = True
                break
    finally:
        stream.close()
    total = time.perf_counter() - t0
    return StreamResult(prompt, "".join(texts), ttft if ttft is not None else total,
                        total, tuple(times), tuple(texts), usage(full, "output_tokens"), stopped,
                        _server_split(getattr(full, "response_metadata", None)),
                        usage(full, "input_tokens"))
