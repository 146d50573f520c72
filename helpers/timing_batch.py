"""Measure `.batch()` with the real client: every request's start and end, and the totals (lesson 03).

Every stamp is `time.perf_counter()` seconds since one start, taken in this process. `helpers.timing`
re-exports every name here, so `from helpers.timing import BatchResult` keeps working.
"""
from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from langchain_core.callbacks import BaseCallbackHandler

from .timing_checks import check_model, check_prompt, usage


@dataclass(frozen=True)
class RequestTiming:
    """One request inside a batch: when the client started it and when it ended."""

    index: int
    start_s: float
    end_s: float
    ok: bool
    error: str | None = None
    completion_tokens: int = 0

    @property
    def latency_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class BatchResult:
    """One `.batch()` (or `batch_as_completed`): every request's timeline and the totals.

    Only requests that succeeded count as answers: a request turned away with a
    429 in 0.01 s is not a finished job. So `throughput_rps` (answers per second),
    `tokens_per_s` and the latency percentiles use successful requests only.
    When some requests failed the job is not `complete`: its answers/s is not the
    rate of the whole job, so read it next to `n_errors` and never compare it with
    a complete run's (lesson 03). (*Goodput* is something else: requests per second
    that met a latency objective, `helpers.metrics.goodput`, lesson 04.)
    """

    requests: tuple[RequestTiming, ...]
    max_concurrency: int | None
    makespan_s: float            # first start to the call returning
    first_result_s: float        # when your code could use the first answer
    outputs: tuple[Any, ...] = field(repr=False, default=())

    @property
    def n_ok(self) -> int:
        """Requests that came back with an answer."""
        return sum(r.ok for r in self.requests)

    @property
    def complete(self) -> bool:
        """Every prompt came back with an answer: only then is `throughput_rps` the whole job's rate."""
        return self.n_ok == len(self.requests)

    @property
    def throughput_rps(self) -> float:
        """Answers per second of makespan, counting only answered requests."""
        return self.n_ok / self.makespan_s if self.makespan_s > 0 else float("nan")

    @property
    def tokens_per_s(self) -> float:
        """Completion tokens of the successful requests per second of makespan."""
        tokens = sum(r.completion_tokens for r in self.requests if r.ok)
        return tokens / self.makespan_s if self.makespan_s > 0 else float("nan")

    def latency_percentile_s(self, q: float) -> float:
        """Percentile `q` of the successful requests' latency (NaN if none succeeded)."""
        ok = [r.latency_s for r in self.requests if r.ok]
        return float(np.percentile(ok, q)) if ok else float("nan")

    @property
    def p50_latency_s(self) -> float:
        return self.latency_percentile_s(50)

    @property
    def p95_latency_s(self) -> float:
        return self.latency_percentile_s(95)

    @property
    def n_errors(self) -> int:
        return sum(not r.ok for r in self.requests)

    @property
    def n_rate_limited(self) -> int:
        return sum(bool(r.error and "RateLimit" in r.error) for r in self.requests)


class _Timeline(BaseCallbackHandler):
    """Stamps each request of a batch as the client starts and finishes it."""

    def __init__(self, t0: float, on_done: Callable[[int, int], None] | None):
        self.t0, self.on_done, self.lock = t0, on_done, threading.Lock()
        self.start: dict[int, float] = {}
        self.end: dict[int, tuple[float, bool, str | None, int]] = {}
        self.index_of: dict[Any, int] = {}

    def on_chat_model_start(self, serialized, messages, *, run_id, metadata=None, **kw):
        with self.lock:
            i = (metadata or {}).get("course_index")
            self.index_of[run_id] = i
            self.start[i] = time.perf_counter() - self.t0

    def _finish(self, run_id, ok, err, tokens):
        with self.lock:
            i = self.index_of.get(run_id)
            self.end[i] = (time.perf_counter() - self.t0, ok, err, tokens)
            done = len(self.end)
        if self.on_done:
            self.on_done(done, i)

    def on_llm_end(self, response, *, run_id, **kw):
        try:
            msg = response.generations[0][0].message
            tokens = usage(msg, "output_tokens") or 0
        except (IndexError, AttributeError):
            tokens = 0
        self._finish(run_id, True, None, tokens)

    def on_llm_error(self, error, *, run_id, **kw):
        self._finish(run_id, False, f"{type(error).__name__}: {error}"[:300], 0)


def _configs(n: int, timeline: _Timeline, max_concurrency: int | None) -> list[dict]:
    return [{"callbacks": [timeline], "metadata": {"course_index": i}, "max_concurrency": max_concurrency}
            for i in range(n)]


def _check_batch_args(prompts: Any, max_concurrency: Any) -> list[str]:
    prompts = list(prompts) if isinstance(prompts, (list, tuple)) else prompts
    if not isinstance(prompts, list) or not prompts:
        raise ValueError("prompts must be a non-empty list of strings")
    for p in prompts:
        check_prompt(p)
    if max_concurrency is not None and (isinstance(max_concurrency, bool) or
                                        not isinstance(max_concurrency, int) or max_concurrency < 1):
        raise ValueError(f"max_concurrency must be a whole number >= 1 (or None), got {max_concurrency!r}")
    return prompts


def _result(tl: _Timeline, n: int, mc, makespan: float, first: float, outputs) -> BatchResult:
    reqs = []
    for i in range(n):
        end, ok, err, tokens = tl.end.get(i, (makespan, False, "never finished", 0))
        reqs.append(RequestTiming(i, tl.start.get(i, 0.0), end, ok, err, tokens))
    return BatchResult(tuple(reqs), mc, makespan, first, tuple(outputs))


def measure_batch(model, prompts: Iterable[str], max_concurrency: int | None,
                  as_completed: bool = False,
                  on_progress: Callable[[int, int], None] | None = None) -> BatchResult:
    """Run `model.batch(prompts, max_concurrency=...)` and time every request (lesson 03).

    Errors (e.g. a 429 after retries) are kept per request (return_exceptions=True).
    as_completed=True uses `batch_as_completed`, which hands you each answer as
    it finishes. on_progress(done, index) is called as each request ends.
    """
    check_model(model, "batch")
    prompts = _check_batch_args(prompts, max_concurrency)
    t0 = time.perf_counter()
    tl = _Timeline(t0, on_progress)
    cfgs = _configs(len(prompts), tl, max_concurrency)
    outputs: list[Any] = [None] * len(prompts)
    first = None
    if as_completed:
        for i, out in model.batch_as_completed(prompts, cfgs, return_exceptions=True):
            first = first if first is not None else time.perf_counter() - t0
            outputs[i] = out
    else:
        outputs = model.batch(prompts, cfgs, return_exceptions=True)
    makespan = time.perf_counter() - t0
    return _result(tl, len(prompts), max_concurrency, makespan, first if first is not None else makespan, outputs)


async def ameasure_batch(model, prompts: Iterable[str], max_concurrency: int | None,
                         on_progress: Callable[[int, int], None] | None = None) -> BatchResult:
    """The async twin of `measure_batch`: `await model.abatch(...)` (lesson 03).

    In a notebook write `await ameasure_batch(...)`; never `asyncio.run`.
    """
    check_model(model, "abatch")
    prompts = _check_batch_args(prompts, max_concurrency)
    t0 = time.perf_counter()
    tl = _Timeline(t0, on_progress)
    outputs = await model.abatch(prompts, _configs(len(prompts), tl, max_concurrency),
                                 return_exceptions=True)
    makespan = time.perf_counter() - t0
    await asyncio.sleep(0)
    return _result(tl, len(prompts), max_concurrency, makespan, makespan, outputs)
