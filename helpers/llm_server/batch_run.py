"""Running one batch: validate its file, then its requests through the latency model
at LOW priority (latency.SlotScheduler: after every waiting interactive request, in at
most half the slots), then write the output and error files.

Each request takes the time the latency model gives it (queue, overhead, prefill,
decode with the other requests in the slots); nothing here sleeps a made-up time,
except the `wait:H` knob. Requests finish in any order, and the output file lists
them as they finish, like OpenAI's ("in no guaranteed order": match by custom_id).
"""
from __future__ import annotations

import asyncio
import base64
import json
import logging
import struct
import time
from collections import deque

from . import latency, text
from .batch_input import Line, check_body, read_lines
from .files import FileStore, StorageFull
from .state import Engine, Simulator
from .validate import BadRequest, ChatRequest

EXPIRED = {"code": "batch_expired",
           "message": "This request could not be executed before the completion window expired."}


def _job(sim: Simulator, prof: latency.Profile, req) -> tuple[latency.Job, dict]:
    """The latency model's job for one request, and what its answer will hold."""
    if isinstance(req, ChatRequest):
        full = text.answer(req.messages, req.seed if req.seed is not None else sim.cfg.seed, req.temperature)
        tokens, finish = text.apply_limits(full, req.max_tokens or prof.default_max_tokens, req.stop)
        speed = latency.jitter_factor(prof, sim.cfg.seed, text.last_user_text(req.messages))
        return latency.Job(text.count_prompt_tokens(req.messages), len(tokens), speed), \
            {"content": "".join(tokens).strip(), "finish": finish}
    n = sum(text.count_tokens(t) for t in req.inputs)
    return latency.Job(n, 0), {}


def _body(rid: str, req, job: latency.Job, answer: dict) -> dict:
    """The response body, in the same shape as the interactive endpoint's."""
    if isinstance(req, ChatRequest):
        p, c = job.prompt_tokens, job.completion_tokens
        return {"id": "chatcmpl-" + rid, "object": "chat.completion", "created": int(time.time()),
                "model": req.model, "system_fingerprint": "sim",
                "choices": [{"index": 0, "finish_reason": answer["finish"], "logprobs": None,
                             "message": {"role": "assistant", "content": answer["content"]}}],
                "usage": {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}}
    data = []
    for i, t in enumerate(req.inputs):
        vec = text.embed(t, req.dimensions)
        emb = base64.b64encode(struct.pack(f"<{len(vec)}f", *vec)).decode() \
            if req.encoding_format == "base64" else vec
        data.append({"object": "embedding", "index": i, "embedding": emb})
    return {"object": "list", "data": data, "model": req.model,
            "usage": {"prompt_tokens": job.prompt_tokens, "total_tokens": job.prompt_tokens}}


def jsonl(rows: list[dict]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


class Run:
    """The state of one running batch (see `run`)."""

    def __init__(self, sim: Simulator, files: FileStore, batch):
        self.sim, self.files, self.b = sim, files, batch
        self.out: list[dict] = []
        self.err: list[dict] = []
        self.n = 0

    def deadline(self, eng: Engine) -> float:
        """The engine time at which the batch's window ends."""
        return eng.now() + self.b.window_s - (time.monotonic() - self.b.t0)

    def over(self, eng: Engine) -> bool:
        return self.b.status == "cancelling" or eng.now() >= self.deadline(eng)

    def line_id(self) -> str:
        self.n += 1
        return f"batch_req_{self.b.id[6:]}_{self.n}"

    async def nap(self, eng: Engine, until: float, also: asyncio.Future | None = None) -> None:
        """Sleep until `until` (engine time), a state change, a cancel, or `also` ends."""
        waits = {asyncio.ensure_future(eng.wait_until(until)), asyncio.ensure_future(self.b.wake.wait())}
        if also is not None:
            waits.add(also)
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits - {also}:
                w.cancel()

    async def requests(self, eng: Engine, lines: list[Line]) -> list[Line]:
        """Run the lines through the engine at low priority; returns those never finished."""
        b, prof, k = self.b, eng.sched.profile, self.b.knobs
        todo, inflight = deque(lines), {}
        cap, pause_at = latency.low_priority_slots(prof), k.pause_after
        try:
            while todo or inflight:
                if self.over(eng):
                    break
                done = b.counts["completed"]
                while todo and len(inflight) < cap and (pause_at is None or done + len(inflight) < pause_at):
                    line = todo.popleft()
                    rid = self.line_id()
                    try:
                        req = check_body(b.endpoint, line.body, self.sim.models)
                    except BadRequest as e:
                        self.fail(line, rid, e)
                        continue
                    job, answer = _job(self.sim, prof, req)
                    eng.sched.arrive(rid, eng.now(), job, low=True)
                    inflight[rid] = (line, req, job, answer)
                eng.poke()
                if not inflight and pause_at is not None and b.counts["completed"] >= pause_at:
                    if k.expire:
                        break
                    held = asyncio.ensure_future(self.sim.hold(k.hold))
                    await self.nap(eng, self.deadline(eng), held)
                    if not held.done():
                        held.cancel()
                        continue  # cancelled or expired while held: the loop's first check ends it
                    pause_at = None
                    continue
                eng.sched.advance(eng.now())
                for rid in [r for r in inflight if r in eng.sched.finished]:
                    line, req, job, answer = inflight.pop(rid)
                    eng.sched.forget(rid)
                    self.succeed(line, rid, _body(rid, req, job, answer), job)
                if inflight:
                    await self.nap(eng, min(eng.sched.next_event_s(), self.deadline(eng)))
        finally:
            for rid, (line, *_rest) in inflight.items():
                eng.sched.cancel(rid, eng.now())
                eng.sched.forget(rid)
                todo.appendleft(line)
            eng.poke()
        return list(todo)

    def succeed(self, line: Line, rid: str, body: dict, job: latency.Job) -> None:
        self.out.append({"id": rid, "custom_id": line.custom_id, "error": None,
                         "response": {"status_code": 200, "request_id": rid, "body": body}})
        self.b.counts["completed"] += 1
        self.b.usage["input_tokens"] += job.prompt_tokens
        self.b.usage["output_tokens"] += job.completion_tokens

    def fail(self, line: Line, rid: str, e: BadRequest) -> None:
        self.err.append({"id": rid, "custom_id": line.custom_id, "error": None,
                         "response": {"status_code": e.status, "request_id": rid, "body": {"error": {
                             "message": e.message, "type": "invalid_request_error", "param": e.param,
                             "code": e.code}}}})
        self.b.counts["failed"] += 1

    def finish(self, status: str) -> None:
        """Store the output and error files, then end in `status`."""
        try:
            for rows, attr, name in ((self.out, "output_file_id", "output"), (self.err, "error_file_id", "error")):
                if rows:
                    f = self.files.add(f"{self.b.id}_{name}.jsonl", "batch_output", jsonl(rows), self.b.owner)
                    setattr(self.b, attr, f.id)
        except StorageFull as e:
            self.b.errors = [{"code": "storage_limit_exceeded", "line": None, "param": None, "message": str(e)}]
            status = "failed"
        self.b.mark(status)


async def run(sim: Simulator, files: FileStore, batch, data: bytes) -> None:
    """The whole life of one batch, from `validating` to a final status. A bug in here fails
    the batch with a `server_error` (never a batch stuck `in_progress`), and is logged."""
    try:
        await _run(sim, files, batch, data)
    except Exception as e:  # noqa: BLE001 (reported in the batch, and logged)
        logging.getLogger("helpers.llm_server").exception("batch %s failed", batch.id)
        batch.errors = [{"code": "server_error", "line": None, "param": None,
                         "message": f"The simulator failed while running this batch ({type(e).__name__})."}]
        batch.mark("failed")


async def _run(sim: Simulator, files: FileStore, batch, data: bytes) -> None:
    r = Run(sim, files, batch)
    lines, errors, model = read_lines(data, batch.endpoint, sim.models)
    eng = sim.engine(model or "sim")
    await r.nap(eng, eng.now() + latency.overhead_s(eng.sched.profile))  # validating: one request's overhead
    if batch.status == "cancelling":
        return batch.mark("cancelled")
    if errors:
        batch.errors = errors
        return batch.mark("failed")
    batch.model, batch.counts["total"] = model, len(lines)
    batch.mark("in_progress")
    start = eng.now() + batch.knobs.wait_hours * batch.window_s / 24
    while eng.now() < start and not r.over(eng):
        await r.nap(eng, min(start, r.deadline(eng)))
    left = await r.requests(eng, lines) if not r.over(eng) else lines
    if batch.status == "cancelling":
        return batch.mark("cancelled") if not (r.out or r.err) else r.finish("cancelled")
    if left:  # the window ran out
        for line in left:
            r.err.append({"id": r.line_id(), "custom_id": line.custom_id, "response": None, "error": EXPIRED})
        batch.counts["failed"] += len(left)
        return r.finish("expired")
    batch.mark("finalizing")
    await asyncio.sleep(0)
    r.finish("completed")

