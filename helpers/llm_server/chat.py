"""Running one chat completion: admission, scheduling against the latency model,
writing the answer as JSON or as SSE, and the client going away.

`start` checks the rate limits and makes the answer's tokens; the returned
`ChatRun` (an ASGI response) then waits for a slot, makes tokens due on the real
clock as the latency model says, and writes them.

Timing headers on every answer: x-sim-queue-ms (waiting for a slot),
x-sim-overhead-ms (fixed per-request work), x-sim-prefill-ms (reading the
prompt, without the overhead) and, for JSON answers, x-sim-generation-ms.
"""
from __future__ import annotations

import asyncio
import json
import time

from starlette.responses import JSONResponse, Response

from . import latency, structured, text
from .errors import rate_limited
from .faults import Hold
from .state import Engine, Simulator
from .validate import ChatRequest


def start(sim: Simulator, key: str, req: ChatRequest, fault: str | Hold | None, deaf: bool) -> Response:
    """Admit one chat completion (rate limits) and make its answer; the returned
    response runs it. `fault` is any X-Sim-Fault other than 429/500 (answered before)."""
    eng = sim.engine(req.model)
    prof = eng.sched.profile
    prompt_tokens = text.count_prompt_tokens(req.messages) + structured.prompt_tokens(req.output, text.count_tokens)
    max_tokens = req.max_tokens or prof.default_max_tokens
    limited = sim.limiter.check(key, eng.now(), prompt_tokens + max_tokens)
    if limited:
        which, wait = limited
        resp = rate_limited(sim, key, f"Rate limit reached for {which} per minute", wait)
        resp.headers.update(sim.limiter.headers(key, eng.now()))  # x-ratelimit-* (limits.py)
        return resp
    seed = req.seed if req.seed is not None else sim.cfg.seed
    full = text.answer(req.messages, seed, req.temperature)
    tokens, finish = text.apply_limits(full, max_tokens, req.stop)
    reply = req.output and structured.reply(req.output, req.messages, text.last_user_text(req.messages),
                                            seed if req.temperature > 0 else 0, full)
    if reply:  # JSON content or a tool call (structured.py): its tokens are the answer's
        tokens, finish = structured.limit(reply, max_tokens)
    speed = latency.jitter_factor(prof, sim.cfg.seed, text.last_user_text(req.messages))
    job = latency.Job(prompt_tokens, len(tokens), speed)
    run = ChatRun(sim, eng, key, req, job, tokens, finish, fault, deaf)
    run.reply = reply or None
    return run


class ChatRun(Response):
    """Runs one chat completion against the engine, as JSON or as SSE.

    Watches for the client going away the whole time; when it does, the
    request leaves the queue or frees its slot at once.
    """
    reply: structured.Reply | None = None  # a JSON or tool-call answer (set by `start`)

    def __init__(self, sim: Simulator, eng: Engine, key: str, req: ChatRequest, job: latency.Job,
                 tokens: list[str], finish: str, fault: str | Hold | None, deaf: bool = False):
        self.sim, self.eng, self.key, self.req, self.job = sim, eng, key, req, job
        self.tokens, self.finish, self.fault, self.deaf = tokens, finish, fault, deaf
        self.rid = f"chatcmpl-sim{next(sim.ids)}"
        self.background = None
        self.counted = False  # still counted as in flight?
        self.written = 0      # completion tokens generated and sent so far
        self.written_at_disconnect: int | None = None  # set when the client goes away
        self.times = sim.metrics.start(eng.now())  # arrival: its times go to /metrics (metrics.py)

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
        self.times.finished(self.eng.now(), self.job.completion_tokens, self.finish)
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
        self.times.queue_s = eng.sched.admitted[rid] - t_arrive
        overhead_s = latency.overhead_s(prof, self.job.speed)
        reading_s = latency.reading_s(prof, self.job.prompt_tokens, self.job.speed)
        timing = {"x-sim-queue-ms": f"{(eng.sched.admitted[rid] - t_arrive) * 1000:.1f}",
                  "x-sim-overhead-ms": f"{overhead_s * 1000:.1f}",
                  "x-sim-prefill-ms": f"{reading_s * 1000:.1f}",
                  "x-request-id": rid, **self.sim.limiter.headers(self.key, eng.now())}
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
                self.times.tokens(eng.now())
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
                             "message": structured.message(self.reply, "".join(self.tokens).strip())}],
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
        parts = [self.chunk(structured.first_delta(self.reply))]
        first, n_sent = True, 0
        async for toks in self.tokens_as_due():
            for t in toks:
                parts.append(self.chunk(structured.delta(self.reply, t.lstrip() if first else t)))
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
