"""The simulated OpenAI-compatible server: HTTP on top of the latency model.

Routes: POST /v1/chat/completions (JSON, or SSE with `stream: true`),
GET /v1/models, POST /v1/embeddings, GET /health, and the simulator's own
GET /v1/sim/stats, POST /v1/sim/stats/reset, GET /v1/sim/config.

Per-request faults for lessons, via the header `X-Sim-Fault`:
`stall` (never answers), `429` / `500` (always), `429:N` / `500:N` (only the
first N attempts, counted with the OpenAI SDK's `x-stainless-retry-count`),
`drop` (a stream that breaks off after a few tokens).
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import math
import struct
import time
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import latency, text
from .limits import RateLimiter, new_counters
from .validate import BadRequest, parse_chat, parse_embeddings, read_json_body


def error(status: int, message: str, type_: str = "invalid_request_error",
          code: str | None = None, param: str | None = None, headers: dict | None = None) -> JSONResponse:
    """An error in OpenAI's JSON shape."""
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


@dataclass
class SimConfig:
    profile: latency.Profile
    seed: int = 0
    max_body_bytes: int = 1_000_000


class Engine:
    """One simulated model: a SlotScheduler on the real clock, plus a wake-up signal."""

    def __init__(self, profile: latency.Profile, t0: float):
        self.sched = latency.SlotScheduler(profile)
        self.t0 = t0
        self._changed = asyncio.Event()

    def now(self) -> float:
        return time.perf_counter() - self.t0

    def poke(self) -> None:
        """Wake every waiting request: the state changed."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_until(self, t: float) -> None:
        """Sleep until time t or until the state changes, whichever is first."""
        delay = t - self.now()
        if delay <= 0:
            return
        # Not asyncio.wait_for: on Python < 3.12 it swallows a cancel that arrives as the
        # event fires, and a dropped client's request then ran on to the end in its slot.
        waiter = asyncio.ensure_future(self._changed.wait())
        try:
            await asyncio.wait({waiter}, timeout=None if math.isinf(delay) else delay)
        finally:
            waiter.cancel()


class Simulator:
    """The state of one simulator process: engines, limits, counters."""

    def __init__(self, cfg: SimConfig):
        self.cfg = cfg
        self.t0 = time.perf_counter()
        self.models = {"sim": cfg.profile.name, **{n: n for n in latency.PROFILES}}
        self.engines: dict[str, Engine] = {}
        p = cfg.profile
        self.limiter = RateLimiter(p.rpm_limit, p.tpm_limit, 60.0 * p.time_scale)
        self.stats = new_counters()
        self.ids = itertools.count(1)

    def engine(self, model: str) -> Engine:
        name = self.models[model]
        if name not in self.engines:
            prof = self.cfg.profile if name == self.cfg.profile.name else \
                latency.get_profile(name, self.cfg.profile.time_scale)
            self.engines[name] = Engine(prof, self.t0)
        return self.engines[name]

    def count(self, key: str, field: str, n: int = 1) -> None:
        self.stats[field] += n
        per = self.stats["by_key"].setdefault(key, {"requests": 0, "rejected_429": 0,
                                                     "completion_tokens": 0, "in_flight": 0})
        name = "requests" if field == "requests_total" else field
        per[name] = per.get(name, 0) + n  # every counter per key too (classroom dashboard)
        if field == "in_flight":
            per["peak_in_flight"] = max(per.get("peak_in_flight", 0), per["in_flight"])

    def snapshot(self) -> dict:
        queued = sum(len(e.sched.queue) for e in self.engines.values())
        busy = sum(e.sched.active for e in self.engines.values())
        return {**self.stats, "queue_depth": queued, "busy_slots": busy}


def api_key(request: Request) -> str:
    """A short, non-reversible id for the caller's key (never the key itself);
    in classroom mode the student's name (set by classroom.ClassroomGate)."""
    if request.scope.get("classroom.student"):
        return request.scope["classroom.student"]
    auth = request.headers.get("authorization", "")
    key = auth[7:] if auth.lower().startswith("bearer ") else auth
    return "key-" + hashlib.sha256(key.encode()).hexdigest()[:8]


def fault_for(request: Request) -> str | None:
    """The fault this attempt should show, from X-Sim-Fault (see module docstring)."""
    spec = request.headers.get("x-sim-fault", "").strip().lower()
    if not spec:
        return None
    kind, _, n = spec.partition(":")
    if n:
        try:
            attempt = int(request.headers.get("x-stainless-retry-count", "0"))
            return kind if attempt < int(n) else None
        except ValueError:
            return None
    return kind


async def chat_completions(request: Request) -> Response:
    sim: Simulator = request.app.state.sim
    key = api_key(request)
    try:
        req = parse_chat(await read_json_body(request, sim.cfg.max_body_bytes), sim.models)
    except BadRequest as e:
        return error(e.status, e.message, code=e.code, param=e.param)
    sim.count(key, "requests_total")
    fault = fault_for(request)
    if fault in ("429", "500"):
        return fault_response(sim, key, fault)
    eng = sim.engine(req.model)
    prof = eng.sched.profile
    prompt_tokens = text.count_prompt_tokens(req.messages)
    max_tokens = req.max_tokens or prof.default_max_tokens
    limited = sim.limiter.check(key, eng.now(), prompt_tokens + max_tokens)
    if limited:
        which, wait = limited
        return rate_limited(sim, key, f"Rate limit reached for {which} per minute", wait)
    full = text.answer(req.messages, req.seed if req.seed is not None else sim.cfg.seed,
                       req.temperature)
    tokens, finish = text.apply_limits(full, max_tokens, req.stop)
    speed = latency.jitter_factor(prof, sim.cfg.seed, text.last_user_text(req.messages))
    job = latency.Job(prompt_tokens, len(tokens), speed)
    return ChatRun(sim, eng, key, req, job, tokens, finish, fault)


def fault_response(sim: Simulator, key: str, fault: str) -> Response:
    if fault == "429":
        return rate_limited(sim, key, "Rate limit reached (simulated by X-Sim-Fault)", 1.0 * sim.cfg.profile.time_scale)
    sim.count(key, "errors_5xx")
    return error(500, "The server had an error (simulated by X-Sim-Fault)", "server_error")


def rate_limited(sim: Simulator, key: str, message: str, wait_s: float) -> Response:
    sim.count(key, "rejected_429")
    wait_s = max(wait_s, 0.001)
    headers = {"retry-after": str(max(1, math.ceil(wait_s))), "retry-after-ms": str(int(wait_s * 1000) + 1)}
    return error(429, f"{message}. Please try again in {wait_s:.2f}s.", "requests",
                 "rate_limit_exceeded", headers=headers)


class ChatRun(Response):
    """Runs one chat completion against the engine, as JSON or as SSE.

    Watches for the client going away the whole time; when it does, the
    request leaves the queue or frees its slot at once.
    """

    def __init__(self, sim, eng, key, req, job, tokens, finish, fault):
        self.sim, self.eng, self.key, self.req, self.job = sim, eng, key, req, job
        self.tokens, self.finish, self.fault = tokens, finish, fault
        self.rid = f"chatcmpl-sim{next(sim.ids)}"
        self.background = None
        self.counted = False  # still counted as in flight?

    def leave(self) -> None:
        """Stop counting this request as in flight (before its last bytes go out,
        so a client that starts its next request at once never sees a stale count)."""
        if self.counted:
            self.counted = False
            self.sim.count(self.key, "in_flight", -1)

    async def __call__(self, scope, receive, send) -> None:
        sim = self.sim
        sim.count(self.key, "in_flight")
        self.counted = True
        sim.stats["peak_in_flight"] = max(sim.stats["peak_in_flight"], sim.stats["in_flight"])
        work = asyncio.ensure_future(self.run(send))
        gone = asyncio.ensure_future(wait_disconnect(receive))
        try:
            await asyncio.wait({work, gone}, return_when=asyncio.FIRST_COMPLETED)
            if not work.done():
                work.cancel()
                if self.counted:  # not already counted as completed or rejected
                    sim.count(self.key, "cancelled")
            (outcome,) = await asyncio.gather(work, return_exceptions=True)
            if isinstance(outcome, Exception):
                raise outcome  # a bug, not a client going away: let the server log it
        finally:
            gone.cancel()
            self.eng.sched.cancel(self.rid, self.eng.now())
            self.eng.sched.forget(self.rid)
            self.eng.poke()
            self.leave()

    async def run(self, send) -> None:
        eng, rid = self.eng, self.rid
        if self.fault == "stall":
            await asyncio.Event().wait()  # never answers; ends when the client gives up
        t_arrive = eng.now()
        if not eng.sched.arrive(rid, t_arrive, self.job):
            resp = rate_limited(self.sim, self.key, "The server is overloaded: its queue is full", 1.0 * eng.sched.profile.time_scale)
            self.leave()
            return await resp({"type": "http"}, None, send)
        eng.poke()
        self.sim.stats["peak_queue_depth"] = max(self.sim.stats["peak_queue_depth"], len(eng.sched.queue))
        while rid not in eng.sched.admitted:
            await eng.wait_until(eng.sched.next_event_s())
            eng.sched.advance(eng.now())
        timing = {"x-sim-queue-ms": f"{(eng.sched.admitted[rid] - t_arrive) * 1000:.1f}",
                  "x-sim-prefill-ms": f"{(eng.sched.prefilling.get(rid, eng.sched.t) - eng.sched.admitted[rid]) * 1000:.1f}",
                  "x-request-id": rid}
        if self.req.stream:
            await self.stream(send, timing)
        else:
            await self.whole(send, timing)

    async def tokens_as_due(self):
        """Yield lists of tokens as the latency model makes them due."""
        eng, rid, sent = self.eng, self.rid, 0
        while True:
            eng.sched.advance(eng.now())
            done = eng.sched.tokens_done(rid)
            if done > sent:
                yield self.tokens[sent:done]
                self.sim.count(self.key, "completion_tokens", done - sent)
                sent = done
            if rid in eng.sched.finished and sent >= self.job.completion_tokens:
                return
            await eng.wait_until(min(eng.sched.next_token_s(rid), eng.sched.next_event_s()))

    def usage(self) -> dict:
        p, c = self.job.prompt_tokens, self.job.completion_tokens
        return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}

    async def whole(self, send, timing: dict) -> None:
        t_first = None
        async for _ in self.tokens_as_due():
            t_first = t_first or self.eng.now()
        self.eng.sched.advance(self.eng.now())
        self.sim.count(self.key, "prompt_tokens", self.job.prompt_tokens)
        body = {"id": self.rid, "object": "chat.completion", "created": int(time.time()),
                "model": self.req.model, "system_fingerprint": "sim",
                "choices": [{"index": 0, "finish_reason": self.finish, "logprobs": None,
                             "message": {"role": "assistant", "content": "".join(self.tokens).strip()}}],
                "usage": self.usage()}
        gen_ms = (self.eng.now() - (t_first or self.eng.now())) * 1000
        resp = JSONResponse(body, headers={**timing, "x-sim-generation-ms": f"{gen_ms:.1f}"})
        self.sim.count(self.key, "completed")  # with leave(): idle /health means final counters
        self.leave()
        await resp({"type": "http"}, None, send)

    def chunk(self, delta: dict, finish: str | None = None) -> bytes:
        body = {"id": self.rid, "object": "chat.completion.chunk", "created": int(time.time()),
                "model": self.req.model, "system_fingerprint": "sim",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}
        return b"data: " + json.dumps(body).encode() + b"\n\n"

    async def stream(self, send, timing: dict) -> None:
        headers = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache")]
        headers += [(k.encode(), v.encode()) for k, v in timing.items()]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": self.chunk({"role": "assistant", "content": ""}), "more_body": True})
        first, n_sent = True, 0
        async for toks in self.tokens_as_due():
            parts = []
            for t in toks:
                parts.append(self.chunk({"content": t.lstrip() if first else t}))
                first = False
            await send({"type": "http.response.body", "body": b"".join(parts), "more_body": True})
            n_sent += len(toks)
            if self.fault == "drop" and n_sent >= 3:
                return  # break the stream off: the client sees a connection error
        tail = self.chunk({}, self.finish)
        self.sim.count(self.key, "prompt_tokens", self.job.prompt_tokens)
        if self.req.include_usage:
            usage = {"id": self.rid, "object": "chat.completion.chunk", "created": int(time.time()),
                     "model": self.req.model, "choices": [], "usage": self.usage()}
            tail += b"data: " + json.dumps(usage).encode() + b"\n\n"
        self.sim.count(self.key, "completed")  # with leave(): idle /health means final counters
        self.leave()
        await send({"type": "http.response.body", "body": tail + b"data: [DONE]\n\n", "more_body": False})


async def wait_disconnect(receive) -> None:
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            return


async def embeddings(request: Request) -> Response:
    sim: Simulator = request.app.state.sim
    try:
        req = parse_embeddings(await read_json_body(request, sim.cfg.max_body_bytes), sim.models)
    except BadRequest as e:
        return error(e.status, e.message, code=e.code, param=e.param)
    key = api_key(request)
    prof = sim.engine(req.model).sched.profile
    n_tokens = sum(text.count_tokens(t) for t in req.inputs)
    limited = sim.limiter.check(key, sim.engine(req.model).now(), n_tokens)
    sim.count(key, "requests_total")
    if limited:
        return rate_limited(sim, key, f"Rate limit reached for {limited[0]} per minute", limited[1])
    sim.count(key, "in_flight")
    sim.stats["peak_in_flight"] = max(sim.stats["peak_in_flight"], sim.stats["in_flight"])
    try:  # embeddings take no slot: the fixed overhead plus reading the texts
        await asyncio.sleep(latency.prefill_s(prof, n_tokens))
    finally:
        sim.count(key, "in_flight", -1)
    sim.count(key, "completed")
    data = []
    for i, t in enumerate(req.inputs):
        vec = text.embed(t, req.dimensions)
        emb = base64.b64encode(struct.pack(f"<{len(vec)}f", *vec)).decode() \
            if req.encoding_format == "base64" else vec
        data.append({"object": "embedding", "index": i, "embedding": emb})
    sim.count(key, "prompt_tokens", n_tokens)
    return JSONResponse({"object": "list", "data": data, "model": req.model,
                         "usage": {"prompt_tokens": n_tokens, "total_tokens": n_tokens}})


async def models(request: Request) -> Response:
    names = request.app.state.sim.models
    return JSONResponse({"object": "list", "data": [
        {"id": m, "object": "model", "created": 0, "owned_by": "course-simulator"} for m in names]})


async def health(request: Request) -> Response:
    snap = request.app.state.sim.snapshot()
    return JSONResponse({"status": "ok", "in_flight": snap["in_flight"],
                         "busy_slots": snap["busy_slots"], "queue_depth": snap["queue_depth"]})


async def stats(request: Request) -> Response:
    return JSONResponse(request.app.state.sim.snapshot())


async def reset_stats(request: Request) -> Response:
    sim = request.app.state.sim
    keep = sim.stats["in_flight"]
    per_key = {k: v.get("in_flight", 0) for k, v in sim.stats["by_key"].items() if v.get("in_flight")}
    sim.stats = new_counters()
    sim.stats["in_flight"] = sim.stats["peak_in_flight"] = keep
    for k, n in per_key.items():  # requests still running keep being counted per key
        sim.stats["by_key"][k] = {"requests": 0, "rejected_429": 0, "completion_tokens": 0,
                                  "in_flight": n, "peak_in_flight": n}
    return JSONResponse(sim.snapshot())


async def config(request: Request) -> Response:
    sim = request.app.state.sim
    return JSONResponse({"default_model": "sim", "profile": sim.cfg.profile.to_dict(),
                         "seed": sim.cfg.seed, "models": sim.models})


async def http_error(request: Request, exc: HTTPException) -> Response:
    return error(exc.status_code, f"{request.method} {request.url.path}: {exc.detail}",
                 code="not_found" if exc.status_code == 404 else None)


def create_app(profile: str = latency.DEFAULT_PROFILE, time_scale: float = 1.0, seed: int = 0,
               **overrides) -> Starlette:
    """The ASGI app. `overrides` replace profile fields, e.g. slots=4, rpm_limit=None."""
    prof = latency.get_profile(profile, time_scale)
    if overrides:
        from dataclasses import replace
        prof = replace(prof, **overrides)
    app = Starlette(routes=[
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/embeddings", embeddings, methods=["POST"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Route("/v1/sim/stats", stats, methods=["GET"]),
        Route("/v1/sim/stats/reset", reset_stats, methods=["POST"]),
        Route("/v1/sim/config", config, methods=["GET"]),
    ], exception_handlers={HTTPException: http_error})
    app.state.sim = Simulator(SimConfig(prof, seed))
    return app
