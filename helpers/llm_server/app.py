"""The simulated OpenAI-compatible server: HTTP on top of the latency model.

Routes: POST /v1/chat/completions (JSON, or SSE with `stream: true`),
GET /v1/models, POST /v1/embeddings, GET /health, and the simulator's own
GET /v1/sim/stats, POST /v1/sim/stats/reset, GET /v1/sim/config and
POST /v1/sim/release (body {"name": ...}: lets held requests go on).

Per-request faults for lessons and tests, via the header `X-Sim-Fault`:
`stall` (never answers), `429` / `500` (always), `429:N` / `500:N` (only the
first N attempts, counted with the OpenAI SDK's `x-stainless-retry-count`),
`drop` (a stream that breaks off after a few tokens),
`deaf` (ignores a client that hangs up: writes the answer to the end, as some
servers have done, e.g. ggml-org/llama.cpp#24496),
`hold:NAME` (waits on arrival, counted in flight but not yet queued, until
POST /v1/sim/release names it) and `hold:NAME:N` (pauses at exactly N tokens,
keeping its slot, until released). Tests use holds to wait for events, not the clock.

Timing headers on every answer: x-sim-queue-ms (waiting for a slot),
x-sim-overhead-ms (fixed per-request work), x-sim-prefill-ms (reading the
prompt, without the overhead) and, for JSON answers, x-sim-generation-ms.
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
from .limits import ALIASES, RateLimiter, new_counters, new_row, with_aliases
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
        self.holds: dict[str, asyncio.Event] = {}   # hold:NAME -> its release signal
        self.held: dict[str, int] = {}              # hold:NAME -> requests waiting now

    async def hold(self, name: str) -> None:
        """Wait until POST /v1/sim/release names `name` (X-Sim-Fault: hold:NAME)."""
        event = self.holds.setdefault(name, asyncio.Event())
        self.held[name] = self.held.get(name, 0) + 1
        try:
            await event.wait()
        finally:
            self.held[name] -= 1
            if not self.held[name]:
                del self.held[name]

    def release(self, name: str) -> int:
        """Let every request held under `name` go on; returns how many there were."""
        n = self.held.get(name, 0)
        event = self.holds.pop(name, None)
        if event is not None:
            event.set()
        return n

    def engine(self, model: str) -> Engine:
        name = self.models[model]
        if name not in self.engines:
            prof = self.cfg.profile if name == self.cfg.profile.name else \
                latency.get_profile(name, self.cfg.profile.time_scale)
            self.engines[name] = Engine(prof, self.t0)
        return self.engines[name]

    def count(self, key: str, field: str, n: int = 1) -> None:
        """Add n to one counter, for the whole server and for the caller's row alike."""
        field = ALIASES.get(field, field)
        per = self.stats["by_key"].setdefault(key, new_row())
        for row in (self.stats, per):
            row[field] += n
            if field == "in_flight":
                row["peak_in_flight"] = max(row["peak_in_flight"], row["in_flight"])

    def snapshot(self) -> dict:
        queued = sum(len(e.sched.queue) for e in self.engines.values())
        busy = sum(e.sched.active for e in self.engines.values())
        by_key = {k: with_aliases(v) for k, v in self.stats["by_key"].items()}
        return {**with_aliases(self.stats), "by_key": by_key, "queue_depth": queued,
                "busy_slots": busy, "held": dict(self.held)}


def api_key(request: Request) -> str:
    """A short, non-reversible id for the caller's key (never the key itself);
    in classroom mode the student's name (set by classroom.ClassroomGate)."""
    if request.scope.get("classroom.student"):
        return request.scope["classroom.student"]
    auth = request.headers.get("authorization", "")
    key = auth[7:] if auth.lower().startswith("bearer ") else auth
    return "key-" + hashlib.sha256(key.encode()).hexdigest()[:8]


@dataclass(frozen=True)
class Hold:
    """X-Sim-Fault: hold:NAME (on arrival) or hold:NAME:N (at exactly N tokens)."""

    name: str
    after_tokens: int | None = None


def faults_for(request: Request) -> tuple[str | Hold | None, bool]:
    """(the fault this attempt should show, deaf?) from X-Sim-Fault. Several faults
    may be listed, comma-separated: `deaf` goes with any other one (e.g. "deaf,hold:x:3")."""
    parts = [p.strip() for p in request.headers.get("x-sim-fault", "").lower().split(",")]
    others = [p for p in parts if p and p != "deaf"]
    attempt = request.headers.get("x-stainless-retry-count", "0")
    return parse_fault(others[0] if others else "", attempt), "deaf" in parts


def parse_fault(spec: str, attempt: str = "0") -> str | Hold | None:
    if not spec:
        return None
    if spec.startswith("hold:"):
        name, _, n = spec[5:].partition(":")
        return Hold(name, int(n) if n.isdigit() else None) if name else None
    kind, _, n = spec.partition(":")
    if n:
        try:
            return kind if int(attempt) < int(n) else None
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
    sim.count(key, "attempts")
    fault, deaf = faults_for(request)
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
    return ChatRun(sim, eng, key, req, job, tokens, finish, fault, deaf)


def fault_response(sim: Simulator, key: str, fault: str) -> Response:
    if fault == "429":
        return rate_limited(sim, key, "Rate limit reached (simulated by X-Sim-Fault)", 1.0 * sim.cfg.profile.time_scale)
    sim.count(key, "failed_5xx")
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

    def __init__(self, sim, eng, key, req, job, tokens, finish, fault, deaf=False):
        self.sim, self.eng, self.key, self.req, self.job = sim, eng, key, req, job
        self.tokens, self.finish, self.fault, self.deaf = tokens, finish, fault, deaf
        self.rid = f"chatcmpl-sim{next(sim.ids)}"
        self.background = None
        self.counted = False  # still counted as in flight?
        self.written = 0      # completion tokens generated and sent so far
        self.written_at_disconnect: int | None = None  # set when the client goes away

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
        work = asyncio.ensure_future(self.run(send))
        gone = asyncio.ensure_future(wait_disconnect(receive))
        try:
            await asyncio.wait({work, gone}, return_when=asyncio.FIRST_COMPLETED)
            if not work.done():
                self.written_at_disconnect = self.written
                if self.counted:  # not already counted as completed or rejected
                    sim.count(self.key, "cancelled")
                    sim.count(self.key, "cancelled_tokens", self.written)
                if self.deaf:  # writes on into the closed connection (tokens_as_due counts them)
                    await asyncio.wait({work})
                else:
                    work.cancel()
            (outcome,) = await asyncio.gather(work, return_exceptions=True)
            if isinstance(outcome, Exception):
                raise outcome  # a bug, not a client going away: let the server log it
        finally:
            gone.cancel()
            self.eng.sched.cancel(self.rid, self.eng.now())
            self.eng.sched.forget(self.rid)
            self.eng.poke()
            self.leave()

    @property
    def gone(self) -> bool:
        """Has the client hung up (only a `deaf` request keeps running then)?"""
        return self.written_at_disconnect is not None

    def finish_counts(self) -> None:
        """The answer is out: completed, unless its client hung up first (deaf fault)."""
        self.sim.count(self.key, "prompt_tokens", self.job.prompt_tokens)
        if self.gone:
            return  # already counted as cancelled (see __call__)
        self.sim.count(self.key, "completed")  # with leave(): idle /health means final counters
        self.leave()

    async def run(self, send) -> None:
        eng, rid = self.eng, self.rid
        if self.fault == "stall":
            await asyncio.Event().wait()  # never answers; ends when the client gives up
        if isinstance(self.fault, Hold) and self.fault.after_tokens is None:
            await self.sim.hold(self.fault.name)
        t_arrive = eng.now()
        if not eng.sched.arrive(rid, t_arrive, self.job):
            resp = rate_limited(self.sim, self.key, "The server is overloaded: its queue is full",
                                1.0 * eng.sched.profile.time_scale)
            self.leave()
            return await resp({"type": "http"}, None, send)
        if isinstance(self.fault, Hold) and self.fault.after_tokens is not None:
            eng.sched.pause_after(rid, self.fault.after_tokens)  # keeps its slot while held
        eng.poke()
        self.sim.stats["peak_queue_depth"] = max(self.sim.stats["peak_queue_depth"], len(eng.sched.queue))
        while rid not in eng.sched.admitted:
            await eng.wait_until(eng.sched.next_event_s())
            eng.sched.advance(eng.now())
        prof = eng.sched.profile
        overhead_s = latency.overhead_s(prof, self.job.speed)
        reading_s = latency.reading_s(prof, self.job.prompt_tokens, self.job.speed)
        timing = {"x-sim-queue-ms": f"{(eng.sched.admitted[rid] - t_arrive) * 1000:.1f}",
                  "x-sim-overhead-ms": f"{overhead_s * 1000:.1f}",
                  "x-sim-prefill-ms": f"{reading_s * 1000:.1f}",
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
                self.sim.count(self.key, "completion_tokens", done - sent)
                self.written += done - sent
                if self.gone:  # a deaf server writing for nobody: still billed
                    self.sim.count(self.key, "cancelled_tokens", done - sent)
                    self.sim.count(self.key, "tokens_after_disconnect", done - sent)
                yield self.tokens[sent:done]
                sent = done
            if rid in eng.sched.finished and sent >= self.job.completion_tokens:
                return
            if rid in eng.sched.paused:  # hold:NAME:N, at exactly N tokens
                await self.sim.hold(self.fault.name)
                eng.sched.resume(rid, eng.now())
                eng.poke()
                continue
            await eng.wait_until(min(eng.sched.next_token_s(rid), eng.sched.next_event_s()))

    def usage(self) -> dict:
        p, c = self.job.prompt_tokens, self.job.completion_tokens
        return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}

    async def whole(self, send, timing: dict) -> None:
        t_first = None
        async for _ in self.tokens_as_due():
            t_first = t_first or self.eng.now()
        self.eng.sched.advance(self.eng.now())
        body = {"id": self.rid, "object": "chat.completion", "created": int(time.time()),
                "model": self.req.model, "system_fingerprint": "sim",
                "choices": [{"index": 0, "finish_reason": self.finish, "logprobs": None,
                             "message": {"role": "assistant", "content": "".join(self.tokens).strip()}}],
                "usage": self.usage()}
        gen_ms = (self.eng.now() - (t_first or self.eng.now())) * 1000
        resp = JSONResponse(body, headers={**timing, "x-sim-generation-ms": f"{gen_ms:.1f}"})
        self.finish_counts()
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
        # Like vLLM and OpenAI, the role-only chunk goes out with the first token, not at
        # admission: "the first chunk has no text" is a parsing fact, not a time gap.
        parts = [self.chunk({"role": "assistant", "content": ""})]
        first, n_sent = True, 0
        async for toks in self.tokens_as_due():
            for t in toks:
                parts.append(self.chunk({"content": t.lstrip() if first else t}))
                first = False
            await send({"type": "http.response.body", "body": b"".join(parts), "more_body": True})
            parts = []
            n_sent += len(toks)
            if self.fault == "drop" and n_sent >= 3:
                self.sim.count(self.key, "broken")
                self.leave()
                return  # break the stream off: the client sees a connection error
        tail = b"".join(parts) + self.chunk({}, self.finish)  # (the role chunk, if no token at all)
        if self.req.include_usage:
            usage = {"id": self.rid, "object": "chat.completion.chunk", "created": int(time.time()),
                     "model": self.req.model, "choices": [], "usage": self.usage()}
            tail += b"data: " + json.dumps(usage).encode() + b"\n\n"
        self.finish_counts()
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
    sim.count(key, "attempts")
    if limited:
        return rate_limited(sim, key, f"Rate limit reached for {limited[0]} per minute", limited[1])
    sim.count(key, "in_flight")
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
    per_key = {k: v["in_flight"] for k, v in sim.stats["by_key"].items() if v["in_flight"]}
    sim.stats = new_counters()
    sim.stats["in_flight"] = sim.stats["peak_in_flight"] = keep
    for k, n in per_key.items():  # requests still running keep being counted per key
        sim.stats["by_key"][k] = {**new_row(), "in_flight": n, "peak_in_flight": n}
    return JSONResponse(sim.snapshot())


async def release(request: Request) -> Response:
    """Let requests held by `X-Sim-Fault: hold:NAME` go on: body {"name": "NAME"}."""
    try:
        name = (await request.json())["name"]
        if not isinstance(name, str) or not name:
            raise ValueError
    except (ValueError, KeyError, TypeError):
        return error(400, 'Send {"name": "<the NAME of X-Sim-Fault: hold:NAME>"}.', param="name")
    n = request.app.state.sim.release(name.strip().lower())
    return JSONResponse({"name": name, "released": n})


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
        Route("/v1/sim/release", release, methods=["POST"]),
    ], exception_handlers={HTTPException: http_error})
    app.state.sim = Simulator(SimConfig(prof, seed))
    return app
